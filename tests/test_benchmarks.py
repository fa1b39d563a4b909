"""The benchmarks run at a tiny size for correctness only: every engine agrees. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_medallion_benchmark_engines_agree():
    pytest.importorskip("duckdb")
    proc = subprocess.run([sys.executable, str(BENCH / "bench_medallion.py"), "--rows", "2000", "--trials", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree: yes" in proc.stdout
    for engine in ("ratatouille", "rat-cli", "polars", "duckdb"):
        assert f"\n{engine} " in proc.stdout  # every engine ran both phases
    assert "ratatouille / duckdb " in proc.stdout.replace("  ", " ")
