"""Python transforms: plain functions of LazyFrames, registered with :func:`transform`."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence, TypeVar

import polars as pl

from .._code_deps import project_imports
from .._names import parse_table_name
from ..errors import ConfigError, TransformError
from ..kinds import Kind
from ._base import BuildContext, Transform
from ._config import TransformConfig, build_config
from ._where import Where

F = TypeVar("F", bound=Callable[..., Any])
_CONTEXT_PARAMS = ("context", "ctx")


class PythonTransform(Transform):
    """A transform backed by a Python function (imported lazily when discovered from a file)."""

    kind = "python"

    def __init__(self, name: str, *, config: TransformConfig, inputs: Sequence[str] | Mapping[str, str] = (),
                 fn: Callable[..., Any] | None = None, schema: Any = None, path: Path | None = None,
                 workspace: str = "default", function_name: str | None = None, has_schema: bool | None = None,
                 source: str | None = None) -> None:
        self.binding: dict[str, str] | None = dict(inputs) if isinstance(inputs, Mapping) else None
        names = tuple(self.binding.values()) if self.binding is not None else tuple(inputs)
        super().__init__(name, config=config, path=path, workspace=workspace, inputs=names)
        self._fn = fn
        self._schema = schema
        self.function_name = function_name or (fn.__name__ if fn else None)
        self._has_schema = has_schema if has_schema is not None else schema is not None
        self._source = source

    # -- lazy loading ---------------------------------------------------------
    @property
    def fn(self) -> Callable[..., Any]:
        if self._fn is None:
            try:
                module = import_file(self.path, self.workspace)
            except ConfigError as exc:
                raise exc.locate(transform=self.name) from exc.__cause__
            obj = getattr(module, self.function_name or "", None)
            spec = getattr(obj, "__ratatouille__", None)
            if spec is None:
                raise ConfigError(f"function {self.function_name!r} not found after importing the module",
                                  transform=self.name, file=self.file)
            self._fn, self._schema = spec._fn, spec._schema
        return self._fn

    @property
    def schema(self) -> Any:
        """The Pandera ``DataFrameModel`` given with ``schema=``, if any."""
        if self._schema is None and self._has_schema:
            self.fn  # noqa: B018 - importing sets the schema
        return self._schema

    @property
    def has_schema_checks(self) -> bool:
        return self._has_schema or bool(self.config.columns)

    @property
    def description(self) -> str | None:
        if self.config.description:
            return self.config.description
        if self._fn is not None:
            return inspect.getdoc(self._fn)
        return None

    @property
    def source_text(self) -> str:
        if self._source is None:
            try:
                self._source = inspect.getsource(self.fn)
            except (OSError, TypeError):
                self._source = self.function_name or self.name
        return self._source

    # -- building -------------------------------------------------------------
    def bind(self, frames: Mapping[str, pl.LazyFrame], ctx: BuildContext | None = None) -> dict[str, Any]:
        """Keyword arguments for the function: inputs bound in order or by name."""
        fn = self.fn
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        data_params = [p.name for p in params if p.name not in _CONTEXT_PARAMS]
        kwargs: dict[str, Any]
        if self.binding is not None:
            kwargs = {param: frames[table] for param, table in self.binding.items()}
        else:
            if len(self.inputs) > len(data_params):
                raise ConfigError(f"{len(self.inputs)} inputs but the function takes {len(data_params)} frame parameters",
                                  transform=self.name, file=self.file)
            kwargs = {param: frames[table] for param, table in zip(data_params, self.inputs)}
        for p in params:
            if p.name in _CONTEXT_PARAMS and p.name not in kwargs:
                kwargs[p.name] = ctx or BuildContext(inputs=frames)
        return kwargs

    def build(self, ctx: BuildContext) -> pl.LazyFrame:
        kwargs = self.bind(ctx.inputs, ctx)
        try:
            out = self.fn(**kwargs)
        except Exception as exc:  # the user's code failed: name the place
            raise TransformError(f"{type(exc).__name__}: {exc}", transform=self.name,
                                 file=self.file or _code_file(self.fn), line=_user_line(exc, self.fn)) from exc
        lf = as_lazy(out, self)
        try:  # a plan that cannot resolve (a missing column, a bad type) fails here, naming the function
            lf.collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise TransformError(f"the returned plan does not resolve: {type(exc).__name__}: "
                                 f"{str(exc).strip().splitlines()[0]}", transform=self.name,
                                 file=self.file or _code_file(self.fn), line=_def_line(self.fn)) from None
        return lf


def as_lazy(out: Any, t: Transform) -> pl.LazyFrame:
    if isinstance(out, pl.LazyFrame):
        return out
    if isinstance(out, pl.DataFrame):
        return out.lazy()
    raise TransformError(f"must return a polars LazyFrame or DataFrame, got {type(out).__name__}",
                         transform=t.name, file=t.file)


def _code_file(fn: Callable[..., Any]) -> str | None:
    code = getattr(fn, "__code__", None)
    return code.co_filename if code else None


def _def_line(fn: Callable[..., Any]) -> int | None:
    """The line of ``def fn`` (past its decorators)."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    return next((first + i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def "))),
                first)


def _user_line(exc: BaseException, fn: Callable[..., Any]) -> int | None:
    return _user_line_in(exc, _code_file(fn))


# -- the decorator ------------------------------------------------------------
def transform(
    name: str | None = None,
    *,
    inputs: Sequence[str] | Mapping[str, str] = (),
    materialized: str | Kind = "table",
    strategy: str | None = None,
    unique_key: str | Sequence[str] | None = None,
    partition_by: str | Sequence[str] | None = None,
    delete_missing: bool = False,
    on_schema_change: str | None = None,
    schema: Any = None,
    columns: Sequence[Mapping[str, Any]] | None = None,
    tests: Sequence[Mapping[str, Any]] | None = None,
    description: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    partitions: Any = None,
    triggers: Sequence[Mapping[str, Any]] = (),
    vars: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Register a Python function of LazyFrames as the transform ``name``.

    The function stays a plain function: a test can call it with in-memory
    frames. Inputs bind to its parameters in order, or by name with
    ``inputs={"param": "layer.name"}``. A parameter named ``context`` receives
    the :class:`~ratatouille.transforms.BuildContext` (``is_incremental``, the
    current ``target`` table).

    The settings are checked when the transform is registered.

    Parameters
    ----------
    name : str, optional
        ``layer.name`` of the table (default: ``<the file's layer folder>.<function name>``).
    inputs : sequence of str or mapping of str to str
        The tables it reads, bound to the function's parameters in order, or by name with
        ``{"param": "layer.name"}``.
    materialized : str or Kind
        ``table``, ``view`` or ``incremental`` (with ``strategy``: ``append``, ``merge``,
        ``replace_partitions``), or a kind of :mod:`ratatouille.kinds`
        (``Merge(unique_key="id")``).
    strategy, unique_key, partition_by, delete_missing
        How an incremental run writes (``merge`` on ``unique_key``, ``delete_missing`` rows;
        ``replace_partitions`` by ``partition_by``).
    on_schema_change : str, optional
        ``append_new_columns`` (the default), ``sync_all_columns`` or ``fail``: what an
        incremental run does when its output's schema differs from the table's (see
        :mod:`ratatouille._types`); a refused change raises
        :class:`~ratatouille.errors.SchemaError` and writes nothing.
    schema : pandera DataFrameModel or schema, optional
        Checked on every output.
    columns, tests : sequence of mapping, optional
        Column declarations (types, generic tests) and SQL tests, as in a transform's YAML.
    description, group, tags
        Documentation and grouping (Dagster asset group, tags).
    partitions, triggers
        Dagster partitions and sensors/schedules, as in a transform's YAML.
    vars : mapping, optional
        Default values for ``var()``.

    Returns
    -------
    callable
        A decorator returning the function itself (registered on it as ``__ratatouille__``).

    Raises
    ------
    ConfigError
        An invalid name or setting (naming the file and line).

    Examples
    --------
    >>> import polars as pl
    >>> from ratatouille import transform
    >>> @transform("gold.daily_revenue", inputs=["silver.sales"])
    ... def daily_revenue(sales: pl.LazyFrame) -> pl.LazyFrame:
    ...     return sales.group_by("order_date").agg(pl.col("total").sum())
    >>> daily_revenue(pl.LazyFrame({"order_date": [1, 1], "total": [2.0, 3.0]})).collect()["total"][0]
    5.0
    """
    raw: dict[str, Any] = {"materialized": materialized, "strategy": strategy, "unique_key": unique_key,
                           "partition_by": partition_by, "delete_missing": delete_missing,
                           "on_schema_change": on_schema_change,
                           "columns": columns, "tests": tests, "description": description, "group": group,
                           "tags": list(tags), "partitions": partitions, "triggers": list(triggers),
                           "vars": dict(vars or {})}

    def decorate(fn: F) -> F:
        file = _code_file(fn)
        full = name or f"{_layer_of(file)}.{fn.__name__}"
        parse_table_name(full, file=file)
        line = getattr(getattr(fn, "__code__", None), "co_firstlineno", None)  # the decorator's line
        config = build_config({k: v for k, v in raw.items() if v is not None}, file=file,
                              where=Where(file=file, line=line))
        fn.__ratatouille__ = PythonTransform(  # type: ignore[attr-defined]
            full, config=config, inputs=inputs, fn=fn, schema=schema, path=Path(file) if file else None)
        return fn

    return decorate


def _layer_of(file: str | None) -> str:
    if file:
        parent = Path(file).parent
        if parent.parent.name == "pipelines":
            return parent.name
    raise ConfigError("@transform needs a name ('layer.name') outside a workspace layer folder", file=file)


# -- discovery without importing ---------------------------------------------
def scan_file(path: Path, *, workspace: str = "default", layer: str | None = None) -> list[PythonTransform] | None:
    """Find ``@transform`` functions in a file by reading its syntax tree, without importing it.

    Returns ``None`` when a decorator's arguments are not literals (the caller
    then imports the module). The module is imported only when a transform runs.
    """
    text = path.read_text()
    if "transform" not in text:
        return []
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"Python syntax error: {exc.msg}", file=str(path), line=exc.lineno) from None
    found: list[PythonTransform] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and _is_transform(dec.func)):
                continue
            try:
                args = [ast.literal_eval(a) for a in dec.args]
                kwargs: dict[Any, Any] = {k.arg: ast.literal_eval(k.value) for k in dec.keywords if k.arg != "schema"}
            except ValueError:
                return None
            has_schema = any(k.arg == "schema" for k in dec.keywords)
            name = args[0] if args else kwargs.pop("name", None) or f"{layer or _layer_of(str(path))}.{node.name}"
            parse_table_name(name, file=str(path))
            inputs = kwargs.pop("inputs", ())
            where = Where(file=str(path), line=dec.lineno,
                          lines={k.arg: (str(path), k.value.lineno) for k in dec.keywords if k.arg})
            config = build_config(kwargs, file=str(path), where=where)
            if config.description is None and ast.get_docstring(node):
                config = TransformConfig(**{**config.__dict__, "description": ast.get_docstring(node)})
            source = ast.get_source_segment(text, node) or node.name
            found.append(PythonTransform(name, config=config, inputs=inputs, path=path, workspace=workspace,
                                         function_name=node.name, has_schema=has_schema, source=source))
    return found


def _is_transform(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "transform") or (
        isinstance(func, ast.Attribute) and func.attr == "transform")


def import_file(path: Path | None, workspace: str = "default") -> ModuleType:
    """Import a workspace Python file as a module (once per file version)."""
    if path is None:
        raise ConfigError("cannot import a transform without a file")
    stat = path.stat()
    key = f"ratatouille_ws.{workspace}." + "_".join(path.with_suffix("").parts[-3:]).replace("-", "_")
    deps = _stamps(project_imports(path))
    cached = sys.modules.get(key)
    if (cached is not None and getattr(cached, "__rat_mtime__", None) == stat.st_mtime_ns
            and getattr(cached, "__rat_deps__", None) == deps):
        return cached
    _forget_changed(deps)
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ConfigError("cannot import this file", file=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__rat_mtime__ = stat.st_mtime_ns  # type: ignore[attr-defined]
    module.__rat_deps__ = deps  # type: ignore[attr-defined]
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(key, None)
        raise ConfigError(f"importing failed: {type(exc).__name__}: {exc}", file=str(path),
                          line=_user_line_in(exc, str(path))) from exc
    return module


#: the modification time of each project module file when a transform last imported it
_LOADED: dict[str, int] = {}


def _stamps(files: Sequence[Path]) -> dict[str, int]:
    """``{file: mtime_ns}`` of the project modules a transform's file imports (``_code_deps``)."""
    out = {}
    for f in files:
        try:
            out[str(f)] = f.stat().st_mtime_ns
        except OSError:
            continue
    return out


def _forget_changed(deps: Mapping[str, int]) -> None:
    """Drop from ``sys.modules`` the project modules whose file changed since a transform imported
    them, so the transform's import runs their new code. A long-lived process (Dagster's code
    server, a session) would otherwise build with the code it loaded first while the fingerprint,
    which hashes the files, records the new one."""
    changed = {f for f, mtime in deps.items() if _LOADED.get(f, mtime) != mtime}
    if changed:
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file is not None and str(Path(file).resolve()) in changed:
                del sys.modules[name]
    _LOADED.update(deps)


def _user_line_in(exc: BaseException, filename: str | None) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def transforms_in_module(module: ModuleType) -> list[PythonTransform]:
    """Transforms defined by ``@transform`` in an imported module."""
    return [obj.__ratatouille__ for obj in vars(module).values()
            if callable(obj) and isinstance(getattr(obj, "__ratatouille__", None), PythonTransform)]
