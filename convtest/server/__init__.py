"""The embedded reference agent: a real local server speaking the Robofy chat stream API."""

from convtest.server.agent import Agent
from convtest.server.app import DEFAULT_TOKEN, create_app
from convtest.server.runner import ReferenceServer

__all__ = ["DEFAULT_TOKEN", "Agent", "ReferenceServer", "create_app"]
