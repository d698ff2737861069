"""Golden files: where they live, how they read, and that a write is all or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from convtest.exceptions import GoldenError
from convtest.golden import store
from convtest.golden.paths import golden_path, golden_slug
from convtest.golden.store import (
    dump_golden,
    load_golden,
    parse_golden,
    remove_golden,
    write_atomic,
)
from convtest.suite import is_suite_file

DOCUMENT = {
    "conversation": "order status",
    "turns": [
        {
            "user": "Where is my order 1234?",
            "text": "Line one.\nLine two: with a colon.\n",
            "tool_calls": [
                {"name": "lookup_order", "input": {"order_id": "1234"}, "output": {"eta": "2026-12-02"}}
            ],
            "finish_reason": "stop",
        },
        {"user": "¿Hablas español?", "text": "¡Claro! 🙂", "finish_reason": "stop"},
    ],
}


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("order status uses the lookup tool", "order-status-uses-the-lookup-tool"),
        ("remembers the user's name", "remembers-the-user-s-name"),
        ("  Mixed_Case -- and   spaces!  ", "mixed-case-and-spaces"),
        ("¿Hablas español?", "hablas-español"),
    ],
)
def test_slug_is_lower_case_words_joined_by_dashes(name: str, slug: str) -> None:
    assert golden_slug(name) == slug


def test_slug_is_cut_at_a_word_boundary_length() -> None:
    slug = golden_slug("word " * 60)
    assert len(slug) <= 100 and not slug.endswith("-")


def test_golden_lives_beside_its_suite_under_the_suite_stem() -> None:
    path = golden_path(Path("suites/orders.yaml"), "Order status")
    assert path == Path("suites/__goldens__/orders/order-status.yaml")


def test_dump_is_block_yaml_in_document_order_with_multi_line_text_as_a_literal_block() -> None:
    assert dump_golden(DOCUMENT) == (
        "# convtest golden transcript: compared with every run, rewritten by `pytest --update-goldens`.\n"
        "# Review changes to it like code.\n"
        "conversation: order status\n"
        "turns:\n"
        "  - user: Where is my order 1234?\n"
        "    text: |\n"
        "      Line one.\n"
        "      Line two: with a colon.\n"
        "    tool_calls:\n"
        "      - name: lookup_order\n"
        "        input:\n"
        "          order_id: '1234'\n"
        "        output:\n"
        "          eta: '2026-12-02'\n"
        "    finish_reason: stop\n"
        "  - user: ¿Hablas español?\n"
        "    text: ¡Claro! 🙂\n"
        "    finish_reason: stop\n"
    )


def test_long_lines_are_not_folded() -> None:
    long_text = " ".join(["word"] * 100)
    document = {"conversation": "c", "turns": [{"user": long_text, "text": "", "finish_reason": "stop"}]}
    assert f"  - user: {long_text}\n" in dump_golden(document)


def test_dump_round_trips_exactly() -> None:
    awkward = {
        "conversation": "c",
        "turns": [
            {"user": "trailing space \nnext", "text": "  leading\n\ttab\n\n", "finish_reason": None},
            {"user": "yes", "text": "0012", "finish_reason": "12:30"},
        ],
    }
    for document in (DOCUMENT, awkward):
        assert parse_golden(dump_golden(document), "g.yaml") == document


def test_a_golden_is_never_taken_for_a_suite(tmp_path: Path) -> None:
    document = {
        "conversation": "tricky",
        "turns": [
            {"user": "suite: x\nconversations: []", "text": "conversations:\n- a", "finish_reason": "stop"}
        ],
    }
    path = tmp_path / "golden.yaml"
    path.write_text(dump_golden(document), encoding="utf-8")
    assert not is_suite_file(path)


def test_load_returns_none_for_a_missing_golden(tmp_path: Path) -> None:
    assert load_golden(tmp_path / "absent.yaml", "absent.yaml") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("turns: [unclosed", "invalid YAML"),
        ("just a string", "expected a mapping with a `turns` list"),
        ("turns: [1, 2]", "expected a mapping with a `turns` list"),
    ],
)
def test_an_unreadable_golden_is_an_error_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GoldenError) as caught:
        load_golden(path, "suites/__goldens__/x/broken.yaml")
    assert str(caught.value).startswith("cannot read golden suites/__goldens__/x/broken.yaml: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_write_atomic_creates_folders_replaces_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "__goldens__" / "orders" / "a.yaml"
    write_atomic(path, "first\n")
    write_atomic(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.yaml"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("crash", [KeyboardInterrupt, OSError])
def test_a_crash_before_the_rename_keeps_the_old_golden_and_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: type[BaseException]
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("old golden\n", encoding="utf-8")
    written: list[str] = []

    def crash_after_writing(source: str, target: str) -> None:
        written.append(Path(source).read_text(encoding="utf-8"))
        raise crash()

    monkeypatch.setattr(store.os, "replace", crash_after_writing)
    with pytest.raises(crash):
        write_atomic(path, "new golden\n")
    assert written == ["new golden\n"]  # the temporary file was complete when the crash came
    assert path.read_text(encoding="utf-8") == "old golden\n"
    assert os.listdir(tmp_path) == ["a.yaml"]


def test_remove_golden_drops_emptied_folders_only(tmp_path: Path) -> None:
    first = tmp_path / "__goldens__" / "orders" / "a.yaml"
    second = tmp_path / "__goldens__" / "memory" / "b.yaml"
    for path in (first, second):
        write_atomic(path, "x\n")
    remove_golden(first)
    assert not first.parent.exists()
    assert second.exists()
    remove_golden(second)
    assert not (tmp_path / "__goldens__").exists()
