"""Which adapter a target's ``adapter:`` names: the one place that knows every kind of API."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from convtest.adapters.base import Adapter
from convtest.adapters.robofy import RobofyAdapter
from convtest.exceptions import ConfigError
from convtest.targets import Target

__all__ = ["ADAPTERS", "create_adapter"]

#: adapter name (``target.adapter``) -> constructor
ADAPTERS: dict[str, Callable[[Target, httpx.AsyncClient], Adapter]] = {"robofy": RobofyAdapter}


def create_adapter(target: Target, client: httpx.AsyncClient) -> Adapter:
    """The adapter ``target.adapter`` names, sending over the shared ``client``."""
    factory = ADAPTERS.get(target.adapter)
    if factory is None:
        at = f" ({target.location})" if target.location else ""
        known = ", ".join(sorted(ADAPTERS))
        raise ConfigError(
            f"target {target.name!r}{at}: unknown adapter {target.adapter!r}; known adapters: {known}"
        )
    return factory(target, client)
