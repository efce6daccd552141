"""The learning-curve replay: a network study's per-epoch scores exported
(hpstudy.objectives.replay_curves) and replayed at an epoch (objective.replay.epochs), the
fidelity that successive halving, Hyperband and BOHB lower."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hpstudy.config import ConfigError, objective_defaults, resolve
from hpstudy.objectives.function import branin
from hpstudy.objectives.keras_classifier import ERROR_FLOOR
from hpstudy.objectives.replay import Replay
from hpstudy.objectives.replay_curves import curves_table
from hpstudy.objectives.replay_surrogate import surrogate
from hpstudy.space import SearchSpace
from tests.helpers.workdir import load_config

SPACE = {"x": {"type": "uniform", "low": -5.0, "high": 10.0},
         "y": {"type": "uniform", "low": 0.0, "high": 15.0}}
EPOCHS = 3


def _trials(epoch: int) -> pd.DataFrame:
    """A 6 x 6 grid on Branin whose scores improve with the epoch (and are noisy per fold):
    a stand-in for a study's learning curves at `epoch`."""
    rng = np.random.default_rng(epoch)
    grid = [(x, y) for x in np.linspace(-5, 10, 6) for y in np.linspace(0, 15, 6)]
    late = EPOCHS - epoch
    folds = np.array([[branin(x, y) * (1 + 0.3 * late) + rng.normal(0, 1.0) for _ in range(2)]
                      for x, y in grid])
    return pd.DataFrame({"trial": range(len(grid)), "round": 0, "x": [p[0] for p in grid],
                         "y": [p[1] for p in grid], "objective": folds.mean(axis=1),
                         "status": "ok", "fold_0_value": folds[:, 0],
                         "fold_1_value": folds[:, 1]})


@pytest.fixture(scope="module")
def curves(tmp_path_factory) -> dict:
    """{"curves": a curves source of EPOCHS epochs, e: epoch e's rows as a plain trials.csv}"""
    directory = tmp_path_factory.mktemp("curves")
    tables = {epoch: _trials(epoch) for epoch in range(1, EPOCHS + 1)}
    paths = {}
    for epoch, table in tables.items():
        paths[epoch] = directory / f"epoch_{epoch}.csv"
        table.to_csv(paths[epoch], index=False)
    rows = pd.concat([table.insert(4, "epoch", epoch) or table
                      for epoch, table in tables.items()], ignore_index=True)
    paths["curves"] = directory / "curves.csv"
    rows.sort_values(["trial", "epoch"]).to_csv(paths["curves"], index=False)
    return paths


def _settings(path, **changes) -> dict:
    return {**objective_defaults("replay"), "trials": str(path), "fold_scale": "identity",
            "fold_metric": "value", **changes}


def test_an_epoch_of_a_curves_source_is_that_epochs_trials_replayed(curves):
    points = [{"x": 1.0, "y": 2.0}, {"x": -3.0, "y": 12.0}, {"x": 9.0, "y": 3.0}]
    for epoch in range(1, EPOCHS + 1):
        from_curves = surrogate(_settings(curves["curves"], epochs=epoch))
        plain = surrogate(_settings(curves[epoch]))
        assert from_curves.source.epochs == tuple(range(1, EPOCHS + 1))
        assert from_curves.mean(points).tolist() == plain.mean(points).tolist()
        assert from_curves.fold_std == plain.fold_std
    # Earlier epochs score worse here, and the surrogate says so.
    early, late = (surrogate(_settings(curves["curves"], epochs=e)).mean(points)
                   for e in (1, EPOCHS))
    assert (early > late).all()
    record = Replay.evaluate_fold(_settings(curves["curves"], epochs=2), points[0], 0, 7)
    assert record["epochs_run"] == 2
    assert Replay.describe(_settings(curves["curves"], epochs=2)) \
        == "learning-curve surrogate replaying curves.csv"
    assert Replay.kind(_settings(curves["curves"], epochs=2)) == "multi-fidelity"


@pytest.mark.parametrize("source, epochs, words", [
    ("curves", None, "objective.replay.epochs: required"),
    ("curves", 5, "objective.replay.epochs: 5;"),
    (1, 2, "objective.replay.epochs: 2, but"),
])
def test_the_epoch_must_be_one_the_source_holds(curves, source, epochs, words):
    errors = Replay.check(_settings(curves[source], epochs=epochs), SearchSpace.from_config(SPACE))
    assert any(words in error for error in errors), errors


def test_halving_runs_on_it_in_one_job_per_study_with_epochs_as_its_fidelity(curves):
    config = load_config("branin")
    config.update(space=SPACE, strategies={"hyperband": {"eta": 3}, "random": {"budget": 4}},
                  execution={"fold_jobs": "per_study"})
    config["objective"] = {"name": "replay", "replay": {
        "trials": str(curves["curves"]), "fold_scale": "identity", "fold_metric": "value",
        "epochs": EPOCHS}}
    assert resolve(config)["strategies"]["hyperband"]["max_resource"] == EPOCHS
    del config["objective"]["replay"]["epochs"]
    with pytest.raises(ConfigError, match=r"objective\.replay\.epochs: required by "
                                          r"strategies\.hyperband"):
        resolve(config)


@pytest.mark.e2e
def test_a_network_studys_curves_end_in_its_trials_scores(cnn_study):
    """The session's CNN study: each ok trial's row at its last epoch is its own score."""
    table = curves_table(str(cnn_study.results / "grid"))
    trials = pd.read_csv(cnn_study.results / "grid" / "trials.csv").set_index("trial")
    ok = trials[trials["status"] == "ok"]
    assert set(table["trial"]) == set(ok.index) and len(ok)
    epochs = int(table["epoch"].max())
    assert sorted(table["epoch"].unique()) == list(range(1, epochs + 1))
    for row in table[table["epoch"] == epochs].itertuples():
        assert row.objective == pytest.approx(ok.loc[row.trial, "objective"], abs=1e-12)
        mean = (row.fold_0_accuracy + row.fold_1_accuracy) / 2
        assert row.objective == pytest.approx(math.log10(max(1 - mean, ERROR_FLOOR)))
    columns = ["trial", *trials.columns]
    params = columns[columns.index("round") + 1:columns.index("objective")]
    assert params == ["learning_rate", "momentum"]
    assert list(table.columns[:5]) == ["trial", "round", *params, "epoch"]
