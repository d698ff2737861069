"""The HTML report: one self-contained page, rendered once from the view model.

The Jinja2 templates live in ``convtest.templates`` (the top-level ``templates/`` folder, installed
as that package) and are loaded through the package, never from the current directory, with
autoescape on. Data reaches the page through autoescaped expressions and ``data-*`` attributes
only: no JSON for scripts, so a reply that contains ``</script>`` is just text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from convtest.printable import printable
from convtest.report.chart import format_ms
from convtest.report.entry import Entry
from convtest.report.view import RunInfo, build_view

__all__ = ["RunInfo", "render_report", "write_report"]


def render_report(entries: Sequence[Entry], run: RunInfo) -> str:
    """The whole page as one string; the script is allowed by its hash and nothing else runs.

    Control characters a bot sent are shown as escapes (``\\x1b``): escaped HTML would still
    carry them to a terminal that prints the file, and a browser shows them as nothing."""
    env = _environment()
    script = env.get_template("report.js").render()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    page = env.get_template("report.html.j2").render(
        report=build_view(entries, run),
        style=Markup(env.get_template("report.css").render()),  # our own file, not data
        script=Markup(script),  # our own file, not data
        script_hash=f"sha256-{digest}",
    )
    return printable(page, lines=True)  # our own style and script have none to change


def write_report(path: Path, html: str) -> None:
    """Write atomically: a reader (or a CI artifact upload) never sees half a report. What UTF-8
    cannot hold (a lone surrogate a bot sent) is written as its ``\\ud800`` escape."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@cache
def _environment() -> jinja2.Environment:
    """Templates come from the installed package, never from the current directory."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("convtest.templates", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = pretty_json
    env.filters["ms"] = format_ms
    env.filters["seconds"] = format_seconds
    env.filters["compact"] = compact_json
    env.filters["display"] = display
    return env


def pretty_json(value: Any) -> str:
    """Tool inputs and outputs as indented JSON; anything JSON cannot hold is shown as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def compact_json(value: Any) -> str:
    """A tool's input on one line, for the collapsed tool call."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def display(value: Any) -> str:
    """Text as it is (a reply, an actual value); anything else as indented JSON."""
    return value if isinstance(value, str) else pretty_json(value)


def format_seconds(value: float) -> str:
    """A run or conversation duration: ``350 ms``, ``3.20 s``, ``4 min 05 s``."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"
