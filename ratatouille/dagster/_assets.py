"""One Dagster asset per transform.

Each transform becomes a single-asset ``multi_asset`` keyed ``[layer, name]``:
its ``deps`` come from lineage, its ``code_version`` from the transform's text
(so the UI shows changed logic as changed), its checks are declared as asset
check specs. Building the asset never runs the transform nor opens a table;
materializing it calls the same :func:`ratatouille.run` as the SDK and reports
what the write did (row count, column schema, URI, Delta version, write mode,
a markdown preview).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import dagster as dg

from ..errors import CheckError, RatatouilleError
from ..transforms import BrokenTransform, Transform
from ._checks import check_results, check_specs

KINDS = {"polars", "delta"}
PREVIEW_ROWS = 5
_TAG_OK = re.compile(r"^[A-Za-z0-9_.\-/]{1,63}$")


def asset_key(table: str) -> dg.AssetKey:
    """``"silver.sales"`` -> ``AssetKey(["silver", "sales"])``."""
    return dg.AssetKey(table.split(".", 1))


def op_name(table: str) -> str:
    """The op behind a transform's asset: ``silver__sales``."""
    return table.replace(".", "__")


def group_of(t: Transform) -> str:
    return t.config.group or t.layer


def transform_asset(t: Transform, *, project_dir: Path, workspace: str, table_uri: str,
                    storage_options: Mapping[str, str] | None,
                    partitions: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    """The asset of one transform (no lake access, no import of its code)."""
    key = asset_key(t.name)
    spec = dg.AssetSpec(
        key,
        deps=[asset_key(name) for name in t.inputs],
        description=_description(t),
        group_name=group_of(t),
        code_version=t.code_version,
        kinds=set(KINDS),
        tags=_tags(t),
        owners=[t.config.owner] if _valid_owner(t.config.owner) else None,
        metadata=_definition_metadata(t, table_uri),
        partitions_def=partitions,
    )
    name, file, root = t.name, t.file, str(project_dir)

    @dg.multi_asset(name=op_name(t.name), specs=[spec], check_specs=check_specs(t, key), partitions_def=partitions,
                    op_tags={"ratatouille/transform": t.name})
    def _materialize(context):  # an AssetExecutionContext
        from ..execute import run

        partition = context.partition_key if context.has_partition_key else None
        context.log.info(f"ratatouille: run({name!r}" + (f", partition={partition!r}" if partition else "")
                         + f") in workspace {workspace}")
        try:
            result = run(name, workspace=workspace, project_dir=root, partition=partition)
        except CheckError as exc:
            # report every check, then fail the step: nothing was written, the table keeps its version
            yield from check_results(t, key, [c for c in exc.checks if isinstance(c, Mapping)])
            raise dg.Failure(description=str(exc), metadata=_error_metadata(exc, name, file)) from exc
        except RatatouilleError as exc:
            raise dg.Failure(description=str(exc), metadata=_error_metadata(exc, name, file)) from exc
        for c in result.get("checks") or []:
            if not c.get("passed"):
                context.log.warning(f"{name}: {c.get('severity')} check {c.get('name')} failed: {c.get('message')}")
        for r in result.get("rejected") or []:
            context.log.warning(f"{name}: rejected {r.get('file')}: {r.get('reason')}")
        context.log.info(f"ratatouille: {result}")
        skipped = None if result.get("checks") else ("no new data was written" if result.get("status") == "skipped"
                                                      else "no data was checked")
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=materialize_metadata(t, result, table_uri, storage_options, partition=partition),
            check_results=check_results(t, key, result.get("checks") or [], skipped_reason=skipped),
        )

    return _materialize


def _description(t: Transform) -> str | None:
    if isinstance(t, BrokenTransform):
        return f"**This transform does not load**: {t.error}"
    return t.description


def _tags(t: Transform) -> dict[str, str]:
    tags = {"ratatouille/kind": t.kind, "ratatouille/mode": t.mode}
    for tag in t.config.tags:
        if _TAG_OK.match(str(tag)):
            tags[str(tag)] = ""
    return tags


def _valid_owner(owner: str | None) -> bool:
    return bool(owner) and ("@" in str(owner) or str(owner).startswith("team:"))


def _definition_metadata(t: Transform, table_uri: str) -> dict[str, Any]:
    md: dict[str, Any] = {
        "dagster/table_name": t.name,
        "dagster/uri": table_uri,
        "ratatouille/transform": t.name,
        "ratatouille/kind": t.kind,
        "ratatouille/mode": t.mode,
    }
    if t.file:
        md["ratatouille/file"] = t.file
        with warnings.catch_warnings():  # code references are a beta Dagster API
            warnings.simplefilter("ignore")
            md["dagster/code_references"] = dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=t.file, label=Path(t.file).name)])
    if t.config.partition_by:
        md["ratatouille/partition_by"] = ", ".join(t.config.partition_by)
    if t.config.unique_key:
        md["ratatouille/unique_key"] = ", ".join(t.config.unique_key)
    if t.config.source:
        md["ratatouille/source"] = t.config.source
    if t.config.columns:  # declared columns: the schema shown before the first run
        md["dagster/column_schema"] = dg.TableSchema(columns=[
            dg.TableColumn(c.name, str(c.type or "any"), description=c.description,
                           constraints=dg.TableColumnConstraints(
                               nullable=c.nullable and "not_null" not in c.tests, unique="unique" in c.tests))
            for c in t.config.columns])
    return md


def _error_metadata(exc: RatatouilleError, name: str, file: str | None) -> dict[str, Any]:
    md: dict[str, Any] = {"transform": name, "error": type(exc).__name__}
    if exc.file or file:
        md["file"] = str(exc.file or file)
    if exc.line:
        md["line"] = int(exc.line)
    failed = [c for c in exc.checks if isinstance(c, Mapping) and not c.get("passed")]
    if failed:
        md["failed_checks"] = dg.MetadataValue.json(
            [{k: c.get(k) for k in ("name", "severity", "failing_rows", "message")} for c in failed])
    return md


# -- materialization metadata -------------------------------------------------------------------
def materialize_metadata(t: Transform, result: Mapping[str, Any], table_uri: str,
                         storage_options: Mapping[str, str] | None, *, partition: str | None = None) -> dict[str, Any]:
    """What the UI shows for one materialization: read from the Delta log after the write."""
    md: dict[str, Any] = {
        "dagster/uri": table_uri,
        "dagster/table_name": t.name,
        "status": dg.MetadataValue.text(str(result.get("status"))),
        "mode": dg.MetadataValue.text(str(result.get("mode") or t.mode)),
        "rows_written": dg.MetadataValue.int(int(result.get("rows_written") or 0)),
        "duration_s": dg.MetadataValue.float(float(result.get("duration_s") or 0.0)),
    }
    if result.get("run_id"):
        md["ratatouille/run_id"] = dg.MetadataValue.text(str(result["run_id"]))
    if result.get("version") is not None:
        md["delta_version"] = dg.MetadataValue.int(int(result["version"]))
    if result.get("previous_version") is not None:
        md["previous_delta_version"] = dg.MetadataValue.int(int(result["previous_version"]))
    if partition is not None:
        md["partition"] = dg.MetadataValue.text(partition)
        md["dagster/partition_row_count"] = dg.MetadataValue.int(int(result.get("rows_written") or 0))
    if "files" in result:
        md["files_ingested"] = dg.MetadataValue.int(len(result["files"]))
        if result["files"]:
            md["files"] = dg.MetadataValue.json(list(result["files"])[:100])
    if result.get("rejected"):
        md["files_rejected"] = dg.MetadataValue.json(list(result["rejected"]))
    checks = result.get("checks") or []
    if checks:
        md["checks_passed"] = dg.MetadataValue.text(f"{sum(1 for c in checks if c.get('passed'))}/{len(checks)}")
    if t.mode == "view":
        return md
    table = _open(table_uri, storage_options)
    if table is None:
        return md
    import polars as pl

    if result.get("version") is None:
        md["delta_version"] = dg.MetadataValue.int(int(table.version()))
    rows = _row_count(table, table_uri, storage_options)
    if rows is not None:
        md["dagster/row_count"] = dg.MetadataValue.int(rows)
    schema = _table_schema(table)
    md["dagster/column_schema"] = dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()])
    try:
        lf = pl.scan_delta(table_uri, storage_options=dict(storage_options) if storage_options else None)
        if partition is not None and t.config.partition_by:
            from ..execute._partition import partition_value

            col = t.config.partition_by[0]
            lf = lf.filter(pl.col(col) == partition_value(partition, schema[col]))
        md["preview"] = dg.MetadataValue.md(markdown_table(lf.head(PREVIEW_ROWS).collect()))
    except Exception as exc:  # noqa: BLE001 - a preview is a nicety, never a failure
        md["preview"] = dg.MetadataValue.text(f"(no preview: {type(exc).__name__})")
    return md


def _open(uri: str, storage_options: Mapping[str, str] | None):
    from ..write import Target

    try:
        return Target(uri, storage_options, "").open()
    except RatatouilleError:
        return None


def _row_count(table, uri: str, storage_options) -> int | None:
    """Rows in the table, from the Delta log's file statistics (no data read)."""
    import polars as pl

    try:
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        if actions.is_empty():
            return 0
        if "num_records" in actions.columns and actions["num_records"].null_count() == 0:
            return int(actions["num_records"].sum())
    except Exception:  # noqa: BLE001 - fall back to counting
        pass
    try:
        opts = dict(storage_options) if storage_options else None
        return int(pl.scan_delta(uri, storage_options=opts).select(pl.len()).collect().item())
    except Exception:  # noqa: BLE001
        return None


def _table_schema(table):
    import polars as pl
    import pyarrow as pa

    return pl.DataFrame(pa.schema(table.schema().to_arrow()).empty_table()).schema


def markdown_table(df, *, max_width: int = 40, max_columns: int = 20) -> str:
    """A small frame as a markdown table (pipes escaped, long cells cut).

    >>> import polars as pl
    >>> print(markdown_table(pl.DataFrame({"a": [1], "b": ["x|y"]})))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    cols = df.columns[:max_columns]

    def cell(value: Any) -> str:
        text = "null" if value is None else str(value)
        text = text.replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.select(cols).iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    if len(df.columns) > max_columns:
        lines.append(f"\n({len(df.columns) - max_columns} more columns)")
    return "\n".join(lines)
