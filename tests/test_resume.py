"""Kill and resume: SIGKILL the whole `snakemake --cores 8` process group at three moments of a
real (tiny) CNN study, resuming with the documented command after each kill, and compare with
a run that was never interrupted: the same trials.csv and report tables, byte for byte; every
trial in MLflow exactly once, none left RUNNING."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hpstudy.plan import Plan
from tests.helpers.processes import kill_when
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import Workdir, load_config

pytestmark = pytest.mark.slow

# The moments, in the order a run meets them, each as the files whose appearance means "now":
# a job of that kind has started (its log is opened first thing) or, for fold training, one
# fold of a trial is written and the trial's next fold is training. One study is killed at
# each in turn, every resume run killed at the next moment, so that the kills cost one study
# and three restarts rather than three studies. (Data prep and the report were moments too:
# single jobs that write atomically, like every job here, and rerun whole after a kill; each
# restart costs the warm worker's TensorFlow import, so they went to keep CI inside its
# budget. MLflow logging was one until a trial's job logged it: it is the scoring moment's.)
KILL_MOMENTS = {
    "fold training": "results/*/trials/*/fold_0.json",
    # One job per trial trains, scores and logs it to MLflow: a kill as its score appears
    # comes while it logs, and while others still train.
    "scoring and logging": "results/*/trials/*/score.json",
    # TPE's later rounds, which wait for the scores of the rounds before them.
    "proposals": "results/logs/tpe/propose_round_[12].log",
}
# Outputs that must come out byte-identical; training_time.csv is measured, so it is not.
REPORT_TABLES = ("comparison.csv", "repeats.csv")


def study_config() -> dict:
    """The tiny CNN (digits subset, 2 folds, 2 epochs): a grid with a diverging point, random
    search, and TPE in three rounds of one trial (so proposals wait for scores)."""
    config = load_config("cnn_tiny")
    config["experiment"] = "test-resume"
    config["strategies"]["tpe"] = {"budget": 3, "batch_size": 1, "n_startup_jobs": 1}
    config["execution"] = {"fold_jobs": "per_trial"}
    return config


def outputs(run: Workdir, config: dict) -> dict[str, bytes]:
    plan = Plan.from_config(config)
    files = {f"{s}/trials.csv": run.results / s / "trials.csv" for s in plan.strategies}
    files.update({f"report/{name}": run.results / "report" / name for name in REPORT_TABLES})
    return {name: path.read_bytes() for name, path in files.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Workdir, dict]:
    run = Workdir(tmp_path_factory.mktemp("uninterrupted"))
    config = study_config()
    run.write_config(config)
    run.snakemake("--cores", "8")
    return run, outputs(run, config)


def test_a_run_killed_at_each_moment_resumes_to_the_uninterrupted_result(reference, tmp_path):
    _, expected = reference
    config = study_config()
    run = Workdir(tmp_path)
    run.write_config(config)
    for moment, pattern in KILL_MOMENTS.items():
        # Each kill_when run is the resume of the run killed before it.
        killed_at = kill_when(run, pattern)
        assert not (run.results / "report" / "index.html").exists(), \
            f"killed at {moment} ({killed_at}) after the end"
        # The documented resume command (docs/usage.md, "Resuming"; `make run` does both
        # steps): its first step here, its second the next kill_when run.
        run.snakemake("--unlock")

    run.snakemake("--cores", "8")
    assert outputs(run, config) == expected
    again = run.snakemake("--cores", "8", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # MLflow: each study and trial run once, all FINISHED; each trial's objective
    # logged once (a re-logged batch must not add points).
    plan = Plan.from_config(config)
    client, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    keys = [run_.data.tags["hpstudy.key"] for run_ in runs]
    assert len(keys) == len(set(keys)), f"runs logged twice: {sorted(keys)}"
    assert [r.info.run_name for r in runs if r.info.status != "FINISHED"] == []
    roles = [r.data.tags["role"] for r in runs]
    trials = sum(plan.budget(s) for s in plan.strategies)
    assert (roles.count("study"), roles.count("trial"), len(roles)) == (
        len(plan.strategies), trials, len(plan.strategies) + trials)
    for trial_run in (r for r in runs if r.data.tags["role"] == "trial"):
        if "objective" in trial_run.data.metrics:
            history = client.get_metric_history(trial_run.info.run_id, "objective")
            assert len(history) == 1, (trial_run.info.run_name, history)


def test_resume_is_a_no_op_after_an_uninterrupted_run(reference):
    run, expected = reference
    before = {path: path.stat().st_mtime_ns for path in Path(run.results).rglob("*.csv")}
    run.snakemake("--cores", "8")
    after = {path: path.stat().st_mtime_ns for path in Path(run.results).rglob("*.csv")}
    assert before == after and outputs(run, study_config()) == expected


def planned_jobs(run: Workdir, config: dict) -> set[tuple[str, str]]:
    """(rule, study) of every job `snakemake -n` plans with this config (study "" for jobs
    without one), without touching the run's own config.yaml."""
    changed = run.path / "changed.yaml"
    # Keys in the config's own order: Snakemake compares params by their repr, so a mapping
    # written in another key order counts as changed.
    changed.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result = run.snakemake("-n", "--configfile", str(changed))
    changed.unlink()
    jobs = []  # [rule, study] per job, in the order `snakemake -n` lists them
    for line in (result.stdout + result.stderr).splitlines():
        if rule := re.match(r"(?:local)?rule (\w+):$", line):
            jobs.append([rule.group(1), ""])
        elif jobs and (study := re.match(r"\s+wildcards: .*?study=([\w-]+)", line)):
            jobs[-1][1] = study.group(1)
    return {tuple(job) for job in jobs}


def test_changing_one_strategy_reruns_that_strategy_only(reference):
    run, _ = reference
    config = study_config()
    config["strategies"]["random"]["budget"] = 3
    jobs = planned_jobs(run, config)
    assert {("propose", "random"), ("train_trial", "random"), ("start_study", "random"),
            ("report", "")} <= jobs
    # Other studies: only their closing (it attaches the new report) runs again, in the
    # one job that closes every study run.
    others = {(rule, study) for rule, study in jobs if study not in ("random", "")}
    assert others == set(), others
    assert ("finish_studies", "") in jobs
    assert ("prepare_data", "") not in jobs and ("init_tracking", "") not in jobs


def test_changing_the_data_seed_reruns_everything_after_data_prep(reference):
    run, _ = reference
    config = study_config()
    config["dataset"]["split_seed"] += 1
    jobs = planned_jobs(run, config)
    # Round 0's proposals do not depend on the data; TPE's later rounds do (via scores).
    assert ("propose", "tpe") in jobs
    for study in ("grid", "random", "tpe"):
        for rule in ("train_trial", "summarize_study", "start_study", "evaluate_test"):
            assert (rule, study) in jobs, (rule, study)
    assert {("prepare_data", ""), ("report", ""), ("finish_studies", "")} <= jobs
