"""Is this file a suite? Asked by the pytest plugin of every YAML file pytest meets, so it needs
nothing but the standard library: the suite loader and its imports come only with a suite.

Besides real suites, a file that is plainly *meant* as one is collected too (a misspelt
``conversation:`` over a list with ``turns``, a top-level list or flow mapping of suite keys, a
UTF-16 file): the loader then fails it with the reason, instead of pytest skipping it silently.
An empty YAML file is not collected but gets a warning. Anything else, CI configs and goldens
included, stays silent.
"""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["Sniff", "is_suite_file", "sniff", "wide_encoding"]

_SUITE_KEY_LINE: Final = re.compile(
    r"""^(?:suite|conversations|"(?:suite|conversations)"|'(?:suite|conversations)')[ \t]*:(?:[ \t\r]|$)""",
    re.MULTILINE,
)
#: ``- suite: x`` (a suite written as a list item) or ``{conversations: ...`` / ``[{suite: ...``
_WRAPPED_SUITE: Final = re.compile(
    r"""^(?:-[ \t]+|\{\s*|\[\s*\{\s*)["']?(?:suite|conversations)["']?[ \t]*:""", re.MULTILINE
)
#: a top-level key whose value is a list (block ``- ...`` on the next line, or flow ``[``)
_TOP_KEY_WITH_LIST: Final = re.compile(
    r"""^["']?([A-Za-z_][\w-]*)["']?[ \t]*:"""
    r"""(?:[ \t]*\[|[ \t]*(?:\#.*)?\r?\n(?:[ \t]*(?:\#.*)?\r?\n)*[ \t]*-[ \t])""",
    re.MULTILINE,
)
_TURNS_KEY: Final = re.compile(r"""(?:^|[\s{,\-])["']?turns["']?[ \t]*:""", re.MULTILINE)
_SUITE_KEYS: Final = ("conversations", "suite")
_NOT_SUITE_FILES: Final = frozenset({"convtest.yaml", "convtest.yml"})
_GOLDENS_DIR: Final = "__goldens__"
_UTF16_32_BOMS: Final = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True, slots=True)
class Sniff:
    """What to do with one YAML file: collect it as a suite, or not, and if not whether to warn."""

    collect: bool
    #: why a file that might have been meant as a suite was not collected ("" stays silent)
    warning: str = ""


_SILENT: Final = Sniff(collect=False)
_EMPTY: Final = "empty YAML file, not collected as a suite (a suite needs `conversations:`)"
_SUITE: Final = Sniff(collect=True)


def is_suite_file(path: Path) -> bool:
    """Cheap sniff for the collector: a YAML file with a top-level ``suite:`` or ``conversations:``,
    or one plainly meant as a suite (see the module's docstring).

    A line scan, no YAML parse, so goldens, ``convtest.yaml`` and CI configs cost one read.
    """
    return sniff(path).collect


def sniff(path: Path) -> Sniff:
    """Collect, skip, or skip with a warning naming what is missing."""
    if path.suffix.lower() not in (".yaml", ".yml") or path.name.lower() in _NOT_SUITE_FILES:
        return _SILENT
    try:
        data = path.read_bytes()
    except OSError:
        return _SILENT
    text = data.decode("utf-8", errors="replace")
    if _SUITE_KEY_LINE.search(text) is not None:
        return _SUITE
    if _GOLDENS_DIR in path.parts:
        return _SILENT
    if data.startswith(_UTF16_32_BOMS) or b"\x00" in data[:64]:
        return _SUITE if _meant_as_suite(_decode_wide(data)) else _SILENT
    if _meant_as_suite(text):
        return _SUITE
    if not _content(text):
        return Sniff(collect=False, warning=_EMPTY)
    return _SILENT


def wide_encoding(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" when ``data`` starts with that encoding's byte-order mark."""
    if data.startswith(_UTF16_32_BOMS[:2]):
        return "UTF-32"
    return "UTF-16" if data.startswith(_UTF16_32_BOMS[2:]) else None


def _meant_as_suite(text: str) -> bool:
    if _SUITE_KEY_LINE.search(text) is not None or _WRAPPED_SUITE.search(text) is not None:
        return True
    if _TURNS_KEY.search(text) is None:
        return False
    return any(_misspelt_suite_key(match.group(1)) for match in _TOP_KEY_WITH_LIST.finditer(text))


def _misspelt_suite_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SUITE_KEYS or bool(difflib.get_close_matches(lowered, _SUITE_KEYS, n=1, cutoff=0.8))


def _decode_wide(data: bytes) -> str:
    """UTF-16 or UTF-32 text (with or without BOM), as well as it can be read."""
    for encoding in ("utf-32", "utf-16") if data.startswith(_UTF16_32_BOMS[:2]) else ("utf-16", "utf-32"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-16-le", errors="replace")


def _content(text: str) -> str:
    """The text without comments, blank lines and document markers."""
    lines = (line.split("#", 1)[0].strip() for line in text.lstrip("\ufeff").splitlines())
    return "".join(line for line in lines if line not in ("", "---", "..."))
