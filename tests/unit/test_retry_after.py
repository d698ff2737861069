"""``Retry-After`` becomes seconds for a retry layer: delay-seconds or an HTTP date."""

from __future__ import annotations

import email.utils

import pytest

from convtest.adapters.exchange import parse_retry_after

NOW = 1_790_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW + 30, usegmt=False), 30.0),
        (email.utils.formatdate(NOW - 300, usegmt=True), 0.0),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("", None),
    ],
)
def test_retry_after_is_read_as_seconds_from_now(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds
