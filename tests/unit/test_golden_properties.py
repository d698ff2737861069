"""Properties of the golden store, for any data a bot may send and any names a suite may hold:
a golden reads back exactly as it was written, and no two conversations share a golden file."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from convtest.golden.paths import GOLDENS_DIR, MAX_SLUG_BYTES, golden_path, golden_slug
from convtest.golden.store import dump_golden, load_golden, parse_golden, write_atomic
from convtest.suite import load_suite_text

#: examples per property; a longer campaign: CONVTEST_FUZZ_EXAMPLES=20000 pytest -k property
FUZZ_EXAMPLES = int(os.environ.get("CONVTEST_FUZZ_EXAMPLES", "300"))
#: no example database: nothing is written into the checkout
PROPERTIES = settings(database=None, deadline=None, max_examples=FUZZ_EXAMPLES)

#: every code point, lone surrogates and control characters included
ANY_TEXT = st.text(st.characters(codec=None, categories=None))
#: what JSON from a bot decodes to (no NaN: it equals nothing, not even itself)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
TOOL_CALL = st.fixed_dictionaries(
    {"name": ANY_TEXT, "input": JSON}, optional={"output": JSON, "error": ANY_TEXT}
)
TURN = st.fixed_dictionaries(
    {"user": ANY_TEXT | st.none(), "text": ANY_TEXT},
    optional={
        "text_blocks": st.lists(ANY_TEXT, min_size=2, max_size=3),
        "tool_calls": st.lists(TOOL_CALL, min_size=1, max_size=3),
        "finish_reason": ANY_TEXT | st.none(),
        "errors": st.lists(ANY_TEXT, min_size=1, max_size=2),
    },
)
DOCUMENT = st.fixed_dictionaries({"conversation": ANY_TEXT, "turns": st.lists(TURN, max_size=3)})
#: names a YAML file can hold: anything but a lone surrogate
NAME = st.text(st.characters(codec=None, categories=None, exclude_categories=["Cs"]), min_size=1)


@PROPERTIES
@given(DOCUMENT)
def test_property_a_golden_reads_back_as_it_was_written(document: dict[str, Any]) -> None:
    assert parse_golden(dump_golden(document), "g") == document


@settings(PROPERTIES, max_examples=max(50, FUZZ_EXAMPLES // 6))
@given(DOCUMENT, NAME)
def test_property_a_golden_file_reads_back_as_it_was_written(document: dict[str, Any], name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = golden_path(Path(folder) / "orders.yaml", name)
        write_atomic(path, dump_golden(document))
        assert load_golden(path, "g") == document


@PROPERTIES
@given(NAME)
def test_property_a_slug_is_bounded_in_bytes_and_stays_inside_its_folder(name: str) -> None:
    slug = golden_slug(name)
    assert 0 < len(slug.encode("utf-8")) <= MAX_SLUG_BYTES
    assert slug == slug.strip("-") and "/" not in slug and "." not in slug
    assert golden_path(Path("suites/orders.yaml"), name).parent == Path("suites", GOLDENS_DIR, "orders")


@PROPERTIES
@given(NAME, NAME)
def test_property_names_that_share_a_slug_differ_only_in_case_punctuation_and_white_space(
    first: str, second: str
) -> None:
    """Such names get no hash; the loader refuses the second of them (see the next property)."""
    if first != second and golden_slug(first) == golden_slug(second):
        assert "-".join(_words(first)) == golden_slug(first) == "-".join(_words(second))


@PROPERTIES
@given(
    st.lists(
        NAME | st.sampled_from(["Order status", "order-status", "ORDER STATUS!", "🎉", "???"]),
        min_size=1,
        max_size=8,
    )
)
def test_property_no_two_conversations_of_a_suite_share_a_golden_file(names: list[str]) -> None:
    """Names that would share one are refused by name, and only names that differ in nothing but
    case, punctuation and white space ever would."""
    suite = load_suite_text(_suite(names), "suites/orders.yaml")
    slugs = [golden_slug(conversation.name) for conversation in suite.conversations]
    assert len(set(slugs)) == len(slugs)
    for invalid in suite.invalid:
        if any("is already the golden of conversation" in error.message for error in invalid.errors):
            assert golden_slug(invalid.name) == "-".join(_words(invalid.name))
    assert len(suite.conversations) + len(suite.invalid) == len(names)
    assert {c.name for c in suite.conversations} | {i.name for i in suite.invalid} >= {
        name for name in names if name.strip() and names.count(name) == 1
    }


def _words(name: str) -> list[str]:
    return [word for word in re.split(r"[\W_]+", name.lower()) if word]


def _suite(names: list[str]) -> str:
    """Every name as a YAML double-quoted string of escapes, so any code point survives the file."""
    quoted = ('"' + "".join(f"\\U{ord(char):08x}" for char in name) + '"' for name in names)
    items = "".join(f"  - name: {name}\n    golden: true\n    turns:\n      - user: hi\n" for name in quoted)
    return "conversations:\n" + items if names else "conversations: []\n"
