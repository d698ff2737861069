"""The example suites of the README and docs/*.md: every ```yaml block with a top-level
``conversations:``. A block right under ``<!-- not run against the reference agent: why -->``
is left out, and says why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?:<!-- (?P<note>[^\n]*?) -->\n)?```yaml\n(?P<text>.*?)```", re.DOTALL)
SKIP_NOTE = "not run against the reference agent: "


@dataclass(frozen=True)
class DocSuite:
    """One example: where it is (``docs/suite-format.md:43``) and its text."""

    where: str
    text: str
    #: why it is not run against the reference agent ("" when it is)
    skipped: str = ""


def doc_suites() -> list[DocSuite]:
    found: list[DocSuite] = []
    for path in DOCS:
        content = path.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(content):
            if not re.search(r"^conversations:", match["text"], re.MULTILINE):
                continue
            line = content.count("\n", 0, match.start("text"))
            note = match["note"] or ""
            skipped = note.removeprefix(SKIP_NOTE) if note.startswith(SKIP_NOTE) else ""
            found.append(DocSuite(f"{path.relative_to(ROOT)}:{line}", match["text"], skipped))
    return found
