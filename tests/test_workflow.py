"""The whole DAG, run for real by Snakemake in a temporary directory. Most tests read the
session's function study (tests/conftest.py: tests/configs/branin.yaml run once)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from hpstudy.plan import Plan
from tests.helpers.environments import missing, rule_environments
from tests.helpers.studies import copy_study
from tests.helpers.workdir import load_config

pytestmark = pytest.mark.e2e


def _planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the table `snakemake -n` prints."""
    counts = {}
    for match in re.finditer(r"^(\w+)\s+(\d+)\s*$", dry_run_output, re.MULTILINE):
        if match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def test_function_study_end_to_end(function_study, branin_config):
    workdir = function_study
    plan = Plan.from_config(branin_config)
    for strategy in plan.strategies:
        table = pd.read_csv(workdir.results / strategy / "trials.csv")
        assert list(table["trial"]) == list(range(plan.budget(strategy)))
        assert list(table.columns[:4]) == ["trial", "round", "x", "y"]
        for column in ("objective", "status", "fold_0_value", "fold_1_value",
                       "value_mean", "value_std"):
            assert column in table.columns, column
        # Measured times live beside trials.csv, never in it (it must be reproducible).
        assert not {"duration_s", "fit_seconds"} & set(table.columns)
        timings = pd.read_csv(workdir.results / strategy / "timings.csv")
        assert list(timings.columns) == ["trial", "folds", "fit_seconds", "fit_cpu_seconds"]
        assert list(timings["trial"]) == list(table["trial"])
        assert (timings["folds"] == plan.folds).all()
        assert (table["status"] == "ok").all()
        assert table["x"].between(-5, 10).all() and table["y"].between(0, 15).all()
        # objective = mean over folds of branin + fold noise
        fold_mean = table[["fold_0_value", "fold_1_value"]].mean(axis=1)
        assert (table["objective"] - fold_mean).abs().max() < 1e-9
        # rounds as planned: round r holds trials [r*b, (r+1)*b)
        assert list(table["round"]) == [plan.round_of(strategy, t) for t in table["trial"]]
    grid = pd.read_csv(workdir.results / "grid" / "trials.csv")
    assert len(grid) == 9 and len(grid[["x", "y"]].drop_duplicates()) == 9

    # Held-out test of each strategy's best params: the function's exact value (no noise).
    from hpstudy.objectives.function import branin

    comparison = pd.read_csv(workdir.results / "report" / "comparison.csv").set_index("strategy")
    assert sorted(comparison.index) == sorted(plan.strategies)
    for strategy in plan.strategies:
        test = json.loads((workdir.results / strategy / "test.json").read_text())
        table = pd.read_csv(workdir.results / strategy / "trials.csv")
        best = table.loc[table["objective"].idxmin()]
        assert test["trial"] == best["trial"] and test["cv_objective"] == best["objective"]
        assert test["test_objective"] == pytest.approx(branin(best["x"], best["y"]))
        assert comparison.loc[strategy, "test_objective"] == pytest.approx(
            test["test_objective"])
    figures = {p.name for p in (workdir.results / "report" / "figures").glob("*.png")}
    assert {"best_so_far.png", "best_so_far_time.png", "cv_vs_test.png",
            "tpe_space.png", "gp_parameters.png"} <= figures
    # The page names the experiment and every strategy and embeds every figure.
    page = (workdir.results / "report" / "index.html").read_text()
    assert "test-branin" in page and all(s in page for s in plan.strategies)
    assert page.count('src="data:image/png;base64,') == len(figures)

    # Everything is up to date right after.
    again = workdir.snakemake("--cores", "4", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_change_in_how_jobs_run_reruns_nothing_and_snakemakes_report_lists_the_results(
        function_study, branin_config, tmp_path):
    """Cluster groups and resources are not what results depend on; Snakemake's own report
    holds the flagged figures and tables."""
    workdir = copy_study(function_study, tmp_path / "study")
    workdir.write_config({**branin_config, "execution": {
        "group": "round", "resources": {"train": {"runtime": 5, "mem_mb": 500}}}})
    again = workdir.snakemake("--cores", "4", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    workdir.write_config(branin_config)
    workdir.snakemake("--report", "report.html")
    page = (workdir.path / "report.html").read_text(errors="replace")
    assert "best_so_far" in page and "comparison.csv" in page


# A rerun of the session's function study in a fresh directory, byte for byte: the round
# groups' SLURM run does it (tests/test_cluster.py), every reproducible file compared; the
# per-round run (tests/test_per_round.py) compares the tables in another job layout.


def test_one_strategy_target_runs_only_that_strategy(workdir, branin_config):
    workdir.write_config(branin_config)
    workdir.snakemake("--cores", "2", "random")
    assert (workdir.results / "random" / "trials.csv").exists()
    # Data prep is not needed by a function objective; MLflow's DB and study runs are.
    assert sorted(p.name for p in workdir.results.iterdir()) == [
        "logs", "mlflow.db", "random", "tracking"]


def test_default_config_strategy_target_plans_data_prep_and_that_strategy(workdir):
    """`snakemake tpe` plans TPE's study and its repeats (config.yaml: 7 seeds), nothing of
    the other strategies."""
    config = load_config("default")
    workdir.write_config(config)
    plan = Plan.from_config(config)
    result = workdir.snakemake("--cores", "8", "-n", "tpe")
    jobs = _planned_jobs(result.stdout)
    seeds = plan.repeat_studies("tpe")
    assert seeds == ["tpe", *(f"tpe-repeat{r}" for r in range(1, 7))]
    trials = sum(plan.budget(s) for s in seeds)
    assert jobs == {
        "prepare_data": 1,
        "propose": sum(len(plan.rounds(s)) for s in seeds),
        # config.yaml: execution.fold_jobs = per_trial, whose job scores and logs a trial
        "train_trial": trials,
        "summarize_study": len(seeds),
        "init_tracking": 1,
        "start_study": len(seeds),
        "tpe": 1,
    }


def test_adaptive_rounds_wait_for_earlier_rounds(function_study):
    """Round r of TPE is proposed only after every trial of round r-1 is scored."""
    rounds = function_study.results / "tpe" / "rounds"
    history_sizes = [len(json.loads((rounds / f"round_{r}.json").read_text())["history"])
                     for r in range(3)]
    assert history_sizes == [0, 2, 4]


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("name", [
    "classic_mnist",
    # Its dataset.path is the Debian package's directory, which the Snakefile's pre-flight
    # reads even for a dry run; the package is optional (README, Testing).
    pytest.param("fashion_mnist", marks=pytest.mark.skipif(
        not FASHION_MNIST.is_dir(), reason=f"{FASHION_MNIST} absent: config/fashion_mnist.yaml "
        "reads it (install Debian's optional dataset-fashion-mnist)"))])
def test_study_configs_plan_the_classic_study(workdir, name):
    """config/*.yaml run with --configfile: 100 trials x 5 folds per strategy."""
    from tests.helpers.workdir import REPO

    workdir.write_config(load_config("default"))
    result = workdir.snakemake("-n", "--configfile", str(REPO / "config" / f"{name}.yaml"))
    jobs = _planned_jobs(result.stdout)
    assert jobs["train_fold"] == 4 * 100 * 5, name  # classic configs: one job per fold
    assert jobs["score_trial"] == 400 and "log_trial" not in jobs  # it logs its trial
    assert jobs["propose"] == 1 + 1 + 25 + 25  # grid, random: 1 round; tpe, gp: 100 / 4


def test_multi_fidelity_config_plans_its_rungs(workdir):
    """config/multi_fidelity.yaml: random search beside SHA (13 rung trials), Hyperband and
    BOHB (22 each), promoted trials in rules of their own (they continue from checkpoints)."""
    from tests.helpers.workdir import REPO

    workdir.write_config(load_config("default"))
    result = workdir.snakemake("-n", "--configfile", str(REPO / "config" / "multi_fidelity.yaml"),
                               "--replace-workflow-config")
    jobs = _planned_jobs(result.stdout)
    assert jobs["train_trial"] == 12 and jobs["train_rung_trial"] == 13 + 22 + 22
    assert jobs["propose"] == 1 + 3 + 6 + 6 and "log_trial" not in jobs


def test_repeats_run_each_stochastic_strategy_with_several_seeds(workdir):
    import numpy as np
    from mlflow import MlflowClient
    from scipy.stats import wilcoxon

    from hpstudy.seeds import derive_seed

    config = load_config("repeats")
    workdir.write_config(config)
    workdir.snakemake("--cores", "2")
    plan = Plan.from_config(config)
    assert plan.studies == ["grid", "random", "tpe", "random-repeat1", "tpe-repeat1",
                            "random-repeat2", "tpe-repeat2"]
    finals = {}
    for strategy in ("random", "tpe"):
        tables = [pd.read_csv(workdir.results / s / "trials.csv")
                  for s in plan.repeat_studies(strategy)]
        # Seed 0 is the config's seed; the others differ, so do their proposals.
        round_0 = json.loads((workdir.results / strategy / "rounds" / "round_0.json")
                             .read_text())
        assert round_0["proposals"][0]["seed"] == derive_seed(9, strategy, "trial", 0)
        assert not tables[0][["x", "y"]].equals(tables[1][["x", "y"]])
        finals[strategy] = [t["objective"].min() for t in tables]
    repeats = pd.read_csv(workdir.results / "report" / "repeats.csv").set_index("strategy")
    assert repeats.loc["tpe", "seeds"] == 3
    assert repeats.loc["tpe", "median_final_best"] == pytest.approx(np.median(finals["tpe"]))
    expected = wilcoxon(np.array(finals["tpe"]) - np.array(finals["random"]))
    assert repeats.loc["tpe", "wilcoxon_final_p"] == pytest.approx(expected.pvalue)
    assert (workdir.results / "report" / "figures" / "repeats_best_so_far.png").exists()
    # Every study has its parent run in MLflow; the held-out test is for seed 0 only.
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir.results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("test-repeats")
    parents = client.search_runs([experiment.experiment_id], "tags.role = 'study'")
    assert sorted(r.data.tags["study"] for r in parents) == sorted(plan.studies)
    assert not (workdir.results / "tpe-repeat1" / "test.json").exists()
    # The strategy target covers all of a strategy's seeds.
    planned = _planned_jobs(workdir.snakemake("-n", "--forceall", "tpe").stdout)
    assert planned["summarize_study"] == 3


def reproducible_files(results) -> dict[str, bytes]:
    """Every result file that is a pure function of the config: data, rounds, fold records,
    scores, trials.csv, test.json, the report's comparison.csv and repeats.csv. (Not:
    measured times, logs, MLflow run ids, nor the sqlite store with the write-ahead log and
    index that any reader of it leaves beside it.)"""
    measured = re.compile(r"(^|/)(logs|tracking|mlartifacts)/|_timing\.json$|timings\.csv$"
                          r"|training_time\.csv$|mlflow(_study)?\.json$|\.(html|png)$"
                          r"|\.db(-wal|-shm)?$")
    return {str(path.relative_to(results)): path.read_bytes()
            for path in sorted(results.rglob("*")) if path.is_file()
            and not measured.search(str(path.relative_to(results)))}


def usage_lines(results: Path) -> list[dict]:
    """Every job's usage line (hpstudy.launch), from the job logs."""
    return [json.loads(line.split("usage ", 1)[1])
            for log in (results / "logs").rglob("*.log")
            for line in log.read_text().splitlines() if "hpstudy.launch usage" in line]


@pytest.mark.slow
def test_warm_jobs_write_the_bytes_of_fresh_interpreters(cnn_study, tmp_path):
    """The tiny real CNN's grid (a sane and a diverging point): one job per trial in fresh
    interpreters (execution.warm_start: false, the old way), against the session's cnn_study,
    whose jobs were forked from the warm worker, one per fold. Every reproducible file of the
    data and the grid is equal, and neither run's console shows TensorFlow's start-up noise;
    what each fresh interpreter imported, the conda env of its rule provides. (The grid alone:
    every kind of job runs, and each costs a fresh interpreter's imports, TensorFlow's ~10
    CPU s among them.)"""
    from tests.helpers.workdir import Workdir

    cold = Workdir(tmp_path / "cold")
    cold.path.mkdir()
    config = load_config("cnn_tiny")
    cold.write_config({**config, "strategies": {"grid": config["strategies"]["grid"]},
                       "execution": {"fold_jobs": "per_trial", "warm_start": False}})
    # The cold run's jobs record what their own code imports (hpstudy.launch).
    console = cold.snakemake("--cores", "4", env={"HPSTUDY_RECORD_IMPORTS": "1"})
    runs = {"cold": (cold, console.stdout + console.stderr, "train_trial"),
            "warm": (cnn_study, cnn_study.console, "train_fold")}
    for name, (run, output, training_rule) in runs.items():
        # TensorFlow's start-up lines stay off the console; the jobs' own lines do not.
        for noise in ("absl::InitializeLog", "cuInit", "cudart_stub",
                      "use_unbounded_threadpool"):
            assert noise not in output, (name, noise)
        assert "fold 1: ok" in output and "diverged" in output
        # The folds were grouped as asked: one job per trial or one per fold.
        assert f"rule {training_rule}:" in output, name
        modes = {usage["mode"] for usage in usage_lines(run.results)}
        assert modes == {name}, (name, modes)

    # What each fresh interpreter imported, its conda env provides.
    short = {}
    recorded = [usage for usage in usage_lines(cold.results) if "imports" in usage]
    assert len(recorded) >= 8 and {"propose", "train_folds", "report", "finish_studies"} \
        <= {usage["script"] for usage in recorded}
    for usage in recorded:
        lacking = missing(rule_environments()[usage["script"]], usage["imports"])
        if lacking:
            short.setdefault(usage["script"], set()).update(lacking)
    assert short == {}, f"envs/ lack what these jobs import: {short}"

    # The data and the grid's files; the report compares strategies, so it differs.
    def shared(results):
        return {name: content for name, content in reproducible_files(results).items()
                if name.startswith(("data/", "grid/"))}

    files = shared(cold.results)
    assert len(files) > 10 and "grid/trials/1/fold_1.json" in files
    assert files == shared(cnn_study.results)
