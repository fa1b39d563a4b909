"""The ingest stage package (issue 14.2).

Real Delta tables in temporary lakes (local and the moto S3 server); nothing is mocked.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ratatouille"


# -- 14.2: the stage package ------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            out.add(("." * node.level) + node.module)
    return out


def test_ingest_is_a_stage_package_of_small_modules():
    pkg = PKG / "ingest"
    modules = {p.stem for p in pkg.glob("*.py")}
    assert {"_spec", "_landing", "_readers", "_conform", "_ledger", "_bad", "_check", "_stage"} <= modules
    for path in [*pkg.glob("*.py"), PKG / "transforms" / "ingest.py", PKG / "write" / "_ingest.py"]:
        assert len(path.read_text().splitlines()) <= 400, path
    for path in pkg.glob("*.py"):  # the stage never reaches back into the transform kind
        assert not any("transforms.ingest" in m or m == "..transforms" for m in _imports(path)), path
    from ratatouille.ingest import BadFile, cast_column
    from ratatouille.transforms.ingest import BadFile as Shimmed

    assert Shimmed is BadFile and cast_column.__module__ == "ratatouille.ingest._cast"
