"""Word diffs and similarity: what changed in a reply, in words people read."""

from __future__ import annotations

import pytest

from convtest.golden.worddiff import mark_words, normalize_space, similarity, word_diff


def test_a_changed_number_is_the_only_marked_word() -> None:
    diff = word_diff("Your order 1234 has shipped.", "Your order 5678 has shipped.")
    assert diff == (
        ("equal", "Your order "),
        ("delete", "1234"),
        ("insert", "5678"),
        ("equal", " has shipped."),
    )
    assert mark_words(diff) == "Your order [-1234-]{+5678+} has shipped."


def test_neighbouring_changed_words_read_as_one_change() -> None:
    diff = word_diff("orders 1234 and 5678", "orders 4321 or 5678")
    assert mark_words(diff) == "orders [-1234 and-]{+4321 or+} 5678"


def test_punctuation_is_a_word_of_its_own() -> None:
    assert mark_words(word_diff("It shipped.", "It shipped!")) == "It shipped[-.-]{+!+}"


def test_equal_texts_are_one_equal_piece_and_empty_texts_none() -> None:
    assert word_diff("same text", "same text") == (("equal", "same text"),)
    assert word_diff("", "") == ()
    assert word_diff("", "new") == (("insert", "new"),)


def test_long_unchanged_stretches_are_cut_around_the_change() -> None:
    before = "alpha " * 30 + "old " + "omega " * 30
    after = "alpha " * 30 + "new " + "omega " * 30
    marked = mark_words(word_diff(before, after))
    assert "[-old-]{+new+}" in marked
    assert marked.startswith("…") and marked.endswith("…")
    assert len(marked) < 120


def test_multi_line_text_keeps_its_lines() -> None:
    marked = mark_words(word_diff("line one\nline two", "line one\nline 2"))
    assert marked.splitlines() == ["line one", "line [-two-]{+2+}"]


def test_normalize_space_collapses_runs_and_trims() -> None:
    assert normalize_space("  a\n\n b\t c ") == "a b c"


@pytest.mark.parametrize(
    ("before", "after", "low", "high"),
    [
        ("same words here", "same words here", 1.0, 1.0),
        ("", "", 1.0, 1.0),
        ("a b c d", "a b x d", 0.74, 0.76),
        ("Your order shipped today", "completely different reply", 0.0, 0.01),
    ],
)
def test_similarity_is_difflib_ratio_over_words(before: str, after: str, low: float, high: float) -> None:
    assert low <= similarity(before, after) <= high


def test_similarity_ignores_white_space_and_stays_exact_on_long_texts() -> None:
    text = " ".join(f"word{index % 7}" for index in range(400))  # autojunk would blur this
    assert similarity(text, text.replace(" ", "\n  ")) == 1.0
    assert similarity(text, text + " extra") > 0.99
