"""The benchmark script still runs end to end (tiny sizes); its figures are not judged here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_speed.py"


def test_quick_benchmark_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    assert re.search(r"plain httpx loop .* x1\.00", output)
    assert re.search(r"convtest sequential .* x\d+\.\d\d", output)
    assert re.search(r"convtest concurrency=2 .* x\d+\.\d\d", output)
    assert re.search(r"plain async loop .* x\d+\.\d\d", output)
    assert re.search(r"minimal pytest collector .* x\d+\.\d\d", output)
    assert re.search(r"ideal schedule .* = \d+\.\d\d s", output)
    assert re.search(r"plain async loop, 2 workers +\d+\.\d\d s .*x\d+\.\d\d", output)
    assert re.search(r"\n   convtest +\d+\.\d\d s .*x\d+\.\d\d", output)
    assert len(re.findall(r"conversations +\d+\.\d MiB", output)) == 2


def test_quick_decoder_benchmark_prints_every_figure() -> None:
    bench = BENCH.with_name("bench_decoder.py")
    done = subprocess.run(
        [sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(re.findall(r" +\d+\.\d MB/s \(\d+\.\d{3} s\)", done.stdout)) == 3
    assert len(re.findall(r" +\d+\.\d MiB", done.stdout)) == 3
