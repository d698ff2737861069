"""Goldens under careless suites and hostile bots (issue 14, items 7-10 and 19): an update never
writes over a suite or outside ``__goldens__``, two conversations never share a golden, anything
a bot sends reads back, and the printed accept command selects exactly its conversation."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from convtest.golden.store import parse_golden

HELLO = """
conversations:
  - name: {name}
    golden: true
    turns:
      - user: Hello
"""


def write(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def golden_suite(names: list[str]) -> str:
    """Golden conversations of these names, each name as a JSON (so YAML) double-quoted string."""
    quoted = (json.dumps(name, ensure_ascii=False) for name in names)
    return "conversations:\n" + "".join(
        f"  - name: {name}\n    golden: true\n    turns:\n      - user: Hello\n" for name in quoted
    )


def goldens(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("__goldens__/**/*.yaml"))


def test_a_suite_named_dot_dot_yaml_never_writes_over_a_suite(pytester: pytest.Pytester) -> None:
    orders = write(pytester, "orders.yaml", HELLO.format(name="greeting"))
    before = orders.read_text(encoding="utf-8")
    write(pytester, "...yaml", HELLO.format(name="orders"))

    result = pytester.runpytest("--update-goldens")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*...yaml:3, conversation 'orders': suite file name `...yaml` cannot have goldens: *"
            "; rename the file"
        ]
    )
    assert orders.read_text(encoding="utf-8") == before
    assert goldens(pytester.path) == ["__goldens__/orders/greeting.yaml"]


def test_yaml_and_yml_suites_sharing_a_golden_fail_by_name_instead_of_flipping(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "orders.yaml", HELLO.format(name="greeting"))
    write(pytester, "orders.yml", HELLO.format(name="greeting"))

    result = pytester.runpytest("--update-goldens")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*orders.yaml:3, conversation 'greeting': golden file `__goldens__/orders/greeting.yaml` is also "
            "the golden of conversation `greeting` in orders.yml:3: `orders.yaml` and `orders.yml` share "
            "one golden folder; rename one of the two suite files",
            "*orders.yml:3, conversation 'greeting': golden file `__goldens__/orders/greeting.yaml` is also "
            "the golden of conversation `greeting` in orders.yaml:3: *",
        ]
    )
    assert goldens(pytester.path) == []


def test_goldens_of_yaml_and_yml_suites_in_one_folder_are_all_in_use(pytester: pytest.Pytester) -> None:
    write(pytester, "orders.yaml", HELLO.format(name="greeting"))
    write(pytester, "orders.yml", HELLO.format(name="hello"))
    pytester.runpytest("--update-goldens").assert_outcomes(passed=2)
    assert goldens(pytester.path) == ["__goldens__/orders/greeting.yaml", "__goldens__/orders/hello.yaml"]

    only_one = pytester.runpytest("orders.yaml", "--remove-unused-goldens")

    only_one.assert_outcomes(passed=1)
    assert "unused" not in only_one.stdout.str()
    assert len(goldens(pytester.path)) == 2


def test_names_without_words_and_long_cjk_names_each_get_a_golden(pytester: pytest.Pytester) -> None:
    names = ["🎉🎉🎉", "???", "...", "中" * 100]
    suite = golden_suite(names)
    write(pytester, "party.yaml", suite)

    pytester.runpytest("--update-goldens").assert_outcomes(passed=4)

    assert len(goldens(pytester.path)) == 4
    pytester.runpytest().assert_outcomes(passed=4)


def test_a_blank_conversation_name_is_refused_with_its_line(pytester: pytest.Pytester) -> None:
    write(pytester, "blank.yaml", HELLO.format(name='"   "'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*blank.yaml:3*`name` must not be blank (only white space)"])


class _SurrogateBot(BaseHTTPRequestHandler):
    """Answers every turn with a text and a tool call holding lone surrogates and control characters."""

    EVENTS = (
        {"type": "start", "messageId": "m1"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "bad \ud800 text\x00\x1b[31m"},
        {"type": "text-end", "id": "0"},
        {
            "type": "tool-input-available",
            "toolCallId": "t1",
            "toolName": "look",
            "input": {"k\udfff": "\ud83c"},
        },
        {"type": "tool-output-available", "toolCallId": "t1", "output": {"v": "\udc80"}},
        {"type": "finish", "finishReason": "stop"},
    )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        events = [json.dumps(event).encode() for event in self.EVENTS]
        body = b"".join(b"data: %s\n\n" % event for event in [*events, b"[DONE]"])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def surrogate_bot(pytester: pytest.Pytester) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SurrogateBot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    write(
        pytester, "convtest.yaml", f"targets:\n  bot:\n    base_url: {url}\n    pid: p1\n    chatbot_id: c1\n"
    )
    yield
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("surrogate_bot")
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_a_lone_surrogate_from_the_bot_reads_back_and_the_report_is_written(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    failing = (
        "  - name: fails\n    turns:\n      - user: Hello\n        expect: {text: {contains: nothing}}\n"
    )
    write(pytester, "bot.yaml", "target: bot\n" + HELLO.format(name="surrogates") + failing)

    recorded = pytester.runpytest(*workers, "--update-goldens", "--convtest-report", "report.html")

    recorded.assert_outcomes(passed=1, failed=1)
    recorded.stdout.fnmatch_lines(["*bot:  bad \\ud800 text*", "convtest goldens: 1 written"])
    report = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "bad \\ud800 text" in report
    again = pytester.runpytest(*workers, "--convtest-report", "report.html")
    again.assert_outcomes(passed=1, failed=1)
    again.stdout.fnmatch_lines(["convtest goldens: 1 match"])


ODD_NAMES = ["a::b", "a", "a[x]", "-n 2 'it''s' \"$HOME\" `id` ; *", "  spaced  ", "new\nline"]


def test_the_printed_accept_command_selects_exactly_its_conversation(pytester: pytest.Pytester) -> None:
    """Each command is run as printed, through a shell, with ``pytest`` on the PATH being this one."""
    suite = golden_suite(ODD_NAMES)
    write(pytester, "odd.yaml", suite)
    output = pytester.runpytest().stdout.str()
    commands = re.findall(r"create it with: (pytest .*? --update-goldens)", output, re.DOTALL)
    assert len(commands) == len(ODD_NAMES)
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    for command in commands:
        before = set(goldens(pytester.path))
        run = subprocess.run(
            ["sh", "-c", command], cwd=pytester.path, env=environment, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"1 passed, {len(ODD_NAMES) - 1} deselected" in run.stdout
        [written] = set(goldens(pytester.path)) - before
        name = shlex.split(command)[2].removeprefix("--convtest-conversation=")
        assert (
            parse_golden((pytester.path / written).read_text(encoding="utf-8"), written)["conversation"]
            == name
        )
    assert len(goldens(pytester.path)) == len(ODD_NAMES)
