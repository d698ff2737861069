"""Golden file names: one file per conversation, bounded in bytes, never a suite, never outside
``__goldens__``; names and suite files that would share a golden are refused by name."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from convtest.exceptions import GoldenError
from convtest.golden.paths import MAX_SLUG_BYTES, golden_path, golden_slug, suite_sharing_golden_folder
from convtest.golden.store import dump_golden, parse_golden
from convtest.suite import load_suite, load_suite_text

GOLDEN_SUITE = """
conversations:
  - name: order status
    golden: true
    turns:
      - user: hi
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(suite_text: str, file: str = "suites/t.yaml") -> list[str]:
    suite = load_suite_text(textwrap.dedent(suite_text), file)
    return [str(error) for invalid in suite.invalid for error in invalid.errors]


@pytest.mark.parametrize("names", [("🎉🎉🎉", "???", "...", "🎊"), ("order 🎉", "order 🎊", "order")])
def test_names_whose_words_say_nothing_get_files_of_their_own(names: tuple[str, ...]) -> None:
    slugs = [golden_slug(name) for name in names]
    assert len(set(slugs)) == len(names), slugs


def test_a_name_without_words_gets_a_readable_hashed_slug() -> None:
    slug = golden_slug("🎉🎉🎉")
    assert slug.startswith("conversation-") and len(slug) == len("conversation-") + 8


@pytest.mark.parametrize("name", ["中" * 100, "é" * 200, "word " * 60, "x" * 101])
def test_a_long_name_is_cut_to_the_byte_limit_with_a_hash(name: str, tmp_path: Path) -> None:
    slug = golden_slug(name)
    assert len(slug.encode("utf-8")) <= MAX_SLUG_BYTES
    assert golden_slug(name[:-1] + "y") != slug  # a different name past the cut: another file
    path = golden_path(tmp_path / "orders.yaml", name)
    path.parent.mkdir(parents=True)
    path.write_text("turns: []\n", encoding="utf-8")  # no "File name too long"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Order status", "order-status"), ("¿Hablas español?", "hablas-español"), ("x" * 100, "x" * 100)],
)
def test_ordinary_names_keep_the_slug_they_always_had(name: str, slug: str) -> None:
    assert golden_slug(name) == slug


@pytest.mark.parametrize("suite", ["...yaml", "..yaml", "...yml"])
def test_a_suite_name_whose_folder_leaves_goldens_is_refused(tmp_path: Path, suite: str) -> None:
    with pytest.raises(GoldenError, match=r"cannot have goldens: their folder .* would not be inside"):
        golden_path(tmp_path / "suites" / suite, "orders")


def test_a_golden_path_that_is_a_suite_file_is_refused(tmp_path: Path) -> None:
    path = golden_path(tmp_path / "orders.yaml", "refund")
    write(path, GOLDEN_SUITE)  # someone keeps a suite inside the golden folder
    with pytest.raises(GoldenError, match="would overwrite a suite file"):
        golden_path(tmp_path / "orders.yaml", "refund")


def test_the_loader_refuses_goldens_of_a_suite_named_dot_dot_yaml(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path / "...yaml", GOLDEN_SUITE), display_path="suites/...yaml")
    [invalid] = suite.invalid
    assert str(invalid.errors[0]) == (
        "suites/...yaml:3, conversation 'order status': suite file name `...yaml` cannot have goldens: "
        "their folder `suites/__goldens__/..` would not be inside `__goldens__`; rename the file"
    )


def test_a_blank_name_is_refused_like_an_empty_one() -> None:
    found = errors_of('conversations:\n  - name: "  \\t "\n    turns:\n      - user: hi\n')
    assert found == ["suites/t.yaml:2, conversation '  \\t ': `name` must not be blank (only white space)"]


def test_yaml_and_yml_suites_naming_one_golden_are_refused_with_both_files(tmp_path: Path) -> None:
    write(tmp_path / "orders.yml", GOLDEN_SUITE)
    suite = load_suite(write(tmp_path / "orders.yaml", GOLDEN_SUITE), display_path="suites/orders.yaml")
    [invalid] = suite.invalid
    assert str(invalid.errors[0]) == (
        "suites/orders.yaml:3, conversation 'order status': golden file "
        "`suites/__goldens__/orders/order-status.yaml` is also the golden of conversation `order status` "
        "in suites/orders.yml:3: `orders.yaml` and `orders.yml` share one golden folder; "
        "rename one of the two suite files"
    )
    other = load_suite(tmp_path / "orders.yml")
    assert other.conversations == () and len(other.invalid) == 1


def test_yaml_and_yml_suites_with_different_golden_names_both_load(tmp_path: Path) -> None:
    write(tmp_path / "orders.yml", GOLDEN_SUITE.replace("order status", "refund"))
    assert suite_sharing_golden_folder(tmp_path / "orders.yaml") == tmp_path / "orders.yml"
    suite = load_suite(write(tmp_path / "orders.yaml", GOLDEN_SUITE))
    assert [c.name for c in suite.conversations] == ["order status"] and suite.invalid == ()


def test_a_yml_file_that_is_not_a_suite_shares_nothing(tmp_path: Path) -> None:
    write(tmp_path / "orders.yml", "jobs: {}\n")
    assert suite_sharing_golden_folder(write(tmp_path / "orders.yaml", GOLDEN_SUITE)) is None


def test_a_lone_surrogate_and_control_characters_read_back() -> None:
    document = {
        "conversation": "c",
        "turns": [{"user": "\ud800", "text": "a\x00\x1b\x85\u2028\ufeff\ud83c\n"}],
    }
    assert parse_golden(dump_golden(document), "g") == document
