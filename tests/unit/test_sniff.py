"""The sniff that decides, from a line scan, which YAML files pytest collects as suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from convtest.sniff import Sniff, sniff

SUITE_BODY = "  - name: a\n    turns:\n      - user: hi\n"


@pytest.mark.parametrize(
    "content",
    [
        f"conversatons:\n{SUITE_BODY}".encode(),
        f"conversation:\n  # the first one\n\n{SUITE_BODY}".encode(),
        b"conversation: [{name: a, turns: [{user: hi}]}]\n",
        b'{"suite": "x", "conversations": []}\n',
        f"conversations:\n{SUITE_BODY}".encode("utf-32"),
        f"conversations:\n{SUITE_BODY}".encode("utf-16-le"),
    ],
    ids=["typo", "comment before the list", "flow list", "flow mapping", "UTF-32", "UTF-16 without BOM"],
)
def test_files_meant_as_suites_are_collected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert sniff(path) == Sniff(collect=True)


@pytest.mark.parametrize(
    "content",
    [
        b"suites: []\nconversations_backup: []\n",
        b"conversation:\n  - a\n",  # a list, but nothing like a turn
        b"conversation: order status\nturns:\n  - user: hi\n",  # a golden's shape
        "jobs:\n  test:\n    steps: []\n".encode("utf-16"),
        b"\xff\xfe\x00garbage",
    ],
)
def test_other_yaml_files_are_skipped_silently(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.yaml"
    path.write_bytes(content)
    assert sniff(path) == Sniff(collect=False)


def test_an_empty_yaml_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "new.yml"
    path.write_bytes(b"\xef\xbb\xbf# soon\n")
    found = sniff(path)
    assert not found.collect
    assert found.warning.startswith("empty YAML file, not collected as a suite")
