"""``diff``: what a workspace's table changes compared with default's.

Schema, row counts, rows added / removed / changed by key, samples, computed
with lazy Polars joins over the Delta tables on the streaming engine.

Example
-------
>>> from ratatouille import tools
>>> d = tools.diff("silver.sales", workspace="alice")
>>> d.added, d.removed, d.changed
(0, 2, 0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from .._catalog import DEFAULT
from .._names import not_found, parse_table_name
from .._resolve import Resolver
from ..discover import Project
from ..errors import TableNotFoundError, WorkspaceError
from ..ingest import META_COLUMNS

__all__ = ["TableDiff", "diff", "diff_project"]


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
    return json.loads(df.write_json()) if df.height else []


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

    Parameters
    ----------
    name : str
        ``layer.name`` of a table.
    workspace : str, optional
        The workspace compared (default: the settings' one).
    base : str
        The workspace compared with (default: ``default``).
    key : sequence of str, optional
        Columns that identify a row.
    sample : int
        How many sample rows of each kind.
    project_dir : str or Path, optional
        The project folder (default: found from the working directory or ``RAT_PROJECT_DIR``).

    Returns
    -------
    TableDiff
        ``.summary()``, ``.to_dict()``, ``.added``/``.removed``/``.changed``, ``.identical``.

    Raises
    ------
    WorkspaceError
        ``workspace`` is ``base`` itself.
    TableNotFoundError
        The workspace has not built ``name``, or nobody knows it.

    Examples
    --------
    >>> d = diff("silver.sales", workspace="alice")
    >>> print(d.summary())
    silver.sales: workspace alice (v0) vs default (v0)
    schema: unchanged
    rows: default 9 -> alice 7 (-2)
    by order_id (unique_key): 0 added, 2 removed, 0 changed
    """
    parse_table_name(name)
    return diff_project(Project.load(project_dir, workspace=workspace), name, base=base, key=key, sample=sample)


def diff_project(project: Project, name: str, *, base: str = DEFAULT, key: Sequence[str] | None = None,
                 sample: int = 5, base_project: Project | None = None) -> TableDiff:
    """:func:`diff` on a loaded ``project`` (and, when given, the loaded ``base_project``).

    Parameters
    ----------
    project
        The workspace's project.
    name, base, key, sample
        As for :func:`diff`.
    base_project
        ``base``'s project, when the caller has it loaded already.

    Returns
    -------
    TableDiff
        The differences.

    Raises
    ------
    WorkspaceError
        ``project`` is the ``base`` workspace itself.
    TableNotFoundError
        The workspace has not built ``name``, or nobody knows it.

    Examples
    --------
    >>> from ratatouille.discover import Project
    >>> diff_project(Project.load(workspace="alice"), "silver.sales").to_dict()["rows"]
    {'default': 9, 'alice': 7}
    """
    parse_table_name(name)
    ws = project.workspace
    if ws == base:
        raise WorkspaceError(f"diff compares a workspace with {base!r}: name another workspace "
                             "(workspace='alice', or rat diff -w alice NAME)")
    if base_project is None or base_project.workspace != base:
        base_project = Project.load(project.settings.project_dir, workspace=base)
    t = project.transforms.get(name)
    bt = base_project.transforms.get(name)
    if t is None and bt is None and name not in project.lake_tables(ws) and name not in base_project.lake_tables(base):
        raise not_found(name, set(project.transforms) | project.lake_tables(ws))
    right, right_version = Resolver(project).current(name, own_only=True)
    if right is None:
        raise TableNotFoundError(f"workspace {ws} has not built {name} (it reads {base}'s table): "
                                 f"run `rat run -w {ws} {name}` first")
    left, left_version = Resolver(base_project).current(name, own_only=True)
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


