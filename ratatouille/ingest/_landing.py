"""Where ingest transforms may read from: the landing zone, and nothing else.

* An ingest ``source:`` is a lake-relative path or glob under ``landing/``
  (``landing/sales/``, ``landing/sales/*.csv``). An absolute path, a URL
  (``s3://...``, ``http://...``), a ``..`` or ``.`` segment, a backslash or a
  source outside ``landing/`` is a :class:`~ratatouille.errors.ConfigError`
  naming the YAML file, raised when the transform is loaded.
* Listing follows a symbolic link only when its target lies inside the lake;
  a link out of the lake (or a dangling one) is returned as refused, so the run
  reports it as a rejected file with its reason.
* A rejected file is moved only within the landing zone (to ``landing/_rejected/``).

>>> check_source("landing/sales/*.csv")
'landing/sales/*.csv'
>>> check_source("../../outside/", file="bronze/x.yaml")
Traceback (most recent call last):
...
ratatouille.errors.ConfigError: bronze/x.yaml: source: '../../outside/' must be a path under landing/ (e.g. landing/sales/): '..' and '.' segments are not allowed
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import TYPE_CHECKING, Any

from .._boundary import RefusedLink, check_inside
from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .._lake import LandingFile, Lake

LANDING = "landing"
EXTENSIONS = {"csv": (".csv", ".tsv", ".txt", ".csv.gz"), "json": (".json",), "ndjson": (".ndjson", ".jsonl"),
              "parquet": (".parquet", ".pq"), "excel": (".xlsx", ".xlsm", ".xlsb", ".xls")}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # s3:, http:, file:, c: (a drive letter)


def check_source(source: object, *, file: str | None = None, transform: str | None = None) -> str:
    """``source`` if it is a lake-relative path or glob under ``landing/``, else ConfigError.

    Raises
    ------
    ConfigError: naming ``file`` (the YAML) and why the source is refused.
    """
    def bad(why: str) -> ConfigError:
        return ConfigError(f"source: {source!r} must be a path under {LANDING}/ (e.g. {LANDING}/sales/): {why}",
                           file=file, transform=transform)

    if not isinstance(source, str) or not source.strip():
        raise bad("it is empty")
    if "\\" in source or "\0" in source:
        raise bad("backslashes and NUL characters are not allowed")
    if _URL.match(source):
        raise bad("URLs are not allowed: files are read from the lake's landing zone only")
    if source.startswith(("/", "~")):
        raise bad("absolute paths are not allowed: write it relative to the lake root")
    parts = source.split("/")
    if any(p in (".", "..") for p in parts):
        raise bad("'..' and '.' segments are not allowed")
    if parts[0] != LANDING or not any(p for p in parts[1:]):
        raise bad(f"it must start with {LANDING}/ and name a folder, file or glob inside it")
    return source


def has_magic(path: str) -> bool:
    """Whether ``path`` is a glob (``*``, ``?`` or ``[``)."""
    return any(ch in path for ch in "*?[")


def has_format(config: Any, path: str) -> bool:
    """Whether ``path`` ends like a file of the transform's format."""
    return path.lower().endswith(EXTENSIONS[config.format or "csv"])


def glob_names_files(config: Any) -> bool:
    """A glob whose last part names the files (``*.csv``, ``day_?.txt``): take what it matches
    as is. A folder, or a glob of folders or of any name (``landing/*/``, ``landing/m/*``),
    keeps only the files of this transform's format."""
    last = config.source.rstrip("/").rsplit("/", 1)[-1]
    return not config.source.endswith("/") and has_magic(last) and "." in last


def takes(config: Any, rel: str) -> bool:
    """Whether a landing file (path relative to the lake root) is one this transform ingests.

    >>> from ratatouille.transforms._config import build_config
    >>> config = build_config({"source": "landing/s/", "format": "csv"})
    >>> takes(config, "landing/s/eu/a.csv"), takes(config, "landing/s/a.json"), takes(config, "landing/sx/a.csv")
    (True, False, False)
    """
    source = config.source.strip("/")
    if has_magic(source):
        if not fnmatch.fnmatchcase(rel, source) and not fnmatch.fnmatchcase(rel, source + "/*"):
            return False
        return glob_names_files(config) or has_format(config, rel)
    return (rel == source or rel.startswith(source + "/")) and has_format(config, rel)


def list_landing(t: Any, lake: "Lake") -> tuple[list["LandingFile"], list[RefusedLink]]:
    """The landing files of ingest transform ``t`` (as ``t.landing_files``) and the symbolic
    links under its source that were refused (target outside the lake, or missing)."""
    check_source(t.config.source, file=t.file, transform=t.name)
    refused: list[RefusedLink] = []
    files = lake.files(t.config.source, refused=refused)
    if not glob_names_files(t.config):
        files = [f for f in files if has_format(t.config, f.path)]
        # a refused link is reported when it may hold this transform's files: one of its format or a folder
        refused = [r for r in refused if has_format(t.config, r.path) or os.path.isdir(r.path)]
    return files, refused


def quarantine_paths(lake: "Lake", rel: str) -> tuple[str, str]:
    """``(source, destination)`` of moving the rejected landing file ``rel`` aside, both checked
    to lie in the landing zone (the link itself is moved, never its target).

    >>> from ratatouille._lake import Lake
    >>> quarantine_paths(Lake("/srv/lake"), "landing/sales/bad.csv")
    ('/srv/lake/landing/sales/bad.csv', '/srv/lake/landing/_rejected/sales/bad.csv')
    """
    parts = rel.split("/")
    if "://" in rel or rel.startswith("/") or parts[0] != LANDING or any(p in (".", "..", "") for p in parts[1:]):
        raise ConfigError(f"{rel} is not in the landing zone: rejected files are moved only within {LANDING}/")
    zone = f"{lake.uri}/{LANDING}"
    src = f"{lake.uri}/{rel}"
    dest = f"{lake.uri}/{LANDING}/_rejected/{'/'.join(parts[1:])}"
    for loc in (src, dest):
        check_inside(zone, loc, follow_links=False)
    for loc in (dest, dest + ".reason.txt"):  # written to: a link planted there must not lead out
        check_inside(zone, loc)
    return src, dest
