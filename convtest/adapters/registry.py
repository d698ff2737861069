"""An adapter for a resolved target: the kind its ``adapter:`` names, over a shared HTTP client."""

from __future__ import annotations

import httpx

from convtest.adapters.base import Adapter
from convtest.adapters.discovery import adapter_kind
from convtest.targets import Target

__all__ = ["create_adapter"]


def create_adapter(target: Target, client: httpx.AsyncClient) -> Adapter:
    """The adapter ``target.adapter`` names, sending over ``client`` (an in-process one ignores it)."""
    at = f" ({target.location})" if target.location else ""
    return adapter_kind(target.adapter, f"target {target.name!r}{at}").create(target, client)
