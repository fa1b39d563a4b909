"""Transform configuration: the keys a transform's YAML or SQL header may set.

Header annotations (``-- @key: value``) and the YAML beside a file carry the
same keys; the YAML wins. Unknown keys are errors naming the file.

The settings are split per concern, each a small typed part parsed and
checked once (at discovery): the materialization :class:`~ratatouille.kinds.Kind`,
:class:`Checks` (``columns``, ``tests``), :class:`~._orchestration.Orchestration`
(``group``, ``tags``, ``owner``, ``partitions``, ``triggers``) and
:class:`~._ingest_settings.IngestSettings` (``source``, ``format``, reader
options...). :class:`TransformConfig` holds the parts; its flat attributes
(``config.unique_key``, ``config.group``...) read them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import AbstractSet, Any, Literal, Mapping

import yaml

from ..errors import ConfigError
from ..kinds import KIND_KEYS, Kind, Table, column_names, kind_from_settings
from ._checks_config import (
    Checks,
    ColumnSpec,
    SqlTestSpec,
    _check_test_names,
    _column,
    _dbt_aliases,
    _sql_test,
)
from ._dbt_forms import enabled
from ._ingest_settings import CHOICES as _INGEST_CHOICES
from ._ingest_settings import READER_OPTION_KEYS, IngestSettings
from ._orchestration import Orchestration, check_orchestration
from ._where import Where, annotation_lines

Materialized = Literal["table", "view", "incremental"]
Strategy = Literal["append", "merge", "replace_partitions"]

__all__ = ["READER_OPTION_KEYS", "Checks", "ColumnSpec", "SqlTestSpec", "TransformConfig", "build_config",
           "load_yaml", "parse_annotations"]



_KIND_FLAT = ("materialized", "strategy", *KIND_KEYS)
_PARTS: dict[str, type] = {"checks": Checks, "orchestration": Orchestration, "ingest": IngestSettings}
_PART_OF = {f.name: part for part, cls in _PARTS.items() for f in fields(cls)}


@dataclass(frozen=True, init=False)
class TransformConfig:
    """Every setting a transform carries, split per concern (see the module).

    Built by :func:`build_config`, which checks each part once. Flat keyword arguments
    (``TransformConfig(materialized="view", group="g")``, ``dataclasses.replace(cfg, tests=...)``)
    are sorted into their parts; a changed materialization is checked again.

    Examples
    --------
    >>> cfg = build_config({"materialized": "incremental", "strategy": "merge", "unique_key": "id", "group": "g"})
    >>> type(cfg.kind).__name__, cfg.mode, cfg.unique_key, cfg.orchestration.group
    ('Merge', 'merge', ('id',), 'g')
    """

    kind: Kind
    checks: Checks
    orchestration: Orchestration
    ingest: IngestSettings
    description: str | None
    vars: Mapping[str, Any]

    def __init__(self, kind: Kind | None = None, checks: Checks | None = None,
                 orchestration: Orchestration | None = None, ingest: IngestSettings | None = None,
                 description: str | None = None, vars: Mapping[str, Any] | None = None, **flat: Any) -> None:
        kind = kind if kind is not None else Table()
        given = {k: flat.pop(k) for k in _KIND_FLAT if k in flat}
        if given:
            kind = _rekind(kind, given)
        parts: dict[str, Any] = {"checks": checks or Checks(), "orchestration": orchestration or Orchestration(),
                                 "ingest": ingest or IngestSettings()}
        unknown = sorted(k for k in flat if k not in _PART_OF)
        if unknown:
            raise TypeError(f"TransformConfig got unknown setting(s) {unknown}")
        for part in parts:
            changes = {k: _normalized(k, v) for k, v in flat.items() if _PART_OF[k] == part}
            if changes:
                parts[part] = replace(parts[part], **changes)
        for name, value in (("kind", kind), *parts.items(), ("description", description),
                            ("vars", dict(vars or {}))):
            object.__setattr__(self, name, value)

    # -- the flat view (the keys as a user types them) ----------------------------------------------
    materialized = property(lambda self: self.kind.materialized, doc="``table``, ``view`` or ``incremental``.")
    strategy = property(lambda self: self.kind.strategy, doc="The incremental strategy, else ``None``.")
    unique_key = property(lambda self: self.kind.unique_key)
    partition_by = property(lambda self: self.kind.partition_by)
    delete_missing = property(lambda self: self.kind.delete_missing)
    on_schema_change = property(lambda self: self.kind.on_schema_change)
    columns = property(lambda self: self.checks.columns)
    tests = property(lambda self: self.checks.tests)
    group = property(lambda self: self.orchestration.group)
    tags = property(lambda self: self.orchestration.tags)
    owner = property(lambda self: self.orchestration.owner)
    partitions = property(lambda self: self.orchestration.partitions)
    triggers = property(lambda self: self.orchestration.triggers)
    source = property(lambda self: self.ingest.source)
    format = property(lambda self: self.ingest.format)
    options = property(lambda self: self.ingest.options)
    schema = property(lambda self: self.ingest.schema)
    on_error = property(lambda self: self.ingest.on_error)
    on_change = property(lambda self: self.ingest.on_change)
    settle_seconds = property(lambda self: self.ingest.settle_seconds)
    ready_marker = property(lambda self: self.ingest.ready_marker)

    @property
    def mode(self) -> str:
        """The write mode: ``table``, ``view``, ``append``, ``merge`` or ``replace_partitions``."""
        return self.kind.mode


def _rekind(kind: Kind, given: Mapping[str, Any], where: Where | None = None) -> Kind:
    """``kind`` with some of its settings changed (a YAML beside a Python transform), checked again."""
    base = kind.settings()
    if "materialized" in given and given["materialized"] != "incremental":
        base.pop("strategy", None)
    if ("strategy" in given or "materialized" in given) and \
            (given.get("strategy") or base.get("strategy")) != "merge":
        base.pop("delete_missing", None)
    return kind_from_settings({**base, **given}, where)


def overlay_yaml(config: TransformConfig, raw: Mapping[str, Any], file: str) -> TransformConfig:
    """A Python transform's ``config`` with the settings of the YAML beside it (the YAML wins).

    The YAML's kind keys are checked together with the decorator's (``strategy: merge`` in the
    YAML completes ``materialized="incremental"`` in the decorator); errors name the YAML's lines.
    """
    where = Where.of_yaml(file)
    given = {k: raw[k] for k in _KIND_FLAT if k in raw}
    kind = _rekind(config.kind, given, where) if given else config.kind
    extra = build_config({**{k: v for k, v in raw.items() if k not in _KIND_FLAT}, "materialized": kind},
                         file=file, where=where)
    return replace(config, kind=kind, **{k: getattr(extra, k) for k in raw
                                         if k not in _KIND_FLAT and k in KNOWN_KEYS})


def _normalized(key: str, value: Any) -> Any:
    if key == "tags":
        return column_names(value)
    if key == "triggers":
        return tuple(value if isinstance(value, (list, tuple)) else [value]) if value else ()
    return value


KNOWN_KEYS = set(_KIND_FLAT) | set(_PART_OF) | {"description", "vars"}
_CHOICES: dict[str, tuple[str, ...]] = dict(_INGEST_CHOICES)


def parse_annotations(sql: str, *, file: str | None = None) -> dict[str, Any]:
    """Read ``-- @key: value`` lines from the SQL text (values parsed as YAML scalars).

    Unknown keys are errors naming the line; values are checked by :func:`build_config`.

    >>> parse_annotations("-- @materialized: incremental\\n-- @unique_key: a, b\\nSELECT 1")
    {'materialized': 'incremental', 'unique_key': 'a, b'}
    """
    out: dict[str, Any] = {}
    for lineno, key, raw in annotation_lines(sql):
        try:
            value = yaml.safe_load(raw) if raw else True
        except yaml.YAMLError:
            value = raw
        if key not in KNOWN_KEYS:
            raise ConfigError(_unknown_key_message(key), file=file, line=lineno)
        out[key] = value
    return out


def load_yaml(path: Path | str, *, text: str | None = None) -> dict[str, Any]:
    """Parse a transform YAML file into a mapping (errors name the file and line)."""
    try:
        data = yaml.safe_load(text if text is not None else Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError("a transform YAML must be a mapping of keys", file=str(path))
    return data


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint}"


def build_config(raw: Mapping[str, Any], *, file: str | None = None, ignore: AbstractSet[str] = frozenset(),
                 where: Where | None = None) -> TransformConfig:
    """Check a transform's settings once and split them into a :class:`TransformConfig`.

    Parameters
    ----------
    raw
        The settings as typed (YAML keys, header annotations or ``@transform`` arguments).
    file
        The file they come from (errors name it).
    ignore
        Keys to leave out.
    where
        The file and line of each key (default: the top-level keys of ``file`` when it is a YAML file).

    Returns
    -------
    TransformConfig

    Raises
    ------
    ConfigError
        An unknown key or a bad value, naming the file and the line of the key.

    Examples
    --------
    >>> build_config({"materialized": "view"}).kind
    View(unique_key=())
    """
    if where is None:
        where = Where.of_yaml(file) if file and file.endswith((".yaml", ".yml")) else Where(file=file)
    values: dict[str, Any] = {}
    options = dict(raw.get("options") or {})
    generated: list[SqlTestSpec] = []
    raw = _dbt_aliases(raw, file)
    for key, value in raw.items():
        if key in ignore:
            continue
        if key in READER_OPTION_KEYS:
            options[key] = value
            continue
        if key not in KNOWN_KEYS:
            # the file only: tests/test_bad_input.py pins this message's form ("x.yaml): unknown key")
            raise ConfigError(_unknown_key_message(key), file=where.place(key)[0])
        if key in _CHOICES and value is not None and value not in _CHOICES[key]:
            raise where.error(key, f"{key} must be one of {', '.join(_CHOICES[key])}, got {value!r}")
        if key == "columns":
            value = tuple(_column(c, file, generated) for c in (value or []))
        elif key == "tests":
            value = tuple(_sql_test(t, i, file) for i, t in enumerate(value or []) if enabled(t))
        values[key] = value
    if generated or "tests" in values:
        values["tests"] = tuple(values.get("tests", ())) + tuple(generated)
        _check_test_names(values["tests"], file)
    if options:
        values["options"] = options
    kind_raw = {k: values.pop(k) for k in _KIND_FLAT if k in values}
    if values.get("source") is not None:  # an ingest transform: it appends the new landing files
        for key in ("materialized", "strategy"):
            if kind_raw.get(key) is not None:
                raise where.error(key, "ingest transforms always append; remove materialized/strategy")
        kind_raw["materialized"] = "incremental"
    kind = kind_from_settings(kind_raw, where)
    cfg = TransformConfig(kind=kind, **values)
    check_orchestration(cfg.orchestration, where, kind=kind, ingest=cfg.source is not None)
    return cfg
