"""Log records made while a conversation runs: secrets redacted, control characters shown.

httpx logs every request at INFO (``HTTP Request: POST <url> "HTTP/1.1 200 <reason>"``) and
httpcore its steps at DEBUG: a URL built from a ``${VAR}``, a reason phrase a bot chose. pytest
captures and prints such records (``-o log_cli=true``, a failure's "Captured log" section), so
each record made inside a conversation is redacted with that conversation's secrets and its
control characters are shown as escapes, whichever library logged it.
"""

from __future__ import annotations

import logging
from typing import Any

from convtest.printable import printable
from convtest.secrets import current, redact, running

__all__ = ["guard_log_records"]


class _GuardedFactory:
    """The process's log record factory, wrapped: records made outside a conversation pass as
    they are."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        if running():
            try:
                message = record.getMessage()
            except Exception:  # a broken format is reported by logging itself, when emitted
                return record
            record.msg, record.args = printable(redact(message, current()), lines=True), None
        return record


def guard_log_records() -> None:
    """Wrap the log record factory once per process (a second call changes nothing)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _GuardedFactory):
        logging.setLogRecordFactory(_GuardedFactory(factory))
