"""Golden file names: one file per golden conversation, always inside its suite's golden folder.

Layout: ``<suite folder>/__goldens__/<suite file stem>/<conversation slug>.yaml``. A slug is the
conversation's name in lower case, its words joined by ``-``, at most :data:`MAX_SLUG_BYTES` bytes
of UTF-8. When that readable part alone could stand for other names too (it is empty, was cut, or
dropped characters other than case, punctuation and white space) a hash of the exact name is
appended, so ``🎉🎉🎉`` and ``???`` get files of their own while ``Order status`` keeps
``order-status.yaml``. The two names that still share a slug (``Order status`` and
``order-status``) are reported by the loader; see :func:`convtest.suite.golden.claim_golden_file`.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from pathlib import Path
from typing import Final

from convtest.exceptions import GoldenError
from convtest.sniff import is_suite_file

__all__ = [
    "GOLDENS_DIR",
    "MAX_SLUG_BYTES",
    "SUITE_SUFFIXES",
    "golden_folder",
    "golden_folder_problem",
    "golden_path",
    "golden_slug",
    "suite_sharing_golden_folder",
]

GOLDENS_DIR: Final = "__goldens__"
#: a slug's bytes: with ``.yaml`` and the temporary name of an atomic write it stays far below the
#: 255 bytes most file systems allow (and below eCryptfs's 143)
MAX_SLUG_BYTES: Final = 100
SUITE_SUFFIXES: Final = (".yaml", ".yml")
_SEPARATORS: Final = re.compile(r"[\W_]+")
#: ASCII symbols (``$``, ``+``) separate words as punctuation does; emoji and other symbols do not
_ASCII_SEPARATORS: Final = frozenset(string.punctuation + string.whitespace)
_HASH_CHARS: Final = 8
_EMPTY: Final = "conversation"


def golden_slug(name: str) -> str:
    """A conversation's golden file name, without ``.yaml``: readable, bounded in bytes, and
    distinct for names that differ in more than case, punctuation and white space."""
    lowered = name.lower()
    readable = _SEPARATORS.sub("-", lowered).strip("-")
    dropped = "".join(_SEPARATORS.findall(lowered))
    fits = len(readable.encode("utf-8")) <= MAX_SLUG_BYTES
    if readable and fits and all(map(_separates_words, dropped)):
        return readable
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    room = MAX_SLUG_BYTES - len(digest) - 1
    cut = readable.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip("-")
    return f"{cut or _EMPTY}-{digest}"


def _separates_words(char: str) -> bool:
    """Characters a readable slug may drop without the name needing a hash: word separators."""
    return char in _ASCII_SEPARATORS or char.isspace() or unicodedata.category(char)[0] in "PZ"


def golden_folder(suite: Path) -> Path:
    """The folder of one suite file's goldens: named after the file without its extension."""
    problem = golden_folder_problem(suite)
    if problem is not None:
        raise GoldenError(problem)
    return suite.parent / GOLDENS_DIR / suite.stem


def golden_path(suite: Path, conversation: str) -> Path:
    """A conversation's golden; never a suite file, never outside the suite's golden folder."""
    path = golden_folder(suite) / f"{golden_slug(conversation)}.yaml"
    if path.resolve() == suite.resolve() or (path.exists() and is_suite_file(path)):
        raise GoldenError(f"golden {path.as_posix()} would overwrite a suite file; rename the conversation")
    return path


def golden_folder_problem(suite: Path) -> str | None:
    """Why a suite file's name cannot give its goldens a folder of their own, or None.

    ``...yaml`` has the stem ``..``: its goldens would land beside the suites, over them.
    """
    stem = suite.stem
    if stem not in ("", ".", "..") and "/" not in stem and "\\" not in stem:
        return None
    folder = f"{(suite.parent / GOLDENS_DIR).as_posix()}/{stem}"
    return (
        f"suite file name `{suite.name}` cannot have goldens: their folder `{folder}` would not "
        f"be inside `{GOLDENS_DIR}`; rename the file"
    )


def suite_sharing_golden_folder(suite: Path) -> Path | None:
    """The other suite file (``orders.yml`` beside ``orders.yaml``) whose goldens would share this
    file's golden folder, or None."""
    for suffix in SUITE_SUFFIXES:
        other = suite.with_suffix(suffix)
        # a case-insensitive file system finds ``orders.YAML`` as this very file
        if other.name.lower() != suite.name.lower() and is_suite_file(other):
            return other
    return None
