"""convtest's speed against the practical limit, measured in one run on one reference agent.

    python tests/benchmarks/bench_speed.py            # the figures in the README
    python tests/benchmarks/bench_speed.py --quick    # a smoke run (what the test suite runs)

The reference agent runs in its own process (``convtest serve``), so the client side is measured
alone. Every runner is timed as a whole process, start-up included, as in ../shared/performance.md:

1. zero added latency, C conversations x T turns: a plain httpx loop (one client, iter_lines,
   json.loads, join the deltas) versus ``pytest`` running the same conversations as a suite,
   sequentially and with concurrency; the same loop on ``httpx.AsyncClient`` shows what async
   HTTP alone costs, and the same loop in pytest's smallest YAML collector what pytest itself
   costs;
2. 200 ms per turn of added latency, concurrency K: convtest's wall time against the ideal
   schedule ceil(C / K) x T x latency, beside a bare asyncio loop with K workers;
3. peak RSS of a pytest run as the number of conversations grows.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOKEN = "bench-token"
TURNS = ("Hi, my name is Ada", "Where is my order 1234?", "What is my name?")

#: what both plain loops share: the request body, and reading one line of the event stream
PLAIN_COMMON = textwrap.dedent(
    """
    import json, sys, httpx
    url, token, conversations = sys.argv[1] + "/v1/ai-agent/chat/stream", sys.argv[2], int(sys.argv[3])
    turns = {turns!r}
    headers = {{"Authorization": "Bearer " + token}}

    def body(query, session):
        context = {{"platform": "web"}}
        if session:
            context["session_id"] = session
        return {{"query": query, "pid": "p", "chatbot_id": "c", "user_context": context}}

    def read(line, text, session):
        \"\"\"One line of the stream: a text delta is kept; returns the session id so far.\"\"\"
        if line.startswith("data: ") and line != "data: [DONE]":
            event = json.loads(line[6:])
            if event["type"] == "text-delta":
                text.append(event["delta"])
            elif event["type"] == "data-session":
                return event["data"]
        return session
    """
).format(turns=TURNS)

#: one httpx.Client, one conversation at a time: the practical limit
PLAIN_LOOP = PLAIN_COMMON + textwrap.dedent(
    """
    with httpx.Client(headers=headers) as client:
        for _ in range(conversations):
            session = None
            for query in turns:
                text = []
                with client.stream("POST", url, json=body(query, session)) as response:
                    for line in response.iter_lines():
                        session = read(line, text, session)
                assert "".join(text)
    """
)

#: the design the issue suggests, bare: one asyncio loop, N workers each with an AsyncClient; the
#: clients share one TLS context, as convtest's do (loading the certificate store takes ~30 ms)
PLAIN_ASYNC_LOOP = PLAIN_COMMON + textwrap.dedent(
    """
    import asyncio
    tls = httpx.create_ssl_context()

    async def worker(queue):
        async with httpx.AsyncClient(headers=headers, verify=tls) as client:
            while not queue.empty():
                queue.get_nowait()
                session = None
                for query in turns:
                    text = []
                    async with client.stream("POST", url, json=body(query, session)) as response:
                        async for line in response.aiter_lines():
                            session = read(line, text, session)
                    assert "".join(text)

    async def main(workers):
        queue = asyncio.Queue()
        for index in range(conversations):
            queue.put_nowait(index)
        await asyncio.gather(*(worker(queue) for _ in range(workers)))

    asyncio.run(main(int(sys.argv[4])))
    """
)

#: pytest's own floor: the smallest YAML collector (the shape of pytest's "non-python tests"
#: example), one conversation per item, each turn the plain loop's; no checks, no timeouts
MINIMAL_COLLECTOR = textwrap.dedent(
    """
    import json, httpx, pytest, yaml

    URL, TOKEN = {url!r}, {token!r}
    CLIENT = httpx.Client(headers={{"Authorization": "Bearer " + TOKEN}})

    def pytest_collect_file(parent, file_path):
        if file_path.name == "bench.yaml":
            return Suite.from_parent(parent, path=file_path)

    class Suite(pytest.File):
        def collect(self):
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml, as convtest uses
            for spec in yaml.load(self.path.read_text(), Loader=loader)["conversations"]:
                yield Conversation.from_parent(self, name=spec["name"], spec=spec)

    class Conversation(pytest.Item):
        def __init__(self, *, spec, **kwargs):
            super().__init__(**kwargs)
            self.spec = spec

        def runtest(self):
            session = None
            for turn in self.spec["turns"]:
                context = {{"platform": "web"}}
                if session:
                    context["session_id"] = session
                body = {{"query": turn["user"], "pid": "p", "chatbot_id": "c", "user_context": context}}
                text = []
                with CLIENT.stream("POST", URL + "/v1/ai-agent/chat/stream", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            event = json.loads(line[6:])
                            if event["type"] == "text-delta":
                                text.append(event["delta"])
                            elif event["type"] == "data-session":
                                session = event["data"]
                assert "".join(text)
    """
)

#: plugins this machine happens to have that convtest does not use (hypothesis, pytest-benchmark,
#: anyio's, which imports trio when trio is installed); blocking an absent one is harmless
PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:benchmark",
    "-p",
    "no:anyio",
]
#: as on a developer's machine: this sandbox sets PYTHONDONTWRITEBYTECODE, which makes every
#: process recompile every module (and pytest re-rewrite its plugins) at each start
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float


def timed(command: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of one child process (``wait4`` gives that child's own usage);
    stops the benchmark, showing the output, if the run failed."""
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=cwd, env=ENV, stdout=output, stderr=subprocess.STDOUT, text=True
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            output.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{output.read()[-4000:]}")
    return Run(seconds, usage.ru_maxrss / 1024)


@contextmanager
def reference_agent(latency_ms: float = 0) -> Iterator[str]:
    """``convtest serve`` on a free port of 127.0.0.1, in its own process."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convtest.cli",
            "serve",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found:
                yield found.group(0)
                break
    finally:
        server.terminate()
        server.wait(10)


def write_suite(folder: Path, url: str, conversations: int) -> None:
    (folder / "convtest.yaml").write_text(
        f"default_target: bench\ntargets:\n  bench:\n    base_url: {url}\n    token: {TOKEN}\n"
        "    pid: p\n    chatbot_id: c\n    timeouts: {total: 60}\n"
    )
    write_conversations(folder, conversations)


def write_conversations(folder: Path, conversations: int) -> None:
    """``bench.yaml``: the plain loops' conversations, with checks on every turn, for any target."""
    lines = ["conversations:"]
    for index in range(conversations):
        lines += [
            f"  - name: conversation {index}",
            "    turns:",
            f"      - {{user: '{TURNS[0]}', expect: {{text: {{contains: Ada}}, finish_reason: stop}}}}",
            f"      - {{user: '{TURNS[1]}',",
            "          expect: {tool_calls: [lookup_order], text: {contains: shipped}}}",
            f"      - {{user: '{TURNS[2]}', expect: {{text: {{matches: '\\bAda\\b'}}}}}}",
        ]
    (folder / "bench.yaml").write_text("\n".join(lines) + "\n")


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def spread(runs: list[Run]) -> str:
    """`` (fastest-slowest)`` of several runs; nothing for one."""
    times = sorted(run.seconds for run in runs)
    return f" ({times[0]:.2f}-{times[-1]:.2f})" if len(times) > 1 else ""


def speed(conversations: int, concurrency: int, repeats: int) -> list[str]:
    """The runners take turns, ``repeats`` rounds, so a slow moment of the machine hits them
    alike; each figure is the median of its rounds."""
    turns = conversations * len(TURNS)
    runs: dict[str, list[Run]] = {
        "plain httpx loop": [],
        "plain async loop": [],
        "minimal pytest collector": [],
        "convtest sequential": [],
        f"convtest concurrency={concurrency}": [],
    }
    with tempfile.TemporaryDirectory() as tmp, reference_agent() as url:
        folder = Path(tmp)
        write_suite(folder, url, conversations)
        (folder / "plain_loop.py").write_text(PLAIN_LOOP)
        (folder / "plain_async.py").write_text(PLAIN_ASYNC_LOOP)
        minimal = folder / "minimal"
        minimal.mkdir()
        (minimal / "conftest.py").write_text(MINIMAL_COLLECTOR.format(url=url, token=TOKEN))
        (minimal / "bench.yaml").write_text((folder / "bench.yaml").read_text())
        commands = [
            [sys.executable, "plain_loop.py", url, TOKEN, str(conversations)],
            [sys.executable, "plain_async.py", url, TOKEN, str(conversations), "1"],
            [*PYTEST, "-p", "no:convtest", "minimal"],
            [*PYTEST, "bench.yaml"],
            [*PYTEST, "bench.yaml", "--convtest-concurrency", str(concurrency)],
        ]
        for _ in range(repeats):
            for name, command in zip(runs, commands, strict=True):
                runs[name].append(timed(command, folder))
    plain = median_run(runs["plain httpx loop"]).seconds
    rows = [
        f"1. zero latency, C={conversations} x T={len(TURNS)} ({turns} turns), whole processes, "
        f"median of {repeats} (range):"
    ]
    for name, measured in runs.items():
        run = median_run(measured)
        rows.append(
            f"   {name:<25} {run.seconds:6.2f} s{spread(measured):12}  {turns / run.seconds:5.0f} turns/s"
            f"  x{run.seconds / plain:.2f}"
        )
    return rows


def latency_bound(conversations: int, concurrency: int, latency_ms: float, repeats: int) -> list[str]:
    """convtest against the ideal schedule, and beside it the design the issue suggests, bare:
    one asyncio loop, ``concurrency`` workers each with an ``httpx.AsyncClient``."""
    ideal = math.ceil(conversations / concurrency) * len(TURNS) * latency_ms / 1000
    plain: list[Run] = []
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, reference_agent(latency_ms) as url:
        folder = Path(tmp)
        write_suite(folder, url, conversations)
        (folder / "plain_async.py").write_text(PLAIN_ASYNC_LOOP)
        for _ in range(repeats):
            command = [sys.executable, "plain_async.py", url, TOKEN, str(conversations), str(concurrency)]
            plain.append(timed(command, folder))
            runs.append(timed([*PYTEST, "--convtest-concurrency", str(concurrency)], folder))
    rows = [
        f"2. {latency_ms:.0f} ms per turn, C={conversations} x T={len(TURNS)}, K={concurrency}, "
        f"median of {repeats}; ideal schedule ceil(C/K) x T x latency = {ideal:.2f} s:"
    ]
    for name, measured in ((f"plain async loop, {concurrency} workers", plain), ("convtest", runs)):
        run = median_run(measured)
        rows.append(f"   {name:<28} {run.seconds:6.2f} s{spread(measured):12}  x{run.seconds / ideal:.2f}")
    return rows


def memory(sizes: list[int], concurrency: int) -> list[str]:
    rows = [f"3. peak RSS of the pytest process (concurrency={concurrency}):"]
    with reference_agent() as url:
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_suite(folder, url, size)
                rss = timed([*PYTEST, "--convtest-concurrency", str(concurrency)], folder)
                rows.append(f"   {size:5d} conversations  {rss.peak_rss_mib:6.1f} MiB  {rss.seconds:6.2f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the timed runs (median)")
    args = parser.parse_args(argv)
    if args.quick:
        report = [*speed(4, 2, 1), *latency_bound(4, 2, 50, 1), *memory([2, 4], 2)]
    else:
        repeats = args.repeats
        report = [
            *speed(200, 16, repeats),
            *latency_bound(200, 16, 200, repeats),
            *memory([100, 500, 2000], 16),
        ]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
