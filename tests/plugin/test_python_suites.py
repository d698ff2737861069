"""``adapter: python`` as a user meets it: pytest runs of suites against an agent function of the
project's own, imported from convtest.yaml's ``callable``."""

from __future__ import annotations

import textwrap

import pytest

# imported here, before any in-process run: pytester drops modules first imported inside a run,
# and a second copy of the event classes (imported by the next run's bot) would not be the ones
# the adapter, cached by convtest's adapter discovery, checks against
import convtest.adapters.python_target  # noqa: F401

BOT = """
import asyncio
import time

from convtest.adapters.python_target import Finish, Text, ToolCall


def echo(user, turn, session):
    session["seen"] = session.get("seen", 0) + 1
    return f"echo: {user} (turn {turn}, seen {session['seen']})"


async def structured(user, history, session_id):
    await asyncio.sleep(0)
    return {
        "text": f"{len(history)} earlier turns",
        "tool_calls": [{"name": "lookup", "input": {"q": user}, "output": {"hits": 1}}],
        "finish_reason": "length",
        "session_id": "s-" + str(len(history)),
    }


def streamed(user):
    yield ToolCall("search", {"q": user}, output=["a"])
    yield Text("Hel")
    yield "lo"
    yield {"reasoning": "thinking"}
    yield Finish("stop")


async def astreamed(user, prefix):
    for chunk in (prefix, user):
        await asyncio.sleep(0)
        yield chunk


def helper(n):
    return 1 / n


def broken(user):
    return helper(0)


def broken_stream(user):
    yield "partial "
    raise RuntimeError("the agent fell over")


def slow(user):
    time.sleep(5)
    return "too late"


async def stalls(user):
    yield "first "
    await asyncio.sleep(5)
    yield "never"


def bad_answer(user):
    return {"txt": "typo"}
"""

CONFIG = """
targets:
  echo: {adapter: python, callable: "bots/bot.py:echo"}
  structured: {adapter: python, callable: "bot:structured"}
  streamed: {adapter: python, callable: "bot:streamed"}
  astreamed: {adapter: python, callable: "bot:astreamed", args: {prefix: ">> "}}
  broken: {adapter: python, callable: "bot:broken"}
  broken-stream: {adapter: python, callable: "bot:broken_stream"}
  slow: {adapter: python, callable: "bot:slow", timeouts: {total: 0.3}}
  stalls: {adapter: python, callable: "bot:stalls", timeouts: {idle: 0.3}}
  bad-answer: {adapter: python, callable: "bot:bad_answer"}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``bot.py`` importable as ``bot`` (on sys.path) and as ``bots/bot.py`` (a path)."""
    pytester.path.joinpath("bot.py").write_text(BOT, "utf-8")
    pytester.path.joinpath("bots").mkdir()
    pytester.path.joinpath("bots", "bot.py").write_text(BOT, "utf-8")
    pytester.path.joinpath("convtest.yaml").write_text(CONFIG, "utf-8")
    monkeypatch.syspath_prepend(str(pytester.path))
    return pytester


def suite(pytester: pytest.Pytester, target: str, text: str) -> None:
    body = f"target: {target}\nconversations:\n" + textwrap.indent(textwrap.dedent(text), "  ")
    pytester.path.joinpath("chat.yaml").write_text(body, "utf-8")


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


def test_session_dict_lasts_for_one_conversation_and_a_failure_names_file_and_line(
    project: pytest.Pytester,
) -> None:
    suite(
        project,
        "echo",
        """
        - name: two turns
          turns:
            - user: hi
              expect: {text: {equals: "echo: hi (turn 1, seen 1)"}, finish_reason: stop}
            - user: again
              expect: {text: {equals: "echo: again (turn 2, seen 2)"}}
        - name: a new conversation starts a new session
          turns:
            - user: hello
              expect: {text: {contains: "seen 2"}}
        """,
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*conversation 'a new conversation starts a new session' failed at turn 1 of 1 (chat.yaml:10)*",
            "*target: echo · session *",
            "*bot:  echo: hello (turn 1, seen 1)*",
            '*expected text contains "seen 2"  (chat.yaml:13)*',
        ]
    )
    assert "Traceback" not in output(result)


def test_async_function_returning_a_dict_fills_the_transcript(project: pytest.Pytester) -> None:
    suite(
        project,
        "structured",
        """
        - name: structured
          turns:
            - user: first
              expect:
                text: {equals: "0 earlier turns"}
                tool_calls: [{name: lookup, input: {q: first}, output: {hits: 1}}]
                finish_reason: length
                steps: 2
              save: {sid: {from: session_id}}
            - user: "second {{ sid }}"
              expect:
                text: {equals: "1 earlier turns"}
                tool_calls: [{name: lookup, input: {q: "second s-0"}}]
        """,
    )
    project.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("target", ["streamed", "astreamed"])
def test_generators_stream_text_chunks_and_events(project: pytest.Pytester, target: str) -> None:
    expected = {
        "streamed": "{text: {equals: Hello}, tool_calls: [{name: search, output: [a]}], "
        "reasoning: {equals: thinking}}",
        "astreamed": "{text: {equals: '>> hi'}, tool_calls: {none: true}, finish_reason: stop}",
    }[target]
    suite(project, target, f"- name: streams\n  turns:\n    - user: hi\n      expect: {expected}\n")
    project.runpytest().assert_outcomes(passed=1)


def test_an_exception_shows_the_callables_own_traceback(project: pytest.Pytester) -> None:
    suite(project, "broken", "- name: raises\n  turns:\n    - user: hi\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*✗ target 'broken': bot:broken raised ZeroDivisionError: division by zero",
            "*Traceback (most recent call last):",
            '*File "*bot.py", line *, in broken',
            "*return helper(0)",
            '*File "*bot.py", line *, in helper',
            "*ZeroDivisionError: division by zero",
        ]
    )
    assert "convtest/" not in output(result)


def test_an_exception_mid_stream_keeps_the_text_so_far(project: pytest.Pytester) -> None:
    suite(project, "broken-stream", "- name: raises\n  turns:\n    - user: hi\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*bot:  partial*",
            "*bot:broken_stream raised RuntimeError: the agent fell over",
            '*File "*bot.py", line *, in broken_stream',
        ]
    )
    assert "convtest/" not in output(result)


@pytest.mark.parametrize(
    ("target", "verdict"),
    [
        ("slow", "*target 'slow': turn not finished within 0.3 s (total timeout) in bot:slow"),
        (
            "stalls",
            "*target 'stalls': nothing yielded by bot:stalls for 0.3 s (idle timeout) after 1 items*'first '",
        ),
    ],
)
def test_a_callable_that_takes_too_long_ends_in_a_named_timeout(
    project: pytest.Pytester, target: str, verdict: str
) -> None:
    suite(project, target, "- name: waits\n  turns:\n    - user: hi\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([verdict])


def test_an_answer_of_the_wrong_shape_is_a_verdict_with_did_you_mean(project: pytest.Pytester) -> None:
    suite(project, "bad-answer", "- name: typo\n  turns:\n    - user: hi\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*bot:bad_answer returned a bad answer: unknown key `txt` in a dict answer — did you mean `text`?"]
    )


@pytest.mark.parametrize(
    ("callable_", "message"),
    [
        (
            "nowhere.bot:reply",
            "`callable` nowhere.bot:reply: cannot import `nowhere.bot`: ModuleNotFoundError*",
        ),
        ("bot:missing", "`callable` bot:missing: `bot` has no function `missing` (functions: *"),
        ("bots/none.py:reply", "`callable` bots/none.py:reply: no file */bots/none.py"),
        ("bot:helper", "`callable` bot:helper takes `n`, which convtest cannot fill (it passes by name: *"),
        ("", "`callable` is required (e.g. callable: mypkg.bot:reply or bots/echo.py:reply)"),
    ],
)
def test_a_callable_that_cannot_be_used_is_reported_at_the_targets_line(
    project: pytest.Pytester, callable_: str, message: str
) -> None:
    project.path.joinpath("convtest.yaml").write_text(
        f"# a comment\ntargets:\n  mine:\n    adapter: python\n    callable: '{callable_}'\n", "utf-8"
    )
    suite(project, "mine", "- name: one\n  turns:\n    - user: hi\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*convtest.yaml:3: target 'mine': {message}"])
    assert "Traceback" not in output(result)


def test_example_bot_suite_runs_through_the_adapter_under_xdist(project: pytest.Pytester) -> None:
    suite(
        project,
        "echo",
        """
        - name: one
          turns: [{user: a, expect: {text: {contains: "turn 1"}}}]
        - name: two
          turns: [{user: b, expect: {text: {contains: "turn 1"}}}]
        """,
    )
    project.runpytest("-n", "2").assert_outcomes(passed=2)
