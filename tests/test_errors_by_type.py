"""Errors by type (issue 14.5): delta-rs and Polars exceptions map to Ratatouille's in one place,
and every RatatouilleError survives pickling with all its state (Dagster's multiprocess
executor ships errors between processes)."""

from __future__ import annotations

import pickle

import polars as pl
import pytest
from deltalake.exceptions import CommitFailedError, DeltaError, SchemaMismatchError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound

import ratatouille.errors as errors_module
from ratatouille._errors_map import write_error
from ratatouille.errors import (
    ConcurrentCommitError,
    ConcurrentIngestError,
    RatatouilleError,
    RunError,
    SchemaError,
    StorageError,
    TableNotFoundError,
    TransformError,
)
from ratatouille.execute._result import RunResult
from ratatouille.write._commit import TableCreatedMeanwhile


def _all_error_classes() -> list[type[RatatouilleError]]:
    import ratatouille.write._commit  # noqa: F401 - its private error class too

    seen: list[type[RatatouilleError]] = []
    todo = [RatatouilleError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def _full(cls: type[RatatouilleError]) -> RatatouilleError:
    results = [RunResult(status="failed", table="silver.a", version=None, rows_written=0),
               RunResult(status="success", table="silver.b", version=4, rows_written=2)]
    checks = [{"name": "not_null(id)", "passed": False, "blocking": True, "message": "2 rows"}]
    if cls is RunError:
        inner = [SchemaError("bad type", transform="silver.a", file="silver/a.sql", line=2, checks=checks)]
        err = RunError("1 of 2 transforms failed", errors=inner, results=results)
        err.line, err.checks = 7, checks
        return err.locate(transform="silver.a", file="silver/a.sql")
    return cls("boom", transform="silver.sales", file="silver/sales.sql", line=3, results=results, checks=checks)


def test_every_error_class_is_covered():
    names = {c.__name__ for c in _all_error_classes()}
    public = {n for n, v in vars(errors_module).items() if isinstance(v, type) and issubclass(v, RatatouilleError)}
    assert public <= names and "TableCreatedMeanwhile" in names and "RunError" in names


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_survives_pickling_with_all_its_state(cls):
    err = _full(cls)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == str(err) and back.args == err.args
    for field in ("message", "transform", "file", "line", "results", "checks"):
        assert getattr(back, field) == getattr(err, field), field
    assert back.line in (3, 7) and back.checks and len(back.results) == 2
    assert all(isinstance(r, RunResult) for r in back.results)
    if cls is RunError:
        assert [type(e) for e in back.errors] == [SchemaError]
        assert back.errors[0].checks == err.errors[0].checks and back.errors[0].line == 2
    assert str(pickle.loads(pickle.dumps(back))) == str(err)  # and again, unchanged


def test_delta_rs_and_polars_exceptions_map_by_type():
    def mapped(exc):
        return write_error(exc, action="writing s3://b/t failed (merge)", uri="s3://b/t", transform="silver.t")

    err = mapped(CommitFailedError("Failed to commit transaction: a concurrent transaction deleted data"))
    assert type(err) is ConcurrentCommitError and "concurrent commit, run again" in str(err)
    assert err.transform == "silver.t"
    ingest = write_error(CommitFailedError("x"), action="a", concurrent=ConcurrentIngestError)
    assert isinstance(ingest, ConcurrentCommitError) and isinstance(ingest, errors_module.IngestError)
    assert type(mapped(SchemaMismatchError("Cannot cast schema"))) is SchemaError
    assert type(mapped(DeltaTableNotFound("no log"))) is TableNotFoundError
    assert type(mapped(pl.exceptions.InvalidOperationError("conversion from `str` to `i64` failed"))) is TransformError
    assert type(mapped(DeltaError("Generic error: connection reset"))) is StorageError
    # the message of a commit conflict never decides: a storage error quoting the word stays one
    assert type(mapped(OSError("concurrent requests refused"))) is StorageError


def test_a_lost_create_is_a_concurrent_commit_error(rat_project):
    """Creating a table that another writer created meanwhile raises TableCreatedMeanwhile (a
    ConcurrentCommitError) and writes nothing, instead of overwriting the other's table."""
    from ratatouille.discover import Project
    from ratatouille.write import Table, Target

    target = Project.load(rat_project.root).target("silver.t")
    first = Table()
    pl.DataFrame({"x": [1]}).write_delta(target.uri)  # another writer, after this one looked

    class Stale(Target):
        """Looked before the other writer committed: the first open finds no table."""

        def open(self, version=None):
            if not getattr(self, "looked", False):
                object.__setattr__(self, "looked", True)
                return None
            return super().open(version)

    with pytest.raises(TableCreatedMeanwhile, match="concurrent commit, run again"):
        first.write(Stale(target.uri, target.storage_options, "silver.t"), pl.DataFrame({"x": [2]}))
    assert rat_project.read("silver.t")["x"].to_list() == [1]
