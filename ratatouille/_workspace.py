"""Workspaces: isolated, zero-copy development environments over the same lake.

A workspace ``alice`` writes its tables under ``<lake>/workspaces/alice/``
and reads every table it has not built from ``default`` (production), so a
change can be run and queried without touching or copying production data.
This module holds what works *across* workspaces:

* :func:`list_workspaces`, :func:`create_workspace`, :func:`reset_workspace`,
  :func:`pin_workspace`: manage workspaces (``rat workspace ...``);
* :func:`diff`: what a workspace's table changes compared with default's
  (schema, row counts, rows added / removed / changed by key, samples),
  computed with lazy Polars joins over the Delta tables;
* :func:`plan_promotion` / :func:`promote`: copy a workspace's transform
  files into ``default`` once its checks pass.

Pinning: with ``pin: true`` in ``workspaces/<ws>/workspace.yaml``, reads of
default's tables go to the versions recorded in ``workspaces/<ws>/pins.yaml``
(written by ``rat workspace create <ws> --pin`` or ``rat workspace pin <ws>``),
so production runs do not move the ground under the workspace. A default
table that did not exist when the pins were recorded is read at its latest
version.

Example
-------
>>> from ratatouille import tools
>>> d = tools.diff("silver.sales", workspace="alice")
>>> d.added, d.removed, d.changed
(0, 2, 0)
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import polars as pl
import yaml

from ._names import check_workspace, parse_table_name
from ._settings import Settings, load_settings, read_yaml_mapping
from .discover import Project
from .discover import list_workspaces as _workspace_names
from .errors import CheckError, ConfigError, TableNotFoundError, WorkspaceError
from .write import Target

if TYPE_CHECKING:  # annotations only
    from deltalake import DeltaTable

    from .transforms import Transform

log = logging.getLogger("ratatouille")

DEFAULT = "default"
WORKSPACE_FILE = "workspace.yaml"
PINS_FILE = "pins.yaml"


# -- configuration and pins ---------------------------------------------------------------------
def workspace_dir(settings: Settings, workspace: str) -> Path:
    """``<project>/workspaces/<workspace>``."""
    return settings.workspaces_dir / check_workspace(workspace)


def workspace_config(settings: Settings, workspace: str) -> dict[str, Any]:
    """The parsed ``workspace.yaml`` of a workspace (``{}`` when there is none)."""
    path = workspace_dir(settings, workspace) / WORKSPACE_FILE
    return read_yaml_mapping(path)


def load_pins(settings: Settings, workspace: str) -> dict[str, int]:
    """Pinned versions of default's tables for ``workspace`` (empty unless ``pin: true``)."""
    if workspace == DEFAULT:
        return {}
    cfg = workspace_config(settings, workspace)
    if not cfg.get("pin"):
        return {}
    path = workspace_dir(settings, workspace) / PINS_FILE
    tables = read_yaml_mapping(path).get("tables") or {}
    if not isinstance(tables, dict):
        raise ConfigError("'tables' must map table names to Delta versions", file=str(path))
    pins: dict[str, int] = {}
    for name, version in tables.items():
        parse_table_name(str(name), file=str(path))
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ConfigError(f"pinned version of {name} must be a non-negative integer, got {version!r}",
                              file=str(path))
        pins[str(name)] = version
    if not pins and not path.is_file():
        log.warning("workspace %s has pin: true but no %s: run `rat workspace pin %s`", workspace, path, workspace)
    return pins


@dataclass(frozen=True)
class PinnedTarget(Target):
    """A default table read at a fixed version (a workspace's pin)."""

    version: int | None = None
    pinned_by: str | None = None  # the workspace whose pin this is

    def open(self, version: int | None = None) -> DeltaTable | None:
        return super().open(self.version if version is None else version)

    def scan(self, version: int | None = None) -> pl.LazyFrame:
        """The pinned version (a clear StorageError if a vacuum removed its files)."""
        from ._versions import check_readable

        v = self.version if version is None else version
        if v is not None:
            check_readable(self.uri, self.storage_options, self.name, v, pinned_by=self.pinned_by)
        return super().scan(v)


def inherited_target(project: Project, name: str, base: str = DEFAULT) -> Target:
    """The ``base`` workspace's table ``name`` as seen from ``project`` (pinned if the workspace pins it)."""
    uri = project.lake.table_uri(name, base)
    pins = project.pins if base == DEFAULT else {}
    if name in pins:
        return PinnedTarget(uri, project.lake.delta_options(), name, version=pins[name], pinned_by=project.workspace)
    return Target(uri, project.lake.delta_options(), name)


def pin_workspace(workspace: str, *, project_dir: str | Path | None = None) -> dict[str, int]:
    """Record the current version of every default table in ``workspaces/<ws>/pins.yaml``
    and set ``pin: true`` in its ``workspace.yaml``. Returns the pins."""
    settings = _default_settings(project_dir)
    ws = _existing(settings, workspace)
    if ws == DEFAULT:
        raise WorkspaceError("the default workspace is production: it cannot be pinned")
    base = Project(settings, {}, DEFAULT)
    pins: dict[str, int] = {}
    for name in sorted(base.lake_tables(DEFAULT)):
        table = base.target(name).open()
        if table is not None:
            pins[name] = table.version()
    folder = workspace_dir(settings, ws)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    body = yaml.safe_dump({"pinned_at": stamp, "tables": pins}, sort_keys=False)
    _atomic_write(folder / PINS_FILE,
                  f"# Versions of default's tables that workspace {ws} reads (refresh: rat workspace pin {ws})\n"
                  + body)
    cfg_path = folder / WORKSPACE_FILE
    cfg = read_yaml_mapping(cfg_path)
    if cfg.get("pin") is not True:
        text = cfg_path.read_text() if cfg_path.is_file() else f"name: {ws}\n"
        lines = [ln for ln in text.splitlines() if not ln.startswith("pin:")]
        lines.append("pin: true            # read default's tables at the versions in pins.yaml")
        _atomic_write(cfg_path, "\n".join(lines) + "\n")
    return pins


# -- list / create / reset ----------------------------------------------------------------------
def _existing(settings: Settings, workspace: str | None) -> str:
    ws = check_workspace(workspace or settings.workspace)
    known = _workspace_names(settings)
    if ws != DEFAULT and ws not in known:
        raise WorkspaceError(f"unknown workspace {ws!r}; workspaces: {', '.join(known) or 'none'}")
    return ws


def list_workspaces(*, project_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every workspace: name, description, pinned or not, its own transforms (overrides of default
    marked) and the tables it has built."""
    settings = _default_settings(project_dir)
    names = _workspace_names(settings)
    if DEFAULT not in names:
        names = [DEFAULT, *names]
    from .discover import discover_workspace

    base = Project(settings, {}, DEFAULT)
    default_names = set(discover_workspace(settings.workspaces_dir / DEFAULT, workspace=DEFAULT))
    rows = []
    for ws in names:
        cfg = workspace_config(settings, ws)
        own = sorted(discover_workspace(settings.workspaces_dir / ws, workspace=ws)) if ws != DEFAULT else sorted(default_names)
        rows.append({
            "workspace": ws,
            "description": cfg.get("description"),
            "pinned": bool(cfg.get("pin")) and ws != DEFAULT,
            "transforms": own,
            "overrides": [n for n in own if n in default_names] if ws != DEFAULT else [],
            "tables": sorted(base.lake_tables(ws)),
        })
    return rows


def create_workspace(workspace: str, *, pin: bool = False, description: str | None = None,
                     project_dir: str | Path | None = None) -> Path:
    """Create ``workspaces/<ws>/`` (``workspace.yaml`` + an empty ``pipelines/``); with ``pin=True``
    record default's current table versions. Returns the folder."""
    settings = _default_settings(project_dir)
    ws = check_workspace(workspace)
    if ws == DEFAULT:
        raise WorkspaceError("'default' is the production workspace: create a development workspace "
                             "with another name")
    folder = workspace_dir(settings, ws)
    if folder.exists():
        raise WorkspaceError(f"workspace {ws!r} already exists ({folder})")
    (folder / "pipelines").mkdir(parents=True)
    (folder / "pipelines" / ".gitkeep").write_text("")
    lines = [f"name: {ws}"]
    if description:
        lines.append("description: " + yaml.safe_dump(description, default_flow_style=True).strip()
                     .removesuffix("...").strip())
    lines.append(f"pin: {'true' if pin else 'false'}" + ("           # read default's tables at the versions in pins.yaml"
                                                         if pin else "          # true: read default's tables at fixed versions"))
    (folder / WORKSPACE_FILE).write_text("\n".join(lines) + "\n")
    if pin:
        pin_workspace(ws, project_dir=settings.project_dir)
    return folder


def reset_workspace(workspace: str, *, tables: Sequence[str] | None = None, repin: bool = False,
                    project_dir: str | Path | None = None) -> list[str]:
    """Drop the workspace's own tables (all of them, or ``tables``), so it reads default's again.
    Its transform files stay. ``repin=True`` re-records the pins. Returns the tables dropped."""
    settings = _default_settings(project_dir)
    ws = check_workspace(workspace)
    if ws == DEFAULT:
        raise WorkspaceError("refusing to reset 'default': it is production (drop tables there by hand)")
    project = Project(settings, {}, ws)
    lake = project.lake
    built = sorted(project.lake_tables(ws))
    if ws not in _workspace_names(settings) and not built:
        known = _workspace_names(settings)
        raise WorkspaceError(f"unknown workspace {ws!r}; workspaces: {', '.join(known) or 'none'}")
    if tables:
        for name in tables:
            parse_table_name(name)
        unknown = [n for n in tables if n not in built]
        if unknown:
            raise TableNotFoundError(f"workspace {ws} has not built {', '.join(unknown)}; "
                                     f"its tables: {', '.join(built) or 'none'}")
        dropped = list(tables)
        for name in dropped:
            lake.fs.rm(lake._strip(lake.table_uri(name, ws)), recursive=True)
    else:
        dropped = built
        root = lake._strip(lake.path("workspaces", ws))
        if lake.fs.exists(root):
            lake.fs.rm(root, recursive=True)
    if repin:
        pin_workspace(ws, project_dir=settings.project_dir)
    return dropped


# -- where a table resolves -----------------------------------------------------------------------
def resolve(project: Project, name: str) -> dict[str, Any]:
    """Where ``name`` resolves in ``project``'s workspace: ``own``, ``default`` (inherited),
    ``view`` or ``not built``, with the URI, the version read and whether it is pinned."""
    t = project.transforms.get(name)
    if t is not None and t.mode == "view":
        return {"table": name, "resolves_to": "view", "uri": None, "version": None, "pinned": False}
    target = project.read_target(name)
    if target is None:
        return {"table": name, "resolves_to": "not built", "uri": None, "version": None, "pinned": False}
    table = target.open()
    own = target.uri == project.table_uri(name)
    return {"table": name, "resolves_to": "own" if own else DEFAULT, "uri": target.uri,
            "version": table.version() if table is not None else None,
            "pinned": isinstance(target, PinnedTarget)}


def log_resolution(project: Project, names: Iterable[str]) -> None:
    """Log (INFO) where each table resolves, for reads in a non-default workspace."""
    if project.workspace == DEFAULT or not log.isEnabledFor(logging.INFO):
        return
    for name in names:
        r = resolve(project, name)
        where = r["resolves_to"] + (f" v{r['version']}" if r["version"] is not None else "")
        log.info("workspace %s: %s -> %s%s", project.workspace, name, where, " (pinned)" if r["pinned"] else "")


# -- diff -------------------------------------------------------------------------------------
@dataclass
class TableDiff:
    """What a workspace's table changes compared with the base (default) table.

    ``added`` / ``removed`` / ``changed`` count rows by key (``unique_key`` of
    the transform, else every common column: then a changed row shows as one
    removed plus one added). ``samples`` holds a few rows of each kind.
    """

    table: str
    workspace: str
    base: str
    key: list[str]
    key_source: str
    workspace_version: int | None
    base_version: int | None
    columns_added: dict[str, str] = field(default_factory=dict)
    columns_removed: dict[str, str] = field(default_factory=dict)
    columns_changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    rows_base: int = 0
    rows_workspace: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    changed_columns: dict[str, int] = field(default_factory=dict)
    duplicate_keys: dict[str, int] = field(default_factory=dict)
    samples: dict[str, pl.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True when schema and rows are the same."""
        return not (self.columns_added or self.columns_removed or self.columns_changed
                    or self.added or self.removed or self.changed)

    @property
    def schema_changed(self) -> bool:
        return bool(self.columns_added or self.columns_removed or self.columns_changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (samples as lists of row dicts)."""
        return {
            "table": self.table, "workspace": self.workspace, "base": self.base, "key": list(self.key),
            "key_source": self.key_source, "workspace_version": self.workspace_version,
            "base_version": self.base_version,
            "schema": {"added": dict(self.columns_added), "removed": dict(self.columns_removed),
                       "changed": {k: list(v) for k, v in self.columns_changed.items()}},
            "rows": {self.base: self.rows_base, self.workspace: self.rows_workspace},
            "added": self.added, "removed": self.removed, "changed": self.changed,
            "changed_columns": dict(self.changed_columns), "duplicate_keys": dict(self.duplicate_keys),
            "identical": self.identical,
            "samples": {k: _jsonable_rows(v) for k, v in self.samples.items()},
            "notes": list(self.notes),
        }

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def summary(self) -> str:
        """A few lines of text describing the diff."""
        lines = [f"{self.table}: workspace {self.workspace}"
                 f"{'' if self.workspace_version is None else f' (v{self.workspace_version})'} vs {self.base}"
                 f"{'' if self.base_version is None else f' (v{self.base_version})'}"]
        if self.schema_changed:
            parts = [f"+{c} {t}" for c, t in self.columns_added.items()]
            parts += [f"-{c} {t}" for c, t in self.columns_removed.items()]
            parts += [f"~{c} {a} -> {b}" for c, (a, b) in self.columns_changed.items()]
            lines.append("schema: " + ", ".join(parts))
        else:
            lines.append("schema: unchanged")
        delta = self.rows_workspace - self.rows_base
        lines.append(f"rows: {self.base} {self.rows_base} -> {self.workspace} {self.rows_workspace} ({delta:+d})")
        lines.append(f"by {', '.join(self.key) or '(no columns)'} ({self.key_source}): {self.added} added, "
                     f"{self.removed} removed, {self.changed} changed")
        if self.changed_columns:
            lines.append("changed columns: " + ", ".join(f"{c} ({n})" for c, n in self.changed_columns.items()))
        for ws, n in self.duplicate_keys.items():
            lines.append(f"warning: {n} duplicate key value(s) in {ws}'s table")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _jsonable_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    import json

    return json.loads(df.write_json()) if df.height else []


def _frame_of(project: Project, name: str, *, own_only: bool) -> tuple[pl.LazyFrame | None, int | None]:
    """``name``'s frame in ``project``: a view's plan, or the table at its current version."""
    from .execute import Runner

    t = project.transforms.get(name)
    if t is not None and t.mode == "view":
        return Runner(project).frame(name), None
    target = project.target(name) if own_only else project.read_target(name)
    table = target.open() if target is not None else None
    if table is None or target is None:
        return None, None
    version = table.version()
    return target.scan(version=version), version


def _common_type(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    """The type two differing column types are compared as: Float64 for numbers, else String."""
    if a == b:
        return a
    if a.is_numeric() and b.is_numeric():
        return pl.Float64()
    return pl.String()


def diff(name: str, *, workspace: str | None = None, base: str = DEFAULT, key: Sequence[str] | None = None,
         sample: int = 5, project_dir: str | Path | None = None) -> TableDiff:
    """Compare workspace ``workspace``'s table ``name`` with ``base``'s (default's).

    Reports schema changes, row counts and the rows added, removed and changed
    by ``key`` (default: the transform's ``unique_key``, else every common
    column), with up to ``sample`` rows of each kind. Everything is computed
    with lazy Polars plans over ``scan_delta`` on the streaming engine, so
    large tables are never loaded whole: by key, one full outer join gives
    every count and the samples; by whole rows, one group-by over a 64-bit
    hash of each row (as multisets) finds the differing rows. Columns whose
    type changed are compared as Float64 (numbers) or strings.

    Example
    -------
    >>> d = diff("silver.sales", workspace="alice")
    >>> print(d.summary())
    silver.sales: workspace alice (v0) vs default (v0)
    schema: unchanged
    rows: default 9 -> alice 7 (-2)
    by order_id (unique_key): 0 added, 2 removed, 0 changed
    """
    parse_table_name(name)
    project = Project.load(project_dir, workspace=workspace)
    ws = project.workspace
    if ws == base:
        raise WorkspaceError(f"diff compares a workspace with {base!r}: name another workspace "
                             "(workspace='alice', or rat diff -w alice NAME)")
    base_project = Project.load(project.settings.project_dir, workspace=base)
    t = project.transforms.get(name)
    bt = base_project.transforms.get(name)
    if t is None and bt is None and name not in project.lake_tables(ws) and name not in base_project.lake_tables(base):
        from ._names import not_found

        raise not_found(name, set(project.transforms) | project.lake_tables(ws))
    right, right_version = _frame_of(project, name, own_only=True)
    if right is None:
        raise TableNotFoundError(f"workspace {ws} has not built {name} (it reads {base}'s table): "
                                 f"run `rat run -w {ws} {name}` first")
    left, left_version = _frame_of(base_project, name, own_only=True)
    pinned = project.pins.get(name) if base == DEFAULT else None
    pin_note = None
    if left is not None and pinned is not None and left_version is not None and pinned < left_version:
        # the workspace built from default as it was when pinned: compare with that, not with what came since
        pin_note = f"{base} read at v{pinned}, the version {ws} is pinned to (latest: v{left_version})"
        left, left_version = base_project.target(name).scan(version=pinned), pinned
    out = TableDiff(table=name, workspace=ws, base=base, key=[], key_source="", workspace_version=right_version,
                    base_version=left_version)
    if pin_note:
        out.notes.append(pin_note)
    rschema = right.collect_schema()
    if left is None:
        out.notes.append(f"{base} has no table {name}: every row is new")
        left = pl.LazyFrame(schema=rschema)
    lschema = left.collect_schema()

    out.columns_added = {c: str(d) for c, d in rschema.items() if c not in lschema}
    out.columns_removed = {c: str(d) for c, d in lschema.items() if c not in rschema}
    out.columns_changed = {c: (str(lschema[c]), str(d)) for c, d in rschema.items()
                           if c in lschema and lschema[c] != d}
    # the ingestion bookkeeping (when a row was loaded, from which file version) is not the
    # data: a rebuild that loads the same rows again is not a change
    from .transforms.ingest import META_COLUMNS

    common = [c for c in rschema if c in lschema and c not in META_COLUMNS]

    # the key: asked for, else the transform's unique_key, else every common column
    wanted = list(key or ()) or list(t.config.unique_key if t is not None else ()) or \
        list(bt.config.unique_key if bt is not None else ())
    source = "given key" if key else "unique_key"
    if wanted and all(c in common for c in wanted):
        keys, by_key = wanted, True
    else:
        if wanted:
            out.notes.append(f"key {', '.join(wanted)} is not in both tables: compared whole rows")
        keys, by_key, source = common, False, "all columns"
    if not by_key and (out.columns_added or out.columns_removed):
        out.notes.append("rows compared on the columns both tables have")
    out.key, out.key_source = list(keys), source

    casts = {c: _common_type(lschema[c], rschema[c]) for c in common}

    def aligned(lf: pl.LazyFrame, schema: pl.Schema, cols: Sequence[str]) -> pl.LazyFrame:
        return lf.select([pl.col(c).cast(casts[c]) if schema[c] != casts[c] else pl.col(c) for c in cols])

    counts = [left.select(pl.len()), right.select(pl.len())]
    if not keys:
        frames = counts
        results = pl.collect_all(frames, engine="streaming")
        out.rows_base, out.rows_workspace = results[0].item(), results[1].item()
        return out

    if by_key:
        # one full outer join on the key gives every count in a single streaming pass; the
        # samples reuse the same joined plan (collect_all eliminates the common subplan)
        values = [c for c in common if c not in keys]
        in_base, in_ws = "__rat_in_base", "__rat_in_ws"
        j = (left.with_columns([pl.col(c).cast(casts[c]) for c in common if lschema[c] != casts[c]])
             .with_columns(pl.lit(True).alias(in_base))
             .join(right.with_columns([pl.col(c).cast(casts[c]) for c in common if rschema[c] != casts[c]])
                   .with_columns(pl.lit(True).alias(in_ws)),
                   on=keys, how="full", coalesce=True, nulls_equal=True, suffix=_WS))
        b, w = pl.col(in_base).is_not_null(), pl.col(in_ws).is_not_null()
        flags = {c: (b & w & pl.col(c).ne_missing(pl.col(c + _WS))) for c in values}
        any_change = pl.any_horizontal(list(flags.values())) if flags else pl.lit(False)
        stats = j.select(added=(~b).sum(), removed=(~w).sum(), both=(b & w).sum(), changed=any_change.sum(),
                         **{f"__col_{i}": f.sum() for i, f in enumerate(flags.values())})
        added = j.filter(~b).head(sample).select(
            [pl.col(c) if c in keys or c not in lschema else pl.col(c + _WS).alias(c) for c in rschema])
        removed = j.filter(~w).head(sample).select(list(lschema))
        changed = j.filter(any_change).head(sample).select(
            [*keys, *[e for c in values for e in (pl.col(c), pl.col(c + _WS))]])
        r = pl.collect_all([*counts, stats, added, removed, changed], engine="streaming")
        out.rows_base, out.rows_workspace = r[0].item(), r[1].item()
        st = r[2].row(0, named=True)
        out.added, out.removed, out.changed = int(st["added"]), int(st["removed"]), int(st["changed"])
        out.changed_columns = {c: int(st[f"__col_{i}"]) for i, c in enumerate(values) if st[f"__col_{i}"]}
        if st["both"] + out.removed != out.rows_base or st["both"] + out.added != out.rows_workspace:
            dup = pl.collect_all([lf.select(keys).group_by(keys).len().filter(pl.col("len") > 1).select(pl.len())
                                  for lf in (left, right)], engine="streaming")
            out.duplicate_keys = {k: n for k, n in ((base, dup[0].item()), (ws, dup[1].item())) if n}
            out.notes.append("the key is not unique: row counts by key are approximate")
        cols = list(out.changed_columns)
        sample_changed = r[5].select([*keys, *[e for c in cols for e in (
            pl.col(c).alias(f"{c}__{base}"), pl.col(c + _WS).alias(f"{c}__{ws}"))]])
        out.samples = {"added": _sorted(r[3], keys), "removed": _sorted(r[4], keys),
                       "changed": _sorted(sample_changed, keys)}
    else:
        # whole rows, as multisets (a row twice in one table and once in the other counts once):
        # one group-by over a 64-bit hash of each row, then the few differing rows are fetched
        row_hash = pl.struct(keys).hash(0x5EED).alias("__rat_h")
        lh = aligned(left, lschema, keys).select(row_hash, __rat_side=pl.lit(1, pl.Int8))
        rh = aligned(right, rschema, keys).select(row_hash, __rat_side=pl.lit(-1, pl.Int8))
        delta = (pl.concat([lh, rh]).group_by("__rat_h").agg(pl.col("__rat_side").cast(pl.Int64).sum().alias("d"))
                 .filter(pl.col("d") != 0))
        r = pl.collect_all([*counts, delta], engine="streaming")
        out.rows_base, out.rows_workspace = r[0].item(), r[1].item()
        d = r[2]
        out.removed = int(d.filter(pl.col("d") > 0)["d"].sum())
        out.added = int(-d.filter(pl.col("d") < 0)["d"].sum())
        more = d.filter(pl.col("d") < 0)["__rat_h"].head(sample).implode()
        fewer = d.filter(pl.col("d") > 0)["__rat_h"].head(sample).implode()
        samples = pl.collect_all([
            aligned(right, rschema, keys).filter(pl.struct(keys).hash(0x5EED).is_in(more)).head(sample),
            aligned(left, lschema, keys).filter(pl.struct(keys).hash(0x5EED).is_in(fewer)).head(sample),
        ], engine="streaming")
        out.samples = {"added": _sorted(samples[0], keys), "removed": _sorted(samples[1], keys),
                       "changed": pl.DataFrame()}
    return out


_WS = "__rat_ws"


def _sorted(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    try:
        return df.sort(list(keys), nulls_last=True) if df.height > 1 and keys else df
    except pl.exceptions.PolarsError:  # unsortable types (nested): keep the order found
        return df


# -- promote ----------------------------------------------------------------------------------
@dataclass
class FileChange:
    """One file a promotion writes into (or removes from) ``default``."""

    action: str  # "create", "update", "unchanged" or "remove"
    source: Path | None
    dest: Path
    diff: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "source": str(self.source) if self.source else None,
                "dest": str(self.dest), "diff": self.diff}


@dataclass
class Promotion:
    """What promoting transforms from a workspace into ``default`` changes on disk."""

    workspace: str
    names: list[str]
    files: list[FileChange]
    project_dir: Path
    checks: Any = None
    applied: bool = False

    @property
    def changes(self) -> list[FileChange]:
        return [f for f in self.files if f.action != "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "names": list(self.names), "applied": self.applied,
                "files": [f.to_dict() for f in self.files],
                "checks": dict(self.checks) if isinstance(self.checks, Mapping) else self.checks}

    def apply(self) -> list[FileChange]:
        """Write the files into ``default``: all of them or none, even if the process is killed
        (staged, then renamed into place under a journal that the next project load completes
        or rolls back: see ``ratatouille/_promote_journal.py``). Returns the changes."""
        from ._promote_journal import apply_changes

        apply_changes(self.project_dir / "workspaces" / DEFAULT,
                      [(f.action, f.source, f.dest) for f in self.changes])
        self.applied = True
        return self.changes


def _files_of(t: Transform, pipelines: Path) -> list[Path]:
    """The files that define transform ``t`` (the code file plus a YAML beside it)."""
    path = Path(t.path) if t.path else None
    if path is None:
        raise WorkspaceError(f"{t.name} is not defined by a file: nothing to promote", transform=t.name)
    files = [path]
    if path.suffix in (".sql", ".py"):
        for ext in (".yaml", ".yml"):
            side = path.with_suffix(ext)
            if side.is_file() and path.parent != pipelines:
                files.append(side)
    return files


def plan_promotion(names: str | Sequence[str], *, workspace: str | None = None,
                   project_dir: str | Path | None = None) -> Promotion:
    """Work out which files promoting ``names`` from ``workspace`` writes into ``default``.

    Refuses (WorkspaceError) a transform the workspace does not define itself,
    a file that also defines transforms not being promoted, and inputs that
    ``default`` would not have.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise WorkspaceError("name one or more transforms to promote")
    for n in names:
        parse_table_name(n)
    project = Project.load(project_dir, workspace=workspace)
    ws = project.workspace
    if ws == DEFAULT:
        raise WorkspaceError("promote copies a workspace's transforms into default: name the workspace "
                             "(workspace='alice', or rat promote -w alice NAME)")
    settings = project.settings
    base = Project.load(settings.project_dir, workspace=DEFAULT)
    src_root = workspace_dir(settings, ws) / "pipelines"
    dst_root = workspace_dir(settings, DEFAULT) / "pipelines"
    chosen = set(names)
    changes: dict[Path, FileChange] = {}
    for n in names:
        t = project.get(n)
        if t.workspace != ws:
            raise WorkspaceError(f"{n} is not changed in workspace {ws} (it is {t.workspace}'s transform): "
                                 "nothing to promote", transform=n)
        # inputs must exist in default once promoted
        for dep in t.inputs:
            if dep not in chosen and dep not in base.transforms and base.read_target(dep) is None:
                raise WorkspaceError(f"reads {dep}, which default does not have: promote it together "
                                     f"(rat promote -w {ws} {dep} {n})", transform=n, file=t.file)
        files = _files_of(t, src_root)
        others = sorted(o.name for o in project.transforms.values()
                        if o.workspace == ws and o.path and Path(o.path) in files and o.name not in chosen)
        if others:
            raise WorkspaceError(f"{files[0].name} also defines {', '.join(others)}: promote them together",
                                 transform=n, file=t.file)
        dests = []
        for src in files:
            dest = dst_root / src.relative_to(src_root)
            dests.append(dest)
            old = dest.read_bytes() if dest.is_file() else None
            new = src.read_bytes()
            action = "create" if old is None else ("unchanged" if old == new else "update")
            changes[dest] = FileChange(action, src, dest, _text_diff(
                old, new, dest.relative_to(settings.project_dir), src.relative_to(settings.project_dir)))
        # default's own files for this transform that the copy would not replace
        bt = base.transforms.get(n)
        if bt is not None and bt.path:
            for old_file in _files_of(bt, dst_root):
                if old_file in dests or old_file in changes:
                    continue
                sharing = sorted(o.name for o in base.transforms.values()
                                 if o.path and Path(o.path) == old_file and o.name not in chosen)
                if sharing:
                    raise WorkspaceError(f"default defines {n} in {old_file} together with {', '.join(sharing)}: "
                                         "move it to its own file first", transform=n, file=str(old_file))
                text = old_file.read_bytes()
                changes[old_file] = FileChange("remove", None, old_file,
                                               _text_diff(text, None, old_file.relative_to(settings.project_dir), None))
    return Promotion(workspace=ws, names=names, files=list(changes.values()), project_dir=settings.project_dir)


def _text_diff(old: bytes | None, new: bytes | None, old_rel: Path, new_rel: Path | None) -> str:
    try:
        a = old.decode().splitlines(keepends=True) if old is not None else []
        b = new.decode().splitlines(keepends=True) if new is not None else []
    except UnicodeDecodeError:
        return "(binary file)"
    return "".join(difflib.unified_diff(a, b, fromfile=str(old_rel) if old is not None else "/dev/null",
                                        tofile=str(new_rel) if new is not None else "/dev/null"))


def check_promotion(plan: Promotion) -> Any:
    """Build and check the promoted transforms in the workspace without writing (``dry_run``);
    raise CheckError (nothing promoted) when a check fails or a transform does not build."""
    from .errors import RatatouilleError
    from .execute import run

    try:
        # full_refresh: the checks see everything the transform builds, not only an increment
        result = run(plan.names if len(plan.names) > 1 else plan.names[0], workspace=plan.workspace,
                     project_dir=str(plan.project_dir), dry_run=True, full_refresh=True)
    except RatatouilleError as exc:
        raise CheckError(f"not promoted: it fails in workspace {plan.workspace}: {exc.message}",
                         transform=exc.transform, file=exc.file, line=exc.line, checks=exc.checks,
                         results=exc.results) from exc
    plan.checks = result
    return result


def promote(names: str | Sequence[str], *, workspace: str | None = None, check: bool = True,
            project_dir: str | Path | None = None) -> Promotion:
    """Copy transforms (``.sql`` + ``.yaml`` / ``.py`` / ingest ``.yaml``) from a workspace into
    ``default`` after their checks pass in the workspace. Returns the applied :class:`Promotion`.

    Only files move: rebuild production afterwards (``rat run -f NAME+`` for an incremental table).
    """
    plan = plan_promotion(names, workspace=workspace, project_dir=project_dir)
    if check:
        check_promotion(plan)
    plan.apply()
    return plan


# -- helpers ----------------------------------------------------------------------------------
def _default_settings(project_dir: str | Path | None) -> Settings:
    """The project's settings for a workspace command, after finishing a promotion a crash
    interrupted (``_promote_journal.recover``)."""
    from ._promote_journal import recover

    settings = load_settings(project_dir, workspace=DEFAULT)
    recover(settings.workspaces_dir / DEFAULT)
    return settings


def _atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
