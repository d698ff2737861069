"""Golden transcripts as a user meets them: real pytest runs (pytester) against the reference agent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from convtest.server import ReferenceServer
from convtest.session import run_suite

ORDERS = """
conversations:
  - name: order status
    golden: true
    turns:
      - user: "Where is my order 1234?"
      - user: "Thanks, bye!"
  - name: greeting
    golden: true
    turns:
      - user: "Hello"
  - name: not golden
    turns:
      - user: "Hello"
"""
STATUS = "__goldens__/orders/order-status.yaml"
GREETING = "__goldens__/orders/greeting.yaml"


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.path.joinpath(name).write_text(textwrap.dedent(text), encoding="utf-8")


def edit(pytester: pytest.Pytester, name: str, old: str, new: str) -> None:
    path = pytester.path / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def golden(pytester: pytest.Pytester, relative: str) -> str:
    return (pytester.path / relative).read_text(encoding="utf-8")


def goldens(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__goldens__" in path.parts
    }


def test_record_pass_change_fail_readably_update_and_pass_again(pytester: pytest.Pytester) -> None:
    write(pytester, "orders.yaml", ORDERS)

    first = pytester.runpytest()
    first.assert_outcomes(passed=1, failed=2)
    first.stdout.fnmatch_lines(
        [
            "*conversation 'order status' has no golden transcript yet (orders.yaml:3)",
            f"*golden: no golden transcript {STATUS} yet; "
            "create it with: pytest orders.yaml --convtest-conversation='order status' --update-goldens",
            "*- convtest goldens -*",
            "convtest goldens: 2 missing",
            "record the missing goldens: pytest * --update-goldens",
        ]
    )
    assert not (pytester.path / "__goldens__").exists()  # a normal run never writes

    recorded = pytester.runpytest("--update-goldens")
    recorded.assert_outcomes(passed=3)
    recorded.stdout.fnmatch_lines(["convtest goldens: 2 written"])
    assert "text: Your order 1234 has shipped" in golden(pytester, STATUS)

    pytester.runpytest().assert_outcomes(passed=3)

    edit(pytester, "orders.yaml", "order 1234", "order 5678")
    changed = pytester.runpytest()
    changed.assert_outcomes(passed=2, failed=1)
    changed.stdout.fnmatch_lines(
        [
            "conversation 'order status' does not match its golden transcript (orders.yaml:3)",
            f"  ✗ golden: does not match {STATUS}: * changes in turn 1",
            "    turn 1 user changed:",
            "        Where is my order [-1234-]{+5678+}?",
            "    turn 1 text changed:",
            "        Your order [-1234 has shipped-]{+5678 is being processed+} and "
            "[-is on its way with UPS-]{+should ship soon+}. [-The tracking number-]{+Expected delivery+} "
            "is[- ZX81TRACK. It should arrive by-] 2026-12-[-02-]{+05+}.",
            '    turn 1 tool call 1 lookup_order input.order_id: "1234" → "5678"',
            '    turn 1 tool call 1 lookup_order output.status: "shipped" → "processing"',
            "  accept this run as the golden: "
            "pytest orders.yaml --convtest-conversation='order status' --update-goldens",
            "*- convtest goldens -*",
            "convtest goldens: 1 match, 1 mismatch",
            "review the differences above, then accept them: pytest * --update-goldens",
        ]
    )
    output = changed.stdout.str()
    assert "Traceback" not in output and "root[" not in output and "values_changed" not in output

    updated = pytester.runpytest("--update-goldens")
    updated.assert_outcomes(passed=3)
    updated.stdout.fnmatch_lines(["convtest goldens: 1 written, 1 unchanged"])
    assert "text: Your order 5678 is being processed" in golden(pytester, STATUS)
    pytester.runpytest().assert_outcomes(passed=3)


def test_update_leaves_matching_goldens_untouched_and_golden_files_are_never_suites(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "orders.yaml", ORDERS)
    pytester.runpytest("--update-goldens").assert_outcomes(passed=3)
    status = pytester.path / STATUS
    stamp = status.stat().st_mtime_ns
    again = pytester.runpytest("--update-goldens")
    again.stdout.fnmatch_lines(["convtest goldens: 2 unchanged"])
    assert status.stat().st_mtime_ns == stamp
    pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["3 tests collected*"])


def test_update_with_k_touches_only_the_selected_goldens(pytester: pytest.Pytester) -> None:
    write(pytester, "orders.yaml", ORDERS)
    pytester.runpytest("--update-goldens").assert_outcomes(passed=3)
    status_before = golden(pytester, STATUS)
    edit(pytester, "orders.yaml", "order 1234", "order 5678")
    edit(
        pytester,
        "orders.yaml",
        'user: "Hello"\n  - name: not golden',
        'user: "Hello there"\n  - name: not golden',
    )

    selected = pytester.runpytest("--update-goldens", "-k", "greeting")
    selected.assert_outcomes(passed=1, deselected=2)
    selected.stdout.fnmatch_lines(["convtest goldens: 1 written"])
    assert "user: Hello there" in golden(pytester, GREETING)
    assert golden(pytester, STATUS) == status_before

    after = pytester.runpytest()
    after.assert_outcomes(passed=2, failed=1)
    after.stdout.fnmatch_lines(["*conversation 'order status' does not match its golden transcript*"])


def test_unused_goldens_are_listed_on_every_run_and_removed_only_with_the_flag(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "orders.yaml", ORDERS)
    pytester.runpytest("--update-goldens").assert_outcomes(passed=3)
    edit(pytester, "orders.yaml", "name: greeting", "name: hello")
    edit(
        pytester,
        "orders.yaml",
        '    golden: true\n    turns:\n      - user: "Where',
        '    turns:\n      - user: "Where',
    )

    listed = pytester.runpytest("-k", "hello")
    listed.stdout.fnmatch_lines(
        [
            f"unused golden {GREETING}: no conversation of its suite has this name any more",
            f"unused golden {STATUS}: the conversation is no longer `golden: true`",
            "convtest goldens: 1 missing, 2 unused (run with --remove-unused-goldens to delete)",
            "record the missing goldens: pytest * --update-goldens",
            "delete the unused goldens: pytest -k hello * --remove-unused-goldens",
        ]
    )
    assert (pytester.path / GREETING).exists() and (pytester.path / STATUS).exists()
    pytester.runpytest("--update-goldens").stdout.fnmatch_lines(["convtest goldens: 1 written, 2 unused*"])
    assert (pytester.path / GREETING).exists()

    removed = pytester.runpytest("--remove-unused-goldens")
    removed.assert_outcomes(passed=3)
    removed.stdout.fnmatch_lines(
        [
            f"removed unused golden {GREETING}: *",
            f"removed unused golden {STATUS}: *",
            "convtest goldens: 1 match, 2 unused removed",
        ]
    )
    assert sorted(goldens(pytester.path)) == ["__goldens__/orders/hello.yaml"]
    assert "unused golden" not in pytester.runpytest().stdout.str()


def test_a_deselected_golden_conversation_is_not_unused(pytester: pytest.Pytester) -> None:
    write(pytester, "orders.yaml", ORDERS)
    pytester.runpytest("--update-goldens").assert_outcomes(passed=3)
    result = pytester.runpytest("-k", "greeting", "--remove-unused-goldens")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["convtest goldens: 1 match"])
    assert (pytester.path / STATUS).exists()
    node = pytester.runpytest("orders.yaml::greeting", "--remove-unused-goldens")
    assert "unused golden" not in node.stdout.str()
    assert (pytester.path / STATUS).exists()


def test_a_failed_conversation_is_not_written_and_the_summary_says_so(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "orders.yaml",
        """
        conversations:
          - name: wrong
            golden: true
            turns:
              - user: "Hello"
                expect: {text: {contains: Ada}}
          - name: greeting
            golden: true
            turns:
              - user: "Hello"
        """,
    )
    result = pytester.runpytest("--update-goldens")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*not written, the conversation failed; no golden transcript __goldens__/orders/wrong.yaml yet*",
            "convtest goldens: 1 written, 1 not written: conversation failed",
        ]
    )
    assert not (pytester.path / "__goldens__/orders/wrong.yaml").exists()


def test_update_under_xdist_writes_each_golden_once_and_matches_a_sequential_update(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "orders.yaml", ORDERS)
    write(pytester, "memory.yaml", ORDERS.replace("order status", "memory status"))
    parallel = pytester.runpytest("-n", "2", "--update-goldens")
    parallel.assert_outcomes(passed=6)
    parallel.stdout.fnmatch_lines(["convtest goldens: 4 written"])
    from_workers = goldens(pytester.path)
    assert len(from_workers) == 4
    assert not any(name.endswith(".tmp") for name in from_workers)

    for path in (pytester.path / "__goldens__").rglob("*.yaml"):
        path.unlink()
    pytester.runpytest("--update-goldens").stdout.fnmatch_lines(["convtest goldens: 4 written"])
    assert goldens(pytester.path) == from_workers

    pytester.runpytest("-n", "2").stdout.fnmatch_lines(["convtest goldens: 4 match"])
    edit(pytester, "orders.yaml", "name: greeting", "name: hello")
    renamed = pytester.runpytest("-n", "2")
    renamed.stdout.fnmatch_lines(
        [f"unused golden {GREETING}: *", "convtest goldens: 3 match, 1 missing, 1 unused (*)"]
    )


def test_secrets_never_reach_a_golden(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    reference_server: ReferenceServer,
    bot_target: None,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", reference_server.token or "")
    monkeypatch.setenv("GOLDEN_SECRET_NAME", "Zebulonsecret")
    write(
        pytester,
        "secret.yaml",
        f"""
        conversations:
          - name: secrets
            golden: true
            turns:
              - user: "Hi, my name is {{{{ env.GOLDEN_SECRET_NAME }}}}"
              - user: "Call me {reference_server.token}"
        """,
    )
    pytester.runpytest("--convtest-target", "bot", "--update-goldens").assert_outcomes(passed=1)
    text = golden(pytester, "__goldens__/secret/secrets.yaml")
    assert "Zebulonsecret" not in text and str(reference_server.token) not in text
    assert "user: Hi, my name is ***" in text and "Nice to meet you, ***!" in text
    pytester.runpytest("--convtest-target", "bot").assert_outcomes(passed=1)


def test_run_suite_compares_and_records_goldens_without_pytest(tmp_path: Path) -> None:
    suite = tmp_path / "orders.yaml"
    suite.write_text(textwrap.dedent(ORDERS), encoding="utf-8")
    missing = run_suite(suite, rootdir=tmp_path)
    assert [(r.conversation.name, r.golden.status if r.golden else None) for r in missing.results] == [
        ("order status", "missing"),
        ("greeting", "missing"),
        ("not golden", None),
    ]
    assert not missing.passed and not (tmp_path / "__goldens__").exists()
    recorded = run_suite(suite, rootdir=tmp_path, update_goldens=True)
    assert recorded.passed
    assert [r.golden.status for r in recorded.results if r.golden] == ["written", "written"]
    matched = run_suite(suite, rootdir=tmp_path)
    assert matched.passed
    assert [r.golden.status for r in matched.results if r.golden] == ["match", "match"]


def test_last_failed_runs_do_not_take_unselected_goldens_for_unused(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "orders.yaml",
        ORDERS
        + '  - name: failing\n    turns:\n      - user: "Hello"\n        expect: {text: {contains: Ada}}\n',
    )
    pytester.runpytest("--update-goldens").assert_outcomes(passed=3, failed=1)
    rerun = pytester.runpytest("--lf", "--remove-unused-goldens")
    rerun.assert_outcomes(failed=1)
    assert "unused golden" not in rerun.stdout.str()
    assert (pytester.path / STATUS).exists() and (pytester.path / GREETING).exists()


def test_unused_goldens_can_be_removed_without_running_a_conversation(pytester: pytest.Pytester) -> None:
    write(pytester, "orders.yaml", ORDERS)
    pytester.runpytest("--update-goldens", "-k", "greeting").assert_outcomes(passed=1, deselected=2)
    (pytester.path / "orders.yaml").unlink()
    write(pytester, "other.yaml", "conversations:\n  - name: c\n    turns: [{user: Hello}]\n")
    removed = pytester.runpytest("--collect-only", "-q", "--remove-unused-goldens")
    removed.stdout.fnmatch_lines([f"removed unused golden {GREETING}: its suite file no longer exists", "*"])
    assert not (pytester.path / "__goldens__").exists()
