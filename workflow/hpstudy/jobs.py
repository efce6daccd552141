"""One function per workflow job. Scripts in workflow/scripts/ only unpack Snakemake's
objects and call these, so every job can also be run and tested without Snakemake."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpstudy import fileio
from hpstudy.outcome import fit_time, fold_or_failure
from hpstudy.records import read_records, timings_table, trials_table
from hpstudy.seeds import derive_seed
from hpstudy.space import SearchSpace

log = logging.getLogger("hpstudy")
JOB_LOG_LEVEL = logging.INFO  # what a job's log shows (setup_logging)


def setup_logging(path: str | None) -> None:
    """Log to the job's `log:` file (and stderr), with timestamps, so progress can be seen."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    logging.basicConfig(handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Only when it changes: setting the root's level clears a cache in every logger (10 ms
    # with MLflow's, SQLAlchemy's and TensorFlow's loaded; the warm worker sets it once for
    # its jobs, worker.remember).
    root = logging.getLogger()
    if root.level != JOB_LOG_LEVEL:
        root.setLevel(JOB_LOG_LEVEL)

    def log_failure(kind, error, trace):
        # The reason a job failed belongs in its log file, not only on Snakemake's console.
        log.critical("job failed: %s: %s", kind.__name__, error, exc_info=(kind, error, trace))

    sys.excepthook = log_failure


def prepare_data(dataset_config: Mapping, cv_config: Mapping, x_path: str, y_path: str,
                 folds_path: str, metadata_path: str) -> None:
    from hpstudy import data

    x, y, folds, metadata = data.prepare(dict(dataset_config), dict(cv_config))
    log.info("dataset %s: %d examples of shape %s, %d test, folds of %s", metadata["source"],
             metadata["examples"], metadata["image_shape"], metadata["test_examples"],
             metadata["fold_sizes"])
    fileio.write_npy(x_path, x)
    fileio.write_npy(y_path, y)
    fileio.write_npy(folds_path, folds)
    fileio.write_json(metadata_path, metadata)


def observation_from_score(score: Mapping[str, Any]) -> dict[str, Any]:
    return {"trial": score["trial"], "params": score["params"],
            "objective": score["objective"], "status": score["status"]}


def propose_round(strategy: str, space_config: Mapping, settings: Mapping, study_seed: int,
                  round_index: int, trial_ids: Sequence[int], previous_round: str | None,
                  previous_scores: Sequence[str], output: str) -> None:
    """Write round r: the history of rounds < r and the params proposed for round r."""
    from hpstudy.strategies import Observation, make_strategy

    history: list[dict] = []
    if previous_round is not None:
        history = list(fileio.read_json(previous_round)["history"])
        history += [observation_from_score(score)
                    for score in read_records(previous_scores, "scores")]
    history.sort(key=lambda record: record["trial"])
    space = SearchSpace.from_config(space_config)
    chooser = make_strategy(strategy, space, settings, study_seed)
    started = time.perf_counter()
    proposals = chooser.proposals(list(trial_ids),
                                  [Observation.from_dict(r) for r in history])
    log.info("%s round %d: proposed trials %s from %d finished trials in %.2f s", strategy,
             round_index, list(trial_ids), len(history), time.perf_counter() - started)
    if [entry["trial"] for entry in proposals] != list(trial_ids):
        raise RuntimeError(f"{strategy} proposed trials {[e['trial'] for e in proposals]}, "
                           f"not {list(trial_ids)}")
    for entry in proposals:
        if not space.contains(entry["params"]):
            raise RuntimeError(f"{strategy} proposed {entry['params']} for trial "
                               f"{entry['trial']}, outside the search space")
    fileio.write_json(output, {
        "strategy": strategy,
        "round": round_index,
        "history": history,
        "proposals": proposals,
    })


def proposal(round_path: str, trial: int) -> dict[str, Any]:
    for entry in fileio.read_json(round_path)["proposals"]:
        if entry["trial"] == trial:
            return entry
    raise KeyError(f"trial {trial} is not proposed in {round_path}")


# What a multi-fidelity strategy's proposal says of a trial (Strategy.proposals); carried into
# its fold records, its score and trials.csv.
MULTI_FIDELITY_KEYS = ("fidelity", "from_fidelity", "bracket", "rung", "promoted_from",
                       "config_trial")


# Snakemake's attempt at a training job and how many it makes (its rule's `retries` + 1), set
# by the rule's shell command: not params, which Snakemake computes once per job and keeps
# for its retries.
ATTEMPT_ENV, ATTEMPTS_ENV = "HPSTUDY_ATTEMPT", "HPSTUDY_ATTEMPTS"


def job_attempt() -> tuple[int, int]:
    """(attempt, attempts) of this job; (1, 1) outside Snakemake, where nothing retries."""
    return int(os.environ.get(ATTEMPT_ENV, "1")), int(os.environ.get(ATTEMPTS_ENV, "1"))


def evaluate_folds(objective: str, settings: Mapping, entry: Mapping, folds: Sequence[int],
                   data_paths: Mapping[str, str] | None, threads: int,
                   checkpoints: Sequence[str] = (), checkpoint_outputs: Sequence[str] = (),
                   attempt: tuple[int, int] = (1, 1)):
    """Yield (fold record, fold timing) for folds of one proposed trial, trained one after
    another. A diverging fit, or one these params make impossible (outcome.fold_or_failure), is
    recorded, not raised, so the study goes on. Each fold's record depends only on its own
    seed; the fit's measured times (outcome.fit_time) are in the timing, apart.

    A multi-fidelity trial trains to its `fidelity`; a promoted one continues each fold from
    its parent's checkpoint of that fold, found among `checkpoints` (the rung below's); with
    `checkpoint_outputs` (one per fold) each fold's model is saved for the next rung."""
    from hpstudy.objectives import objective_class

    module, trial = objective_class(objective), entry["trial"]
    if "fidelity" in entry:  # a multi-fidelity strategy's trial: trained to its fidelity
        settings = {**settings, module.fidelity: entry["fidelity"]}
    saves = dict(zip(folds, checkpoint_outputs, strict=True)) if checkpoint_outputs else {}
    for fold in folds:
        continuation = {}
        if entry.get("promoted_from") is not None and module.continues:
            continuation["start_from"] = (
                parent_checkpoint(checkpoints, entry["promoted_from"], fold),
                entry["from_fidelity"])
        if fold in saves:
            continuation["checkpoint_to"] = saves[fold]
        seed = derive_seed(entry["seed"], "fold", fold)
        fold_data = None
        if data_paths:
            from hpstudy.data import load_fold

            fold_data = load_fold(data_paths["x"], data_paths["y"], data_paths["folds"], fold)
        log.info("trial %d fold %d: params %s, seed %d", trial, fold, entry["params"], seed)
        with fit_time() as fit:
            record = fold_or_failure(module, settings, entry, fold, seed, fold_data, threads,
                                     continuation, attempt)
        record.update({"trial": trial, "fold": fold, "seed": seed, "trial_seed": entry["seed"],
                       "params": entry["params"]})
        record.update({key: entry[key] for key in MULTI_FIDELITY_KEYS if key in entry})
        log.info("trial %d fold %d: %s %s in %.1f s", trial, fold, record["status"],
                 record.get("reason", record["metrics"]), fit["fit_seconds"])
        yield record, {"trial": trial, "fold": fold, **fit}


def parent_checkpoint(checkpoints: Sequence[str], parent: int, fold: int) -> str:
    """The checkpoint of `parent`'s fold among a rung's (paths.checkpoint_file's layout)."""
    for path in checkpoints:
        if Path(path).parent.name == str(parent) and Path(path).name == f"fold_{fold}.keras":
            return path
    raise RuntimeError(f"no checkpoint of trial {parent} fold {fold} among the job's inputs "
                       f"{list(checkpoints)}")


def train_folds(objective: str, settings: Mapping, round_path: str, trial: int,
                folds: Sequence[int], data_paths: Mapping[str, str] | None, threads: int,
                outputs: Sequence[str], timing_outputs: Sequence[str],
                checkpoints: Sequence[str] = (), checkpoint_outputs: Sequence[str] = (),
                attempt: tuple[int, int] = (1, 1)) -> None:
    """Train and validate folds of one trial (one job per fold, or one per trial: see
    `execution.fold_jobs`), each fold's record and timing to its own files. `attempt`:
    (Snakemake's attempt at this job, how many it makes), see job_attempt."""
    trained = evaluate_folds(objective, settings, proposal(round_path, trial), folds,
                             data_paths, threads, checkpoints, checkpoint_outputs, attempt)
    for (record, timing), output, timing_output in zip(trained, outputs, timing_outputs,
                                                       strict=True):
        # The timing first: a fold file never exists without its timing.
        fileio.write_json(timing_output, timing)
        fileio.write_json(output, record)


def trained_proposal(record: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal a fold record was trained from (evaluate_folds stamps it on each fold)."""
    return {"trial": record["trial"], "seed": record["trial_seed"], "params": record["params"],
            **{key: record[key] for key in MULTI_FIDELITY_KEYS if key in record}}


def trial_score(objective: str, settings: Mapping, entry: Mapping[str, Any],
                records: Sequence[Mapping]) -> dict:
    """A trial's score from its proposal (`entry`) and its fold records (sorted by fold)."""
    from hpstudy.objectives import objective_class

    module = objective_class(objective)
    score = module.score_trial(dict(settings), list(records))
    objective_value = score["objective"]
    if objective_value is not None and not math.isfinite(objective_value):
        raise RuntimeError(f"trial {entry['trial']}: objective {objective_value} is not finite")
    failed = [record["reason"] for record in records if record["status"] == "failed"]
    if failed:  # the first failed fold's reason: the others' is usually the same
        score["reason"] = failed[0]
    score.update({"trial": entry["trial"], "params": entry["params"], "seed": entry["seed"],
                  "folds": len(records),
                  **{key: entry[key] for key in MULTI_FIDELITY_KEYS if key in entry}})
    # What the trial cost: epochs trained (or a test function's cost model: its record's
    # `resource`), summed over folds (no cost axis for a fidelity left unset: a python
    # function that takes no `budget`, a test function without one).
    if module.fidelity is not None and settings.get(module.fidelity) is not None:
        score["resource"] = sum(record.get("resource", record["epochs_run"])
                                for record in records)
    log.info("trial %d: objective %s (%s)", score["trial"], objective_value, score["status"])
    return score


def score_trial(objective: str, settings: Mapping, fold_paths: Sequence[str],
                output: str) -> None:
    records = sorted((fileio.read_json(p) for p in fold_paths), key=lambda r: r["fold"])
    fileio.write_json(output, trial_score(objective, settings, trained_proposal(records[0]),
                                          records))


def evaluate_round(objective: str, settings: Mapping, round_path: str, folds: Sequence[int],
                   data_paths: Mapping[str, str] | None, threads: int, output: str,
                   timings_output: str, attempt: tuple[int, int] = (1, 1)) -> None:
    """Every fold of every trial of a round, in one job (execution.fold_jobs: per_round, for
    objectives whose trials take microseconds, where a job per trial would cost thousands
    of times the trial). The round's results file holds the same fold records and scores,
    byte for byte, that per-trial jobs write into a file each."""
    scores, records, timings = [], [], []
    for entry in fileio.read_json(round_path)["proposals"]:
        trained = list(evaluate_folds(objective, settings, entry, folds, data_paths, threads,
                                      attempt=attempt))
        records += [record for record, _ in trained]
        timings += [timing for _, timing in trained]
        scores.append(trial_score(objective, settings, entry, [record for record, _ in trained]))
    # The timings first: a results file never exists without them.
    fileio.write_json(timings_output, {"timings": timings})
    fileio.write_json(output, {"scores": scores, "folds": records})


def evaluate_study(strategy: str, space_config: Mapping, settings: Mapping, study_seed: int,
                   rounds: Sequence[Sequence[int]], round_parents: Sequence[int | None],
                   objective: str, objective_settings: Mapping, folds: Sequence[int],
                   data_paths: Mapping[str, str] | None, threads: int,
                   round_outputs: Sequence[str], results_outputs: Sequence[str],
                   timings_outputs: Sequence[str], space_names: Sequence[str],
                   trials_output: str, timings_table_output: str,
                   attempt: tuple[int, int] = (1, 1)) -> None:
    """A whole study in one job (execution.fold_jobs: per_study): each round proposed, then
    evaluated, in order, into the same files, byte for byte, that per_round's propose and
    evaluate_round jobs write, then the study's trials.csv and timings.csv (summarize_study's).
    For objectives whose trials cost microseconds, where even a job per round costs more
    than the round: a study's rounds are a chain anyway (each waits for the scores of the
    one it follows), so one job loses no parallelism; studies still run side by side. A
    killed job leaves its rounds to be remade: seconds."""
    for index, trial_ids in enumerate(rounds):
        parent = round_parents[index]
        if parent is not None and parent >= index:
            raise ValueError(f"round {index} follows round {parent}, which is not before it")
        propose_round(strategy, space_config, settings, study_seed, index, trial_ids,
                      previous_round=None if parent is None else round_outputs[parent],
                      previous_scores=[] if parent is None else [results_outputs[parent]],
                      output=round_outputs[index])
        evaluate_round(objective, objective_settings, round_outputs[index], folds, data_paths,
                       threads, results_outputs[index], timings_outputs[index], attempt)
    summarize_study(space_names, round_outputs, results_outputs, timings_outputs,
                    trials_output, timings_table_output)


def best_score(score_paths: Sequence[str]) -> dict[str, Any] | None:
    """The trial with the lowest objective among those with status ok (ties: lowest id);
    of a multi-fidelity strategy, among those trained to the full fidelity (as the report's
    best trial: hpstudy.report.tables.result_mask)."""
    scores = read_records(score_paths, "scores")
    full = max((s["fidelity"] for s in scores if "fidelity" in s), default=None)
    usable = [s for s in scores if s["status"] == "ok" and s["objective"] is not None
              and s.get("fidelity") == full]
    return min(usable, key=lambda s: (s["objective"], s["trial"])) if usable else None


def evaluate_test(objective: str, settings: Mapping, strategy: str, score_paths: Sequence[str],
                  data_paths: Mapping[str, str] | None, study_seed: int, threads: int,
                  output: str) -> None:
    """Retrain the strategy's best params on all CV data and score them once on the
    held-out test set, which no search ever saw."""
    from hpstudy.objectives import objective_class

    best = best_score(score_paths)
    if best is None:
        log.warning("%s: no trial finished ok; nothing to test", strategy)
        fileio.write_json(output, {"strategy": strategy, "status": "no_ok_trial"})
        return
    test_data = None
    if data_paths:
        from hpstudy.data import load_train_test

        test_data = load_train_test(data_paths["x"], data_paths["y"], data_paths["folds"])
    seed = derive_seed(study_seed, strategy, "test")
    log.info("%s: testing trial %d (CV objective %.6g), params %s", strategy, best["trial"],
             best["objective"], best["params"])
    with fit_time() as fit:
        record = objective_class(objective).evaluate_test(dict(settings), best["params"], seed,
                                                          test_data, threads)
    result = {
        "strategy": strategy, "trial": best["trial"], "params": best["params"], "seed": seed,
        "cv_objective": best["objective"], "status": record["status"],
        "test_objective": record["test_objective"],
    }
    for key in ("test_accuracy", "test_rmse", "test_loss"):
        if key in record:
            result[key] = record[key]
    # The fit time is logged, not written: test.json is a pure function of the job's inputs.
    log.info("%s: test objective %s (%s), retrained in %.1f s", strategy,
             result["test_objective"], result["status"], fit["fit_seconds"])
    fileio.write_json(output, result)


def summarize_study(space_names: Sequence[str], round_paths: Sequence[str],
                    score_paths: Sequence[str], timing_paths: Sequence[str], output: str,
                    timings_output: str) -> None:
    """trials.csv (reproducible: the same bytes on every rerun) and timings.csv (measured)."""
    table = trials_table(space_names, round_paths, score_paths)
    fileio.write_text(output, table.to_csv(index=False, lineterminator="\n"))
    timings = timings_table(timing_paths)
    fileio.write_text(timings_output, timings.to_csv(index=False, lineterminator="\n"))
    finished = table[table["status"] == "ok"]
    if len(finished):
        best = finished.loc[finished["objective"].idxmin()]
        log.info("%d trials, %d ok; best objective %.6g at trial %d", len(table), len(finished),
                 best["objective"], best["trial"])
