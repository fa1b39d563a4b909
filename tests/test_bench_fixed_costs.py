"""benchmarks/bench_fixed_costs.py runs at a tiny size (correctness only: query() and the bare
Polars query agree; no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fixed_costs.py"


@pytest.mark.slow
def test_fixed_costs_benchmark_runs():
    env = {**os.environ, "PYTHONPATH": str(BENCH.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("RAT_PROJECT_DIR", None)
    proc = subprocess.run([sys.executable, str(BENCH), "--transforms", "30", "--repeat", "1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for line in ("import polars", "rat --help", "rat run (no-op project)", "ratatouille.query()",
                 "import polars, deltalake", "+ from ratatouille import run", "timed inside the process"):
        assert line in out
    assert "project of 30 transforms" in out
