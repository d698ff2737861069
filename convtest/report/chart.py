"""Latency strip chart geometry: one row of dots per measure, on one shared millisecond axis.

Pure numbers in, coordinates out; the template only draws them, so the scale, ticks and
percentiles are tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Chart", "Dot", "Row", "Sample", "format_ms", "latency_chart"]

WIDTH = 900
LEFT = 110
RIGHT = 20
ROW_HEIGHT = 44
TOP = 12
AXIS_HEIGHT = 26
#: vertical offsets that spread dots of similar values apart, so a cluster still shows its size
_JITTER = (0, -8, 8, -4, 4, -12, 12)


@dataclass(frozen=True, slots=True)
class Sample:
    """One turn's timings, and where the turn lives in the report (for the dot's link)."""

    anchor: str
    label: str
    first_token_ms: float | None
    total_ms: float | None
    failed: bool


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    title: str
    anchor: str
    failed: bool


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    y: float
    dots: tuple[Dot, ...]
    p50: float | None
    p95: float | None
    maximum: float | None
    p50_x: float | None
    p95_x: float | None


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    axis_y: float
    rows: tuple[Row, ...]
    #: (x, label) of each axis tick
    ticks: tuple[tuple[float, str], ...]

    @property
    def empty(self) -> bool:
        return not any(row.dots for row in self.rows)


def latency_chart(samples: Sequence[Sample]) -> Chart:
    """First-token and total time of every turn, on an axis from 0 to a round maximum."""
    measures = (
        ("first token", [(s, s.first_token_ms) for s in samples]),
        ("total", [(s, s.total_ms) for s in samples]),
    )
    values = [v for _, pairs in measures for _, v in pairs if v is not None]
    step = nice_step(max(values, default=0.0))
    top = step * max(1, math.ceil(max(values, default=0.0) / step))
    scale = _Scale(top)
    rows = tuple(
        _row(label, pairs, TOP + ROW_HEIGHT * (i + 0.5), scale) for i, (label, pairs) in enumerate(measures)
    )
    axis_y = TOP + ROW_HEIGHT * len(rows)
    ticks = tuple((scale.x(step * i), format_ms(step * i)) for i in range(round(top / step) + 1))
    return Chart(WIDTH, int(axis_y + AXIS_HEIGHT), LEFT, RIGHT, axis_y, rows, ticks)


def nice_step(value: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 times a power of ten that cuts ``0..value`` into at most ``ticks`` steps."""
    raw = max(value, 1.0) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that was actually measured, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def format_ms(value: float | None) -> str:
    """Milliseconds as a person reads them: ``4.2 ms``, ``350 ms``, ``1.25 s``."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} ms".replace(".0 ms", " ms")
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s".replace(".00 s", " s")


class _Scale:
    def __init__(self, top: float) -> None:
        self.top = top

    def x(self, value: float) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * min(value, self.top) / self.top, 1)


def _row(label: str, pairs: list[tuple[Sample, float | None]], y: float, scale: _Scale) -> Row:
    measured = [(sample, value) for sample, value in pairs if value is not None]
    dots = tuple(
        Dot(
            x=scale.x(value),
            y=y + _JITTER[i % len(_JITTER)],
            title=f"{sample.label}: {label} {format_ms(value)}",
            anchor=sample.anchor,
            failed=sample.failed,
        )
        for i, (sample, value) in enumerate(measured)
    )
    values = [value for _, value in measured]
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return Row(
        label=label,
        y=y,
        dots=dots,
        p50=p50,
        p95=p95,
        maximum=max(values, default=None),
        p50_x=None if p50 is None else scale.x(p50),
        p95_x=None if p95 is None else scale.x(p95),
    )
