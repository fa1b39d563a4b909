"""Materialization kinds: how a transform's table is written, as small typed objects.

A transform's ``materialized:`` / ``strategy:`` settings (in its YAML, its SQL
header or ``@transform(...)``) become one of these frozen objects when the
project is discovered; each checks its own settings then, once:

=========================================  ============================================  ==========
kind                                        YAML / header keys                            ``mode``
=========================================  ============================================  ==========
:class:`Table`                              ``materialized: table`` (the default)         table
:class:`View`                               ``materialized: view``                        view
:class:`Append`                             ``materialized: incremental``                 append
                                            (``strategy: append``, the default strategy)
:class:`Merge`                              ``strategy: merge``, ``unique_key``,          merge
                                            optional ``delete_missing``
:class:`ReplacePartitions`                  ``strategy: replace_partitions``,             replace_partitions
                                            ``partition_by``
=========================================  ============================================  ==========

Every written kind also takes ``partition_by`` (the Delta table's partition
columns), ``unique_key`` (the row identity, used by ``diff``) and
``on_schema_change`` (``append_new_columns``, ``sync_all_columns``, ``fail``).
A transform's kind is ``transform.materialization``; the writer for it is
chosen by its class.

Examples
--------
>>> from ratatouille.kinds import Merge, kind_from_settings
>>> kind_from_settings({"materialized": "incremental", "strategy": "merge", "unique_key": "id"})
Merge(unique_key=('id',), delete_missing=False, partition_by=(), on_schema_change=None)
>>> Merge(unique_key="a, b").mode
'merge'
>>> Merge(unique_key=())
Traceback (most recent call last):
...
ratatouille.errors.ConfigError: strategy 'merge' needs unique_key
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping

from .errors import ConfigError

if TYPE_CHECKING:
    from .transforms._where import Where

__all__ = ["Append", "Kind", "Merge", "ReplacePartitions", "Table", "View", "kind_from_settings"]

OnSchemaChange = Literal["append_new_columns", "sync_all_columns", "fail"]
MATERIALIZED = ("table", "view", "incremental")
STRATEGIES = ("append", "merge", "replace_partitions")
ON_SCHEMA_CHANGE = ("append_new_columns", "sync_all_columns", "fail")
#: the settings keys a kind may take (besides ``materialized`` and ``strategy``)
KIND_KEYS = ("unique_key", "partition_by", "delete_missing", "on_schema_change")


def column_names(value: Any) -> tuple[str, ...]:
    """Column names from a setting: ``"a, b"``, ``"[a, b]"``, a list, or nothing.

    >>> column_names("a, b"), column_names(["x"]), column_names(None)
    (('a', 'b'), ('x',), ())
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.strip("[]").split(",") if v.strip())
    return tuple(str(v) for v in value)


def _bad(key: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.key = key  # type: ignore[attr-defined]  # which setting is wrong: kind_from_settings gives its line
    return err


class Kind:
    """Base class of the materialization kinds (see the module)."""

    #: the ``materialized:`` value of the kind
    materialized: ClassVar[str] = "table"
    #: the ``strategy:`` value of the kind (incremental kinds only)
    strategy: ClassVar[str | None] = None
    #: the write mode name (``RunResult["mode"]``, commit metadata)
    mode: ClassVar[str] = "table"
    #: the settings keys the kind takes
    keys: ClassVar[tuple[str, ...]] = ("unique_key", "partition_by", "on_schema_change")

    # every kind answers these (a kind that does not take a key keeps its default)
    unique_key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    delete_missing: bool = False
    on_schema_change: OnSchemaChange | None = None

    def __post_init__(self) -> None:
        for name in ("unique_key", "partition_by"):
            if name in self.keys:
                object.__setattr__(self, name, column_names(getattr(self, name)))
        if "delete_missing" in self.keys:
            object.__setattr__(self, "delete_missing", bool(self.delete_missing))
        if self.on_schema_change is not None and self.on_schema_change not in ON_SCHEMA_CHANGE:
            raise _bad("on_schema_change", f"on_schema_change must be one of {', '.join(ON_SCHEMA_CHANGE)}, "
                                           f"got {self.on_schema_change!r}")
        self._check()

    def _check(self) -> None:
        """A kind's own rules (subclasses)."""

    @property
    def incremental(self) -> bool:
        """``True`` for the ``materialized: incremental`` kinds."""
        return self.materialized == "incremental"

    def settings(self) -> dict[str, Any]:
        """The kind as the settings a user types (``materialized``, ``strategy``, and the keys set).

        Returns
        -------
        dict
            Keys as in a transform's YAML; values that are the defaults are left out.

        Examples
        --------
        >>> ReplacePartitions(partition_by="day").settings()
        {'materialized': 'incremental', 'strategy': 'replace_partitions', 'partition_by': ['day']}
        """
        out: dict[str, Any] = {"materialized": self.materialized}
        if self.strategy is not None:
            out["strategy"] = self.strategy
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if value not in ((), None, False):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Table(Kind):
    """``materialized: table``: the table is overwritten by each run.

    Parameters
    ----------
    partition_by
        Partition columns of the Delta table (a list, or ``"a, b"``).
    unique_key
        The key columns (documentation, ``rat diff``, ``unique`` checks).
    on_schema_change
        What a run does when the output's schema differs from the table's.

    Raises
    ------
    ConfigError
        ``on_schema_change`` is not ``append_new_columns``, ``sync_all_columns`` or ``fail``.

    Examples
    --------
    >>> Table(partition_by="region").partition_by
    ('region',)
    """

    partition_by: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()
    on_schema_change: OnSchemaChange | None = None


@dataclass(frozen=True)
class View(Kind):
    """``materialized: view``: never written; readers and downstream transforms compose the plan.

    Parameters
    ----------
    unique_key
        The key columns (``rat diff``, ``unique`` checks).

    Examples
    --------
    >>> View().mode
    'view'
    """

    materialized: ClassVar[str] = "view"
    mode: ClassVar[str] = "view"
    keys: ClassVar[tuple[str, ...]] = ("unique_key",)

    unique_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Append(Kind):
    """``materialized: incremental`` (``strategy: append``): each run appends its new rows.

    Parameters
    ----------
    partition_by
        Partition columns of the Delta table (a list, or ``"a, b"``).
    unique_key
        The key columns (``rat diff``, ``unique`` checks).
    on_schema_change
        ``append_new_columns`` (the default), ``sync_all_columns`` or ``fail``.

    Raises
    ------
    ConfigError
        ``on_schema_change`` is not ``append_new_columns``, ``sync_all_columns`` or ``fail``.

    Examples
    --------
    >>> Append().settings()
    {'materialized': 'incremental', 'strategy': 'append'}
    """

    materialized: ClassVar[str] = "incremental"
    strategy: ClassVar[str | None] = "append"
    mode: ClassVar[str] = "append"

    partition_by: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()
    on_schema_change: OnSchemaChange | None = None


@dataclass(frozen=True)
class Merge(Kind):
    """``strategy: merge``: upsert on ``unique_key``; ``delete_missing`` also deletes the rows
    of the table that the new data does not hold.

    Parameters
    ----------
    unique_key
        The key columns (a list, or ``"a, b"``); required.
    delete_missing
        Delete target rows whose key is absent from the new data.
    partition_by, on_schema_change
        As for every written kind.

    Raises
    ------
    ConfigError
        When ``unique_key`` is empty.

    Examples
    --------
    >>> Merge(unique_key="order_id", delete_missing=True).unique_key
    ('order_id',)
    """

    materialized: ClassVar[str] = "incremental"
    strategy: ClassVar[str | None] = "merge"
    mode: ClassVar[str] = "merge"
    keys: ClassVar[tuple[str, ...]] = KIND_KEYS

    unique_key: tuple[str, ...] = ()
    delete_missing: bool = False
    partition_by: tuple[str, ...] = ()
    on_schema_change: OnSchemaChange | None = None

    def _check(self) -> None:
        if not self.unique_key:
            raise _bad("strategy", "strategy 'merge' needs unique_key")


@dataclass(frozen=True)
class ReplacePartitions(Kind):
    """``strategy: replace_partitions``: overwrite exactly the partitions present in the new data.

    Parameters
    ----------
    partition_by
        The partition columns (a list, or ``"a, b"``); required.
    unique_key, on_schema_change
        As for every written kind.

    Raises
    ------
    ConfigError
        When ``partition_by`` is empty.

    Examples
    --------
    >>> ReplacePartitions("order_date").partition_by
    ('order_date',)
    """

    materialized: ClassVar[str] = "incremental"
    strategy: ClassVar[str | None] = "replace_partitions"
    mode: ClassVar[str] = "replace_partitions"

    partition_by: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()
    on_schema_change: OnSchemaChange | None = None

    def _check(self) -> None:
        if not self.partition_by:
            raise _bad("strategy", "strategy 'replace_partitions' needs partition_by")


_BY_SETTING: dict[tuple[str, str | None], type[Kind]] = {
    ("table", None): Table, ("view", None): View, ("incremental", None): Append,
    ("incremental", "append"): Append, ("incremental", "merge"): Merge,
    ("incremental", "replace_partitions"): ReplacePartitions}


def kind_from_settings(settings: Mapping[str, Any], where: "Where | None" = None) -> Kind:
    """The kind a transform's settings describe, checked once (for discovery).

    Parameters
    ----------
    settings
        The transform's settings as typed (``materialized``, ``strategy``, ``unique_key``,
        ``partition_by``, ``delete_missing``, ``on_schema_change``; other keys are ignored).
        ``materialized`` may also be a :class:`Kind` object (``@transform(materialized=Merge(...))``).
    where
        Where each key was written (:class:`ratatouille.transforms._where.Where`): errors name
        that file and line.

    Returns
    -------
    Kind
        A :class:`Table`, :class:`View`, :class:`Append`, :class:`Merge` or :class:`ReplacePartitions`.

    Raises
    ------
    ConfigError
        An unknown ``materialized``/``strategy``, a key the kind does not take, or a missing
        required one; it names the file and line of the offending key.

    Examples
    --------
    >>> kind_from_settings({"materialized": "incremental"})
    Append(partition_by=(), unique_key=(), on_schema_change=None)
    >>> kind_from_settings({"materialized": "view", "delete_missing": True})
    Traceback (most recent call last):
    ...
    ratatouille.errors.ConfigError: delete_missing only applies to strategy 'merge'
    """
    def fail(key: str, message: str) -> ConfigError:
        return where.error(key, message) if where is not None else ConfigError(message)

    materialized = settings.get("materialized")
    given = {k: settings[k] for k in KIND_KEYS if settings.get(k) not in (None, False, "", (), [])}
    if isinstance(materialized, Kind):
        extra = sorted(k for k in (*given, "strategy") if settings.get(k) not in (None, False, "", (), []))
        if extra:
            raise fail(extra[0], f"{', '.join(extra)}: set on the kind object ({type(materialized).__name__}(...))")
        return materialized
    materialized = materialized if materialized is not None else "table"
    strategy = settings.get("strategy")
    if materialized not in MATERIALIZED:
        raise fail("materialized", f"materialized must be one of {', '.join(MATERIALIZED)}, got {materialized!r}")
    if strategy is not None and strategy not in STRATEGIES:
        raise fail("strategy", f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy is not None and materialized != "incremental":
        raise fail("strategy", f"strategy {strategy!r} needs materialized: incremental")
    cls = _BY_SETTING[(materialized, strategy)]
    for key in given:
        if key not in cls.keys:
            if key == "delete_missing":
                raise fail(key, "delete_missing only applies to strategy 'merge'")
            raise fail(key, f"{key} does not apply to materialized: {materialized} (a view is never written)")
    try:
        return cls(**given)
    except ConfigError as exc:
        raise fail(getattr(exc, "key", "materialized"), exc.message) from None
