"""convtest against a server built with the real ``ai`` npm package (``server.mjs``).

The stream is encoded by the package itself, so this is where a change in the protocol shows up
first. Node and the package are installed by ``npm ci --prefix tests/interop`` (``.ci/run`` does
it); without them the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from convtest.session import run_suite

HERE = Path(__file__).parent
STARTUP_TIMEOUT = 20.0

SUITE = """\
suite: ai sdk interop
target: interop
conversations:
  - name: plain text
    turns:
      - user: hi
        expect:
          text: {equals: "Hello from the AI SDK!"}
          finish_reason: stop
          steps: 1
          tool_calls: {none: true}
          data: {session: "{{ session_id }}"}

  - name: multi-step tool call
    turns:
      - user: where is order 1234
        expect:
          tool_calls:
            - name: lookup_order
              input: {order_id: "1234"}
              output: {found: true, status: shipped}
              input_schema:
                type: object
                required: [order_id]
                properties: {order_id: {type: string, pattern: '^[0-9]+$'}}
          reasoning: {contains: look it up}
          sources: {count: 1, contains_url: shop.example}
          steps: 2
          text: {equals: "Order 1234 is shipped."}

  - name: error chunk
    turns:
      - user: "hi [[error]]"
        expect:
          errors: {count: 1, contains: Simulated model failure}
          finish_reason: error
          text: {equals: "Let me"}

  - name: session carry-over
    turns:
      - user: my name is Ada
        expect: {text: {contains: Ada}}
      - user: what is my name
        expect: {text: {equals: "Your name is Ada."}}
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run `npm ci --prefix tests/interop` first (see .ci/run)")
    pytest.skip(f"{reason}; run `npm ci --prefix tests/interop` to enable this test")


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[str]:
    """``node server.mjs`` on a free port of 127.0.0.1; yields its base URL."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (HERE / "node_modules" / "ai").is_dir():
        _unavailable("the `ai` package is not installed in tests/interop/node_modules")
    process = subprocess.Popen(
        [str(node), "server.mjs", "0"], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield _announced_url(process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def _announced_url(process: subprocess.Popen[str]) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=STARTUP_TIMEOUT)
    except queue.Empty:
        pytest.fail(f"server.mjs printed nothing within {STARTUP_TIMEOUT} s")
    if not line.startswith("listening on "):
        pytest.fail(f"server.mjs did not start: {line}{stdout.read()}")
    return line.removeprefix("listening on ").strip()


def test_a_suite_passes_against_a_server_built_with_the_ai_package(
    sdk_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    (tmp_path / "convtest.yaml").write_text(
        f"targets:\n  interop:\n    base_url: {sdk_server}\n    pid: p1\n    chatbot_id: c1\n"
        "    timeouts: {connect: 5, first_byte: 10, first_token: 10, idle: 10, total: 20}\n"
    )
    suite = tmp_path / "interop.yaml"
    suite.write_text(SUITE)

    result = run_suite(suite, rootdir=tmp_path)

    failed = [r.to_dict() for r in result.results if not r.passed]
    assert result.passed, failed
    plain, tools, error, memory = (r.turns for r in result.results)
    transcript = plain[0].transcript
    assert transcript is not None
    assert transcript.message_id and transcript.message_id.startswith("msg-")
    assert transcript.message_metadata == {"model": "mock"}
    assert transcript.unknown_events == [], "every chunk the package sends is decoded"
    tool_turn = tools[0].transcript
    assert tool_turn is not None
    (call,) = tool_turn.tool_calls
    assert (call.id, call.state, call.step, call.input_text) == (
        "call-1",
        "output-available",
        0,
        '{"order_id":"1234"}',
    )
    assert error[0].transcript is not None and error[0].transcript.done
    sessions = {turn.transcript.session_id for turn in memory if turn.transcript}
    assert len(sessions) == 1 and None not in sessions
