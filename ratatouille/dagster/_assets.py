"""One Dagster asset per transform.

Each transform is an asset keyed ``[layer, name]``: its ``deps`` come from
lineage, its ``code_version`` from the transform's text (so the UI shows
changed logic as changed), its checks are declared as asset check specs.
The assets live in one subsettable ``multi_asset`` per partitions definition
(the shape dagster-dbt uses for a dbt project), which keeps loading thousands
of transforms fast. Building them never runs a transform nor opens a table;
materializing any selection calls the same :func:`ratatouille.run` as the SDK
and reports what each write did (row count, column schema, URI, Delta
version, write mode, a markdown preview).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import dagster as dg
import polars as pl

from .._delta_scan import scan_delta
from .._delta_schema import table_schema
from ..check._lineage import test_inputs
from ..errors import RatatouilleError
from ..execute import run
from ..execute._partition import partition_value
from ..ingest._settle import HELD_FILES
from ..transforms import BrokenTransform, Transform
from ..write import Target
from ._checks import check_results, check_specs, on_fail_metadata, stored_check_results

if TYPE_CHECKING:  # annotations only
    from deltalake import DeltaTable

    from ..execute import RunResult

KINDS = {"polars", "delta"}
PREVIEW_ROWS = 5
_TAG_OK = re.compile(r"^[A-Za-z0-9_.\-/]{1,63}$")


def asset_key(table: str) -> dg.AssetKey:
    """``"silver.sales"`` -> ``AssetKey(["silver", "sales"])``."""
    return dg.AssetKey(table.split(".", 1))


def op_name(table: str) -> str:
    """``silver.sales`` -> ``silver__sales`` (names of a transform's sensors and schedules)."""
    return table.replace(".", "__")


def group_of(t: Transform) -> str:
    return t.config.group or t.layer


def transform_spec(t: Transform, *, table_uri: str, partitions: dg.PartitionsDefinition | None) -> dg.AssetSpec:
    """The asset spec of one transform (no lake access, no import of its code)."""
    return dg.AssetSpec(
        asset_key(t.name),
        deps=[asset_key(name) for name in dict.fromkeys((*t.inputs, *test_inputs(t)))],  # a test's table too
        description=_description(t),
        group_name=group_of(t),
        code_version=t.code_version,
        kinds=set(KINDS),
        tags=_tags(t),
        owners=[t.config.owner] if _valid_owner(t.config.owner) else None,
        metadata=_definition_metadata(t, table_uri),
        partitions_def=partitions,
    )


def transforms_asset(transforms: Sequence[Transform], *, name: str, project_dir: Path, workspace: str,
                     table_uris: Mapping[str, str], storage_options: Mapping[str, str] | None,
                     partitions: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    """One subsettable ``multi_asset`` holding the assets of ``transforms`` (which share ``partitions``).

    Like dagster-dbt's project asset, a single op backs every transform: loading
    a project of thousands of transforms stays fast, and materializing any
    selection of them is one :func:`ratatouille.run` call over that selection
    (dependency order, independent branches finish when one fails, a table's
    fresh result handed downstream). Each table is reported as soon as it is
    written.
    """
    by_key = {asset_key(t.name): t for t in transforms}
    specs = [transform_spec(t, table_uri=table_uris[t.name], partitions=partitions) for t in transforms]
    checks = [spec for t in transforms for spec in check_specs(t, asset_key(t.name))]
    root = str(project_dir)

    @dg.multi_asset(name=name, specs=specs, check_specs=checks, partitions_def=partitions, can_subset=True,
                    description=f"Ratatouille transforms of workspace {workspace}: each materialization is run().")
    # context stays unannotated: Dagster compares its annotation with AssetExecutionContext itself, and
    # this module's annotations are strings (postponed evaluation)
    def _materialize(context) -> Iterator[Any]:  # type: ignore[no-untyped-def]  # an AssetExecutionContext
        selected = [by_key[k] for k in context.selected_asset_keys if k in by_key]
        wanted_checks = set(context.selected_asset_check_keys)
        partition = context.partition_key if context.has_partition_key else None
        names = sorted(t.name for t in selected)
        context.log.info(f"ratatouille: run({names!r}" + (f", partition={partition!r}" if partition else "")
                         + f") in workspace {workspace}")
        failed: list[tuple[Transform, RunResult]] = []
        reported: set[str] = set()
        outcome: dict[str, BaseException] = {}
        held = _held_files(context)  # files the landing sensor leaves for their own retry
        for t, result in _run_streaming(names, {t.name: t for t in selected}, workspace, root, partition, outcome,
                                        held=held):
            reported.add(t.name)
            if result.get("status") == "failed":
                context.log.error(f"{t.name} failed: {result.get('error')}")
                failed.append((t, result))  # reported after the successes: a failed blocking check ends the step
                continue
            for c in result.get("checks") or []:
                if not c.get("passed"):
                    context.log.warning(f"{t.name}: {c.get('severity')} check {c.get('name')} failed: "
                                        f"{c.get('message')}")
            for r in result.get("rejected") or []:
                context.log.warning(f"{t.name}: rejected {r.get('file')}: {r.get('reason')}")
            for w in result.get("waiting") or []:
                context.log.info(f"{t.name}: waiting for {w.get('file')}: {w.get('reason')}")
            context.log.info(f"ratatouille: {result}")
            key = asset_key(t.name)
            skipped = None if result.get("checks") else (
                "no new data was written" if result.get("status") == "skipped" else
                "the table is unchanged (its code and inputs are those of its last commit)"
                if result.get("status") == "unchanged" else "no data was checked")
            yield dg.MaterializeResult(
                asset_key=key,
                metadata=materialize_metadata(t, result, table_uris[t.name], storage_options, partition=partition),
                data_version=_data_version(result),
                check_results=[r for r in check_results(t, key, result.get("checks") or [], skipped_reason=skipped)
                               if dg.AssetCheckKey(key, r.check_name or "") in wanted_checks],
            )
        for t, result in failed:  # nothing was written for these: their tables keep their versions
            key = asset_key(t.name)
            checks_run = [c for c in result.get("checks") or [] if isinstance(c, Mapping)]
            if checks_run:
                yield from (r for r in check_results(t, key, checks_run, skipped_reason="the run failed before it")
                            if dg.AssetCheckKey(key, r.check_name or "") in wanted_checks)
        # checks executed on their own (their asset not selected): rat test's logic on the stored table
        yield from stored_check_results(by_key, wanted_checks, context.selected_asset_keys, workspace=workspace,
                                        root=root)
        if "crash" in outcome:
            raise outcome["crash"]
        error = outcome.get("error")
        blocked = [n for n in names if n not in reported]
        if failed or error is not None:
            raise dg.Failure(description=_failure_text(failed, blocked, error),
                             metadata=_failure_metadata(failed, blocked, error))

    return _materialize


def _data_version(result: Mapping[str, Any]) -> dg.DataVersion | None:
    """The Delta version as the asset's data version: an ``unchanged`` run reports the same one as the
    run that wrote it, so Dagster sees the data as unchanged and keeps its downstream up to date."""
    version = result.get("version")
    return dg.DataVersion(f"v{version}") if version is not None and result.get("partition") is None else None


def _held_files(context: dg.AssetExecutionContext) -> frozenset[str]:
    """The run tag ``ratatouille/hold_files`` (a JSON list of landing files) set by a landing sensor."""
    try:
        raw = context.run.tags.get("ratatouille/hold_files")
        return frozenset(str(f) for f in json.loads(raw)) if raw else frozenset()
    except (ValueError, TypeError, AttributeError):
        return frozenset()


def _run_streaming(names: list[str], transforms: Mapping[str, Transform], workspace: str, root: str,
                   partition: str | None, outcome: dict[str, BaseException], *,
                   held: frozenset[str] = frozenset()) -> Iterator[tuple[Transform, RunResult]]:
    """Run ``names`` with :func:`ratatouille.run` in a worker thread; yield ``(transform, result)`` as each ends.
    ``held``: landing files the ingest transforms leave for later (``transforms/_settle.HELD_FILES``)."""

    events: queue.Queue = queue.Queue()

    def on_event(event: str, name: str, result: RunResult | None) -> None:
        if event == "end" and result is not None:
            events.put((name, result))

    def work() -> None:
        HELD_FILES.set(held)  # this thread's context only
        try:
            run(names, workspace=workspace, project_dir=root, partition=partition, on_event=on_event)
        except RatatouilleError as exc:  # every result was already reported through on_event
            outcome["error"] = exc
        except BaseException as exc:  # noqa: BLE001 - re-raised in the step
            outcome["crash"] = exc
        finally:
            events.put(None)

    worker = threading.Thread(target=work, name="ratatouille-run", daemon=True)
    worker.start()
    while (item := events.get()) is not None:
        name, result = item
        if name in transforms:
            yield transforms[name], result
    worker.join()


def _failure_text(failed: Sequence[tuple[Transform, Mapping[str, Any]]], blocked: list[str], error: BaseException | None) -> str:
    lines = [str(result.get("error") or f"{t.name} failed") for t, result in failed]
    if not failed and error is not None:
        lines.append(str(error))
    if blocked:
        lines.append("not run (an upstream transform failed): " + ", ".join(blocked))
    return "\n".join(lines)


def _failure_metadata(failed: Sequence[tuple[Transform, Mapping[str, Any]]], blocked: list[str], error: BaseException | None) -> dict[str, Any]:
    md: dict[str, Any] = {"failed": dg.MetadataValue.json([
        {"transform": t.name, "file": t.file, "error": str(result.get("error")),
         "failed_checks": [{k: c.get(k) for k in ("name", "severity", "failing_rows", "message")}
                           for c in result.get("checks") or [] if isinstance(c, Mapping) and not c.get("passed")]}
        for t, result in failed])}
    if blocked:
        md["not_run"] = dg.MetadataValue.json(blocked)
    if isinstance(error, RatatouilleError) and len(failed) <= 1:
        if error.transform:
            md["transform"] = error.transform
        if error.file:
            md["file"] = error.file
        if error.line:
            md["line"] = int(error.line)
    return md


def _description(t: Transform) -> str | None:
    if isinstance(t, BrokenTransform):
        return f"**This transform does not load**: {t.error}"
    return t.description


def _tags(t: Transform) -> dict[str, str]:
    tags = {"ratatouille/kind": t.kind, "ratatouille/mode": t.mode}
    for tag in t.config.tags:
        if _TAG_OK.fullmatch(str(tag)):
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


# -- materialization metadata -------------------------------------------------------------------
def materialize_metadata(t: Transform, result: Mapping[str, Any], table_uri: str,
                         storage_options: Mapping[str, str] | None, *, partition: str | None = None) -> dict[str, Any]:
    """What the UI shows for one materialization: read from the Delta log after the write."""
    md: dict[str, Any] = {
        "dagster/uri": table_uri,
        "dagster/table_name": t.name,
        "status": dg.MetadataValue.text(str(result.get("status"))),
        "unchanged": dg.MetadataValue.bool(result.get("status") == "unchanged"),
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
    md.update(on_fail_metadata(result))  # rows dropped / quarantined (on_fail)
    if t.mode == "view":
        return md
    # the table as this run left it (its own commit), never a later commit of another process
    version = result.get("version")
    table = _open(table_uri, storage_options, version)
    if table is None:
        return md
    rows = _row_count(table, table_uri, storage_options)
    if rows is not None:
        md["dagster/row_count"] = dg.MetadataValue.int(rows)
    schema = table_schema(table)
    md["dagster/column_schema"] = dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()])
    try:
        lf = scan_delta(table_uri, version=version,
                           storage_options=dict(storage_options) if storage_options else None)
        if partition is not None and t.config.partition_by:
            col = t.config.partition_by[0]
            lf = lf.filter(pl.col(col) == partition_value(partition, schema[col]))
        md["preview"] = dg.MetadataValue.md(markdown_table(lf.head(PREVIEW_ROWS).collect()))
    except Exception as exc:  # noqa: BLE001 - a preview is a nicety, never a failure
        md["preview"] = dg.MetadataValue.text(f"(no preview: {type(exc).__name__})")
    return md


def _open(uri: str, storage_options: Mapping[str, str] | None, version: int | None = None) -> DeltaTable | None:
    try:
        return Target(uri, storage_options, "").open(version)
    except RatatouilleError:
        return None


def _row_count(table: DeltaTable, uri: str, storage_options: Mapping[str, str] | None) -> int | None:
    """Rows in the table, from the Delta log's file statistics (no data read)."""
    try:
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        if actions.is_empty():
            return 0
        if "num_records" in actions.columns and actions["num_records"].null_count() == 0:
            return int(actions["num_records"].sum())
    except Exception:  # noqa: BLE001, S110 - statistics are optional: the rows are counted below instead
        pass
    try:
        opts = dict(storage_options) if storage_options else None
        return int(scan_delta(uri, version=table.version(), storage_options=opts).select(pl.len()).collect().item())
    except Exception:  # noqa: BLE001
        return None


def markdown_table(df: pl.DataFrame, *, max_width: int = 40, max_columns: int = 20) -> str:
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
