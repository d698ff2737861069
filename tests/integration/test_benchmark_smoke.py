"""The benchmark script still runs end to end (tiny sizes); its figures are not judged here."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_quick_openai_benchmark_prints_every_figure() -> None:
    if importlib.util.find_spec("openai") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the `openai` package is not installed; CI installs it with the [test] extra")
        pytest.skip("the `openai` package is not installed (pip install -e '.[test]')")
    bench = BENCH.with_name("bench_openai.py")
    done = subprocess.run(
        [sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    assert re.search(r"C=4 x T=3 \(12 turns, 16 model calls\)", output)
    assert re.search(r"plain openai loop .* x1\.00", output)
    assert re.search(r"plain AsyncOpenAI loop, 2 workers .* x\d+\.\d\d", output)
    assert re.search(r"convtest sequential .* x\d+\.\d\d", output)
    assert re.search(r"convtest concurrency=2 .* x\d+\.\d\d", output)
