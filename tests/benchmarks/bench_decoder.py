"""The SSE decoder's throughput and peak memory, against a minimal hand-written parser.

    python tests/benchmarks/bench_decoder.py            # the figures in the README (~1 minute)
    python tests/benchmarks/bench_decoder.py --quick    # a smoke run (what the test suite runs)

1. throughput: a stream of small text deltas (``data: {"type":"text-delta",...}`` and a blank
   line, ~70 bytes an event) fed in 64 KiB pieces, as a socket hands them over; the decoder (LF,
   CR and CRLF, BOM, comments, every field, any split, a size limit) against the smallest parser
   that gets this one stream right (split on blank lines, keep ``data: `` lines); the decoder with
   the assembler (events to a transcript) is shown beside them. The best of ``--repeats`` runs,
   in CPU time of this process (on a shared machine wall time swings with the neighbours' load).
2. peak memory (tracemalloc) while decoding a 50 MB stream of small deltas, and one event of
   50 MB: with the default ``limits.max_event_bytes`` (1 MiB), where the decoder drops the event at
   the limit, and without a limit, where it must hold it whole.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator

from convtest.stream import SSEDecoder, TurnAssembler

PIECE = 64 * 1024
MB = 1_000_000
MIB = 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = MIB


def small_deltas(size: int) -> bytes:
    """About ``size`` bytes of text-delta events, words of varied length, one ``[DONE]`` at the end."""
    events = []
    total = 0
    number = 0
    while total < size:
        word = "wörd" * (1 + number % 3) + " "
        event = b"data: " + json.dumps({"type": "text-delta", "id": "0", "delta": word}).encode() + b"\n\n"
        events.append(event)
        total += len(event)
        number += 1
    return b"".join(events) + b"data: [DONE]\n\n"


def one_event(size: int) -> bytes:
    return b'data: {"type":"text-delta","id":"0","delta":"' + b"x" * size + b'"}\n\n'


def pieces(stream: bytes) -> Iterator[bytes]:
    view = memoryview(stream)
    for start in range(0, len(stream), PIECE):
        yield bytes(view[start : start + PIECE])


def decode(stream: bytes, limit: int | None = None) -> int:
    decoder = SSEDecoder(limit)
    count = 0
    for piece in pieces(stream):
        count += len(decoder.feed(piece))
    return count + len(decoder.close())


def decode_and_assemble(stream: bytes) -> int:
    decoder, assembler = SSEDecoder(), TurnAssembler()
    for piece in pieces(stream):
        for event in decoder.feed(piece):
            assembler.feed(event.data, 0.0)
    return len(assembler.transcript.text)


def minimal(stream: bytes) -> int:
    """The smallest parser that reads this stream right: LF only, ``data: `` lines, blank lines."""
    tail = b""
    count = 0
    for piece in pieces(stream):
        blocks = (tail + piece).split(b"\n\n")
        tail = blocks.pop()
        for block in blocks:
            data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
            if data:
                b"\n".join(data).decode()
                count += 1
    return count


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def peak_mib(run: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: a smoke test")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = 2 * MB if args.quick else 50 * MB
    repeats = 1 if args.quick else args.repeats

    stream = small_deltas(size)
    events = decode(stream)
    assert events == minimal(stream), "both parsers must find every event"
    megabytes = len(stream) / MB
    pieces_kib = PIECE // 1024
    print(f"1. throughput, {megabytes:.1f} MB of small deltas ({events} events) in {pieces_kib} KiB pieces")
    rows = [
        ("minimal hand-written parser", lambda: minimal(stream)),
        ("convtest SSEDecoder", lambda: decode(stream)),
        ("convtest SSEDecoder + TurnAssembler", lambda: decode_and_assemble(stream)),
    ]
    for name, run in rows:
        seconds = best_seconds(run, repeats)
        print(f"   {name:<38} {megabytes / seconds:7.1f} MB/s ({seconds:.3f} s)")

    print("2. peak memory (tracemalloc) while decoding")
    big = one_event(size)
    limit = DEFAULT_MAX_EVENT_BYTES
    cases = [
        (f"{megabytes:.0f} MB of small deltas", lambda: decode(stream, limit)),
        (f"one {size / MB:.0f} MB event, max_event_bytes 1 MiB", lambda: decode(big, limit)),
        (f"one {size / MB:.0f} MB event, no limit", lambda: decode(big)),
    ]
    for name, run in cases:
        print(f"   {name:<38} {peak_mib(run):7.1f} MiB")


if __name__ == "__main__":
    main()
