"""Every Python sample of the README runs as written against the sample project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_has_python_samples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_sample_runs(sample, index):
    from ratatouille import run

    run("*")
    namespace: dict = {"__name__": f"readme_sample_{index}"}
    exec(compile(BLOCKS[index], f"README.md[python #{index}]", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    for test in tests:
        test()
