"""The latency chart's numbers: a round axis, measured percentiles, one dot per timed turn."""

from __future__ import annotations

import pytest

from convtest.report.chart import LEFT, RIGHT, WIDTH, Sample, format_ms, latency_chart, nice_step, percentile


@pytest.mark.parametrize(
    ("value", "step"), [(0, 0.2), (3, 1), (14, 5), (30.2, 10), (100, 20), (999, 200), (4500, 1000)]
)
def test_axis_step_is_one_two_or_five_times_a_power_of_ten(value: float, step: float) -> None:
    assert nice_step(value) == pytest.approx(step)


def test_percentiles_are_measured_values_by_nearest_rank() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == 5.0
    assert percentile([], 0.5) is None


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "—"), (0.42, "0.4 ms"), (4.0, "4 ms"), (350.4, "350 ms"), (1250, "1.25 s"), (2000, "2 s")],
)
def test_milliseconds_read_as_a_person_says_them(ms: float | None, text: str) -> None:
    assert format_ms(ms) == text


def test_each_timed_turn_is_a_dot_on_a_shared_axis_and_failures_are_marked() -> None:
    samples = [
        Sample("c1-t1", "a · turn 1", 100.0, 400.0, failed=False),
        Sample("c1-t2", "a · turn 2", None, 700.0, failed=True),  # no token ever came
        Sample("c2-t1", "b · turn 1", 50.0, 200.0, failed=False),
    ]
    chart = latency_chart(samples)
    first_token, total = chart.rows
    assert [d.anchor for d in first_token.dots] == ["c1-t1", "c2-t1"]
    assert [d.failed for d in total.dots] == [False, True, False]
    assert total.maximum == 700.0 and total.p50 == 400.0
    assert chart.ticks[0] == (LEFT, "0 ms")
    assert chart.ticks[-1] == (WIDTH - RIGHT, "800 ms")
    assert all(LEFT <= d.x <= WIDTH - RIGHT for row in chart.rows for d in row.dots)
    assert "a · turn 2: total 700 ms" in [d.title for d in total.dots]


def test_no_timed_turn_gives_an_empty_chart() -> None:
    assert latency_chart([]).empty
    assert latency_chart([Sample("c1-t1", "x", None, None, failed=True)]).empty
