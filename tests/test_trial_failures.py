"""A trial that fails inside training (params its model cannot take, out of memory) is
recorded `failed` with its reason and the study goes on; a bug of ours or of the machine (a
corrupt data file, a missing one) still fails the job. Which errors are which:
hpstudy.outcome.failure_kind (tests/test_outcome.py); here the jobs, the strategies and the
workflow that meet them. No mocks: every error here is raised for real."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from hpstudy import fileio, jobs
from hpstudy.config import strategy_defaults
from hpstudy.outcome import TrialFailed
from hpstudy.space import SearchSpace
from hpstudy.strategies import Observation, make_strategy, strategy_class
from tests.helpers.failures import IMPOSSIBLE_KERNELS, TOO_MANY_UNITS, cnn_settings, raised
from tests.helpers.workdir import Workdir, load_config


@pytest.fixture(scope="module", autouse=True)
def tensorflow():
    """TensorFlow set up as a training job sets it up, before any test uses it (its threads
    cannot change once it has run an op)."""
    from hpstudy.objectives.keras_runtime import configure_tensorflow

    return configure_tensorflow(1, "cpu")


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, str]:
    """Prepared digits files (x, y, folds), as the workflow's prepare_data writes them."""
    directory = tmp_path_factory.mktemp("data")
    paths = {key: str(directory / f"{key}.npy") for key in ("x", "y", "folds")}
    jobs.prepare_data({"name": "digits", "path": None, "limit": 100, "split_seed": 0,
                       "classes": None}, {"folds": 2, "test_fraction": 0.2}, paths["x"],
                      paths["y"], paths["folds"], str(directory / "metadata.json"))
    return paths


def cnn_round(directory: Path, params: list[dict], **extra) -> str:
    path = directory / "round.json"
    fileio.write_json(path, {"strategy": "random", "round": 0, "history": [], "proposals": [
        {"trial": trial, "seed": 100 + trial, "params": p, **extra}
        for trial, p in enumerate(params)]})
    return str(path)


def train(directory: Path, digits, round_path: str, trial: int, attempt=(1, 1), **settings):
    outputs = [str(directory / f"{trial}_fold_{k}.json") for k in range(2)]
    jobs.train_folds("cnn", cnn_settings(**settings), round_path, trial, [0, 1], digits, 1,
                     outputs, [str(directory / f"{trial}_timing_{k}.json") for k in range(2)],
                     attempt=attempt)
    return [fileio.read_json(path) for path in outputs]


# --- a job records the failed trial, or fails --------------------------------------------


def test_an_impossible_kernel_is_recorded_failed_and_scored_like_the_report_expects(
        tmp_path, digits):
    round_path = cnn_round(tmp_path, [{"kernel_size": 3}, {"kernel_size": 9}])
    ok = train(tmp_path, digits, round_path, 0)
    failed = train(tmp_path, digits, round_path, 1)
    assert [r["status"] for r in ok] == ["ok", "ok"]
    for record in failed:
        assert record["status"] == "failed" and record["metrics"] == {}
        assert record["reason"].startswith("ValueError: Computed output size would be zero")
        assert record["params"] == {"kernel_size": 9} and record["epochs_run"] == 0
    timing = fileio.read_json(tmp_path / "1_timing_0.json")
    assert timing["fit_seconds"] >= 0 and "fit_seconds" not in failed[0]
    score = jobs.trial_score("cnn", cnn_settings(), jobs.proposal(round_path, 1), failed)
    assert score["status"] == "failed" and score["objective"] is None
    assert score["reason"] == failed[0]["reason"]
    assert score["metrics"] == {"fold_0_accuracy": None, "fold_1_accuracy": None}
    assert jobs.observation_from_score(score)["status"] == "failed"


def test_out_of_memory_fails_the_job_until_its_last_attempt(tmp_path, digits):
    round_path = cnn_round(tmp_path, [{"dense_units": TOO_MANY_UNITS}])
    for attempt in ((1, 3), (2, 3)):  # Snakemake's retries run the job again
        error = raised(lambda a=attempt: train(tmp_path, digits, round_path, 0, attempt=a))
        assert isinstance(error, TrialFailed) and error.out_of_memory
        assert not list(tmp_path.glob("0_fold_*.json"))
    records = train(tmp_path, digits, round_path, 0, attempt=(3, 3))
    for record in records:
        assert record["status"] == "failed"
        assert record["reason"].startswith("out of memory after 3 attempt(s): "
                                           "ResourceExhaustedError: ")


def test_a_failed_rung_leaves_a_stand_in_checkpoint_and_its_promotion_fails_too(
        tmp_path, digits):
    """A multi-fidelity trial promoted from a failed one (when fewer trials than the rung
    promotes are usable) is recorded failed, naming it, not trained from nothing."""
    rung = {"fidelity": 1, "from_fidelity": 0, "bracket": 0, "rung": 0, "promoted_from": None,
            "config_trial": 0}
    round_path = cnn_round(tmp_path, [{"kernel_size": 8}], **rung)
    checkpoints = [str(tmp_path / "0" / f"fold_{k}.keras") for k in range(2)]
    jobs.train_folds("cnn", cnn_settings(), round_path, 0, [0, 1], digits, 1,
                     [str(tmp_path / f"f{k}.json") for k in range(2)],
                     [str(tmp_path / f"t{k}.json") for k in range(2)],
                     checkpoint_outputs=checkpoints)
    assert all(Path(path).is_file() for path in checkpoints)
    promoted = {**rung, "fidelity": 2, "from_fidelity": 1, "rung": 1, "promoted_from": 0}
    entry = {"trial": 1, "seed": 100, "params": {"kernel_size": 8}, **promoted}
    records = [record for record, _ in jobs.evaluate_folds(
        "cnn", cnn_settings(), entry, [0, 1], digits, 1, checkpoints=checkpoints)]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert records[0]["reason"].startswith("continues failed trial 0: ValueError: ")


def test_a_missing_data_file_fails_the_job(tmp_path, digits):
    round_path = cnn_round(tmp_path, [{"kernel_size": 3}])
    missing = {**digits, "x": str(tmp_path / "gone.npy")}
    assert isinstance(raised(lambda: train(tmp_path, missing, round_path, 0)),
                      FileNotFoundError)


# --- every strategy treats a failed trial as a diverged one ------------------------------

SPACE = SearchSpace.from_config({
    "kernel_size": {"type": "int", "low": 1, "high": 9},
    "learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1.0},
})


def strategy_history(failed: bool) -> list[Observation]:
    """Eight trials, those with an impossible kernel failed (or diverged, with a penalty)."""
    points = make_strategy("random", SPACE, strategy_defaults("random"), 3).propose(
        list(range(8)), [])
    points[1]["kernel_size"], points[4]["kernel_size"] = 9, 8
    history = []
    for trial, params in enumerate(points):
        if params["kernel_size"] in IMPOSSIBLE_KERNELS:
            status, objective = ("failed", None) if failed else ("diverged", math.log10(0.9))
        else:
            status, objective = "ok", -1 - params["kernel_size"] / 10 - params["learning_rate"]
        history.append(Observation(trial, params, objective, status))
    return history


SMALL_START = {"tpe": {"n_startup_jobs": 3}, "gp": {"n_initial_points": 3}}


@pytest.mark.parametrize("name", ["tpe", "gp"])
def test_adaptive_strategies_propose_after_a_failed_trial_as_after_a_diverged_one(name):
    chooser = make_strategy(name, SPACE, {**strategy_defaults(name), **SMALL_START[name]}, 5)
    after_failed = chooser.propose([8, 9], strategy_history(failed=True))
    assert all(SPACE.contains(params) for params in after_failed)
    assert after_failed == chooser.propose([8, 9], strategy_history(failed=False))


@pytest.mark.parametrize("name", ["bohb", "sha"])
def test_halving_promotes_after_a_failed_trial_as_after_a_diverged_one(name):
    # Rungs of 9 trials at 1 epoch, 3 at 3, 1 at 9: the second rung promotes three.
    settings = {**strategy_defaults(name), "min_resource": 1, "max_resource": 9, "eta": 3}
    cls = strategy_class(name)
    rounds = cls.plan_rounds(cls.budget(settings, SPACE), settings)
    chooser = make_strategy(name, SPACE, settings, 5)
    first_rung = chooser.proposals(rounds[0], [])
    impossible = {"kernel_size": 9, "learning_rate": 0.1}

    def promoted(status: str, objective: float | None) -> list[dict]:
        """The next rung after a first rung whose trials all failed (or diverged) but its
        last one."""
        past = [Observation(e["trial"], impossible, objective, status)
                for e in first_rung[:-1]]
        past.append(Observation(first_rung[-1]["trial"], first_rung[-1]["params"], -2.0))
        return chooser.proposals(rounds[1], past)

    after_failed = promoted("failed", None)
    assert after_failed == promoted("diverged", math.log10(0.9))
    # The ok one first, then the failed ones by trial id.
    assert [entry["promoted_from"] for entry in after_failed] == [
        first_rung[-1]["trial"], first_rung[0]["trial"], first_rung[1]["trial"]]


# --- the real workflow ------------------------------------------------------------------


def failing_config(**execution) -> dict:
    """The tiny CNN with kernel_size searched over 5..9 (8 and 9 impossible on 8x8 digits)
    and dense_units over 16 or TOO_MANY_UNITS (out of memory on every attempt)."""
    config = load_config("cnn_tiny")
    config["experiment"] = "test-trial-failures"
    config["dataset"]["limit"] = 100
    config["objective"]["cnn"].update(epochs=1, filters=4)
    config["space"] = {
        "kernel_size": {"type": "int", "low": 5, "high": 9, "grid": [5, 9]},
        "dense_units": {"type": "choice", "choices": [16, TOO_MANY_UNITS],
                        "grid": [16, TOO_MANY_UNITS]},
    }
    config["strategies"] = {"grid": {}, "random": {"budget": 2},
                            "tpe": {"budget": 6, "batch_size": 2, "n_startup_jobs": 2}}
    config["execution"] = {"fold_jobs": "per_trial", **execution}
    return config


@pytest.fixture(scope="module")
def failing_study(tmp_path_factory):
    run = Workdir(tmp_path_factory.mktemp("failing"))
    run.write_config(failing_config())
    result = run.snakemake("--cores", "2")
    return run, result


@pytest.mark.e2e
def test_the_study_runs_to_the_end_with_impossible_trials_failed(failing_study):
    run, result = failing_study
    assert (run.results / "report" / "index.html").is_file()
    for strategy in ("grid", "random", "tpe"):
        table = pd.read_csv(run.results / strategy / "trials.csv")
        impossible = table["kernel_size"].isin(IMPOSSIBLE_KERNELS)
        huge = table["dense_units"] == TOO_MANY_UNITS
        assert (table.loc[impossible | huge, "status"] == "failed").all()
        assert (table.loc[~impossible & ~huge, "status"] == "ok").all()
        assert table.loc[table["status"] == "failed", "objective"].isna().all()
        # The column only where a trial failed: other trials.csv files keep their bytes.
        reasons = table.get("reason", pd.Series(math.nan, index=table.index))
        assert ("reason" in table) == (table["status"] == "failed").any()
        assert reasons[table["status"] == "ok"].isna().all()
        for reason in reasons[impossible]:
            assert reason.startswith("ValueError: Computed output size would be zero")
        for reason in reasons[huge & ~impossible]:
            assert reason.startswith("out of memory after 3 attempt(s): "
                                     "ResourceExhaustedError")
    grid = pd.read_csv(run.results / "grid" / "trials.csv")
    assert list(grid["status"]) == ["ok", "failed", "failed", "failed"]  # one of each kind
    tpe = pd.read_csv(run.results / "tpe" / "trials.csv")
    assert len(tpe) == 6 and tpe["round"].max() == 2  # the rounds after the failures ran
    assert "Trying to restart job" in result.stdout + result.stderr  # out of memory: retried
    fold = json.loads((run.results / "grid" / "trials" / "1" / "fold_0.json").read_text())
    assert fold["status"] == "failed" and fold["metrics"] == {} and "reason" in fold


@pytest.mark.e2e
def test_a_corrupt_data_file_still_fails_the_training_job(tmp_path):
    run = Workdir(tmp_path)
    config = failing_config(warm_start=False)
    config["strategies"] = {"random": {"budget": 1}}
    run.write_config(config)
    run.snakemake("--cores", "1", "results/data/x.npy")
    x = run.results / "data" / "x.npy"
    x.write_bytes(x.read_bytes()[:200])  # cut short: no longer the array it says
    result = run.snakemake("--cores", "1", "results/random/trials/0/score.json", check=False)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).count("Trying to restart job") == 2  # retries: 2
    log = (run.results / "logs" / "random" / "trial_0_folds.log").read_text()
    assert "job failed: ValueError" in log  # numpy's, reading the cut file: not the trial's
    assert not list((run.results / "random" / "trials" / "0").glob("fold_*.json"))
