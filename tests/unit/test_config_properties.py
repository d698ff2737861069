"""Property: whatever convtest.yaml holds, reading it and resolving any target raises nothing but
:class:`~convtest.exceptions.ConfigError` (issue 14). Documents are generated as YAML data close
to a real config, dumped, then cut and spliced with YAML's own syntax (anchors, tags, flow
brackets, tabs, merge keys), so both the parser and the readers behind it are exercised."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convtest.adapters.options import COMMON_TARGET_KEYS
from convtest.adapters.robofy_settings import ROBOFY_OPTIONS
from convtest.config import load_config
from convtest.exceptions import ConfigError

#: examples per property; a longer campaign: CONVTEST_FUZZ_EXAMPLES=20000 pytest -k property
FUZZ_EXAMPLES = int(os.environ.get("CONVTEST_FUZZ_EXAMPLES", "200"))

KEYS = st.one_of(
    st.sampled_from(
        [
            *sorted(COMMON_TARGET_KEYS | ROBOFY_OPTIONS),
            *("targets", "default_target", "reference", "t", "connect", "idle", "total", "max"),
            *("backoff", "max_events", "max_in_flight", "handshake", "url", "body", "token_path", "<<"),
        ]
    ),
    st.text(max_size=4),
)
TEXTS = st.one_of(
    st.sampled_from(
        ["${A}", "${B:-d}", "${", "http://x", "https://y/", "robofy", "echo", "t", "POST", "a.b"]
    ),
    st.text(max_size=8),
)
SCALARS = st.one_of(TEXTS, st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=20,
)
SECTION = st.one_of(st.dictionaries(KEYS, st.one_of(SCALARS, SCALARS, VALUES), max_size=4), VALUES)
AUTH = st.one_of(st.fixed_dictionaries({}, optional={"handshake": SECTION}), VALUES)
TARGET = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries(
        {},
        optional={
            **{key: st.one_of(TEXTS, TEXTS, VALUES) for key in sorted(COMMON_TARGET_KEYS | ROBOFY_OPTIONS)},
            **{key: SECTION for key in ("timeouts", "limits", "retries", "headers", "response_fields")},
            "auth": AUTH,
        },
    ),
    st.dictionaries(KEYS, VALUES, max_size=2),
)
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "targets": st.one_of(st.dictionaries(TEXTS, TARGET, max_size=3), VALUES),
        "default_target": st.one_of(TEXTS, VALUES),
        "extra": VALUES,
    },
)
SPLICES = [
    "&a ",
    "*a",
    "!!binary ",
    "!x ",
    "<<: *a\n",
    "{",
    "}",
    "[",
    "]",
    "\t",
    ": ",
    "---\n",
    "? ",
    "- ",
    "\n  ",
]


@st.composite
def yaml_ish(draw: st.DrawFn) -> str:
    """A dumped document with a few splices of YAML syntax at random places."""
    text = yaml.safe_dump(draw(DOCUMENT), sort_keys=False)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(st.sampled_from(SPLICES)) + text[at + cut :]
    return text


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(text=yaml_ish())
def test_property_any_convtest_yaml_raises_only_config_errors(folder: Path, text: str) -> None:
    (folder / "convtest.yaml").write_text(text, encoding="utf-8")
    try:
        config = load_config(folder)
    except ConfigError:
        return
    for name in [None, "nope", *config.target_names]:
        try:
            config.resolve(name, {"A": "x"})
        except ConfigError as error:
            assert str(error), "a ConfigError says what is wrong"


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from([*"ab:-[]{}&*!|>'\"#\n \t%?,.@`~0", "\x00", "\ufeff"])))
def test_property_any_text_at_all_raises_only_config_errors(folder: Path, text: str) -> None:
    (folder / "convtest.yaml").write_text(text, encoding="utf-8")
    try:
        config = load_config(folder)
        config.resolve(None, {})
    except ConfigError:
        pass
