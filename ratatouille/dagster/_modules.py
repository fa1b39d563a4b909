"""User Dagster code merged into the definitions, and the registry that keeps names unique.

Two places hold hand-written Dagster objects:

* ``pipelines/__init__.py`` at the project root (production code) exports
  ``all_assets``, ``all_asset_checks``, ``all_jobs``, ``all_sensors`` and
  ``all_schedules``. It is imported as the package ``pipelines``; if it fails
  to import, loading fails with an error naming the file and line.
* dropped-in modules: ``workspaces/<ws>/pipelines/*.py`` and ``.py`` files of
  layer folders that use Dagster (any file mentioning ``dagster``; files with
  only ``@transform`` functions are never imported here). Every Dagster object
  at module level is picked up. The workspace's own modules override
  ``default``'s of the same path. A module that fails to import is reported
  (logged, and listed in the definitions' metadata) and the rest still loads.

Two different objects with the same asset key, check, job, sensor/schedule or
op name are a clear error naming both places; the same object reached twice
(e.g. imported by two modules) counts once.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import logging
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping

import dagster as dg

from ..errors import ConfigError
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from ..errors import ConfigError
from ..transforms.python import import_file

log = logging.getLogger("ratatouille")

EXPORTS = ("all_assets", "all_asset_checks", "all_jobs", "all_sensors", "all_schedules")
_SCHEDULES: tuple[type, ...] = (dg.ScheduleDefinition,)
try:  # a schedule built from a partitioned asset job
    from dagster._core.definitions.partitions.partitioned_schedule import UnresolvedPartitionedAssetScheduleDefinition

    _SCHEDULES = (dg.ScheduleDefinition, UnresolvedPartitionedAssetScheduleDefinition)
except ImportError:  # pragma: no cover - older Dagster
    pass


class Registry:
    """Every Dagster object of the definitions, with where it comes from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.assets: list[Any] = []
        self.checks: list[Any] = []
        self.jobs: list[Any] = []
        self.sensors: list[Any] = []
        self.schedules: list[Any] = []
        self.errors: list[str] = []
        self._seen: set[int] = set()
        self._names: dict[tuple[str, str], str] = {}

    # -- naming places --------------------------------------------------------
    def rel(self, path: str | Path | None) -> str:
        if not path:
            return "?"
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(p)

    def where(self, obj: Any, fallback: str) -> str:
        """``pipelines/sales/assets.py (sales_bronze)``: the defining file when known, else ``fallback``."""
        name, fn = None, None
        try:
            if isinstance(obj, dg.AssetsDefinition):
                name = obj.node_def.name if obj.is_executable else None
            else:
                name = getattr(obj, "name", None) or obj.key.to_user_string()
        except Exception:  # noqa: BLE001, S110 - best effort: the fallback names the object instead
            pass
        try:
            if isinstance(obj, dg.AssetsDefinition):
                fn = obj.op.compute_fn
                fn = getattr(fn, "decorated_fn", fn)
            elif isinstance(obj, (dg.SensorDefinition, dg.ScheduleDefinition)):
                fn = getattr(obj, "_raw_fn", None) or getattr(obj, "_execution_fn", None)
                fn = getattr(fn, "decorated_fn", fn)
            file = inspect.getsourcefile(fn) if fn is not None else None  # type: ignore[arg-type]  # Dagster's wrapped function
            name = getattr(fn, "__name__", None) or name  # the Python name the user wrote
        except Exception:  # noqa: BLE001 - best effort
            file = None
        if file and "ratatouille/dagster" not in file.replace("\\", "/"):
            return f"{self.rel(file)}" + (f" ({name})" if name else "")
        return fallback

    # -- adding ---------------------------------------------------------------
    def claim(self, namespace: str, name: str, origin: str) -> None:
        key = (namespace, name)
        if key in self._names:
            raise ConfigError(f"{namespace} {name!r} is defined twice: by {self._names[key]} and by {origin}; "
                              "rename one of them")
        self._names[key] = origin

    def add(self, obj: Any, origin: str, *, origins: Mapping[str, str] | None = None) -> bool:
        """Add one Dagster object (``False`` if ``obj`` is not one); ``origins`` names the place of each
        asset key (``"silver/sales"``) when they differ (the transforms of one multi-asset)."""
        if isinstance(obj, dg.Definitions):
            for group in (obj.assets, obj.asset_checks, obj.jobs, obj.sensors, obj.schedules):
                for item in group or ():
                    self.add(item, origin)
            return True
        kind = _kind(obj)
        if kind is None:
            return False
        if id(obj) in self._seen:
            return True
        place = self.where(obj, origin)
        if kind == "check":
            for ck in obj.check_keys:
                self.claim("asset check", ck.to_user_string(), place)
            self._claim_op(obj, place)
            self.checks.append(obj)
        elif kind == "asset":
            keys = [obj.key] if isinstance(obj, (dg.AssetSpec, dg.SourceAsset)) else list(obj.keys)
            for key in keys:
                self.claim("asset key", key.to_user_string(), (origins or {}).get(key.to_user_string(), place))
            for ck in getattr(obj, "check_keys", ()) or ():
                self.claim("asset check", ck.to_user_string(),
                           (origins or {}).get(ck.asset_key.to_user_string(), place))
            self._claim_op(obj, place)
            self.assets.append(obj)
        elif kind == "job":
            self.claim("job", obj.name, place)
            self.jobs.append(obj)
        else:
            self.claim("sensor/schedule", obj.name, place)
            (self.sensors if kind == "sensor" else self.schedules).append(obj)
        self._seen.add(id(obj))
        return True

    def _claim_op(self, obj: Any, place: str) -> None:
        if isinstance(obj, dg.AssetsDefinition) and obj.is_executable:
            try:
                self.claim("op", obj.node_def.name, place)
            except AttributeError:  # pragma: no cover
                pass

    def asset_keys(self) -> set[dg.AssetKey]:
        keys: set[dg.AssetKey] = set()
        for obj in self.assets:
            keys.update([obj.key] if isinstance(obj, (dg.AssetSpec, dg.SourceAsset)) else obj.keys)
        return keys

    def validate_checks(self) -> None:
        """Every asset check targets an asset of the definitions (else a clear error)."""
        known = self.asset_keys()
        names = sorted(k.to_user_string() for k in known)
        for obj in self.checks:
            for ck in obj.check_keys:
                if ck.asset_key not in known:
                    close = difflib.get_close_matches(ck.asset_key.to_user_string(), names, n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else f"; assets: {', '.join(names[:20])}"
                    raise ConfigError(f"asset check {ck.name!r} ({self.where(obj, '?')}) targets asset "
                                      f"{ck.asset_key.to_user_string()!r}, which does not exist{hint}")


def _kind(obj: Any) -> str | None:
    if isinstance(obj, dg.AssetChecksDefinition):
        return "check"
    if isinstance(obj, (dg.AssetsDefinition, dg.AssetSpec, dg.SourceAsset)):
        return "asset"
    if isinstance(obj, (dg.JobDefinition, UnresolvedAssetJobDefinition)):
        return "job"
    if isinstance(obj, _SCHEDULES):
        return "schedule"
    if isinstance(obj, dg.SensorDefinition):
        return "sensor"
    return None


# -- pipelines/ -----------------------------------------------------------------------------------
def _forget_package(name: str) -> None:
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        sys.modules.pop(mod, None)


def import_pipelines(root: Path) -> ModuleType | None:
    """Import ``<root>/pipelines`` as the package ``pipelines`` (``None`` if there is none)."""
    init = root / "pipelines" / "__init__.py"
    if not init.is_file():
        return None
    existing = sys.modules.get("pipelines")
    if existing is not None:
        file = getattr(existing, "__file__", None)
        if file and Path(file).resolve() == init.resolve():
            return existing
        _forget_package("pipelines")  # another project's package (e.g. an earlier test's)
    if str(root) not in sys.path:
        sys.path.append(str(root))  # the project's own top-level modules
    spec = importlib.util.spec_from_file_location("pipelines", init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {init}", file=str(init))
    module = importlib.util.module_from_spec(spec)
    sys.modules["pipelines"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        _forget_package("pipelines")
        file, line = _place_in(exc, init.parent)
        raise ConfigError(f"importing the project's pipelines package failed: {type(exc).__name__}: {exc}",
                          file=file or str(init), line=line) from exc
    return module


def _place_in(exc: BaseException, folder: Path) -> tuple[str | None, int | None]:
    """The last traceback frame inside ``folder``: where the user's code failed."""
    found: tuple[str | None, int | None] = (None, None)
    prefix = str(folder.resolve())
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()).startswith(prefix):
            found = (frame.filename, frame.lineno)
    if isinstance(exc, SyntaxError) and exc.filename and str(Path(exc.filename).resolve()).startswith(prefix):
        found = (exc.filename, exc.lineno)
    return found


def add_pipelines(registry: Registry, module: ModuleType) -> None:
    """Add the objects exported by ``pipelines/__init__.py``."""
    init = registry.rel(module.__file__)
    for export in EXPORTS:
        value = getattr(module, export, None)
        if value is None:
            continue
        if isinstance(value, (str, bytes)) or _kind(value) is not None or not isinstance(value, Iterable):
            raise ConfigError(f"{export} must be a list of Dagster definitions, got {type(value).__name__}",
                              file=module.__file__)
        for obj in value:
            if not registry.add(obj, f"{init} ({export})"):
                raise ConfigError(f"{export} holds {obj!r}, which is not a Dagster definition", file=module.__file__)


# -- dropped-in modules ---------------------------------------------------------------------------
def module_files(workspaces_dir: Path, workspace: str) -> list[tuple[str, Path]]:
    """Dropped-in module files of ``default`` and ``workspace`` (the workspace's own win), as (workspace, path)."""
    chosen: dict[str, tuple[str, Path]] = {}
    for ws in ("default", workspace) if workspace != "default" else ("default",):
        pipelines = workspaces_dir / ws / "pipelines"
        if not pipelines.is_dir():
            continue
        candidates = [(p.name, p) for p in sorted(pipelines.glob("*.py"))]
        for layer in sorted(p for p in pipelines.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            candidates += [(f"{layer.name}/{p.name}", p) for p in sorted(layer.glob("*.py"))]
        for rel, path in candidates:
            if path.name.startswith("_"):
                continue
            try:
                uses_dagster = "dagster" in path.read_text()
            except (OSError, UnicodeDecodeError):
                uses_dagster = True  # let the import report it
            if uses_dagster:
                chosen[rel] = (ws, path)
            else:
                chosen.pop(rel, None)  # overridden by a module without Dagster objects
    return sorted(chosen.values(), key=lambda item: str(item[1]))


def add_module_objects(registry: Registry, module: ModuleType, origin: str) -> int:
    """Add every Dagster object defined at module level (lists of them too); returns how many."""
    count = 0
    for attr, value in vars(module).items():
        if attr.startswith("__"):
            continue
        is_list = (_kind(value) is None and isinstance(value, (list, tuple)) and bool(value)
                   and all(_kind(v) for v in value))
        items = value if is_list else [value]
        for obj in items:
            if registry.add(obj, f"{origin} ({attr})"):
                count += 1
    return count


def add_dropped_in(registry: Registry, workspaces_dir: Path, workspace: str, *, strict: bool = False) -> None:
    """Import the dropped-in modules and add their Dagster objects (import failures are reported)."""
    for ws, path in module_files(workspaces_dir, workspace):
        try:
            module = import_file(path, ws)
        except ConfigError as exc:
            message = f"dropped-in module {registry.rel(path)} was not loaded: {exc}"
            if strict:
                raise ConfigError(f"dropped-in module failed to import: {exc.message}", file=exc.file or str(path),
                                  line=exc.line) from exc
            log.error(message)
            registry.errors.append(message)
            continue
        add_module_objects(registry, module, registry.rel(path))
