"""MLflow tracking: one parent run per study (a strategy, or a repeat of it with another
seed), one child per trial, carrying its folds' per-epoch histories (`fold_<k>/<metric>`).

- Where: MLFLOW_TRACKING_URI when set, else config `tracking.uri` (the Snakefile exports it to
  the jobs' environment, so a URI with credentials never lands in `params:`, logs or tags).
- Idempotent: every run carries a key tag (config hash / study / trial / fold). A rerun
  finds the run with its key and updates it; metrics are logged with timestamps derived from
  the run's start time, so re-logging the same values adds nothing (MLflow drops exact
  duplicates). A changed config has a new hash, hence new runs.
- Never silent: calls are retried with backoff, then the job fails naming the URI (redacted);
  result files stay, and the next `snakemake` run logs what is missing.
- The sqlite DB is created and migrated once (init_tracking), before any other job logs.

The client side (URI, retries, run keys, batches, the sqlite store): hpstudy.tracking.client.
What the UI shows beyond the numbers (the experiment's kind, descriptions): tracking.notes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hpstudy import fileio, provenance
from hpstudy.launch import CLUSTER_NODE_ENV
from hpstudy.tracking import bulk, notes
from hpstudy.tracking.client import (
    KEY_TAG,
    TrackingError,
    _client,
    create_sqlite_atomically,
    ensure_run,
    find_or_create_run,
    find_runs,
    index_run_keys,
    local_artifact_location,
    log_batch,
    redact,
    releases_sqlite,
    retry,
    sqlite_database,
    tracking_uri,
)

log = logging.getLogger(__name__)


PACKAGES = ("tensorflow", "keras", "hyperopt", "scikit-optimize", "mlflow", "snakemake",
            "numpy", "scikit-learn")


@functools.cache
def package_versions() -> str:
    return json.dumps(provenance.package_versions(PACKAGES), sort_keys=True)


def study_key(study_hash: str, study: str) -> str:
    return f"{study_hash}/{study}"


@releases_sqlite
def init_tracking(experiment: str, output: str, setup: Mapping | None = None) -> None:
    """Create (or find) the experiment, creating and migrating the DB: once, in one job,
    before any other job logs (fresh sqlite DBs race in their migration). It is tagged as
    model training (an existing experiment too, unless it has a kind already: a kind chosen
    in the UI stays) and described by `setup` (notes.experiment_setup; None: no
    description)."""
    create_sqlite_atomically(tracking_uri())
    index_run_keys(tracking_uri())

    def create():
        client = _client()  # inside the retry: opening the store can fail too (full disk)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = client.create_experiment(
                experiment, artifact_location=local_artifact_location(),
                tags={notes.KIND_TAG: notes.MODEL_TRAINING})
        else:
            experiment_id = found.experiment_id
            if notes.KIND_TAG not in found.tags:
                client.set_experiment_tag(experiment_id, notes.KIND_TAG, notes.MODEL_TRAINING)
        if setup is not None:
            client.set_experiment_tag(experiment_id, notes.NOTE_TAG,
                                      notes.experiment_note(experiment, setup))
        return experiment_id

    experiment_id = retry(create, "experiment setup")
    log.info("MLflow experiment %r (%s) at %s", experiment, experiment_id,
             redact(tracking_uri()))
    fileio.write_json(output, {"experiment": experiment, "experiment_id": experiment_id,
                               "tracking_uri": redact(tracking_uri()),
                               "ui_path": notes.UI_PATH.format(experiment_id=experiment_id)})


@releases_sqlite
def start_study(experiment_path: str, study: str, strategy: str, study_hash: str,
                output: str, seed: int | None = None, budget: int | None = None) -> bool:
    """Create (or find) the study's parent run, described by its strategy, seed and budget.
    One job per study, keyed by the study's own config hash: changing one strategy's
    settings leaves the other studies' runs alone. True when the run was created now (it
    then has no trial runs)."""
    from mlflow.entities import RunTag

    experiment = fileio.read_json(experiment_path)

    def setup():
        client = _client()
        run, created = find_or_create_run(client, experiment["experiment_id"],
                                          study_key(study_hash, study), f"{study} study")
        note = notes.keep_results(notes.study_note(study, strategy, seed, budget),
                            run.data.tags.get(notes.NOTE_TAG, ""))
        log_batch(client, run.info.run_id, tags=[
            RunTag("strategy", strategy), RunTag("study", study),
            RunTag("study_hash", study_hash), RunTag("role", "study"),
            RunTag(notes.NOTE_TAG, note)])
        return run.info.run_id, created

    run_id, created = retry(setup, f"start of the {study} study run")
    log.info("%s: study run %s", study, run_id)
    fileio.write_json(output, {"experiment_id": experiment["experiment_id"], "study": study,
                               "strategy": strategy, "study_hash": study_hash,
                               "run_id": run_id})
    return created


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def fold_metrics(record: Mapping, timing: Mapping, base: int, final_step: int = 0) -> list:
    """A fold's metrics on its trial's run, named `fold_<k>/<metric>`: the per-epoch history
    (step = epoch), the final values not in the history, and the fit's wall and CPU seconds.

    On the trial run rather than a run per fold: each run costs MLflow's store a create, a
    batch and a close, and 3 fold runs made logging a trial 3x dearer (0.17 against 0.05 CPU
    s here), which 8 concurrent writers on 2 cores pay 4 times over. The UI groups the
    `fold_<k>/` metrics of a run into one section per fold.

    A fit continued from a checkpoint (a promoted multi-fidelity trial) numbers its epochs on
    from the checkpoint's (`first_epoch`), so a fold's curve runs on across rungs; its final
    values and times go at `final_step` (the rung's fidelity)."""
    from mlflow.entities import Metric

    prefix, first = f"fold_{record['fold']}", record.get("first_epoch", 0)
    history = record.get("history") or {}
    metrics = [Metric(f"{prefix}/{key}", float(value), base + first + step, first + step)
               for key, values in sorted(history.items())
               for step, value in enumerate(values) if value is not None]
    metrics += [Metric(f"{prefix}/{key}", float(value), base + final_step, final_step)
                for key, value in sorted(record["metrics"].items())
                if key not in history and _number(value) is not None]
    metrics += [Metric(f"{prefix}/{key}", float(timing[key]), base + final_step, final_step)
                for key in ("fit_seconds", "fit_cpu_seconds")]
    return metrics


@releases_sqlite
def log_trial(tracking_path: str, study: str, strategy: str, round_index: int, score: Mapping,
              fold_records: Sequence[Mapping], fold_timings: Sequence[Mapping],
              data_checksum: str | None, output: str | None = None,
              attempts: int | None = None) -> str:
    """_log_trial, its sqlite connections closed after."""
    return _log_trial(tracking_path, study, strategy, round_index, score, fold_records,
                      fold_timings, data_checksum, output, attempts)


def _log_trial(tracking_path: str, study: str, strategy: str, round_index: int,
               score: Mapping, fold_records: Sequence[Mapping],
               fold_timings: Sequence[Mapping], data_checksum: str | None,
               output: str | None = None, attempts: int | None = None) -> str:
    """Log one finished trial (a child of its study's run, its folds' metrics on it), then
    mark it (output: {"run_id"}); its run's id. fold_timings: each fold's measured
    fit_seconds and fit_cpu_seconds, in order. attempts: of each MLflow call (retry).
    A new run in the embedded sqlite store is written in one transaction
    (hpstudy.tracking.bulk: one search and one commit instead of MLflow's four); an
    existing one (a rerun, a promoted multi-fidelity trial's config) is updated through the
    client."""
    tracking = fileio.read_json(tracking_path)
    key, store, run_id = trial_key(tracking, study, score), bulk.sql_store(), None
    if store is not None and config_trial(score) == score["trial"]:
        what = f"logging of {study} trial {score['trial']}"  # as the client path says it
        found = retry(lambda: bulk.run_ids_by_key(store, tracking["experiment_id"], [key],
                                                  KEY_TAG), what, attempts)
        if not found:
            run_id = _create_runs(store, tracking, study, strategy,
                                  [[(round_index, (score, fold_records, fold_timings))]],
                                  [key], data_checksum, what, attempts)[key]
    if run_id is None:
        run_id = _log_trial_run(tracking, study, strategy, round_index, score, fold_records,
                                fold_timings, data_checksum, attempts=attempts)
    if output is not None:
        fileio.write_json(output, {"run_id": run_id})
    return run_id


# A trial is logged by the job that scores it (execution.fold_jobs per_trial: its training
# job; per_fold: score_trial), not by a job of its own: a job per trial cost ~0.1 CPU s of
# start-up and Snakemake besides its logging, half a study's jobs. That job must not fail
# for MLflow (Snakemake would delete its outputs, the training with them): a trial it cannot
# log is marked pending, and finish_studies logs it (catch_up_trials), failing loudly then.
# Its marker (trials/<t>/mlflow.json) says what was logged where: {"run_id", "study_run"}
# or {"pending": why}, and "request" (trial_request: the files to log it from).
INLINE_ATTEMPTS = 2  # of each MLflow call in the scoring job: a catch-up follows
# ... and each HTTP request to a tracking server tried once, for 30 s at most, unless the user
# set these: MLflow's defaults (7 retries with backoff, 120 s) would hold a training job's
# cores for minutes per trial while a server is down.
INLINE_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def trial_request(tracking: str, study: str, strategy: str, round_index: int, score: str,
                  folds: Sequence[str], timings: Sequence[str],
                  dataset: str | None) -> dict:
    """What logging a trial reads: its study run's file (start_study), its score, its fold
    records and timings, the data's metadata (None: no data), and where it belongs."""
    return {"tracking": tracking, "study": study, "strategy": strategy, "round": round_index,
            "score": score, "folds": list(folds), "timings": list(timings),
            "dataset": dataset}


def _log_request(request: Mapping, attempts: int | None = None) -> str:
    """Log the trial a trial_request names: its run's id."""
    dataset = request["dataset"]
    return _log_trial(
        request["tracking"], request["study"], request["strategy"], request["round"],
        fileio.read_json(request["score"]),
        sorted((fileio.read_json(p) for p in request["folds"]), key=lambda r: r["fold"]),
        [fileio.read_json(p) for p in request["timings"]],
        fileio.read_json(dataset)["sha256"]["x"] if dataset else None, attempts=attempts)


def _study_run(tracking_path: str) -> str:
    return fileio.read_json(tracking_path)["run_id"]


def _needs_logging(marker: Mapping, study_runs: dict[str, str]) -> bool:
    """A trial's marker left for the catch-up: pending, or logged into a study run that is no
    longer its study's (the store or the study run made anew: a new tracking URI).
    study_runs: {study run file: its run id}, filled as they are read."""
    request = marker.get("request")
    if request is None:  # marked by a logging job of its own (per_round, per_study)
        return False
    if "pending" in marker:
        return True
    tracking = request["tracking"]
    if tracking not in study_runs:
        study_runs[tracking] = _study_run(tracking)
    return marker.get("study_run") != study_runs[tracking]


@releases_sqlite
def log_trial_here(request: Mapping, output: str, rung_below: Sequence[str] = ()) -> None:
    """Log a trial from the job that scored it (the request: trial_request), and mark it.
    Pending instead when MLflow does not answer after INLINE_ATTEMPTS, when the job runs on
    a cluster node and the store is the run's sqlite DB (its locks are not safe over a
    network file system: the login node writes it), or when a multi-fidelity trial's rung
    below (its markers: rung_below) is pending: a configuration's rungs are logged in order.
    The job never fails for MLflow here."""
    why = None
    if os.environ.get(CLUSTER_NODE_ENV) and sqlite_database(tracking_uri()) is not None:
        why = "a cluster job does not write the run's sqlite DB"
    elif not os.path.exists(request["tracking"]):  # an input: only if deleted since
        why = "its study's MLflow run is not started"
    elif any(_needs_logging(fileio.read_json(path), {}) for path in rung_below):
        why = "the rung below is not logged yet"
    else:
        why = _log_now(request, output)
    if why is not None:
        log.warning("%s trial %s: not logged to MLflow now (%s); finish_studies logs it",
                    request["study"], fileio.read_json(request["score"])["trial"], why)
        fileio.write_json(output, {"pending": why, "request": dict(request)})


def _log_now(request: Mapping, output: str) -> str | None:
    """log_trial_here's try, with INLINE_ATTEMPTS and INLINE_HTTP: None when logged and
    marked, else why not (TrackingError's message)."""
    import time

    started = time.process_time()
    unset = [name for name in INLINE_HTTP if name not in os.environ]
    os.environ.update({name: INLINE_HTTP[name] for name in unset})
    try:
        run_id = _log_request(request, INLINE_ATTEMPTS)
    except TrackingError as error:
        return str(error)
    finally:
        for name in unset:
            os.environ.pop(name, None)
    # The bench (bench/quickstart.py) counts this CPU as MLflow's.
    log.info("%s trial %s logged to MLflow in %.3f CPU s", request["study"],
             fileio.read_json(request["score"])["trial"], time.process_time() - started)
    fileio.write_json(output, {"run_id": run_id, "study_run": _study_run(request["tracking"]),
                               "request": dict(request)})
    return None


@releases_sqlite
def catch_up_trials(markers: Sequence[str]) -> list[str]:
    """Log, in the order given (a study's trials in order: a configuration's rungs in
    order), every trial whose marker needs it (_needs_logging), with MLflow's full retries:
    a store still unreachable fails the job, naming it. The markers stay as they are (each is
    its scoring job's output); a later catch-up logs nothing twice (runs are found by key).
    The markers of the trials logged."""
    study_runs: dict = {}
    caught_up = []
    for path in markers:
        marker = fileio.read_json(path)
        if _needs_logging(marker, study_runs):
            _log_request(marker["request"])
            caught_up.append(path)
    if caught_up:
        log.info("logged %d trials pending or in an earlier study run: %s", len(caught_up),
                 ", ".join(caught_up))
    return caught_up


def log_round(tracking_path: str, study: str, strategy: str, round_index: int,
              results: Mapping, timings: Sequence[Mapping], data_checksum: str | None,
              output: str) -> None:
    """Log every trial of a round (execution.fold_jobs: per_round) in one job, each as
    log_trial would, then mark the round. A rerun after a failure finds the runs already
    logged (by their key) and logs nothing twice."""
    log_rounds(tracking_path, study, strategy, [(round_index, results, timings, output)],
               data_checksum)


@releases_sqlite
def log_study(experiment_path: str, study: str, strategy: str, study_hash: str, seed: int,
              budget: int, tracking_output: str,
              rounds: Sequence[tuple[int, Mapping, Sequence[Mapping], str]],
              data_checksum: str | None) -> None:
    """A study's run started (start_study) and its trials logged (log_rounds) at once:
    execution.fold_jobs: per_study (log_studies), whose trials are all in before anything
    is logged."""
    created = start_study(experiment_path, study, strategy, study_hash, tracking_output,
                          seed=seed, budget=budget)
    log_rounds(tracking_output, study, strategy, rounds, data_checksum, new_study=created)


@releases_sqlite
def log_studies(experiment_path: str, strategy: str, studies: Sequence[Mapping],
                data_checksum: str | None) -> None:
    """Every study of a strategy (its own and its repeats') logged by one job, each as
    log_study would, in one process: execution.fold_jobs: per_study. Each study: {"study",
    "study_hash", "seed", "budget", "tracking_output", "rounds"} (log_study's arguments)."""
    for study in studies:
        log_study(experiment_path, study["study"], strategy, study["study_hash"],
                  study["seed"], study["budget"], study["tracking_output"], study["rounds"],
                  data_checksum)


@releases_sqlite
def log_rounds(tracking_path: str, study: str, strategy: str,
               rounds: Sequence[tuple[int, Mapping, Sequence[Mapping], str]],
               data_checksum: str | None, new_study: bool = False) -> None:
    """Log the trials of several rounds, each round (index, results, timings, marker) then
    marked (execution.fold_jobs: per_study logs a study's rounds in one job). The study's
    trial runs already in MLflow are found with one search, not one per trial, and updated
    (a rerun after a failure: nothing logged twice); new_study (its run was created by this
    job) has none, and skips that search: a scan of every run's key in the store, 0.25 CPU
    s per study at the end of the benchmark suite's 1.3 GB DB.

    With the embedded sqlite store the runs not in MLflow yet are written in one
    transaction (hpstudy.tracking.bulk), a multi-fidelity configuration's run with every
    rung of it these rounds hold (merged_content); else, and for the runs that exist,
    through MLflow's client one by one."""
    tracking = fileio.read_json(tracking_path)
    prefix = f"{study_key(tracking['study_hash'], study)}/trial-"
    known = {} if new_study else retry(
        lambda: find_runs(_client(), tracking["experiment_id"], prefix),
        f"search for the {study} study's trial runs")
    logged = []  # per round: its marker and its trials, each (round, trial, key)
    for round_index, results, timings, output in rounds:
        trials = [(score, [r for r in results["folds"] if r["trial"] == score["trial"]],
                   [t for t in timings if t["trial"] == score["trial"]])
                  for score in results["scores"]]
        logged.append((output, [(round_index, trial, trial_key(tracking, study, trial[0]))
                                for trial in trials]))
    run_ids: dict[str, str] = {}
    store = bulk.sql_store()
    if store is not None:
        rungs: dict[str, list] = {}  # key: its (round, trial) rungs, in order
        for _, trials in logged:
            for round_index, trial, key in trials:
                if key not in known:
                    rungs.setdefault(key, []).append((round_index, trial))
        if rungs:
            run_ids = _create_runs(store, tracking, study, strategy, list(rungs.values()),
                                   list(rungs), data_checksum)
    written = set(run_ids)  # every rung of these is in
    for output, trials in logged:
        for round_index, (score, folds, fold_timings), key in trials:
            if key not in written:
                run_ids[key] = _log_trial_run(tracking, study, strategy, round_index, score,
                                              folds, fold_timings, data_checksum, known)
        fileio.write_json(output, {"run_ids": {str(trial[0]["trial"]): run_ids[key]
                                               for _, trial, key in trials}})


def _create_runs(store, tracking: Mapping, study: str, strategy: str,
                 rungs: Sequence[Sequence[tuple[int, tuple]]], keys: Sequence[str],
                 data_checksum: str | None, what: str | None = None,
                 attempts: int | None = None) -> dict[str, str]:
    """New trial runs in one transaction: {key: run id}. Each run's `rungs`: its trials,
    each (round index, (score, folds, fold timings)), one unless a multi-fidelity
    configuration's promotions follow its first trial. A retry after a failed attempt first
    looks for what a commit that raised afterwards may have written."""
    from mlflow.utils.time import get_current_time_millis

    attempts = []

    def create():
        pending = list(zip(rungs, keys, strict=True))
        found = {}
        if attempts:
            existing = find_runs(_client(), tracking["experiment_id"],
                                 f"{study_key(tracking['study_hash'], study)}/trial-")
            found = {key: existing[key].info.run_id for key in keys if key in existing}
            pending = [(trials, key) for trials, key in pending if key not in found]
        attempts.append(1)
        start = get_current_time_millis()
        runs = [{"key": key, "name": f"{study} trial {config_trial(trials[0][1][0])}",
                 "start_time": start,
                 **merged_content([trial_content(tracking, study, strategy, round_index,
                                                 score, folds, fold_timings, data_checksum,
                                                 start)
                                   for round_index, (score, folds, fold_timings) in trials])}
                for trials, key in pending]
        ids = bulk.create_finished_runs(store, tracking["experiment_id"], runs,
                                        tracking["run_id"], KEY_TAG)
        return {**found, **dict(zip([key for _, key in pending], ids, strict=True))}

    created = retry(create, what or f"logging of the {study} study's trials", attempts)
    log.info("logged %s trials %s as %d new runs in one transaction", study,
             [score["trial"] for trials in rungs for _, (score, _, _) in trials], len(keys))
    return created


def merged_content(contents: Sequence[Mapping]) -> dict:
    """One run's content (trial_content) from its rungs' contents in order: what logging the
    first as a new run and each later one onto it leaves (MLflow's log_batch and
    set_terminated): every rung's metrics, the params (a configuration's are the same at
    every rung), the tags with the later rung's value where both have one, the last rung's
    status."""
    if len(contents) == 1:
        return dict(contents[0])
    from mlflow.entities import RunTag

    tags: dict[str, str] = {}
    for content in contents:
        tags.update((tag.key, tag.value) for tag in content["tags"])
    return {"metrics": [metric for content in contents for metric in content["metrics"]],
            "params": list({param.key: param for content in contents
                            for param in content["params"]}.values()),
            "tags": [RunTag(key, value) for key, value in sorted(tags.items())],
            "status": contents[-1]["status"]}


def config_trial(score: Mapping) -> int:
    """The trial whose run a trial logs onto: a multi-fidelity configuration's first."""
    return score.get("config_trial", score["trial"])


def trial_key(tracking: Mapping, study: str, score: Mapping) -> str:
    """The key of a trial's run. A multi-fidelity config is one run across its rungs: each
    rung's trial logs onto the run of the config's first trial."""
    return f"{study_key(tracking['study_hash'], study)}/trial-{config_trial(score)}"


def trial_content(tracking: Mapping, study: str, strategy: str, round_index: int,
                  score: Mapping, fold_records: Sequence[Mapping],
                  fold_timings: Sequence[Mapping], data_checksum: str | None,
                  base: int) -> dict:
    """What a trial's run holds: {"metrics", "params", "tags" (MLflow entities, sorted),
    "status"}; metric timestamps count from `base`, the run's start time (milliseconds), so
    that logging the same trial again adds no value."""
    from mlflow.entities import Metric, Param, RunTag

    study_hash, trial = tracking["study_hash"], score["trial"]
    # A multi-fidelity trial's values go at step = the rung's fidelity (epochs), so that
    # MLflow's chart of objective against step shows the halving.
    step = score.get("fidelity", 0)
    timings = {timing["fold"]: timing for timing in fold_timings}
    metrics = {"duration_s": sum(t["fit_seconds"] for t in fold_timings),
               "cpu_seconds": sum(t["fit_cpu_seconds"] for t in fold_timings),
               **score["metrics"]}
    if score["objective"] is not None:
        metrics["objective"] = score["objective"]
    tags = {"strategy": strategy, "study": study, "trial": trial, "round": round_index,
            "seed": score["seed"], "status": score["status"],
            "study_hash": study_hash, "data_checksum": data_checksum or "none",
            "git_commit": provenance.git_commit(), "package_versions": package_versions(),
            "role": "trial"}
    if "fidelity" in score:  # the latest rung logged; each rung's own trial id
        tags.update({key: score[key] for key in ("fidelity", "bracket", "rung")})
        tags.update({"trial": config_trial(score), f"rung_{score['rung']}.trial": trial})
    if "reason" in score:  # a failed trial: why (hpstudy.outcome.failure_reason)
        tags["reason"] = score["reason"]
    for record in fold_records:
        prefix = f"fold_{record['fold']}"
        tags.update({f"{prefix}.status": record["status"], f"{prefix}.seed": record["seed"],
                     f"{prefix}.epochs_run": record.get("epochs_run", 0)})
        if "reason" in record:
            tags[f"{prefix}.reason"] = record["reason"]
    return {
        "metrics": [Metric(k, float(v), base + step, step)
                    for k, v in sorted(metrics.items()) if _number(v) is not None]
        + [metric for record in fold_records
           for metric in fold_metrics(record, timings[record["fold"]], base, step)],
        "params": [Param(k, str(v)) for k, v in sorted(score["params"].items())],
        "tags": [RunTag(k, str(v)) for k, v in sorted(tags.items())],
        # A failed trial shows as failed in the UI's run table (for a multi-fidelity trial:
        # as its latest rung did).
        "status": "FAILED" if score["status"] == "failed" else "FINISHED",
    }


def _log_trial_run(tracking: Mapping, study: str, strategy: str, round_index: int,
                   score: Mapping, fold_records: Sequence[Mapping],
                   fold_timings: Sequence[Mapping], data_checksum: str | None,
                   known: dict | None = None, attempts: int | None = None) -> str:
    """Log one trial through MLflow's client: its run found or created, then its content.
    known: the study's trial runs by key (find_runs), when searched for already; a run this
    creates is added to it. attempts: retry's."""
    trial, key = score["trial"], trial_key(tracking, study, score)
    name = f"{study} trial {config_trial(score)}"

    def log_all():
        client = _client()
        run = ensure_run(client, tracking["experiment_id"], key, name, tracking["run_id"],
                         known)
        if known is not None:
            known[key] = run
        content = trial_content(tracking, study, strategy, round_index, score, fold_records,
                                fold_timings, data_checksum, run.info.start_time)
        log_batch(client, run.info.run_id, metrics=content["metrics"],
                  params=content["params"], tags=content["tags"])
        client.set_terminated(run.info.run_id, content["status"])
        return run.info.run_id

    run_id = retry(log_all, f"logging of {study} trial {trial}", attempts)
    log.info("logged %s trial %d as run %s (%d folds)", study, trial, run_id,
             len(fold_records))
    return run_id


@releases_sqlite
def finish_studies(studies: Sequence[tuple[str, str, str, Sequence[str], str]],
                   verdict: str | None = None, setup: Mapping | None = None,
                   markers: Sequence[str] = ()) -> None:
    """Close every study's parent run (_finish_study), each (study, tracking_path,
    trials_csv, artifacts, output), in one process: one MLflow store for all, after
    logging the trials their scoring jobs left pending (catch_up_trials; `markers`: every
    trial's, or round's, marker). The experiment's description (`setup`) is written once."""
    catch_up_trials(markers)
    for index, (study, tracking_path, trials_csv, artifacts, output) in enumerate(studies):
        _finish_study(tracking_path, study, trials_csv, artifacts, output, verdict,
                      setup if index == 0 else None)


def _finish_study(tracking_path: str, study: str, trials_csv: str,
                  artifacts: Sequence[str], output: str, verdict: str | None,
                  setup: Mapping | None) -> None:
    """Close a study's parent run: its best result (metric best_objective, tag best_trial,
    and in its description with the report's verdict sentences about its strategy, from
    `verdict`, a CSV that may not exist), its artifacts, FINISHED. With `setup`
    (notes.experiment_setup), the experiment's description names every strategy."""
    import pandas as pd
    from mlflow.entities import Metric, RunTag

    tracking = fileio.read_json(tracking_path)
    run_id = tracking["run_id"]
    table = pd.read_csv(trials_csv)
    ok = table[table["status"] == "ok"]
    best = ok.loc[ok["objective"].idxmin()] if len(ok) else None
    sentences = notes.verdict_sentences(verdict, tracking.get("strategy", study))

    def finish():
        client = _client()
        run = client.get_run(run_id)
        base = run.info.start_time
        metrics = [Metric("trials", float(len(table)), base, 0),
                   Metric("trials_ok", float(len(ok)), base, 0)]
        note = notes.results_note(run.data.tags.get(notes.NOTE_TAG, ""), len(table), len(ok),
                            None if best is None else float(best["objective"]),
                            None if best is None else int(best["trial"]), sentences)
        tags = [RunTag(notes.NOTE_TAG, note)]
        if best is not None:
            metrics.append(Metric("best_objective", float(best["objective"]), base, 0))
            tags.append(RunTag("best_trial", str(int(best["trial"]))))
        log_batch(client, run_id, metrics=metrics, tags=tags)
        if setup is not None:
            experiment = client.get_experiment(run.info.experiment_id)
            client.set_experiment_tag(experiment.experiment_id, notes.NOTE_TAG,
                                      notes.experiment_note(experiment.name, setup))
        for path in [trials_csv, *artifacts]:
            if Path(path).is_dir():
                client.log_artifacts(run_id, path, artifact_path=Path(path).name)
            else:
                client.log_artifact(run_id, path)
        client.set_terminated(run_id, "FINISHED")

    retry(finish, f"closing of the {study} study run")
    fileio.write_json(output, {"run_id": run_id, "artifacts": [Path(p).name for p in
                                                                [trials_csv, *artifacts]]})
