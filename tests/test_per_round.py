"""execution.fold_jobs: per_round: one job evaluates a round's trials and one logs them, for
objectives whose trials cost microseconds; per_study: one job proposes and evaluates a whole
study's rounds and one logs them. Same results as a job per fold, fewer jobs."""

from __future__ import annotations

import copy
import json
import re

import pytest

from hpstudy.plan import Plan
from tests.helpers.tracking import mlflow_runs, run_tree
from tests.helpers.workdir import Workdir, load_config

pytestmark = pytest.mark.e2e  # every test runs the workflow (or a dry run of it)

# Every file that is a pure function of the config (timings are measured, not computed).
REPRODUCIBLE = ["{s}/trials.csv", "{s}/test.json", "report/comparison.csv",
                "report/repeats.csv"]


def _config(fold_jobs: str) -> dict:
    """tests/configs/branin.yaml (the session's function_study: one job per fold, the
    default) with `fold_jobs`."""
    config = copy.deepcopy(load_config("branin"))
    config["execution"] = {"fold_jobs": fold_jobs}
    return config


def _jobs(output: str) -> list[str]:
    """The rules of the jobs a Snakemake run started, one entry per job."""
    return re.findall(r"^(?:local)?rule (\w+):", output, re.MULTILINE)


ROUND_FILE_MODES = ["per_round", "per_study"]


@pytest.fixture(scope="module")
def studies(function_study, tmp_path_factory):
    """The same Branin study (4 strategies) with a job per fold (the session's
    function_study), per round and per study."""
    assert function_study.console, "the session study's console is needed for its jobs"
    made = {"per_fold": (function_study, _jobs(function_study.console))}
    for mode in ROUND_FILE_MODES:
        run = Workdir(tmp_path_factory.mktemp(mode))
        run.write_config(_config(mode))
        result = run.snakemake("--cores", "2")
        made[mode] = (run, _jobs(result.stdout + result.stderr))
    return made


@pytest.mark.parametrize("mode", ROUND_FILE_MODES)
def test_round_files_hold_the_same_results_as_per_fold(studies, mode):
    (per_fold, _), (per_round, _) = studies["per_fold"], studies[mode]
    config = _config(mode)
    for strategy in config["strategies"]:
        for pattern in REPRODUCIBLE:
            name = pattern.format(s=strategy)
            assert (per_round.results / name).read_bytes() == \
                (per_fold.results / name).read_bytes(), name
    # A round's file holds, record for record, what per-trial jobs write into a file each.
    for bundle in per_round.results.glob("*/rounds/round_*_results.json"):
        study = bundle.parent.parent.name
        content = json.loads(bundle.read_text(encoding="utf-8"))
        assert content["scores"], bundle
        for score in content["scores"]:
            trial_dir = per_fold.results / study / "trials" / str(score["trial"])
            assert score == json.loads((trial_dir / "score.json").read_text())
        for record in content["folds"]:
            fold_path = per_fold.results / study / "trials" / str(record["trial"]) / \
                f"fold_{record['fold']}.json"
            assert record == json.loads(fold_path.read_text())
    assert not list(per_round.results.glob("*/trials")), f"{mode} wrote per-trial files"


@pytest.mark.parametrize("mode", ROUND_FILE_MODES)
def test_every_trial_is_logged_once_as_per_fold_does(studies, mode):
    (per_fold, _), (per_round, _) = studies["per_fold"], studies[mode]
    config = _config(mode)
    uri = f"sqlite:///{per_round.results / 'mlflow.db'}"
    trees = [run_tree(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
             for run in (per_fold, per_round)]  # run_tree: no run key twice
    assert trees[0] == trees[1]
    plan = Plan.from_config(config)
    trial_runs = [run for run in trees[1].values() if run["tags"]["role"] == "trial"]
    assert len(trial_runs) == sum(plan.budget(s) for s in plan.studies)
    assert {run["status"] for run in trees[1].values()} == {"FINISHED"}
    # The round's marker names the run of each of its trials.
    _, runs = mlflow_runs(uri, config["experiment"])
    by_id = {r.info.run_id: r for r in runs}
    marker = json.loads((per_round.results / "tpe" / "rounds" / "round_1_mlflow.json")
                        .read_text(encoding="utf-8"))
    assert sorted(marker["run_ids"]) == ["2", "3"]
    for trial, run_id in marker["run_ids"].items():
        tags = by_id[run_id].data.tags
        assert (tags["strategy"], tags["trial"], tags["round"]) == ("tpe", trial, "1")


def test_per_round_runs_a_job_per_round_not_per_trial(studies):
    (_, fold_jobs), (_, round_jobs) = studies["per_fold"], studies["per_round"]
    plan = Plan.from_config(_config("per_round"))
    rounds = sum(len(plan.rounds(s)) for s in plan.studies)
    trials = sum(plan.budget(s) for s in plan.studies)
    assert fold_jobs.count("train_fold") == trials * plan.folds
    # per_fold: score_trial also logs its trial (no job of its own for that).
    assert fold_jobs.count("score_trial") == trials and "log_trial" not in fold_jobs
    assert round_jobs.count("evaluate_round") == rounds
    assert round_jobs.count("log_round") == rounds
    assert {"train_trial", "train_fold", "score_trial"}.isdisjoint(round_jobs)
    assert len(round_jobs) < len(fold_jobs), (len(round_jobs), len(fold_jobs))


def test_per_study_runs_a_job_per_study_and_a_log_job_per_strategy(studies):
    (_, round_jobs), (_, study_jobs) = studies["per_round"], studies["per_study"]
    plan = Plan.from_config(_config("per_study"))
    for strategy in plan.strategies:
        assert study_jobs.count(f"evaluate_study_{strategy}") == \
            len(plan.repeat_studies(strategy))
        assert study_jobs.count(f"log_studies_{strategy}") == 1
    # Nor a job to start the study's run or to summarize it: those two do it.
    assert {"propose", "evaluate_round", "log_round", "start_study",
            "summarize_study"}.isdisjoint(study_jobs)
    # per_round: three jobs a round (propose, evaluate, log), and a study's start and
    # summary; per_study: one a study, and one a strategy.
    fewer = sum(3 * len(plan.rounds(s)) + 2 - 1 for s in plan.studies) - len(plan.strategies)
    assert fewer == 24  # grid and random: 1 round each; TPE and GP: 3
    assert len(study_jobs) == len(round_jobs) - fewer, (study_jobs, round_jobs)


@pytest.mark.parametrize("mode, log_job", [("per_round", "log_round"),
                                           ("per_study", "log_studies_gp")])
def test_a_lost_marker_is_relogged_without_duplicates(studies, mode, log_job):
    """A log job killed after MLflow took its trials (the marker not yet written): the rerun
    finds the runs by their keys (per_study: with one search for the study's) and logs
    nothing twice."""
    per_round, _ = studies[mode]
    config = _config(mode)
    marker = per_round.results / "gp" / "rounds" / "round_2_mlflow.json"
    before = json.loads(marker.read_text(encoding="utf-8"))
    marker.unlink()
    result = per_round.snakemake("--cores", "2")
    assert _jobs(result.stdout + result.stderr).count(log_job) == 1
    assert json.loads(marker.read_text(encoding="utf-8")) == before
    client, runs = mlflow_runs(f"sqlite:///{per_round.results / 'mlflow.db'}",
                               config["experiment"])
    keys = [r.data.tags["hpstudy.key"] for r in runs]
    assert len(keys) == len(set(keys))
    for run_id in before["run_ids"].values():
        assert len(client.get_metric_history(run_id, "objective")) == 1


def test_per_round_dry_run_names_its_jobs(tmp_path):
    run = Workdir(tmp_path)
    run.write_config(_config("per_round"))
    result = run.snakemake("-n", "--cores", "2", "tpe")
    jobs = _jobs(result.stdout)
    assert jobs.count("evaluate_round") == 3  # 3 rounds of 2 trials
    assert "results/tpe/rounds/round_2_results.json" in result.stdout
