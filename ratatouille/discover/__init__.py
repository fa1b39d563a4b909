"""Discover: find every transform of a workspace on disk.

``workspaces/<ws>/pipelines/<layer>/`` holds ``.sql`` (+ ``.yaml``), ``.yaml``
(ingest) and ``.py`` (``@transform``) files. A non-default workspace sees the
transforms of ``default`` too, overridden by its own of the same name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

from .._catalog import Catalog, list_workspaces
from .._names import check_identifier, check_workspace, not_found, table_name
from .._settings import Settings, load_settings
from ..errors import ConfigError, RatatouilleError, WorkspaceError
from ..transforms import BrokenTransform, IngestTransform, SQLTransform, Transform
from ..transforms._config import load_yaml, overlay_yaml
from ..transforms.python import import_file, scan_file, transforms_in_module
from ..workspace._journal import recover as recover_promotion
from ..write import Target
from ._cache import cached_discovery

log = logging.getLogger("ratatouille")


class Project:
    """Settings + transforms + catalog of one workspace: what every command works on.

    ``transforms`` maps ``layer.name`` to its transform (the workspace's own over
    default's); ``catalog`` (:class:`~ratatouille._catalog.Catalog`) says where each
    table lives. The location methods below are the catalog's.

    >>> project = Project.load()
    >>> project.get("silver.sales").inputs
    ('bronze.sales',)
    """

    def __init__(self, settings: Settings, transforms: dict[str, Transform], workspace: str,
                 problems: list[RatatouilleError] | None = None) -> None:
        self.settings = settings
        self.workspace = workspace
        self.transforms = transforms
        # files under pipelines/ that cannot be a transform at all (an invalid name): reported by run(),
        # never a reason to stop loading the others
        self.problems: list[RatatouilleError] = list(problems or [])
        self.catalog = Catalog(settings, workspace)
        self.lake = self.catalog.lake

    def __repr__(self) -> str:
        return f"<Project {self.settings.project_dir} workspace={self.workspace} transforms={len(self.transforms)}>"

    @classmethod
    def load(cls, project_dir: str | Path | None = None, *, workspace: str | None = None) -> "Project":
        """Load the settings and every transform of a workspace (discovery cached by file
        modification times: a second load of an unchanged project reads no file).

        Raises
        ------
        WorkspaceError
            ``workspace`` does not exist.
        ConfigError
            A setting is invalid, or two files define the same transform.
        """
        settings = load_settings(project_dir, workspace=workspace)
        recover_promotion(settings.workspaces_dir / "default")  # a promotion a crash interrupted
        ws = settings.workspace
        known = list_workspaces(settings)
        if ws != "default" and ws not in known:
            raise WorkspaceError(f"unknown workspace {ws!r}; workspaces: {', '.join(known) or 'none'}")
        transforms: dict[str, Transform] = {}
        problems: list[RatatouilleError] = []
        for name in ("default", ws) if ws != "default" else ("default",):
            own = discover_workspace(settings.workspaces_dir / name, workspace=name, problems=problems)
            transforms.update(own)  # the workspace's own transforms override default's
        return cls(settings, transforms, ws, problems)

    def get(self, name: str) -> Transform:
        """The transform named ``layer.name`` (a clear error listing close names if unknown)."""
        try:
            return self.transforms[name]
        except KeyError:
            raise not_found(name, self.transforms, what="transform") from None

    def add(self, t: Transform) -> None:
        """Add an ad-hoc transform (e.g. a decorated function passed to ``run``)."""
        self.transforms[t.name] = t

    def table_uri(self, name: str) -> str:
        """Where this workspace writes ``name``."""
        return self.catalog.table_uri(name)

    def lake_tables(self, workspace: str | None = None) -> set[str]:
        """Names of the Delta tables present in the lake for a workspace (default: this one's and default's)."""
        return self.catalog.lake_tables(workspace)

    def known_tables(self) -> set[str]:
        """Transforms plus tables found in the lake: what a reference may name."""
        return set(self.transforms) | self.lake_tables()

    def target(self, name: str) -> Target:
        """The :class:`~ratatouille.write.Target` this workspace writes for ``name``."""
        return self.catalog.target(name)

    def read_target(self, name: str) -> Target | None:
        """Where ``name`` is read from: this workspace's table, else (overlay) default's; None if unbuilt."""
        return self.catalog.read_target(name)

    @property
    def pins(self) -> dict[str, int]:
        """Versions of default's tables this workspace reads (``pin: true`` + ``pins.yaml``), else empty."""
        return self.catalog.pins

    def is_view(self, name: str) -> bool:
        """True when ``name`` is a transform materialized as a view (never written)."""
        t = self.transforms.get(name)
        return t is not None and t.mode == "view"

    def resolve(self, name: str) -> dict[str, Any]:
        """Where ``name`` resolves: ``own``, ``default`` (inherited), ``view`` or ``not built``
        (see :meth:`Catalog.resolve <ratatouille._catalog.Catalog.resolve>`)."""
        return self.catalog.resolve(name, view=self.is_view(name))


def discover_workspace(root: Path, *, workspace: str = "default",
                       problems: list[RatatouilleError] | None = None) -> dict[str, Transform]:
    """Every transform under ``<root>/pipelines/<layer>/`` (duplicate names are errors).

    A file or layer folder whose name cannot be a table name (``silver/Bad-Name.sql``) is not a
    transform: its :class:`ConfigError` is appended to ``problems`` (and logged) when given, so
    the other transforms still load; without ``problems`` it is raised.

    With ``problems`` given, the result is cached by the modification times of the files
    (``discover/_cache.py``): a changed, added or removed file is seen on the next call.

    Raises
    ------
    ConfigError
        Two files define the same transform (or, without ``problems``, a name is invalid).
    """
    if problems is None:
        return _discover(root, workspace, None)

    def collect() -> tuple[dict[str, Transform], list[RatatouilleError]]:
        seen: list[RatatouilleError] = []
        return _discover(root, workspace, seen), seen

    # custom generic tests (tests/generic/<name>.sql of the project) are part of the transforms' config
    found, seen = cached_discovery(root / "pipelines", workspace, collect, also=(root.parent.parent / "tests" / "generic",))
    for exc in seen:
        log.warning("%s", exc)
        problems.append(exc)
    return found


def _discover(root: Path, workspace: str, problems: list[RatatouilleError] | None) -> dict[str, Transform]:
    """:func:`discover_workspace` without the cache."""

    def refuse(exc: RatatouilleError) -> None:
        if problems is None:
            raise exc
        problems.append(exc)

    check_workspace(workspace)
    pipelines = root / "pipelines"
    found: dict[str, Transform] = {}
    if not pipelines.is_dir():
        return found

    def add(t: Transform) -> None:
        if t.name in found:
            raise ConfigError(f"duplicate transform {t.name!r}: defined in {found[t.name].file} and {t.file}",
                              transform=t.name, file=t.file)
        found[t.name] = t

    for layer_dir in sorted(p for p in pipelines.iterdir() if p.is_dir()):
        if layer_dir.name.startswith(("_", ".")):
            continue
        try:
            layer = check_identifier(layer_dir.name, "layer", file=str(layer_dir))
        except ConfigError as exc:
            refuse(exc)
            continue
        for path in sorted(layer_dir.iterdir()):
            if path.name.startswith(("_", ".")) or not path.is_file():
                continue
            try:
                loaded = _load(path, layer, workspace)
            except ConfigError as exc:
                if "invalid" not in exc.message:
                    raise
                refuse(exc)
                continue
            for t in loaded:
                add(t)
    for path in sorted(pipelines.glob("*.py")):  # dropped-in modules may hold @transform too
        if not path.name.startswith("_"):
            for t in _load(path, None, workspace):
                add(t)
    return found


def _load(path: Path, layer: str | None, workspace: str) -> Iterable[Transform]:
    """Transforms of one file; a broken file becomes a BrokenTransform raising its error when run."""
    try:
        return [_checked_inputs(t) for t in _from_file(path, layer, workspace)]
    except RatatouilleError as exc:
        exc.locate(transform=f"{layer}.{path.stem}" if layer and "invalid" not in exc.message else None, file=str(path))
        if layer is None and path.suffix == ".py":  # a dropped-in module: it has no one name to fail under
            log.warning("skipping %s: %s", path, exc.message)
            return []
        if layer is None or path.suffix not in (".sql", ".yaml", ".yml", ".py") or "invalid" in exc.message:
            raise
        if path.suffix in (".yaml", ".yml") and (path.with_suffix(".sql").exists() or path.with_suffix(".py").exists()):
            path = path.with_suffix(".sql") if path.with_suffix(".sql").exists() else path.with_suffix(".py")
        return [BrokenTransform(f"{layer}.{path.stem}", exc, path=path, workspace=workspace)]


def _checked_inputs(t: Transform) -> Transform:
    """``t``, or a BrokenTransform when one of its inputs is not a ``layer.name`` table name
    (``bronze."../x"`` in SQL, ``inputs=["bronze./../x"]``): it fails alone, with its file."""
    if isinstance(t, BrokenTransform):
        return t
    for name in t.inputs:
        try:
            table_name(name)
        except ConfigError:
            err = ConfigError(f"reads {name!r}, which is not a table name: inputs are <layer>.<name> of lowercase "
                              "letters, digits and '_'", transform=t.name, file=t.file)
            return BrokenTransform(t.name, err, path=t.path, workspace=t.workspace)
    return t


def _from_file(path: Path, layer: str | None, workspace: str) -> Iterable[Transform]:
    suffix = path.suffix
    if suffix == ".sql" and layer:
        check_identifier(path.stem, "transform name", file=str(path))
        return [SQLTransform.from_file(path, layer=layer, workspace=workspace)]
    if suffix in (".yaml", ".yml") and layer:
        if path.with_suffix(".sql").exists() or path.with_suffix(".py").exists():
            return []  # settings of the SQL/Python transform beside it
        check_identifier(path.stem, "transform name", file=str(path))
        return [IngestTransform.from_file(path, layer=layer, workspace=workspace)]
    if suffix == ".py":
        scanned = scan_file(path, workspace=workspace, layer=layer)
        if scanned is None:  # decorator arguments are not literals: import to know
            scanned = transforms_in_module(import_file(path, workspace))
            for t in scanned:
                t.workspace = workspace
        yaml_path = path.with_suffix(".yaml")
        if layer and yaml_path.exists():  # settings beside a Python transform (the YAML wins)
            raw = load_yaml(yaml_path)
            for t in scanned:
                if t.short_name == path.stem:
                    t.config = overlay_yaml(t.config, raw, str(yaml_path))
        return scanned
    return []
