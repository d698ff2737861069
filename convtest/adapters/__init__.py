"""Target adapters: one module per kind of chatbot API, all behind :class:`Adapter`."""

from convtest.adapters.base import Adapter, TurnRequest

__all__ = ["Adapter", "TurnRequest"]
