"""Hostile bots and careless suites, measured: each case is a whole ``pytest`` process on a suite
against a hostile server on 127.0.0.1; the table gives its verdict, the time to it and the
process's peak RSS. Not part of the test run (the tests assert the verdicts and bounds).

    python tests/benchmarks/bench_hostile.py            # about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
CHUNK = 64 * 1024


def sse(chunk: dict[str, object]) -> bytes:
    return f"data: {json.dumps(chunk)}\n\n".encode()


START = sse({"type": "start", "messageId": "m1"}) + sse({"type": "text-start", "id": "0"})
DELTA = sse({"type": "text-delta", "id": "0", "delta": "x" * 400})
DONE = sse({"type": "text-end", "id": "0"}) + sse({"type": "finish"}) + b"data: [DONE]\n\n"


async def endless_deltas() -> AsyncIterator[bytes]:
    yield START
    block = DELTA * (CHUNK // len(DELTA))
    while True:
        yield block
        await asyncio.sleep(0)


async def endless_comments() -> AsyncIterator[bytes]:
    yield START
    block = b": keep-alive\n\n" * (CHUNK // 14)
    while True:
        yield block
        await asyncio.sleep(0)


async def endless_line() -> AsyncIterator[bytes]:
    yield START + b'data: {"type":"text-delta","id":"0","delta":"'
    block = b"x" * CHUNK
    while True:
        yield block
        await asyncio.sleep(0)


async def one(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]
        await asyncio.sleep(0)


def gzip_bomb(size: int) -> bytes:
    """A 1000:1 gzip body: a valid stream start, then ``size`` bytes of deltas."""
    packer = gzip.compress(START + DELTA * (size // len(DELTA)), compresslevel=9)
    return packer


def deep_event(depth: int) -> bytes:
    data = {"type": "data-deep", "data": json.loads("[" * depth + "]" * depth)} if depth < 900 else None
    raw = (
        '{"type":"data-deep","data":' + "[" * depth + "]" * depth + "}" if data is None else json.dumps(data)
    )
    return START + f"data: {raw}\n\n".encode() + DONE


@dataclass(frozen=True)
class Mode:
    body: Callable[[], AsyncIterator[bytes]]
    headers: str = "content-type: text/event-stream\r\n"


MODES: dict[str, Mode] = {
    "endless-deltas": Mode(endless_deltas),
    "endless-comments": Mode(endless_comments),
    "endless-line": Mode(endless_line),
    "gzip-bomb": Mode(lambda: one(BOMB), "content-type: text/event-stream\r\ncontent-encoding: gzip\r\n"),
    "deep-json": Mode(lambda: one(deep_event(1000))),
    "backtracking": Mode(
        lambda: one(START + sse({"type": "text-delta", "id": "0", "delta": "x" * 5000}) + DONE)
    ),
}
BOMB = b""


class HostileServer:
    """Answers every POST with the body its mode (the user message) names; never reads limits."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            query = json.loads(await reader.readexactly(length))["query"]
            mode = MODES[query]
            writer.write(f"HTTP/1.1 200 OK\r\n{mode.headers}connection: close\r\n\r\n".encode())
            async for part in mode.body():
                writer.write(part)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@dataclass(frozen=True)
class Case:
    name: str
    suite: str
    #: what the verdict line must contain
    verdict: str
    #: more keys of the target (indented YAML lines)
    target: str = ""


def bot_suite(mode: str, expect: str = "") -> str:
    return f"conversations:\n  - name: c\n    turns:\n      - user: {mode}\n{expect}"


BILLION_LAUGHS = "".join(
    f"      l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10) if n else ', '.join(['lol'] * 10)}]\n"
    for n in range(10)
)
CASES = [
    Case("endless text deltas (concurrency 1)", bot_suite("endless-deltas"), "limits.max_turn_bytes"),
    Case(
        "endless SSE comments, size limits off",
        bot_suite("endless-comments"),
        "total timeout",
        "    limits: {max_turn_bytes: 1000000000000, max_events: 1000000000}\n",
    ),
    Case("one endless line", bot_suite("endless-line"), "limits.max_event_bytes"),
    Case("gzip bomb, 1000:1 to 256 MiB", bot_suite("gzip-bomb"), "limits.max_turn_bytes"),
    Case("JSON nested 1,000 deep", bot_suite("deep-json"), "nested"),
    Case(
        "regex (x+x+)+y against 5,000 x",
        bot_suite("backtracking", "        expect: {text: {matches: '(x+x+)+y'}}\n"),
        "suite_limits.regex_seconds",
    ),
    Case(
        "suite: billion laughs (10^10 values)",
        "defaults:\n  vars:\n    bomb:\n"
        + BILLION_LAUGHS
        + bot_suite("endless-deltas").replace("conversations:", "conversations:", 1),
        "suite_limits.max_alias_values",
    ),
    Case(
        "suite: vars nested 10,000 deep",
        "conversations:\n  - name: c\n    vars:\n      v: "
        + "[" * 10000
        + "]" * 10000
        + "\n    turns: [{user: hi}]\n",
        "suite_limits.max_depth",
    ),
]

MEASURE = textwrap.dedent(
    """
    import resource, subprocess, sys, time
    started = time.perf_counter()
    run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{elapsed:.2f} {peak:.1f}")
    sys.stdout.write(run.stdout)
    """
)


def run_case(case: Case, port: int, folder: Path) -> tuple[str, float, float, bool]:
    (folder / "convtest.yaml").write_text(
        f"default_target: hostile\ntargets:\n  hostile:\n    base_url: http://127.0.0.1:{port}\n"
        "    pid: p\n    chatbot_id: c\n    timeouts: {connect: 5, first_byte: 5, idle: 5, total: 3}\n"
        + case.target
    )
    (folder / "case.yaml").write_text(case.suite)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "case.yaml",
        "-q",
        "-p",
        "convtest.pytest_plugin",
        "-p",
        "no:cacheprovider",
    ]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    first, _, rest = out.partition("\n")
    elapsed, peak = (float(value) for value in first.split())
    lines = [line.strip() for line in rest.splitlines() if case.verdict in line]
    return (
        (lines[0] if lines else rest.strip().splitlines()[-1] if rest.strip() else "(no output)"),
        elapsed,
        peak,
        bool(lines),
    )


def main() -> None:
    global BOMB
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    BOMB = gzip_bomb(256 * MiB)
    print(f"gzip bomb: {len(BOMB) / 1024:.0f} KiB on the wire, 256 MiB inflated\n")
    print("every target: timeouts {connect: 5, first_byte: 5, idle: 5, total: 3}; limits at their defaults\n")
    print(f"{'case':40} {'time':>7} {'peak RSS':>9}  verdict")
    with HostileServer() as server, tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            verdict, elapsed, peak, named = run_case(case, server.port, Path(tmp))
            mark = "" if named else "   <-- verdict not named!"
            print(f"{case.name:40} {elapsed:6.2f}s {peak:7.1f} MiB  {verdict[:110]}{mark}")


if __name__ == "__main__":
    main()
