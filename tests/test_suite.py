"""The benchmark suite (hpstudy.suite, workflow/suite.smk): each benchmark's study config,
the checks that name `benchmarks.<name>.<key>`, and the quick suite run end to end by the
real Snakemake into one MLflow store, with the cross-benchmark report."""

from __future__ import annotations

import contextlib
import copy
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from hpstudy.config import ConfigError, resolve
from hpstudy.suite import benchmark_dir, describe, study_configs, written_config
from tests.helpers.workdir import REPO

QUICK = REPO / "config" / "benchmark_suite_quick.yaml"
FULL = REPO / "config" / "benchmark_suite.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def quick_config() -> dict:
    return yaml.safe_load(QUICK.read_text(encoding="utf-8"))


def test_a_benchmark_is_the_shared_keys_with_its_block_over_them():
    suite = quick_config()
    suite["benchmarks"]["branin"]["strategies"] = {"random": {"budget": 5}}
    suite["benchmarks"]["branin"]["cv"] = {"test_fraction": 0.3}
    configs = study_configs(suite)
    assert list(configs) == ["branin", "hpobench-australian", "nasbench201-cifar10", "mf-branin"]
    # strategies (and objective, space) replace the shared ones whole; cv merges
    assert configs["branin"]["strategies"] == {"random": {"budget": 5}}
    assert configs["branin"]["cv"] == {"folds": 2, "test_fraction": 0.3}
    assert configs["hpobench-australian"]["strategies"] == suite["strategies"]
    assert configs["hpobench-australian"]["experiment"] == \
        "quick-hpobench-australian (tabular benchmark hpobench/australian)"
    assert configs["branin"]["experiment"] == "quick-branin (test function branin)"
    for config in configs.values():  # each a valid study config as it stands
        resolve(config)


def test_the_shipped_suites_are_valid_and_run_every_strategy_on_every_benchmark():
    quick = study_configs_in_repo(QUICK)
    assert len({tuple(config["strategies"]) for name, config in quick.items()
                if not name.startswith("mf-")}) == 1
    assert set(quick["mf-branin"]["strategies"]) == {"random", "hyperband"}
    full = study_configs_in_repo(FULL)
    # Issue 29's size: >= 20 tasks, 7 strategies; every one on every benchmark but CMA-ES on
    # NAS-Bench-201's choices only, which the comparisons across benchmarks leave out; the
    # multi-fidelity ones on the multi-fidelity functions, with max / min resource >= 27.
    assert len(full) >= 20
    seven = {"random", "sobol", "tpe", "optuna_tpe", "gp", "gp_bayesopt", "optuna_cmaes"}
    halving = {"sha", "hyperband", "bohb"}
    for name, config in full.items():
        expected = seven - {"optuna_cmaes"} if name.startswith("nasbench201") else set(seven)
        expected |= halving if name.startswith("mf-") else set()
        assert set(config["strategies"]) == expected, name
        assert {s["budget"] for n, s in config["strategies"].items() if n in seven} == {50}
        for strategy in halving & expected:
            settings = resolve(config)["strategies"][strategy]
            assert settings["max_resource"] / settings["min_resource"] >= 27, (name, strategy)
    assert sum(name.startswith("mf-") for name in full) == 4
    assert full["cnn-digits-surrogate"]["experiment"] == \
        "benchmarks-cnn-digits-surrogate (surrogate replaying cnn_digits_grid8.csv)"
    assert {resolve(c)["objective"]["name"] for c in full.values()} == \
        {"function", "table", "replay"}
    assert all(resolve(c)["repeats"] >= 10 for c in full.values())


def study_configs_in_repo(path: Path) -> dict:
    """A shipped suite's study configs, read where `make suite` runs (the replay's source
    is a path relative to the repository)."""
    with contextlib.chdir(REPO):
        return study_configs(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_a_path_is_moved_to_the_benchmarks_directory_where_its_study_runs():
    config = study_configs_in_repo(FULL)["cnn-digits-surrogate"]
    written = written_config("cnn-digits-surrogate", config)
    assert written["objective"]["replay"]["trials"] == \
        "../../../config/replay/cnn_digits_grid8.csv"
    assert config["objective"]["replay"]["trials"] == "config/replay/cnn_digits_grid8.csv"
    assert (REPO / benchmark_dir("cnn-digits-surrogate") / written["objective"]["replay"][
        "trials"]).resolve() == (REPO / "config/replay/cnn_digits_grid8.csv").resolve()


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("suite"), "suite: None: the suite's name is required"),
    (lambda s: s.update(benchmarks={}), "benchmarks: at least one benchmark"),
    (lambda s: s["benchmarks"].update({"bad name": {"objective": {"name": "function"}}}),
     "benchmarks.bad name: a name of letters, digits, - and _"),
    (lambda s: s["benchmarks"].update(empty={"space": {}}),
     "benchmarks.empty: needs its objective: block"),
    (lambda s: s["benchmarks"]["hpobench-australian"]["objective"]["table"].update(
        dataset="iris"),
     "benchmarks.hpobench-australian: objective.table.dataset: 'iris' is not a dataset of "
     "the hpobench table"),
    (lambda s: s["strategies"]["tpe"].update(batch_size=0),
     "benchmarks.branin: strategies.tpe.batch_size"),
    (lambda s: s.update(tracking={"uri": "http://user:secret@host:5000"}),
     "tracking: set by the suite (every benchmark logs to results/suite/mlflow.db, or to "
     "MLFLOW_TRACKING_URI when set"),
    (lambda s: s["benchmarks"]["branin"].update(experiment="mine"),
     "benchmarks.branin: ['experiment'] belong to the suite, not a benchmark"),
])
def test_a_bad_suite_config_is_rejected_naming_the_benchmark_and_key(change, message):
    suite = quick_config()
    change(suite)
    with pytest.raises(ConfigError) as error:
        study_configs(suite)
    assert message in str(error.value)


@pytest.mark.e2e
def test_a_bad_suite_stops_snakemake_before_any_job(tmp_path):
    suite = quick_config()
    suite["benchmarks"]["branin"]["objective"]["function"]["name"] = "rosenbrock"
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump(suite), encoding="utf-8")
    run = subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "suite.smk"),
                          "--directory", str(tmp_path), "--cores", "1", "--configfile",
                          str(config), "--replace-workflow-config"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "benchmarks.branin: objective.function.name: 'rosenbrock'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "results").exists()


def test_describe_says_what_a_benchmark_is():
    assert describe({"objective": {"name": "function", "function": {"name": "hartmann6"}}}) \
        == "test function hartmann6"
    assert describe({"objective": {"name": "replay", "replay": {"trials": "a/b/t.csv"}}}) \
        == "surrogate replaying t.csv"
    assert describe({"objective": {"name": "cnn"}}) == "cnn objective"
    # not an objective: named as written, for resolve to reject next
    assert describe({"objective": {"name": "cnnn"}}) == "cnnn objective"


@pytest.mark.slow
def test_the_quick_suite_runs_end_to_end_and_resumes_as_a_no_op(tmp_path):
    """The quick suite smaller still, for CI's time: 2 seeds (3 in the shipped file; 2 are
    enough to pair them), a table and a function (its NAS-Bench-201 table left out: the
    table objective reads each benchmark the same way, tests/objectives/test_table.py) x 4
    strategies, 8 trials (2 rounds of TPE and GP), and multi-fidelity Branin (random search
    and Hyperband, by cost); every benchmark's study in its own directory, their runs in one
    MLflow store, the report."""
    suite_config = quick_config()
    suite_config["repeats"] = 2
    del suite_config["benchmarks"]["nasbench201-cifar10"]
    budget = 8
    for settings in suite_config["strategies"].values():
        settings["budget"] = budget
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite_config, sort_keys=False),
                                         encoding="utf-8")
    command = [SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "suite.smk"), "--directory",
               str(tmp_path), "--cores", "2", "--configfile", str(tmp_path / "suite.yaml"),
               "--replace-workflow-config"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[hpobench-australian]" in run.stderr  # the benchmarks' progress is visible
    suite = tmp_path / "results" / "suite"
    # Two benchmarks at once (a core each claimed), each study run with both cores.
    for name in ("branin", "hpobench-australian"):
        log = (suite / "logs" / f"{name}.log").read_text(encoding="utf-8")
        assert "Provided cores: 2" in log, name
    configs = study_configs(copy.deepcopy(suite_config))
    for name in configs:
        assert (suite / name / "results" / "report" / "index.html").is_file()
        assert (suite / name / "config.yaml").is_file()
    regret = pd.read_csv(suite / "report" / "regret.csv")
    assert set(regret["benchmark"]) == set(configs)
    assert set(regret["strategy"]) == {"random", "sobol", "tpe", "gp", "hyperband"}
    assert (regret["seeds"] == 2).all()
    assert (regret.filter(like="median").to_numpy() >= 0).all()  # known optima: exact
    # Hyperband by cost: at most random search's 12 full evaluations' worth.
    mf_budgets = regret[regret["benchmark"] == "mf-branin"].set_index("strategy")["budget"]
    assert mf_budgets["random"] == 12 and 1 <= mf_budgets["hyperband"] <= 12
    ranks = pd.read_csv(suite / "report" / "ranks.csv")
    assert {"random", "sobol", "tpe", "gp"} <= set(ranks["strategy"])
    page = (suite / "report" / "index.html").read_text(encoding="utf-8")
    assert "Friedman" in page and "hyperband" in page
    # The benchmark's own report: what Hyperband spent to reach random search's best.
    resource = pd.read_csv(suite / "mf-branin" / "results" / "report" / "resource.csv")
    assert resource["strategy"].tolist() == ["hyperband"] and resource["seeds"].item() == 2
    # ... and the suite's, with the same numbers, and its sentence.
    across = pd.read_csv(suite / "report" / "resource.csv")
    assert across[["benchmark", "strategy"]].values.tolist() == [["mf-branin", "hyperband"]]
    assert across["median_fraction"].item() == resource["median_fraction"].item()
    assert "Multi-fidelity, by cost: the median share of random search" in page
    # One store, one experiment per benchmark, named for what it is; study runs of 2 seeds x
    # 4 strategies in each.
    # (A client of its own: mlflow.set_tracking_uri would set MLFLOW_TRACKING_URI for every
    # workflow the later tests of the session start.)
    client = MlflowClient(tracking_uri=f"sqlite:///{suite / 'mlflow.db'}")
    experiments = {e.name: e for e in client.search_experiments()}
    for name, config in configs.items():
        experiment = experiments[config["experiment"]]
        runs = client.search_runs([experiment.experiment_id], max_results=5000)
        studies = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        # A trial run each, no fold runs; Hyperband's a run per configuration (its 9 + 5 + 3
        # first-rung trials; a promoted trial logs onto its configuration's run).
        trial_runs = 2 * (12 + 17) if name == "mf-branin" else 2 * 4 * budget
        assert len(studies) == 2 * len(config["strategies"]), (name, len(studies))
        assert len(runs) - len(studies) == trial_runs, name
        # Each study's trials under its own run (a strategy's studies are logged by one
        # job, log_studies_<strategy>): its trials.csv's objectives, trial by trial.
        study_names = {r.info.run_id: r.data.tags["study"] for r in studies}
        for study_name in study_names.values():
            trials = pd.read_csv(suite / name / "results" / study_name / "trials.csv")
            logged = {int(r.data.tags["trial"]): r.data.metrics.get("objective")
                      for r in runs if study_names.get(r.data.tags.get("mlflow.parentRunId"))
                      == study_name}
            if "rung" in trials:  # a configuration's run: its first rung's trial id
                assert sorted(logged) == sorted(trials[trials["rung"] == 0]["trial"]), study_name
            else:
                objectives = dict(zip(trials["trial"], trials["objective"], strict=True))
                assert logged == pytest.approx(objectives), study_name
        # The benchmark's report and test go onto each strategy's first seed's run only.
        for study in studies:
            artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
            if study.data.tags["study"].endswith("-repeat1"):
                assert artifacts == {"trials.csv"}, study.data.tags["study"]
            else:
                assert {"trials.csv", "test.json", "index.html", "verdict.csv",
                        "figures"} <= artifacts, study.data.tags["study"]
    # Rerun: nothing to do.
    again = subprocess.run([*command, "--dry-run"], capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_the_surrogate_benchmark_is_checked_against_the_study_it_replays():
    """The shipped CNN grid source: the suite report's setup line carries the surrogate's
    hold-out check (rank correlation and error over the real trials)."""
    from hpstudy.plan import Plan
    from hpstudy.report.suite_page import _surrogate_check

    config = study_configs_in_repo(FULL)["cnn-digits-surrogate"]
    with contextlib.chdir(REPO):
        line = _surrogate_check(Plan.from_config(config))
    found = re.search(r"over its (\d+) ok trials: Spearman ([0-9.]+), RMSE ([0-9.]+)", line)
    assert found, line
    trials, spearman, rmse = int(found[1]), float(found[2]), float(found[3])
    assert trials == 64 and spearman > 0.9 and rmse < 0.15


def test_each_benchmark_runs_its_study_with_every_core_of_the_suite(monkeypatch):
    """A benchmark's job claims half the suite's cores (two run at once) and starts its
    study with all of them: workflow/suite.smk exports the count for its jobs (the quick
    suite's run checks its benchmarks' studies had both cores)."""
    from hpstudy.suite import SUITE_CORES_ENV, suite_cores

    monkeypatch.delenv(SUITE_CORES_ENV, raising=False)
    assert suite_cores(3) == 3
    monkeypatch.setenv(SUITE_CORES_ENV, "8")
    assert suite_cores(4) == 8
