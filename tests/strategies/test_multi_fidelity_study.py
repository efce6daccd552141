"""Multi-fidelity strategies in a real workflow run: the tiny CNN, successive halving and
Hyperband, promotions continuing from checkpoints, MLflow, and a kill in the middle of a
rung that resumes to the same bytes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hpstudy.plan import Plan
from tests.helpers.processes import kill_when
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import Workdir, load_config

pytestmark = pytest.mark.slow

# A strategy's files that are a pure function of the config.
REPRODUCIBLE = ["{s}/trials.csv", "{s}/test.json"]


def study_config() -> dict:
    """Epochs 4, eta 2: SHA runs 4 configs at 1 epoch, 2 at 2, 1 at 4; Hyperband adds the
    brackets that start 3 configs at 2 epochs and 3 at 4. Random search beside them."""
    config = load_config("cnn_tiny")
    config["experiment"] = "test-multi-fidelity"
    config["objective"]["cnn"]["epochs"] = 4
    config["strategies"] = {"random": {"budget": 2}, "sha": {"eta": 2},
                            "hyperband": {"eta": 2}}
    config["execution"] = {"fold_jobs": "per_trial"}
    return config


def _files(run: Workdir, strategy: str) -> dict[str, bytes]:
    return {name.format(s=strategy): (run.results / name.format(s=strategy)).read_bytes()
            for name in REPRODUCIBLE}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = Workdir(tmp_path_factory.mktemp("multi-fidelity"))
    config = study_config()
    run.write_config(config)
    run.snakemake("--cores", "2")
    return run, config


def test_rungs_promote_the_best_of_the_rung_below(finished):
    run, config = finished
    plan = Plan.from_config(config)
    sha = pd.read_csv(run.results / "sha" / "trials.csv")
    assert list(sha.groupby("rung")["fidelity"].agg(["count", "max"]).itertuples(index=False)) \
        == [(4, 1), (2, 2), (1, 4)]
    assert sha["resource"].tolist() == [2] * 4 + [2] * 2 + [4]  # epochs trained x 2 folds
    for rung in (1, 2):
        below = sha[sha["rung"] == rung - 1]
        ok = below[below["status"] == "ok"].sort_values(["objective", "trial"])
        ranked = ok["trial"].tolist() + sorted(below[below["status"] != "ok"]["trial"])
        promoted = sha[sha["rung"] == rung]
        for trial, parent in zip(promoted["trial"], ranked, strict=False):
            score = json.loads((run.results / "sha" / "trials" / str(trial) / "score.json")
                               .read_text(encoding="utf-8"))
            assert score["promoted_from"] == parent
            parent_row = sha[sha["trial"] == parent].iloc[0]
            assert (score["params"]["learning_rate"], score["params"]["momentum"]) == \
                (parent_row["learning_rate"], parent_row["momentum"])
            fold = json.loads((run.results / "sha" / "trials" / str(trial) / "fold_0.json")
                              .read_text(encoding="utf-8"))
            # It trained on from the parent's epochs, not from scratch.
            assert fold["first_epoch"] == parent_row["fidelity"]
            assert fold["epochs_run"] <= score["fidelity"] - parent_row["fidelity"]
    hyperband = pd.read_csv(run.results / "hyperband" / "trials.csv")
    assert len(hyperband) == plan.budget("hyperband") == 4 + 2 + 1 + 3 + 1 + 3
    assert sorted(hyperband["bracket"].unique()) == [0, 1, 2]
    # The best trial (report and held-out test alike) is a full-fidelity one; the report
    # counts what each strategy trained.
    comparison = pd.read_csv(run.results / "report" / "comparison.csv").set_index("strategy")
    for strategy in ("sha", "hyperband"):
        table = pd.read_csv(run.results / strategy / "trials.csv").set_index("trial")
        best = int(comparison.loc[strategy, "best_trial"])
        assert table.loc[best, "fidelity"] == config["objective"]["cnn"]["epochs"]
        test = json.loads((run.results / strategy / "test.json").read_text(encoding="utf-8"))
        assert test["trial"] == best
        assert comparison.loc[strategy, "resource"] == table["resource"].sum()
    assert (run.results / "report" / "figures" / "best_so_far_resource.png").is_file()
    # Checkpoints are intermediate: none is left once every rung has trained.
    assert not list(run.results.rglob("*.keras"))


def test_each_configuration_is_one_mlflow_run_across_its_rungs(finished):
    run, config = finished
    client, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    sha = pd.read_csv(run.results / "sha" / "trials.csv")
    trial_runs = [r for r in runs if r.data.tags.get("role") == "trial"
                  and r.data.tags["strategy"] == "sha"]
    assert len(trial_runs) == 4  # four configurations, seven rung trials
    for trial_run in trial_runs:
        steps = [m.step for m in client.get_metric_history(trial_run.info.run_id, "objective")]
        rung = int(trial_run.data.tags["rung"])
        assert sorted(steps) == sorted(sha["fidelity"].unique())[:rung + 1], steps
        epochs = [m.step for m in client.get_metric_history(trial_run.info.run_id,
                                                            "fold_0/loss")]
        assert len(epochs) == len(set(epochs)) and sorted(epochs) == list(range(len(epochs)))


def test_a_kill_in_the_middle_of_a_rung_resumes_to_the_same_bytes(finished, tmp_path):
    reference, config = finished
    # SHA alone: a strategy's files do not depend on the others beside it (each draws from
    # its own seed), so its study is compared with the whole one at a third of the cost.
    config = {**config, "strategies": {"sha": config["strategies"]["sha"]}}
    run = Workdir(tmp_path)
    run.write_config(config)
    # A promoted trial of SHA's second rung has one fold trained: the rung is half done.
    kill_when(run, "results/sha/trials/[45]/fold_0.json")
    run.snakemake("--unlock")
    run.snakemake("--cores", "2")
    assert _files(run, "sha") == _files(reference, "sha")
    assert not list(run.results.rglob("*.keras"))
    _, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    keys = [r.data.tags["hpstudy.key"] for r in runs]
    assert len(keys) == len(set(keys)) == 1 + 4  # SHA's study run and its 4 configurations
