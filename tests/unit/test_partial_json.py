"""Partial JSON is repaired as the ``ai`` client's ``fixJson`` repairs it.

The expected strings are what ``fixJson`` and ``parsePartialJson`` of ``ai`` 6.0.326 return for
the same input (checked with node); the oracle test in tests/interop compares whole streams.
"""

from __future__ import annotations

from typing import Any

import pytest

from convtest.partial_json import fix_json, parse_partial_json


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("", ""),
        ("{", "{}"),
        ("[", "[]"),
        ('{"a', "{}"),  # an unfinished key is cut
        ('{"a":', "{}"),
        ('{"a": "b', '{"a": "b"}'),
        ('{"a": 1', '{"a": 1}'),
        ('{"a": 1.', '{"a": 1}'),
        ('{"a": -', "{}"),
        ('{"a":1,"b":', '{"a":1}'),
        ("[nulx", "[nul]"),
        ('{"a": 12e', '{"a": 12}'),
        ('{"a": tr', '{"a": true}'),
        ('{"a": f', '{"a": false}'),
        ('{"a": nu', '{"a": null}'),
        ('{"a": [1, 2', '{"a": [1, 2]}'),
        ('{"a": [1, 2,', '{"a": [1, 2]}'),
        ('{"a": "b\\', '{"a": "b"}'),
        ('{"a": "\\u00', '{"a": ""}'),
        ('{"a": "\\u00e9', '{"a": "\\u00e9"}'),
        ('{"a": {"b": [{"c": "d', '{"a": {"b": [{"c": "d"}]}}'),
        ('[1, {"a": tr', '[1, {"a": true}]'),
        ('"abc', '"abc"'),
        ("12", "12"),
        ('{"a": 1}', '{"a": 1}'),
    ],
)
def test_fix_json_closes_what_is_open_after_the_last_complete_token(text: str, fixed: str) -> None:
    assert fix_json(text) == fixed


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": "b', {"a": "b"}),
        ('{"a', {}),
        ("[nulx", None),
        ('{"a": [1, {"b": nu', {"a": [1, {"b": None}]}),
        ("NaN", None),
        ('{"a": Infinity}', None),
        ("", None),
        ("x", None),
    ],
)
def test_parse_partial_json_parses_or_repairs_or_gives_none(text: str, value: Any) -> None:
    assert parse_partial_json(text) == value


def test_a_very_deep_partial_input_gives_none_not_a_recursion_error() -> None:
    assert parse_partial_json("[" * 100_000) is None
