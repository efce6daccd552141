"""New trial runs written straight into the embedded sqlite DB's MLflow tables, many in one
transaction.

MLflow's client writes a run in four calls, each its own transaction that reads the run back
(create_run, log_batch, which reads it three more times, set_terminated): 42 ms of CPU per
trial here, 146 of a tabular benchmark's 738 CPU s (7 strategies x 10 seeds x 50 trials,
measured). A study's trials logged by one job (execution.fold_jobs: per_study, per_round)
are new runs with everything known at once: this writes them as MLflow's own
SqlAlchemyStore would (the rows create_run, log_batch and set_terminated make, checked
against those calls in tests/test_tracking.py), in one transaction, an INSERT per table.

The statements are compiled from MLflow's own table definitions (its ORM models), once per
process (the warm worker compiles them before it forks: compiled_statements), and run on a
plain sqlite3 connection, not through SQLAlchemy's sessions: in a trial's job forked from
the warm worker, a session, its connection pool and the ORM's bulk INSERT cost ~20 ms of
CPU per trial, most of it copy-on-write faults on the worker's pages that SQLAlchemy's
machinery touches (2,800 of the job's 4,800 faults, measured); the same rows through
sqlite3 cost about a third of that.

The models are MLflow's internals, pinned with it (requirements.lock): a version whose
store lacks them, a tracking server (REST, whose store is the server's) or another SQL
database gets None from `sql_store` and the client's calls instead. A run that already
exists (a rerun) is the client's to update.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress

log = logging.getLogger(__name__)

# As MLflow's own sessions set it (PRAGMA busy_timeout = 20000): how long a writer waits for
# another job's transaction before sqlite says the DB is locked (hpstudy.tracking.client's
# retry then tries again).
BUSY_TIMEOUT_S = 20.0


def sql_store():
    """MLflow's store for the embedded sqlite DB behind the current tracking URI, or None (a
    server, another SQL database, an MLflow whose store this module does not know, or a
    store that cannot be opened now: the client's path then meets the same failure inside
    its retries, and says so as a TrackingError). Opening it has MLflow create or check the
    DB's schema, as its client would."""
    from hpstudy.tracking.client import _check_sqlite_store, sqlite_database, tracking_uri

    if sqlite_database(tracking_uri()) is None:
        return None
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service.utils import _get_store
    except ImportError:
        return None
    try:
        _check_sqlite_store()  # sqlite's own error at once, not MLflow's 100 s of retries
        store = _get_store()
    except Exception as error:  # a full disk, a locked DB: whatever opening it raises
        log.warning("MLflow's store cannot be opened (%s): logging through its client",
                    type(error).__name__)
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


_CONNECTIONS: dict[str, tuple[int, sqlite3.Connection]] = {}  # DB file: (pid, connection)
_INHERITED: list[sqlite3.Connection] = []


def _connection(store) -> sqlite3.Connection:
    """This process's connection to the store's sqlite file, opened at its first use and
    kept until close_connections (client.release_sqlite, which every logging job ends with):
    opening one reads MLflow's whole schema, 2 ms of CPU, and a trial's logging makes two
    transactions. Set as MLflow's sessions set theirs (foreign keys checked) and as
    hpstudy's engines (client._tune_sqlite_connections: no fsync per commit under
    write-ahead logging). Never one made before a fork: the pid is checked."""
    database = store.engine.url.database
    pid, connection = _CONNECTIONS.get(database, (None, None))
    if connection is not None and pid != os.getpid():
        _close(database)  # made before a fork: never used here
        connection = None
    if connection is None:
        connection = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
        _CONNECTIONS[database] = (os.getpid(), connection)
    return connection


def close_connections() -> None:
    """Close this process's connections."""
    for database in list(_CONNECTIONS):
        _close(database)


def _close(database: str) -> None:
    """Forget the connection to this DB file and close it; one made by another process
    (before a fork) is kept referenced and left open: closing it here could release that
    process's locks."""
    pid, connection = _CONNECTIONS.pop(database)
    if pid != os.getpid():
        _INHERITED.append(connection)
        return
    try:
        connection.close()
    except sqlite3.Error as error:  # the job's own outcome is what counts
        log.warning("could not close the sqlite connection to %s: %s", database, error)


@contextmanager
def _transaction(store, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction on _connection: committed when the block ends, rolled back when it
    raises. A write takes the DB's write lock at once (BEGIN IMMEDIATE), so its reads and
    writes see no other writer in between."""
    connection = _connection(store)
    try:
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with suppress(sqlite3.Error):  # the error that stopped it is the one to see
                connection.execute("ROLLBACK")
        _close(store.engine.url.database)  # the next try connects afresh
        raise


def _sql(statement) -> str:
    """A SQLAlchemy statement as sqlite's SQL with named parameters (":name")."""
    from sqlalchemy.dialects import sqlite

    return str(statement.compile(dialect=sqlite.dialect(paramstyle="named")))


@functools.cache
def _runs_by_key_sql(keys: int) -> str:
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag
    from sqlalchemy import bindparam, select

    return _sql(select(SqlTag.value, SqlTag.run_uuid)
                .join(SqlRun, SqlRun.run_uuid == SqlTag.run_uuid)
                .where(SqlTag.key == bindparam("key_tag"),
                       SqlTag.value.in_([bindparam(f"key_{i}") for i in range(keys)]),
                       SqlRun.experiment_id == bindparam("experiment_id"))
                .order_by(SqlRun.start_time.desc(), SqlRun.run_uuid))  # as MLflow orders runs


@functools.cache
def _experiment_sql() -> str:
    # The two columns needed, not MLflow's get_experiment (its tags and workspace loaded
    # with it: a third of create_finished_runs' CPU for one trial, profiled).
    from mlflow.store.tracking.dbmodels.models import SqlExperiment
    from sqlalchemy import bindparam, select

    return _sql(select(SqlExperiment.artifact_location, SqlExperiment.lifecycle_stage)
                .where(SqlExperiment.experiment_id == bindparam("experiment_id")))


@functools.cache
def _insert_sql() -> dict[str, str]:
    """{table: its INSERT of every column}, in the order a run's rows go in (the run first:
    the others refer to it). Every row gives every column: a column a later MLflow adds
    fails loudly (sqlite3: no value supplied for it), not silently empty."""
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from sqlalchemy import insert

    return {model.__tablename__: _sql(insert(model.__table__))
            for model in (SqlRun, SqlTag, SqlParam, SqlMetric, SqlLatestMetric)}


def compiled_statements() -> None:
    """Compile the statements a trial's logging runs (the warm worker, before it forks)."""
    _runs_by_key_sql(1)
    _experiment_sql()
    _insert_sql()


def run_ids_by_key(store, experiment_id: str, keys: Sequence[str],
                   key_tag: str) -> dict[str, str]:
    """{key: run id} of the runs of this experiment (deleted ones too, as
    client.find_run finds them) whose `key_tag` is one of `keys`: one indexed query
    (client.RUN_KEY_INDEX) instead of MLflow's search, which parses its filter and reads
    each run it finds whole (0.03-0.05 CPU s of a job logging one trial, profiled)."""
    keys = list(dict.fromkeys(keys))
    found: dict[str, str] = {}
    if not keys:
        return found
    parameters = {"key_tag": key_tag, "experiment_id": int(experiment_id),
                  **{f"key_{i}": key for i, key in enumerate(keys)}}
    with _transaction(store, write=False) as connection:
        for key, run_id in connection.execute(_runs_by_key_sql(len(keys)), parameters):
            found.setdefault(key, run_id)
    return found


def create_finished_runs(store, experiment_id: str, runs: Sequence[Mapping],
                         parent_id: str, key_tag: str) -> list[str]:
    """Create, in one transaction, a finished run per entry of `runs` ({"key", "name",
    "start_time" (ms), "metrics", "params", "tags", "status"}: runs.trial_content's plus
    the run's key, name and start), each a child of `parent_id`; their run ids, in order."""
    from mlflow.entities import LifecycleStage, RunStatus, SourceType
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
    from mlflow.utils.time import get_current_time_millis
    from mlflow.utils.uri import append_to_uri_path

    inserts = _insert_sql()
    with _transaction(store, write=True) as connection:
        found = connection.execute(_experiment_sql(),
                                   {"experiment_id": int(experiment_id)}).fetchone()
        if found is None:
            raise ValueError(f"no experiment {experiment_id} in MLflow's store")
        artifact_location, stage = found
        if stage != LifecycleStage.ACTIVE:
            raise ValueError(f"experiment {experiment_id} is {stage}")
        # A row per run and per tag, param and metric of it: dicts of the tables' columns.
        rows: dict[str, list[dict]] = {table: [] for table in inserts}
        ids = []
        for run in runs:
            run_id = uuid.uuid4().hex
            ids.append(run_id)
            tags = {key_tag: run["key"], MLFLOW_PARENT_RUN_ID: parent_id,
                    MLFLOW_RUN_NAME: run["name"], **{t.key: t.value for t in run["tags"]}}
            rows["runs"].append(dict(
                name=run["name"], run_uuid=run_id, experiment_id=int(experiment_id),
                artifact_uri=append_to_uri_path(artifact_location, run_id,
                                                store.ARTIFACTS_FOLDER_NAME),
                source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="",
                entry_point_name="", user_id="unknown",
                status=RunStatus.to_string(RunStatus.from_string(run["status"])),
                start_time=run["start_time"], end_time=get_current_time_millis(),
                deleted_time=None, source_version="", lifecycle_stage=LifecycleStage.ACTIVE))
            rows["tags"] += [dict(run_uuid=run_id, key=key, value=value)
                             for key, value in tags.items()]
            rows["params"] += [dict(run_uuid=run_id, key=p.key, value=p.value)
                               for p in run["params"]]
            latest: dict[str, tuple] = {}
            for metric in dict.fromkeys(run["metrics"]):  # MLflow drops exact duplicates
                is_nan, value = store.sanitize_metric_value(metric.value)
                rows["metrics"].append(dict(run_uuid=run_id, key=metric.key, value=value,
                                            timestamp=metric.timestamp, step=metric.step,
                                            is_nan=is_nan))
                # The latest value of a key: its largest (step, timestamp, value), as
                # MLflow's.
                order = (metric.step, metric.timestamp, value)
                if metric.key not in latest or order > latest[metric.key][0]:
                    latest[metric.key] = (order, is_nan)
            rows["latest_metrics"] += [
                dict(run_uuid=run_id, key=key, value=value, timestamp=timestamp, step=step,
                     is_nan=is_nan)
                for key, ((step, timestamp, value), is_nan) in latest.items()]
        for table, table_rows in rows.items():  # runs first: the others refer to them
            if table_rows:
                connection.executemany(inserts[table], table_rows)
    return ids
