"""Unused goldens: judged only for suites this run collected, or whose file is gone."""

from __future__ import annotations

from pathlib import Path

from convtest.golden.unused import SuiteGoldens, find_unused


def make(root: Path, *paths: str) -> None:
    for relative in paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n", encoding="utf-8")


def found(root: Path, suites: dict[Path, SuiteGoldens]) -> list[tuple[str, str]]:
    return [(golden.shown, golden.reason) for golden in find_unused(suites, root)]


def collected(**conversations: bool) -> SuiteGoldens:
    suite = SuiteGoldens()
    for name, golden in conversations.items():
        suite.add(name.replace("_", " "), golden=golden)
    return suite


def test_goldens_of_golden_conversations_are_in_use_others_are_unused_with_the_reason(tmp_path: Path) -> None:
    make(
        tmp_path,
        "suites/orders.yaml",
        "suites/__goldens__/orders/order-status.yaml",
        "suites/__goldens__/orders/plain-one.yaml",
        "suites/__goldens__/orders/renamed.yaml",
        "suites/__goldens__/orders/.order-status.yaml.x1.tmp",
    )
    suites = {tmp_path / "suites/orders.yaml": collected(order_status=True, plain_one=False)}
    assert found(tmp_path, suites) == [
        ("suites/__goldens__/orders/plain-one.yaml", "the conversation is no longer `golden: true`"),
        ("suites/__goldens__/orders/renamed.yaml", "no conversation of its suite has this name any more"),
    ]


def test_goldens_of_a_deleted_suite_are_unused(tmp_path: Path) -> None:
    make(tmp_path, "suites/orders.yaml", "suites/__goldens__/gone/a.yaml", "suites/__goldens__/gone/b.yaml")
    suites = {tmp_path / "suites/orders.yaml": collected()}
    assert found(tmp_path, suites) == [
        ("suites/__goldens__/gone/a.yaml", "its suite file no longer exists"),
        ("suites/__goldens__/gone/b.yaml", "its suite file no longer exists"),
    ]


def test_goldens_of_a_suite_not_collected_in_this_run_are_not_judged(tmp_path: Path) -> None:
    make(
        tmp_path,
        "suites/orders.yaml",
        "suites/memory.yml",
        "suites/__goldens__/memory/anything.yaml",
        "other/__goldens__/x/y.yaml",
    )
    assert found(tmp_path, {tmp_path / "suites/orders.yaml": collected()}) == []
