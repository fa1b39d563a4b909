"""The Dagster adapter: every transform an asset, with its checks, jobs, sensors and schedules.

>>> from ratatouille.dagster import build_definitions
>>> defs = build_definitions()

``ratatouille.definitions:defs`` (what ``dagster dev`` and ``rat dev`` load)
is ``build_definitions()`` for the current project and workspace. It holds:

* one asset per transform, key ``[layer, name]``, group = the transform's
  ``group`` or its layer, ``deps`` from lineage, ``kinds`` polars + delta,
  ``code_version`` from the transform's text; the assets share one
  subsettable multi-asset per partitions definition (op ``ratatouille``,
  ``ratatouille_daily``...), and materializing any selection of them is one
  :func:`ratatouille.run` call (see ``_assets.py``);
* one asset check per Pandera schema and per SQL test (``_checks.py``);
* partitioned assets for transforms with ``partition_by`` and ``partitions:``
  (``_partitions.py``);
* one job per group, schedules and sensors from ``triggers:``, and a landing
  sensor per ingest transform (``_sensors.py``);
* everything exported by ``pipelines/__init__.py`` and the Dagster objects of
  dropped-in ``workspaces/*/pipelines/*.py`` modules (``_modules.py``).

Building never runs a transform, imports a Python transform or opens a table.
Only this package and ``ratatouille.definitions`` import Dagster.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import dagster as dg

from ..discover import Project
from ..errors import ConfigError
from ..ingest import ingested_state
from ..ingest._settle import not_ready
from ..plan import DAG
from ..transforms import BrokenTransform, IngestTransform, Transform
from ._assets import (asset_key, group_of, markdown_table, materialize_metadata, op_name, transform_spec,
                      transforms_asset)
from ._checks import check_results, check_specs
from ._modules import Registry, add_dropped_in, add_pipelines, import_pipelines
from ._partitions import label, partitions_def
from ._sensors import DEFAULT_INTERVAL, landing_sensor, parse_triggers, trigger_schedule

__all__ = ["asset_key", "build_definitions", "check_results", "check_specs", "markdown_table",
           "materialize_metadata", "partitions_def", "transform_spec", "transforms_asset"]

if TYPE_CHECKING:  # annotations only
    from .._lake import Lake

log = logging.getLogger("ratatouille")


def build_definitions(project_dir: str | Path | None = None, workspace: str | None = None, *,
                      strict: bool = False, executor: Any = None) -> dg.Definitions:
    """Build the Dagster ``Definitions`` of a project's workspace.

    ``project_dir`` defaults to the current project (found from the working
    directory or ``RAT_PROJECT_DIR``); ``workspace`` to the settings' one
    (``RAT_WORKSPACE``); a non-default workspace sees ``default``'s transforms
    overlaid with its own. A transform whose ``partitions:`` or ``triggers:``
    is invalid, or a dropped-in module that fails to import, is reported
    (logged, and listed under ``defs.metadata["ratatouille/load_errors"]``)
    while the rest loads; ``strict=True`` raises instead. Runs execute in
    process by default (one table at a time, in dependency order, like
    ``rat run``; Polars uses every core within a step); pass ``executor=`` to
    change it.

    Parameters
    ----------
    project_dir : str or Path, optional
        The project folder.
    workspace : str, optional
        The workspace.
    strict : bool
        Raise on an invalid ``partitions:``/``triggers:`` or a module that fails to import,
        instead of reporting it and loading the rest.
    executor : dagster executor, optional
        The executor of the definitions' jobs (default: in process).

    Returns
    -------
    dagster.Definitions

    Raises
    ------
    ConfigError
        With ``strict=True``, the first problem found.

    Examples
    --------
    >>> defs = build_definitions()
    >>> sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())[:2]
    ['bronze/sales', 'gold/daily_revenue']
    """
    project = Project.load(project_dir, workspace=workspace)
    settings = project.settings
    root = settings.project_dir
    registry = Registry(root)
    transforms: dict[str, Transform] = {}
    partitions: dict[str, dg.PartitionsDefinition | None] = {}
    triggers: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(project.transforms):
        t = project.transforms[name]  # its settings were checked at discovery: a bad one made it broken
        if isinstance(t, BrokenTransform) and isinstance(t.error, ConfigError):
            if strict:
                raise t.error
            log.error("transform %s is not usable in Dagster: %s", name, t.error)
            registry.errors.append(str(t.error))
        partitions[name] = partitions_def(t)
        triggers[name] = parse_triggers(t)
        transforms[name] = t

    options = project.lake.delta_options()
    uris = {name: project.table_uri(name) for name in transforms}
    buckets: list[tuple[dg.PartitionsDefinition | None, list[Transform]]] = []
    for name, t in transforms.items():  # one multi-asset per partitions definition
        for pdef, members in buckets:
            if pdef == partitions[name]:
                members.append(t)
                break
        else:
            buckets.append((partitions[name], [t]))
    used: set[str] = set()
    for pdef, members in sorted(buckets, key=lambda b: b[0] is not None):
        base = "ratatouille" if pdef is None else f"ratatouille_{label(pdef)}"
        op, n = base, 2
        while op in used:
            op, n = f"{base}_{n}", n + 1
        used.add(op)
        asset = transforms_asset(members, name=op, project_dir=root, workspace=project.workspace, table_uris=uris,
                                 storage_options=options, partitions=pdef)
        origins = {}
        for t in members:
            origins[asset_key(t.name).to_user_string()] = f"transform {t.name} ({registry.rel(t.file)})"
        registry.add(asset, f"the transforms of workspace {project.workspace}", origins=origins)

    _add_group_jobs(registry, transforms, partitions)
    _add_triggers(registry, project, transforms, partitions, triggers)

    module = import_pipelines(root)
    if module is not None:
        add_pipelines(registry, module)
    add_dropped_in(registry, settings.workspaces_dir, project.workspace, strict=strict)
    registry.validate_checks()

    metadata: dict[str, Any] = {"ratatouille/project": str(root), "ratatouille/workspace": project.workspace,
                                "ratatouille/transforms": len(transforms)}
    if registry.errors:
        metadata["ratatouille/load_errors"] = dg.MetadataValue.json(list(registry.errors))
    return dg.Definitions(assets=registry.assets, asset_checks=registry.checks, jobs=registry.jobs,
                          sensors=registry.sensors, schedules=registry.schedules,
                          executor=executor if executor is not None else dg.in_process_executor, metadata=metadata)


def _add_group_jobs(registry: Registry, transforms: dict[str, Transform],
                    partitions: dict[str, dg.PartitionsDefinition | None]) -> None:
    """One job per group: ``<group>_job``; a group's partitioned transforms get ``<group>_<daily|static|...>_job``
    (a Dagster job holds one partitions definition)."""
    groups: dict[str, list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]]] = {}
    for name, t in transforms.items():
        buckets = groups.setdefault(group_of(t), [])
        for pdef, keys in buckets:
            if pdef == partitions[name]:
                keys.append(asset_key(name))
                break
        else:
            buckets.append((partitions[name], [asset_key(name)]))
    for group, buckets in sorted(groups.items()):
        used: set[str] = set()
        for pdef, keys in buckets:
            base = f"{group}_job" if pdef is None else f"{group}_{label(pdef)}_job"
            job_name, n = base, 2
            while job_name in used:
                job_name, n = f"{base[:-4]}_{n}_job", n + 1
            used.add(job_name)
            what = f"the transforms of group {group}" + (f" ({label(pdef)} partitions)" if pdef else "")
            registry.add(dg.define_asset_job(job_name, selection=dg.AssetSelection.assets(*keys),
                                             description=f"Materialize {what}."),  # partitions: the assets'
                         f"the group job of {group}")


def _add_triggers(registry: Registry, project: Project, transforms: dict[str, Transform],
                  partitions: dict[str, dg.PartitionsDefinition | None],
                  triggers: dict[str, list[dict[str, Any]]]) -> None:
    dag = DAG(transforms)

    def targets(name: str, upstream: bool, downstream: bool) -> list[dg.AssetKey]:
        names = {name}
        if upstream:
            names |= dag.ancestors(name)
        if downstream:
            names |= dag.descendants(name)
        return [asset_key(n) for n in sorted(names) if n == name or partitions[n] == partitions[name]]

    lake = project.lake
    for name, t in transforms.items():
        origin = f"triggers of transform {name} ({registry.rel(t.file)})"
        entries = triggers[name]
        sensors = [e for e in entries if e["kind"] == "sensor"]
        schedules = [e for e in entries if e["kind"] == "schedule"]
        for i, e in enumerate(schedules):
            sname = e.get("name") or f"{op_name(name)}_schedule" + (f"_{i + 1}" if len(schedules) > 1 else "")
            registry.add(trigger_schedule(
                name=sname, cron=e["schedule"], keys=targets(name, bool(e.get("upstream")), bool(e.get("downstream"))),
                partitions=partitions[name], timezone=e.get("timezone"), running=e["status"] == "running",
                description=e.get("description")), origin)
        watched = set()
        for i, e in enumerate(sensors):
            source = str(e["sensor"])
            watched.add(source.strip("/"))
            sname = e.get("name") or f"{op_name(name)}_sensor" + (f"_{i + 1}" if len(sensors) > 1 else "")
            is_own = t.kind == "ingest" and source.strip("/") == str(t.config.source).strip("/")
            downstream = bool(e.get("downstream", is_own))
            lister = (lambda t=t: t.list_files(lake)) if is_own else (lambda s=source: lake.ls(s))
            registry.add(landing_sensor(
                name=sname, source=source, list_files=lister, lake=lake,
                ingested=functools.partial(_ingested, project, t) if is_own else None,
                not_ready=functools.partial(_in_flight, t, lake) if is_own else None,
                keys=targets(name, bool(e.get("upstream")), downstream), partitions=partitions[name],
                interval=int(e.get("minimum_interval_seconds", DEFAULT_INTERVAL)), running=e["status"] == "running",
                description=e.get("description")), origin)
        if isinstance(t, IngestTransform) and str(t.config.source).strip("/") not in watched:
            registry.add(landing_sensor(
                name=f"{op_name(name)}_sensor", source=str(t.config.source),
                list_files=functools.partial(t.list_files, lake), lake=lake, keys=targets(name, False, True),
                ingested=functools.partial(_ingested, project, t),
                not_ready=functools.partial(_in_flight, t, lake),
                description=f"New files under {t.config.source} -> ingest into {name}, then run what depends on it"),
                f"the landing sensor of ingest transform {name} ({registry.rel(t.file)})")


def _in_flight(t: Transform, lake: Lake, paths: Iterable[str]) -> dict[str, str]:
    """The landing files among ``paths`` an ingest transform would not read yet (transforms/_settle.py)."""
    return not_ready(t.config, lake, paths)


def _ingested(project: Project, t: Transform) -> set[str]:
    """The landing files (relative to the lake root) an ingest transform's table holds now; with
    ``on_change: reingest``, only those it holds as they are now (a file changed in place since it
    was ingested is not held: the sensor requests the run that replaces its rows)."""
    table = project.target(t.name).open()
    state = ingested_state(table) if table is not None else {}
    if not state or getattr(t.config, "on_change", None) != "reingest" or not isinstance(t, IngestTransform):
        return set(state)
    now = {f.rel: f.fingerprint for f in t.landing_files(project.lake)}
    return {rel for rel, held in state.items() if rel not in now or not held or now[rel] in held}
