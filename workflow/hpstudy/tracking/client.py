"""MLflow's client as the tracking jobs use it: where it writes (URI, credentials kept out of
logs), retries with backoff, runs found or created by their key tag, batched writes within
MLflow's limits, and the embedded sqlite store (created atomically, write-ahead logging).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

# `import mlflow` leaves its client, its stores and alembic to the first call: 1.4 of the 1.5
# CPU s a logging job spent (measured), so the warm worker imports them too
# (plan.Plan.job_modules). Internal module names: one that a newer MLflow lacks is skipped
# (and said in the worker's log).
MLFLOW_CLIENT_MODULES = ("mlflow.tracking.client", "mlflow.entities",
                         "mlflow.store.tracking.sqlalchemy_store",
                         "mlflow.store.tracking.rest_store", "mlflow.store.db.utils",
                         "mlflow.store.model_registry.sqlalchemy_store", "alembic.command",
                         "alembic.config", "alembic.script", "alembic.runtime.migration",
                         "sqlalchemy.dialects.sqlite")

KEY_TAG = "hpstudy.key"
PARENT_TAG = "mlflow.parentRunId"
MAX_BATCH_ENTITIES = 1000  # MLflow's log_batch limits: entities in all, params, tags
MAX_BATCH_PARAMS_TAGS = 100
SEARCH_PAGE = 1000  # the most runs one search_runs call returns from a SQL store
T = TypeVar("T")


class TrackingError(RuntimeError):
    """MLflow could not be reached or refused a write, after retries."""


_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")


# How MLflow's REST client reports a server that refused the credentials (HTTP 401 or 403).
_REFUSED = re.compile(r"error code (401|403) != 200")


def redact(uri: str) -> str:
    """The URI without user, password or query (tokens): safe for logs, tags and files."""
    return _CREDENTIALS.sub(r"\1", uri.split("?", 1)[0])


def scrub(text: str) -> str:
    """Any URI credentials inside a message (MLflow's errors quote the URL they called)."""
    return _CREDENTIALS.sub(r"\1", text)


def remember_schema_head() -> None:
    """Opening a SQL store (sqlite, PostgreSQL), MLflow checks the DB's schema against the
    head of its own migration scripts, which alembic finds by reading all of them: 0.1 CPU s
    of every logging job (measured). That head is fixed by the installed MLflow, so the warm
    worker reads it once and its forked jobs reuse it. (A private function of MLflow's: left
    alone when a version lacks it.)"""
    try:
        from mlflow.store.db import utils
    except ImportError:
        return
    head = getattr(utils, "_get_latest_schema_revision", None)
    if head is None or hasattr(head, "cache_info"):
        return
    utils._get_latest_schema_revision = functools.cache(head)
    utils._get_latest_schema_revision()


def tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def retry(action: Callable[[], T], what: str, attempts: int | None = None,
          first_delay: float | None = None) -> T:
    """Run `action`, retrying with exponential backoff; then raise TrackingError."""
    attempts = attempts or int(os.environ.get("HPSTUDY_MLFLOW_ATTEMPTS", "4"))
    delay = first_delay if first_delay is not None else float(
        os.environ.get("HPSTUDY_MLFLOW_RETRY_DELAY", "1.0"))
    for attempt in range(1, attempts + 1):
        try:
            _check_sqlite_store()
            return action()
        except Exception as error:  # MLflow raises many types for one unreachable server
            if _REFUSED.search(str(error)):  # wrong or missing credentials: retrying won't help
                raise TrackingError(
                    f"MLflow {what} refused at {redact(tracking_uri())}: {scrub(str(error))} "
                    f"(a server with authentication reads the user and password from "
                    f"~/.mlflow/credentials or MLFLOW_TRACKING_USERNAME and "
                    f"MLFLOW_TRACKING_PASSWORD; docs/cluster.md)") from None
            if attempt == attempts:
                raise TrackingError(
                    f"MLflow {what} failed after {attempts} attempts at "
                    f"{redact(tracking_uri())}: {type(error).__name__}: {scrub(str(error))}"
                ) from None
            log.warning("MLflow %s failed (attempt %d/%d): %s; retrying in %.1f s", what,
                        attempt, attempts, scrub(str(error)), delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def sqlite_database(uri: str) -> Path | None:
    """The file of an embedded sqlite store's URI (sqlite:///PATH); None for another store."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _check_sqlite_store() -> None:
    """Raises sqlite3's own error when the embedded store cannot be opened (a full disk: a
    write-ahead-logged DB needs room for its index even to be read). MLflow retries such an
    open ten times over about 100 s before it raises (mlflow.store.db.utils.
    create_sqlalchemy_engine_with_retry, not configurable), inside each attempt of `retry`;
    here it fails in a millisecond, and `retry` decides. A store not created yet is MLflow's
    to create. Once MLflow has made its engine for the DB in this process (in a job forked
    from the warm worker: before the job started), it connects without those retries, and
    the check (4 ms of CPU, three times per logging job) is skipped."""
    import sqlite3

    database = sqlite_database(tracking_uri())
    if database is None or not database.exists() or _mlflow_engine_made(database):
        return
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
    finally:
        connection.close()


def _mlflow_engine_made(database: Path) -> bool:
    """Whether MLflow's SQL store has made its engine for this sqlite file in this process
    (SqlAlchemyStore keeps one per DB URI; a version without that map: never)."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return False

    engines = getattr(SqlAlchemyStore, "_engine_map", None)
    if not isinstance(engines, dict):
        return False
    made = [sqlite_database(uri) for uri in list(engines)]
    target = database.resolve()
    return any(path is not None and path.resolve() == target for path in made)


def warm_sqlite_store() -> bool:
    """Open MLflow's store for the embedded sqlite DB behind the current tracking URI, once,
    in this process, then close its connections: the warm worker does it before it forks a
    job, so that every job's MLflow finds the store it keeps per URI (its engine, checked
    schema, default experiment, and MLflow's parser of search filters), and hpstudy's
    statements compiled, instead of building them again. No connection outlives it (a
    sqlite connection must not cross a fork). Only a DB that exists (init_tracking creates
    it: opening a missing one would create it here) and only sqlite (a server that does not
    answer would stall the worker's fork of every job). Whether the store is warm; what
    fails is left to the jobs, which open it again and say why."""
    database = sqlite_database(tracking_uri())
    if database is None or not database.exists():
        return False
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_store

    _tune_sqlite_connections()  # before the first connection, as in a job (_client)
    _check_sqlite_store()
    try:
        store = _get_store()
        if not isinstance(store, SqlAlchemyStore):
            return False
        from hpstudy.tracking.bulk import compiled_statements, run_ids_by_key

        # The statements a trial's logging runs, compiled once (bulk.compiled_statements),
        # and the searches the jobs make, in the default experiment, for a key no run has:
        # MLflow's search parses its filter with sqlparse, whose lexer is built once per
        # process.
        compiled_statements()
        run_ids_by_key(store, "0", ["hpstudy-warm-up"], KEY_TAG)
        find_run(_client(), "0", "hpstudy-warm-up")
        return True
    finally:
        release_sqlite()


def local_artifact_location() -> str | None:
    """With the embedded sqlite store, artifacts go under results/ beside the DB; a tracking
    server chooses its own artifact root."""
    uri = tracking_uri()
    if uri.startswith("sqlite:"):
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "mlartifacts").resolve().as_uri()
    return None


_SQLITE_ENGINES: list = []  # the sqlite engines this process connected with


@functools.cache  # once per process: every sqlite connection SQLAlchemy opens from then on
def _tune_sqlite_connections() -> None:
    """synchronous=NORMAL: with write-ahead logging (create_sqlite_atomically) a commit then
    needs no fsync, holds the write lock for less time, and still survives the job being
    killed; only a power cut can undo the last commits (sqlite's documented trade-off).
    Engines are remembered so that release_sqlite can close their connections."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _normal_sync(connection, _record):
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(Engine, "engine_connect")
    def _remember(connection):
        engine = connection.engine
        if engine.dialect.name == "sqlite" and engine not in _SQLITE_ENGINES:
            _SQLITE_ENGINES.append(engine)


def release_sqlite() -> None:
    """Close this process's pooled sqlite connections. A job ends with it: the last
    connection to a write-ahead-logged DB to close writes the log back into mlflow.db and
    removes mlflow.db-wal and -shm, which a process that just exits (a forked job leaves by
    os._exit) would leave behind, with the latest commits in them rather than in mlflow.db."""
    from hpstudy.tracking.bulk import close_connections

    close_connections()
    while _SQLITE_ENGINES:
        engine = _SQLITE_ENGINES.pop()
        try:
            engine.dispose()
        except Exception as error:  # e.g. a full disk: the job's own outcome is what counts
            log.warning("could not close the sqlite connections of %s: %s", engine.url, error)


def releases_sqlite(job: Callable) -> Callable:
    """A tracking job closes its sqlite connections when it ends, failed or not
    (release_sqlite)."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        try:
            return job(*args, **kwargs)
        finally:
            release_sqlite()

    return run


def _client():
    from mlflow import MlflowClient

    if tracking_uri().startswith("sqlite:"):
        _tune_sqlite_connections()
    return MlflowClient()


def find_run(client, experiment_id: str, key: str):
    from mlflow.entities import ViewType

    runs = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'",
                              run_view_type=ViewType.ALL, max_results=2)
    return runs[0] if runs else None


def find_runs(client, experiment_id: str, prefix: str) -> dict:
    """Every run (deleted ones too) whose key starts with `prefix`, by key: one search, in
    pages of MLflow's maximum, instead of one per key. (LIKE's `_` matches any character:
    the keys are checked exactly here.)"""
    from mlflow.entities import ViewType

    pattern = prefix.replace("%", "_") + "%"
    found, token = {}, None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` LIKE "
                                  f"'{pattern}'", run_view_type=ViewType.ALL,
                                  max_results=SEARCH_PAGE, page_token=token)
        for run in page:
            key = run.data.tags.get(KEY_TAG, "")
            if key.startswith(prefix):
                found.setdefault(key, run)
        token = page.token
        if not token:
            return found


def _restored(client, run):
    if run.info.lifecycle_stage == "deleted":
        client.restore_run(run.info.run_id)
    return run


def _create_run(client, experiment_id: str, key: str, name: str, parent_id: str | None):
    tags = {KEY_TAG: key}
    if parent_id:
        tags[PARENT_TAG] = parent_id
    return client.create_run(experiment_id, run_name=name, tags=tags)


def find_or_create_run(client, experiment_id: str, key: str, name: str,
                       parent_id: str | None = None, known: dict | None = None):
    """(the run with this key, whether it was created now): found (after a kill or a
    --forcerun) or created. known: the runs of a find_runs search that covered this key
    (absent from it: none exists yet)."""
    run = known.get(key) if known is not None else find_run(client, experiment_id, key)
    if run is not None:
        return _restored(client, run), False
    return _create_run(client, experiment_id, key, name, parent_id), True


def ensure_run(client, experiment_id: str, key: str, name: str, parent_id: str | None = None,
               known: dict | None = None):
    """The run with this key, found or created (find_or_create_run)."""
    return find_or_create_run(client, experiment_id, key, name, parent_id, known)[0]


def log_batch(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    """As few requests as MLflow's limits allow: params, tags and metrics travel together."""
    metrics, params, tags = list(metrics), list(params), list(tags)
    while metrics or params or tags:
        batch_params, params = params[:MAX_BATCH_PARAMS_TAGS], params[MAX_BATCH_PARAMS_TAGS:]
        batch_tags, tags = tags[:MAX_BATCH_PARAMS_TAGS], tags[MAX_BATCH_PARAMS_TAGS:]
        room = MAX_BATCH_ENTITIES - len(batch_params) - len(batch_tags)
        batch_metrics, metrics = metrics[:room], metrics[room:]
        client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)


# MLflow's tags table is keyed by (key, run_uuid): finding a run by its value of a tag (a run
# by KEY_TAG: find_run, find_runs) scans that tag of every run in the store. In the benchmark
# suite's DB (1.3 GB, 117,585 runs) that was 0.37 CPU s per search, and every study's logging
# job searched: a cost per study growing with the DB. With this index: 0.005 s.
RUN_KEY_INDEX = "hpstudy_tags_key_value"


def index_run_keys(uri: str) -> None:
    """Add RUN_KEY_INDEX to an embedded sqlite store (once; seconds on a large DB that
    lacks it, an instant on a new one). An index of MLflow's own table: MLflow's schema
    checks look at its migration revision only, and its migrations carry a table's indexes
    over. Failing to add it costs only speed: a warning."""
    database = sqlite_database(uri)
    if database is None:
        return
    import sqlite3

    try:
        connection = sqlite3.connect(database, timeout=60)
        try:
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS {RUN_KEY_INDEX} ON tags (key, value)")
            connection.commit()
        finally:
            connection.close()
    except sqlite3.Error as error:
        log.warning("could not index the runs' keys in %s (%s): searches stay slower",
                    redact(uri), error)


def create_sqlite_atomically(uri: str) -> None:
    """A new sqlite store is created and migrated under a temporary name, then renamed into
    place: a run killed during MLflow's migration (seconds of DDL) leaves no half-migrated DB
    that the resumed run could not open ("table ... already exists").

    The new DB is switched to write-ahead logging (persistent in the file): readers no longer
    block the writer, so concurrent logging jobs wait less for each other's locks (8
    writers on 2 cores: 0.49 -> 0.38 s per trial here)."""
    database = sqlite_database(uri)
    if database is None or database.exists():
        return
    import sqlite3

    from mlflow import MlflowClient

    database.parent.mkdir(parents=True, exist_ok=True)
    staging = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    # No pooled connection may outlive the migration: the file is renamed, and the switch to
    # WAL below must be the last connection (it then leaves no -wal file behind).
    previous = os.environ.get("MLFLOW_SQLALCHEMYSTORE_POOLCLASS")
    os.environ["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] = "NullPool"
    try:
        MlflowClient(tracking_uri=f"sqlite:///{staging}").search_experiments(max_results=1)
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_SQLALCHEMYSTORE_POOLCLASS")
        else:
            os.environ["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] = previous
    connection = sqlite3.connect(staging)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    # A link, not a rename: two studies started at once into one DB file both get here, and
    # a rename would put the second's empty DB over the first's, whose experiment and runs
    # would vanish. link() creates the name only if it does not exist; the loser discards
    # its copy and uses the winner's.
    try:
        os.link(staging, database)
    except FileExistsError:
        pass
    finally:
        staging.unlink(missing_ok=True)
