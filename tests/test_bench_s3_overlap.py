"""The S3 overlap benchmark runs at a tiny size for correctness only: serial and overlapped runs
build the same tables. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_s3_overlap.py"


@pytest.mark.slow
def test_s3_overlap_benchmark_runs_and_agrees():
    pytest.importorskip("moto")
    proc = subprocess.run([sys.executable, str(BENCH), "--branches", "2", "--trials", "1", "--latency-ms", "1"],  # noqa: S603
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree: yes" in proc.stdout
    assert "threads=1 (serial)" in proc.stdout and "serial / overlapped = " in proc.stdout
