"""MLflow tracking: one parent run per study (a strategy, or a repeat of it with another
seed), one child per trial, carrying its folds' per-epoch histories (`fold_<k>/<metric>`).

- Where: MLFLOW_TRACKING_URI when set, else config `tracking.uri` (the Snakefile exports it to
  the jobs' environment, so a URI with credentials never lands in `params:`, logs or tags).
- Idempotent: every run carries a key tag (config hash / study / trial / fold). A rerun
  finds the run with its key and updates it; metrics are logged with timestamps derived from
  the run's start time, so re-logging the same values adds nothing (MLflow drops exact
  duplicates). A changed config has a new hash, hence new runs.
- Never silent: every call is retried with backoff; then the job fails naming the URI
  (redacted) and the error. Result files on disk are untouched, and the next `snakemake` run
  logs what is missing (its marker file is absent).
- The sqlite DB is created and migrated once, by the init_tracking job, before any other
  job logs: several processes migrating a fresh DB at once crash.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from hpstudy import fileio

log = logging.getLogger(__name__)

KEY_TAG = "hpstudy.key"
PARENT_TAG = "mlflow.parentRunId"
MAX_BATCH_ENTITIES = 1000  # MLflow's log_batch limits: entities in all, params, tags
MAX_BATCH_PARAMS_TAGS = 100
PACKAGES = ("tensorflow", "keras", "hyperopt", "scikit-optimize", "mlflow", "snakemake",
            "numpy", "scikit-learn")
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
            return action()
        except Exception as error:  # MLflow raises many types for one unreachable server
            if _REFUSED.search(str(error)):  # wrong or missing credentials: retrying won't help
                raise TrackingError(
                    f"MLflow {what} refused at {redact(tracking_uri())}: {scrub(str(error))} "
                    f"(a server with authentication reads the user and password from "
                    f"~/.mlflow/credentials or MLFLOW_TRACKING_USERNAME and "
                    f"MLFLOW_TRACKING_PASSWORD; README, Running on a cluster)") from None
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


def local_artifact_location() -> str | None:
    """With the embedded sqlite store, artifacts go under results/ beside the DB; a tracking
    server chooses its own artifact root."""
    uri = tracking_uri()
    if uri.startswith("sqlite:"):
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "mlartifacts").resolve().as_uri()
    return None


@functools.cache  # once per process: every sqlite connection SQLAlchemy opens from then on
def _tune_sqlite_connections() -> None:
    """synchronous=NORMAL: with write-ahead logging (create_sqlite_atomically) a commit then
    needs no fsync, holds the write lock for less time, and still survives the job being
    killed; only a power cut can undo the last commits (sqlite's documented trade-off)."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _normal_sync(connection, _record):
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA synchronous=NORMAL")


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


def _restored(client, run):
    if run.info.lifecycle_stage == "deleted":
        client.restore_run(run.info.run_id)
    return run


def _create_run(client, experiment_id: str, key: str, name: str, parent_id: str | None):
    tags = {KEY_TAG: key}
    if parent_id:
        tags[PARENT_TAG] = parent_id
    return client.create_run(experiment_id, run_name=name, tags=tags)


def ensure_run(client, experiment_id: str, key: str, name: str, parent_id: str | None = None):
    """The run with this key: found (after a kill or a --forcerun) or created."""
    run = find_run(client, experiment_id, key)
    if run is not None:
        return _restored(client, run)
    return _create_run(client, experiment_id, key, name, parent_id)


def log_batch(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    """As few requests as MLflow's limits allow: params, tags and metrics travel together."""
    metrics, params, tags = list(metrics), list(params), list(tags)
    while metrics or params or tags:
        batch_params, params = params[:MAX_BATCH_PARAMS_TAGS], params[MAX_BATCH_PARAMS_TAGS:]
        batch_tags, tags = tags[:MAX_BATCH_PARAMS_TAGS], tags[MAX_BATCH_PARAMS_TAGS:]
        room = MAX_BATCH_ENTITIES - len(batch_params) - len(batch_tags)
        batch_metrics, metrics = metrics[:room], metrics[room:]
        client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)


@functools.cache  # constant for the process; a writer logging many trials asks once
def git_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def package_versions() -> str:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(versions, sort_keys=True)


def study_key(study_hash: str, study: str) -> str:
    return f"{study_hash}/{study}"


def create_sqlite_atomically(uri: str) -> None:
    """A new sqlite store is created and migrated under a temporary name, then renamed into
    place: a run killed during MLflow's migration (seconds of DDL) leaves no half-migrated DB
    that the resumed run could not open ("table ... already exists").

    The new DB is switched to write-ahead logging (persistent in the file): readers no longer
    block the writer, so concurrent log_trial jobs wait less for each other's locks (8
    writers on 2 cores: 0.49 -> 0.38 s per trial here)."""
    if not uri.startswith("sqlite:///"):
        return
    database = Path(uri.removeprefix("sqlite:///"))
    if database.exists():
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
    os.replace(staging, database)


def init_tracking(experiment: str, output: str) -> None:
    """Create (or find) the experiment, creating and migrating the DB: once, in one job,
    before any other job logs (fresh sqlite DBs race in their migration)."""
    create_sqlite_atomically(tracking_uri())
    client = _client()

    def setup():
        found = client.get_experiment_by_name(experiment)
        return found.experiment_id if found else client.create_experiment(
            experiment, artifact_location=local_artifact_location())

    experiment_id = retry(setup, "experiment setup")
    log.info("MLflow experiment %r (%s) at %s", experiment, experiment_id,
             redact(tracking_uri()))
    fileio.write_json(output, {"experiment": experiment, "experiment_id": experiment_id,
                               "tracking_uri": redact(tracking_uri())})


def start_study(experiment_path: str, study: str, strategy: str, study_hash: str,
                output: str) -> None:
    """Create (or find) the study's parent run. One job per study, keyed by the study's own
    config hash: changing one strategy's settings leaves the other studies' runs alone."""
    from mlflow.entities import RunTag

    experiment = fileio.read_json(experiment_path)
    client = _client()

    def setup():
        run = ensure_run(client, experiment["experiment_id"], study_key(study_hash, study),
                         f"{study} study")
        log_batch(client, run.info.run_id, tags=[
            RunTag("strategy", strategy), RunTag("study", study),
            RunTag("study_hash", study_hash), RunTag("role", "study")])
        return run.info.run_id

    run_id = retry(setup, f"start of the {study} study run")
    log.info("%s: study run %s", study, run_id)
    fileio.write_json(output, {"experiment_id": experiment["experiment_id"], "study": study,
                               "strategy": strategy, "study_hash": study_hash,
                               "run_id": run_id})


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def fold_metrics(record: Mapping, timing: Mapping, base: int) -> list:
    """A fold's metrics on its trial's run, named `fold_<k>/<metric>`: the per-epoch history
    (step = epoch), the final values not in the history, and the fit's wall and CPU seconds.

    On the trial run rather than a run per fold: each run costs MLflow's store a create, a
    batch and a close, and 3 fold runs made logging a trial 3x dearer (0.17 against 0.05 CPU
    s here), which 8 concurrent writers on 2 cores pay 4 times over. The UI groups the
    `fold_<k>/` metrics of a run into one section per fold."""
    from mlflow.entities import Metric

    prefix = f"fold_{record['fold']}"
    history = record.get("history") or {}
    metrics = [Metric(f"{prefix}/{key}", float(value), base + step, step)
               for key, values in sorted(history.items())
               for step, value in enumerate(values) if value is not None]
    metrics += [Metric(f"{prefix}/{key}", float(value), base, 0)
                for key, value in sorted(record["metrics"].items())
                if key not in history and _number(value) is not None]
    metrics += [Metric(f"{prefix}/{key}", float(timing[key]), base, 0)
                for key in ("fit_seconds", "fit_cpu_seconds")]
    return metrics


def log_trial(tracking_path: str, study: str, strategy: str, round_index: int, score: Mapping,
              fold_records: Sequence[Mapping], fold_timings: Sequence[Mapping],
              data_checksum: str | None, output: str) -> None:
    """Log one finished trial (a child of its study's run, its folds' metrics on it), then
    mark it.

    fold_timings: each fold's measured fit_seconds and fit_cpu_seconds, by fold order."""
    from mlflow.entities import Metric, Param, RunTag

    tracking = fileio.read_json(tracking_path)
    client = _client()
    study_hash, trial = tracking["study_hash"], score["trial"]
    trial_key = f"{study_key(study_hash, study)}/trial-{trial}"

    def log_all():
        run = ensure_run(client, tracking["experiment_id"], trial_key,
                         f"{study} trial {trial}", tracking["run_id"])
        run_id, base = run.info.run_id, run.info.start_time
        timings = {timing["fold"]: timing for timing in fold_timings}
        metrics = {"duration_s": sum(t["fit_seconds"] for t in fold_timings),
                   "cpu_seconds": sum(t["fit_cpu_seconds"] for t in fold_timings),
                   **score["metrics"]}
        if score["objective"] is not None:
            metrics["objective"] = score["objective"]
        tags = {"strategy": strategy, "study": study, "trial": trial, "round": round_index,
                "seed": score["seed"], "status": score["status"],
                "study_hash": study_hash, "data_checksum": data_checksum or "none",
                "git_commit": git_commit(), "package_versions": package_versions(),
                "role": "trial"}
        for record in fold_records:
            prefix = f"fold_{record['fold']}"
            tags.update({f"{prefix}.status": record["status"], f"{prefix}.seed": record["seed"],
                         f"{prefix}.epochs_run": record["epochs_run"]})
        log_batch(client, run_id,
                  metrics=[Metric(k, float(v), base, 0) for k, v in sorted(metrics.items())
                           if _number(v) is not None]
                  + [metric for record in fold_records
                     for metric in fold_metrics(record, timings[record["fold"]], base)],
                  params=[Param(k, str(v)) for k, v in sorted(score["params"].items())],
                  tags=[RunTag(k, str(v)) for k, v in sorted(tags.items())])
        client.set_terminated(run_id, "FINISHED")
        return run_id

    run_id = retry(log_all, f"logging of {study} trial {trial}")
    log.info("logged %s trial %d as run %s (%d folds)", study, trial, run_id,
             len(fold_records))
    fileio.write_json(output, {"run_id": run_id})


def finish_study(tracking_path: str, study: str, trials_csv: str,
                 artifacts: Sequence[str], output: str) -> None:
    """Close a study's parent run: its best result, its artifacts, FINISHED."""
    import pandas as pd
    from mlflow.entities import Metric

    tracking = fileio.read_json(tracking_path)
    client = _client()
    run_id = tracking["run_id"]
    table = pd.read_csv(trials_csv)
    ok = table[table["status"] == "ok"]

    def finish():
        base = client.get_run(run_id).info.start_time
        metrics = [Metric("trials", float(len(table)), base, 0),
                   Metric("trials_ok", float(len(ok)), base, 0)]
        if len(ok):
            metrics.append(Metric("best_objective", float(ok["objective"].min()), base, 0))
        log_batch(client, run_id, metrics=metrics)
        for path in [trials_csv, *artifacts]:
            if Path(path).is_dir():
                client.log_artifacts(run_id, path, artifact_path=Path(path).name)
            else:
                client.log_artifact(run_id, path)
        client.set_terminated(run_id, "FINISHED")

    retry(finish, f"closing of the {study} study run")
    fileio.write_json(output, {"run_id": run_id, "artifacts": [Path(p).name for p in
                                                                [trials_csv, *artifacts]]})
