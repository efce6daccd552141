"""New trial runs written straight into MLflow's SQL store, many in one transaction.

MLflow's client writes a run in four calls, each its own transaction that reads the run back
(create_run, log_batch, which reads it three more times, set_terminated): 42 ms of CPU per
trial here, 146 of a tabular benchmark's 738 CPU s (7 strategies x 10 seeds x 50 trials,
measured). A study's trials logged by one job (execution.fold_jobs: per_study, per_round)
are new runs with everything known at once: this writes them as MLflow's own
SqlAlchemyStore would (its ORM models; the rows create_run, log_batch and set_terminated
make, checked against those calls in tests/test_tracking.py), in one session, a bulk INSERT
per table.

The models are MLflow's internals, pinned with it (requirements.lock): a version whose
store lacks them, or a tracking server (REST, whose store is the server's), gets None from
`sql_store` and the client's calls instead. A run that already exists (a rerun) is the
client's to update.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


def sql_store():
    """MLflow's SQL store behind the current tracking URI, or None (a server, an MLflow whose
    store this module does not know, or a store that cannot be opened now: the client's
    path then meets the same failure inside its retries, and says so as a TrackingError)."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service.utils import _get_store
    except ImportError:
        return None
    from hpstudy.tracking.client import _check_sqlite_store

    try:
        _check_sqlite_store()  # sqlite's own error at once, not MLflow's 100 s of retries
        store = _get_store()
    except Exception as error:  # a full disk, a DB server down: whatever opening it raises
        log.warning("MLflow's store cannot be opened (%s): logging through its client",
                    type(error).__name__)
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


def run_ids_by_key(store, experiment_id: str, keys: Sequence[str],
                   key_tag: str) -> dict[str, str]:
    """{key: run id} of the runs of this experiment (deleted ones too, as
    client.find_run finds them) whose `key_tag` is one of `keys`: one indexed query
    (client.RUN_KEY_INDEX) instead of MLflow's search, which parses its filter and reads
    each run it finds whole (0.03-0.05 CPU s of a job logging one trial, profiled)."""
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag
    from sqlalchemy import select

    query = (select(SqlTag.value, SqlTag.run_uuid)
             .join(SqlRun, SqlRun.run_uuid == SqlTag.run_uuid)
             .where(SqlTag.key == key_tag, SqlTag.value.in_(list(keys)),
                    SqlRun.experiment_id == int(experiment_id))
             .order_by(SqlRun.start_time.desc(), SqlRun.run_uuid))  # as MLflow orders runs
    found: dict[str, str] = {}
    with store.ManagedSessionMaker() as session:
        for key, run_id in session.execute(query):
            found.setdefault(key, run_id)
    return found


def create_finished_runs(store, experiment_id: str, runs: Sequence[Mapping],
                         parent_id: str, key_tag: str) -> list[str]:
    """Create, in one transaction, a finished run per entry of `runs` ({"key", "name",
    "start_time" (ms), "metrics", "params", "tags", "status"}: runs.trial_content's plus
    the run's key, name and start), each a child of `parent_id`; their run ids, in order."""
    from mlflow.entities import LifecycleStage, RunStatus, SourceType
    from mlflow.store.tracking.dbmodels.models import (
        SqlExperiment,
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
    from mlflow.utils.time import get_current_time_millis
    from mlflow.utils.uri import append_to_uri_path
    from sqlalchemy import insert, select

    # The two columns needed, not MLflow's get_experiment (its tags and workspace loaded
    # with it: a third of this function's CPU for one trial, profiled).
    with store.ManagedSessionMaker() as session:
        found = session.execute(
            select(SqlExperiment.artifact_location, SqlExperiment.lifecycle_stage)
            .where(SqlExperiment.experiment_id == int(experiment_id))).first()
    if found is None:
        raise ValueError(f"no experiment {experiment_id} in MLflow's store")
    artifact_location, stage = found
    if stage != LifecycleStage.ACTIVE:
        raise ValueError(f"experiment {experiment_id} is {stage}")
    # Rows as dicts of the models' attributes, inserted with SQLAlchemy's ORM bulk INSERT
    # (one executemany per table): the same rows as model instances, without building and
    # flushing ~50 ORM objects per trial (two thirds of this function's CPU when it did).
    rows: dict[type, list[dict]] = {SqlRun: [], SqlTag: [], SqlParam: [], SqlMetric: [],
                                    SqlLatestMetric: []}
    ids = []
    for run in runs:
        run_id = uuid.uuid4().hex
        ids.append(run_id)
        tags = {key_tag: run["key"], MLFLOW_PARENT_RUN_ID: parent_id,
                MLFLOW_RUN_NAME: run["name"], **{t.key: t.value for t in run["tags"]}}
        rows[SqlRun].append(dict(
            name=run["name"], run_uuid=run_id, experiment_id=int(experiment_id),
            artifact_uri=append_to_uri_path(artifact_location, run_id,
                                            store.ARTIFACTS_FOLDER_NAME),
            source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="",
            entry_point_name="", user_id="unknown",
            status=RunStatus.to_string(RunStatus.from_string(run["status"])),
            start_time=run["start_time"], end_time=get_current_time_millis(),
            deleted_time=None, source_version="", lifecycle_stage=LifecycleStage.ACTIVE))
        rows[SqlTag] += [dict(run_uuid=run_id, key=key, value=value)
                         for key, value in tags.items()]
        rows[SqlParam] += [dict(run_uuid=run_id, key=p.key, value=p.value)
                           for p in run["params"]]
        latest: dict[str, tuple] = {}
        for metric in dict.fromkeys(run["metrics"]):  # MLflow drops exact duplicates
            is_nan, value = store.sanitize_metric_value(metric.value)
            rows[SqlMetric].append(dict(run_uuid=run_id, key=metric.key, value=value,
                                        timestamp=metric.timestamp, step=metric.step,
                                        is_nan=is_nan))
            # The latest value of a key: its largest (step, timestamp, value), as MLflow's.
            order = (metric.step, metric.timestamp, value)
            if metric.key not in latest or order > latest[metric.key][0]:
                latest[metric.key] = (order, is_nan)
        rows[SqlLatestMetric] += [
            dict(run_uuid=run_id, key=key, value=value, timestamp=timestamp, step=step,
                 is_nan=is_nan)
            for key, ((step, timestamp, value), is_nan) in latest.items()]
    with store.ManagedSessionMaker(read_only=False) as session:  # one commit
        for model, model_rows in rows.items():  # runs first: the others refer to them
            if model_rows:
                session.execute(insert(model), model_rows)
    return ids
