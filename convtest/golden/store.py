"""How goldens are read and written (where they live: :mod:`convtest.golden.paths`).

The YAML is written for review: keys in a fixed order, multi-line text as ``|`` blocks, non-ASCII
kept as is, and what a file cannot hold raw (control characters, a lone surrogate a bot sent) as
escapes in double quotes, so every string reads back as it was. Writes go to a temporary file in
the same directory and are renamed over the old golden, so an interrupted run leaves either the
old golden or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Final

import yaml

from convtest.exceptions import GoldenError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "dump_golden",
    "load_golden",
    "parse_golden",
    "remove_golden",
    "write_atomic",
]

_PURE_LOADER: Final[type[Any]] = yaml.SafeLoader
_HEADER: Final = (
    "# convtest golden transcript: compared with every run, rewritten by `pytest --update-goldens`.\n"
    "# Review changes to it like code.\n"
)


class _Dumper(yaml.SafeDumper):
    """Block style throughout, list items indented under their key, multi-line text as ``|``."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


#: line breaks besides ``\n`` (``\r`` is never written raw)
_OTHER_BREAKS: Final = frozenset("\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # the emitter falls back to quotes by itself where a block cannot hold the text exactly, but
    # writes YAML's other line breaks raw where a reader folds them into spaces: only double
    # quotes escape them
    style = '"' if _OTHER_BREAKS.intersection(value) else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_golden(document: dict[str, Any]) -> str:
    """The file text; long lines are not folded, so a changed word changes one line of the diff."""
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
    return _HEADER + body


def parse_golden(text: str, shown: str) -> dict[str, Any]:
    """A golden's data: a mapping with a ``turns`` list of mappings, or :class:`GoldenError`."""
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise GoldenError(f"cannot read golden {shown}: invalid YAML ({exc})".replace("\n", " ")) from None
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list) or not all(isinstance(turn, dict) for turn in turns):
        raise GoldenError(f"cannot read golden {shown}: expected a mapping with a `turns` list of mappings")
    golden: dict[str, Any] = data
    return golden


def _load_yaml(text: str) -> Any:
    """libyaml first, for speed; it refuses the ``\\uD800`` escape a lone surrogate is written as,
    which PyYAML's own loader reads back."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as first:
        if _Loader is _PURE_LOADER:
            raise
        try:
            return yaml.load(text, Loader=_PURE_LOADER)
        except yaml.YAMLError:
            raise first from None


def load_golden(path: Path, shown: str) -> dict[str, Any] | None:
    """The golden at ``path``; None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenError(f"cannot read golden {shown}: {exc}") from None
    return parse_golden(text, shown)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory and rename it over ``path``.

    ``os.replace`` is atomic on one file system; on any failure, Ctrl-C included, the temporary
    file is removed and the old golden stays as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes files private; goldens are shared like source files
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_golden(path: Path) -> None:
    """Delete a golden, then its suite's folder and ``__goldens__`` when they are left empty."""
    path.unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        with contextlib.suppress(OSError):  # not empty: other goldens live there
            folder.rmdir()
