"""convtest over ``adapter: openai`` against a plain loop on the official ``openai`` package.

    python tests/benchmarks/bench_openai.py            # the figures in the README
    python tests/benchmarks/bench_openai.py --quick    # a smoke run (what the test suite runs)

The same reference agent process (``convtest serve``) answers every runner at its OpenAI-compatible
``/v1/chat/completions``, streamed. C conversations x T turns, the turns of bench_speed.py; the
second turn asks for an order, so the model asks for ``lookup_order`` and every runner answers the
call with the same fixed result and calls the model again (4 model calls per conversation). Each
runner is a whole process, start-up included; the runners take turns over the rounds and every
figure is the median of its rounds, its ratio against the plain loop of the same run:

1. a plain loop on ``openai.OpenAI``: ``chat.completions.create(stream=True)``, the message history
   carried by the loop, text deltas joined, tool-call deltas gathered by index;
2. the same loop on ``openai.AsyncOpenAI``, K workers on one client;
3. ``pytest`` on the same conversations as a convtest suite (checks on every turn) with an
   ``adapter: openai`` target, sequential;
4. the same with ``--convtest-concurrency K``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
from pathlib import Path

from bench_speed import (
    PYTEST,
    TOKEN,
    TURNS,
    Run,
    median_run,
    reference_agent,
    spread,
    timed,
    write_conversations,
)

#: any model name is answered; this is the one the built-in ``reference-openai`` target sends
MODEL = "convtest-reference"
#: the one tool both sides declare, and the result both send back for every call of it
DESCRIPTION = "Look up an order by its number."
PARAMETERS = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
TOOL = {
    "type": "function",
    "function": {"name": "lookup_order", "description": DESCRIPTION, "parameters": PARAMETERS},
}
RESULT = {"found": True, "status": "shipped", "tracking_number": "ZX81TRACK"}
#: model calls per conversation: the order turn takes two (the tool call, then the answer)
CALLS_PER_CONVERSATION = len(TURNS) + 1

#: what both plain loops share: reading one chunk, and what a model call adds to the history
OPENAI_COMMON = textwrap.dedent(
    """
    import json, sys, openai
    base_url, token, conversations = sys.argv[1] + "/v1", sys.argv[2], int(sys.argv[3])
    turns = {turns!r}
    request = {{
        "model": {model!r},
        "tools": [{tool!r}],
        "stream": True,
        "stream_options": {{"include_usage": True}},
    }}
    result = json.dumps({result!r})

    def read(chunk, text, calls):
        \"\"\"One chunk of the stream: text deltas kept, tool-call deltas gathered by index.\"\"\"
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
            for call in delta.tool_calls or ():
                slot = calls.setdefault(call.index, {{"id": "", "name": "", "arguments": []}})
                slot["id"] = call.id or slot["id"]
                if call.function:
                    slot["name"] = call.function.name or slot["name"]
                    slot["arguments"].append(call.function.arguments or "")

    def answered(messages, text, calls):
        \"\"\"Appends the model call's message (and its tool results): True once it is the answer.\"\"\"
        content = "".join(text)
        if not calls:
            assert content
            messages.append({{"role": "assistant", "content": content}})
            return True
        requested = [
            {{"id": c["id"], "type": "function",
              "function": {{"name": c["name"], "arguments": "".join(c["arguments"])}}}}
            for c in calls.values()
        ]
        messages.append({{"role": "assistant", "content": content or None, "tool_calls": requested}})
        for call in requested:
            messages.append({{"role": "tool", "tool_call_id": call["id"], "content": result}})
        return False
    """
).format(turns=TURNS, model=MODEL, tool=TOOL, result=RESULT)

#: one ``openai.OpenAI``, one conversation at a time: the practical limit
OPENAI_LOOP = OPENAI_COMMON + textwrap.dedent(
    """
    client = openai.OpenAI(base_url=base_url, api_key=token)
    for _ in range(conversations):
        messages = []
        for query in turns:
            messages.append({"role": "user", "content": query})
            done = False
            while not done:
                text, calls = [], {}
                for chunk in client.chat.completions.create(messages=messages, **request):
                    read(chunk, text, calls)
                done = answered(messages, text, calls)
    """
)

#: one ``openai.AsyncOpenAI`` shared by N workers on one asyncio loop, as the package suggests
OPENAI_ASYNC_LOOP = OPENAI_COMMON + textwrap.dedent(
    """
    import asyncio

    async def worker(client, queue):
        while not queue.empty():
            queue.get_nowait()
            messages = []
            for query in turns:
                messages.append({"role": "user", "content": query})
                done = False
                while not done:
                    text, calls = [], {}
                    async for chunk in await client.chat.completions.create(messages=messages, **request):
                        read(chunk, text, calls)
                    done = answered(messages, text, calls)

    async def main(workers):
        queue = asyncio.Queue()
        for index in range(conversations):
            queue.put_nowait(index)
        async with openai.AsyncOpenAI(base_url=base_url, api_key=token) as client:
            await asyncio.gather(*(worker(client, queue) for _ in range(workers)))

    asyncio.run(main(int(sys.argv[4])))
    """
)


def write_openai_suite(folder: Path, url: str, conversations: int) -> None:
    """bench_speed's conversations on an ``adapter: openai`` target declaring the plain loops' tool."""
    (folder / "convtest.yaml").write_text(
        textwrap.dedent(
            f"""\
            default_target: bench
            targets:
              bench:
                adapter: openai
                base_url: {url}/v1
                token: {TOKEN}
                model: {MODEL}
                tools:
                  lookup_order:
                    description: {DESCRIPTION}
                    parameters: {json.dumps(PARAMETERS)}
                tool_results:
                  lookup_order: {json.dumps(RESULT)}
                timeouts: {{total: 60}}
            """
        )
    )
    write_conversations(folder, conversations)


def speed(conversations: int, concurrency: int, repeats: int) -> list[str]:
    """The four runners take turns, ``repeats`` rounds, against one reference agent."""
    turns = conversations * len(TURNS)
    calls = conversations * CALLS_PER_CONVERSATION
    runs: dict[str, list[Run]] = {
        "plain openai loop": [],
        f"plain AsyncOpenAI loop, {concurrency} workers": [],
        "convtest sequential": [],
        f"convtest concurrency={concurrency}": [],
    }
    with tempfile.TemporaryDirectory() as tmp, reference_agent() as url:
        folder = Path(tmp)
        write_openai_suite(folder, url, conversations)
        (folder / "openai_loop.py").write_text(OPENAI_LOOP)
        (folder / "openai_async.py").write_text(OPENAI_ASYNC_LOOP)
        commands = [
            [sys.executable, "openai_loop.py", url, TOKEN, str(conversations)],
            [sys.executable, "openai_async.py", url, TOKEN, str(conversations), str(concurrency)],
            [*PYTEST, "bench.yaml"],
            [*PYTEST, "bench.yaml", "--convtest-concurrency", str(concurrency)],
        ]
        for _ in range(repeats):
            for name, command in zip(runs, commands, strict=True):
                runs[name].append(timed(command, folder))
    plain = median_run(runs["plain openai loop"]).seconds
    rows = [
        f"adapter: openai, streamed, zero latency, C={conversations} x T={len(TURNS)} ({turns} turns, "
        f"{calls} model calls), whole processes, median of {repeats} (range):"
    ]
    for name, measured in runs.items():
        run = median_run(measured)
        rows.append(
            f"   {name:<34} {run.seconds:6.2f} s{spread(measured):12}  {turns / run.seconds:5.0f} turns/s"
            f"  x{run.seconds / plain:.2f}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the timed runs (median)")
    args = parser.parse_args(argv)
    report = speed(4, 2, 1) if args.quick else speed(100, 16, args.repeats)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
