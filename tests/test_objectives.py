"""Objectives: one conformance suite over the registry (every objective module), then the
Keras networks' seed-style tunables and the initializer study, trained for real."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpstudy import data
from hpstudy.config import ConfigError, load_schema, objective_defaults, resolve
from hpstudy.objectives import registry
from hpstudy.space import SearchSpace
from tests.helpers.workdir import REPO, Workdir, load_config

OBJECTIVES = list(registry())
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# --- conformance: every objective ---------------------------------------------------------

def test_every_objective_module_has_a_schema_block_and_every_block_a_module():
    blocks = load_schema()["properties"]["objective"]["properties"]
    assert sorted(set(blocks) - {"name"}) == sorted(OBJECTIVES)
    assert blocks["name"]["enum"] == [name for name in blocks if name != "name"]
    assert {"cnn", "function", "mlp"} <= set(OBJECTIVES)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_an_objective_declares_what_the_workflow_asks(name):
    objective = registry()[name]
    settings = objective_defaults(name)
    assert objective.name == name and objective.label
    assert isinstance(objective.needs_data, bool)
    assert objective.tunable is None or all(isinstance(t, str) for t in objective.tunable)
    assert objective.fold_metric.isidentifier()
    assert objective.threads(settings) >= 1 and objective.gpus(settings) in (0, 1)
    for module in objective.imports:  # what the warm worker preloads for it
        importlib.import_module(module)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_an_objective_rejects_a_parameter_it_does_not_have(name):
    objective = registry()[name]
    space = SearchSpace.from_config({"nonexistent": {"type": "uniform", "low": 0, "high": 1}})
    errors = objective.check(objective_defaults(name), space)
    assert errors and all(isinstance(e, str) for e in errors)
    assert "space" in errors[0]


def _digits_fold(limit: int = 300, classes=None):
    x, y, folds, _ = data.prepare({"name": "digits", "path": None, "limit": limit,
                                   "split_seed": 0, "classes": classes},
                                  {"folds": 2, "test_fraction": 0.2})
    train, val = (folds != -1) & (folds != 0), folds == 0
    return data.FoldData(x[train], y[train], x[val], y[val], int(y.max()) + 1)


@pytest.mark.parametrize("name", [n for n in OBJECTIVES if registry()[n].needs_data])
def test_a_network_trains_one_fold_and_scores_it(name):
    objective = registry()[name]
    settings = {**objective_defaults(name), "epochs": 3, "learning_rate": 0.05}
    record = objective.evaluate_fold(settings, {}, 0, 11, _digits_fold())
    assert record["status"] == "ok" and record["epochs_run"] == 3
    assert len(record["history"]["val_accuracy"]) == 3
    record.update(fold=0)
    score = objective.score_trial(settings, [record, {**record, "fold": 1}])
    assert score["status"] == "ok" and math.isfinite(score["objective"])
    assert score["metrics"][f"fold_1_{objective.fold_metric}"] == \
        record["metrics"]["val_accuracy"]


@pytest.mark.parametrize("name", [n for n in OBJECTIVES if registry()[n].fidelity])
def test_a_promoted_fold_continues_from_its_checkpoint(name, tmp_path):
    """Multi-fidelity promotion: 2 epochs saved, then 2 more from the checkpoint. The
    continued fit starts where the first stopped (its first loss is the first fit's level,
    not a fresh network's), numbers its epochs on, and is deterministic."""
    objective = registry()[name]
    assert objective.fidelity in objective_defaults(name)
    fold = _digits_fold()
    settings = {**objective_defaults(name), "optimizer": "adam", "learning_rate": 0.01}
    checkpoint = tmp_path / "trials" / "0" / "fold_0.keras"
    first = objective.evaluate_fold({**settings, objective.fidelity: 2}, {}, 0, 11, fold,
                                    checkpoint_to=str(checkpoint))
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*"))
    continued = [objective.evaluate_fold({**settings, objective.fidelity: 4}, {}, 0, 11, fold,
                                         start_from=(str(checkpoint), 2)) for _ in range(2)]
    fresh = objective.evaluate_fold({**settings, objective.fidelity: 2}, {}, 0, 12, fold)
    for record in continued:
        record.pop("fit_seconds"), record.pop("fit_cpu_seconds")
    assert continued[0] == continued[1]  # a rerun of the same promotion: the same record
    record = continued[0]
    assert record["first_epoch"] == 2 and record["epochs_run"] == 2
    assert len(record["history"]["loss"]) == 2 and "first_epoch" not in first
    losses = (first["history"]["loss"], record["history"]["loss"], fresh["history"]["loss"])
    # Epoch 3 trains on from epoch 2's weights: no worse than epoch 2 ended, and better
    # than a fresh network's first epoch.
    assert record["history"]["loss"][0] <= first["history"]["loss"][-1] * 1.02, losses
    assert record["history"]["loss"][0] < fresh["history"]["loss"][0], losses


# --- the seed-style tunables ----------------------------------------------------------------

def test_zero_initializer_trains_to_chance_and_is_recorded_not_crashed():
    from hpstudy.objectives.mlp import OBJECTIVE as MLP

    fold = _digits_fold()
    settings = {**objective_defaults("mlp"), "epochs": 3, "kernel_initializer": "zero"}
    record = MLP.evaluate_fold(settings, {}, 0, 5, fold)
    assert record["status"] == "ok"
    # Every unit is the same: the network cannot tell the classes apart.
    majority = np.bincount(fold.y_val).max() / len(fold.y_val)
    assert record["metrics"]["val_accuracy"] <= majority + 1e-9


@pytest.mark.parametrize("schedule, rate", [("time_based", 0.5), ("step", 0.5),
                                            ("exponential", 0.9)])
def test_learning_rate_schedules_lower_the_rate_as_written(schedule, rate):
    from hpstudy.objectives.keras_runtime import learning_rate

    settings = {**objective_defaults("cnn"), "learning_rate": 0.1, "lr_schedule": schedule,
                "lr_decay_rate": rate, "lr_decay_epochs": 2, "lr_decay_steps": 10}
    steps = 10  # per epoch
    scheduled = learning_rate(settings, steps)
    at = {epoch: float(scheduled(epoch * steps)) for epoch in range(5)}
    expected = {"time_based": {e: 0.1 / (1 + rate * e) for e in range(5)},
                "step": {e: 0.1 * rate ** (e // 2) for e in range(5)},
                "exponential": {e: 0.1 * rate ** e for e in range(5)}}[schedule]
    assert at == pytest.approx(expected, rel=1e-5)


def test_every_optimizer_and_nesterov_build():
    from hpstudy.objectives.keras_classifier import OPTIMIZERS
    from hpstudy.objectives.keras_runtime import make_optimizer

    schema = load_schema()["$defs"]["keras_network"]["optimizer"]["enum"]
    assert list(OPTIMIZERS) == schema
    for name in OPTIMIZERS:
        optimizer = make_optimizer({**objective_defaults("cnn"), "optimizer": name,
                                    "nesterov": True}, 10)
        assert type(optimizer).__name__.lower() == name
    sgd = make_optimizer({**objective_defaults("cnn"), "nesterov": True}, 10)
    assert sgd.nesterov is True


def test_a_growing_decay_rate_and_a_schedule_without_a_rate_are_rejected_naming_the_key():
    config = load_config("cnn_tiny")
    config["objective"]["cnn"].update(lr_schedule="step")
    with pytest.raises(ConfigError, match=r"objective\.cnn\.lr_decay_rate: .*needs a decay"):
        resolve(config)
    config["objective"]["cnn"].update(lr_schedule="exponential", lr_decay_rate=1.5)
    with pytest.raises(ConfigError, match=r"objective\.cnn\.lr_decay_rate: 1\.5 would grow"):
        resolve(config)
    config["objective"]["cnn"].update(lr_schedule="time_based")
    resolve(config)  # lr / (1 + 1.5 epoch) only ever decays


def test_tunables_as_search_space_parameters():
    config = load_config("cnn_tiny")
    config["space"] = {
        "kernel_initializer": {"type": "choice", "choices": ["zero", "he_uniform"]},
        "optimizer": {"type": "choice", "choices": ["sgd", "nadam"]},
        "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
        "nesterov": {"type": "choice", "choices": [False, True]},
    }
    config["strategies"] = {"random": {"budget": 2}}
    resolve(config)  # every one of them is tunable


# --- the initializer study, end to end ----------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="needs dataset-fashion-mnist")
def test_initializer_study_runs_end_to_end_on_fashion_mnist_idx_files(tmp_path):
    import yaml

    config = yaml.safe_load((REPO / "config" / "initializers_mlp.yaml").read_text())
    config["dataset"]["limit"] = 400  # the shipped study, at test size
    config["objective"]["mlp"]["epochs"] = 2
    run = Workdir(tmp_path)
    run.write_config(config)
    run.snakemake("--cores", "2")
    table = pd.read_csv(run.results / "grid" / "trials.csv")
    assert sorted(table["kernel_initializer"]) == sorted(
        config["space"]["kernel_initializer"]["choices"])
    assert (table["status"] == "ok").all()
    zero = table.set_index("kernel_initializer").loc["zero"]
    assert zero["cv_accuracy_mean"] <= 0.2  # chance on 10 classes (a stratified subset)
    assert zero["objective"] == table["objective"].max()  # the worst of the eight
    test = json.loads((run.results / "grid" / "test.json").read_text())
    assert test["status"] == "ok" and test["params"]["kernel_initializer"] != "zero"
    assert (run.results / "report" / "index.html").is_file()
