"""Attacks on the write path's integrity ("nothing lost, nothing doubled, nothing leaked") and on
``unchanged`` (execute/_fingerprint.py): each test failed on the code before its fix."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from ratatouille.discover import _cache as discovery_cache

SRC = "SELECT 1 AS id, 10.0 AS fare UNION ALL SELECT 2, -20.0"


# -- unchanged must never skip work that changed --------------------------------------------------------
HELPER_USER = '''
from ratatouille import transform
import polars as pl
from atk_helpers.rates import FACTOR

@transform("gold.scaled", inputs=["silver.src"])
def scaled(src):
    return src.select("id", (pl.col("fare").cast(pl.Float64) * FACTOR).alias("fare"))
'''


def _rat(p, *args: str) -> subprocess.CompletedProcess:
    """``rat ...`` in a new process (the project's own modules on its path, as a user's setup has)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(p.root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "ratatouille", *args], cwd=p.root, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=300)


def test_a_changed_helper_module_imported_by_a_python_transform_rebuilds_it(rat_project):
    p = rat_project
    package = p.root / "atk_helpers"  # the project's own package of helpers
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rates.py").write_text("FACTOR = 1\n")
    p.write("silver/src.sql", SRC)
    p.write("gold/scaled.py", HELPER_USER)
    assert _rat(p, "run", "+gold.scaled").returncode == 0
    again = _rat(p, "run", "gold.scaled")
    assert again.returncode == 0 and p.version("gold.scaled") == 0  # unchanged: nothing written
    (package / "rates.py").write_text("FACTOR = 3\n")  # the transform's own file is the same
    changed = _rat(p, "run", "gold.scaled")
    assert changed.returncode == 0, changed.stderr
    assert p.version("gold.scaled") == 1
    assert sorted(p.read("gold.scaled")["fare"].to_list()) == [-60.0, 30.0]
    assert _rat(p, "run", "gold.scaled").returncode == 0 and p.version("gold.scaled") == 1


def test_a_changed_custom_generic_test_rebuilds_in_the_same_process(rat_project):
    """A long-lived process (Dagster's code server, a session) must see tests/generic/ change: the
    discovery cache watched only pipelines/, so the old test ran (or the table stayed unchanged)."""
    p = rat_project
    discovery_cache.clear()
    p.write("silver/src.sql", SRC)
    p.write("gold/t.sql", "SELECT * FROM silver.src")
    p.write("gold/t.yaml", "columns:\n  - name: fare\n    tests:\n      - is_ok:\n          config: {on_fail: drop}\n")
    generic = p.root / "tests" / "generic"
    generic.mkdir(parents=True)
    (generic / "is_ok.sql").write_text("SELECT * FROM {{ this }} WHERE {{ column_name }} < -100")
    for path in p.root.rglob("*"):  # written long ago: the discovery cache keeps what it found
        os.utime(path, ns=(10**18, 10**18))
    p.run("*")
    assert sorted(p.read("gold.t")["id"].to_list()) == [1, 2]
    assert p.run("gold.t")["status"] == "unchanged"
    (generic / "is_ok.sql").write_text("SELECT * FROM {{ this }} WHERE {{ column_name }} < 0")
    os.utime(generic / "is_ok.sql", ns=(10**18 + 10**10, 10**18 + 10**10))
    result = p.run("gold.t")
    assert result["status"] == "success"
    assert p.read("gold.t")["id"].to_list() == [1]  # the new test drops the negative fare
