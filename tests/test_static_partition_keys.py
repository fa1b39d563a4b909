"""A partition run of a transform with a static ``partitions:`` list accepts only the listed keys.

Found by following the README's Dagster section (``partitions: [north, south]``,
``rat run NAME --partition KEY``): ``rat run silver.regional -p east`` wrote a third partition
``east`` that Dagster never offers. It is now a ConfigError naming the transform, its file and the
keys, and the table keeps its version.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ratatouille.errors import ConfigError

SQL = """\
-- @materialized: incremental
-- @strategy: replace_partitions
-- @partition_by: region
SELECT '{{ var('partition') }}' AS region, COUNT(*) AS n FROM (VALUES (1), (2)) AS t(x)
"""


@pytest.mark.parametrize("partitions", ["[north, south]", "{static: [north, south]}"])
def test_a_key_outside_the_static_list_is_refused(rat_project, partitions):
    rat_project.write("silver/regional.sql", SQL)
    rat_project.write("silver/regional.yaml", f"partitions: {partitions}\n")
    assert rat_project.run("silver.regional", partition="north")["status"] == "success"
    assert rat_project.run("silver.regional", partition="south")["status"] == "success"
    version = rat_project.version("silver.regional")
    with pytest.raises(ConfigError, match=r"silver\.regional.*regional\.(sql|yaml).*'east' is not one of .*north, south"):
        rat_project.run("silver.regional", partition="east")
    assert rat_project.version("silver.regional") == version
    assert sorted(rat_project.read("silver.regional")["region"].to_list()) == ["north", "south"]


def test_cli_partition_outside_the_list_exits_1(rat_project):
    rat_project.write("silver/regional.sql", SQL)
    rat_project.write("silver/regional.yaml", "partitions: [north, south]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([p for p in sys.path if p])}
    proc = subprocess.run([sys.executable, "-m", "ratatouille", "run", "silver.regional", "-p", "east"],
                          cwd=rat_project.root, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "is not one of the transform's partitions" in " ".join(proc.stderr.split())
    assert rat_project.version("silver.regional") is None
