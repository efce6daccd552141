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
# What an objective needs besides its schema defaults to be checked: the python objective's
# function (one of the test's user functions; tests/objectives/test_python.py).
# What an objective that runs the user's code needs besides its defaults: code that takes no
# parameters of the space (so a space parameter is one it does not have).
REQUIRED = {"python": {"entry": f"{REPO}/tests/helpers/user_functions.py:seed_only"},
            "command": {"run": f"perl {REPO}/tests/helpers/user_program.pl metrics {{seed}} "
                               f"{{output}}"},
            "keras": {"builder": f"{REPO}/tests/helpers/user_models.py:functional"}}


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
    assert isinstance(objective.reads_data({**settings, **REQUIRED.get(name, {})}), bool)
    assert objective.tunable is None or all(isinstance(t, str) for t in objective.tunable)
    assert objective.fold_metric.isidentifier()
    assert objective.threads(settings) >= 1 and objective.gpus(settings) in (0, 1)
    assert objective.describe(settings) and objective.describe({})  # also before defaults
    assert objective.kind(settings) and objective.kind({})
    for module in objective.imports:  # what the warm worker preloads for it
        importlib.import_module(module)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_an_objective_rejects_a_parameter_it_does_not_have(name):
    objective = registry()[name]
    space = SearchSpace.from_config({"nonexistent": {"type": "uniform", "low": 0, "high": 1}})
    errors = objective.check({**objective_defaults(name), **REQUIRED.get(name, {})}, space)
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
    settings = {**objective_defaults(name), **REQUIRED.get(name, {}), "epochs": 3,
                "learning_rate": 0.05}
    record = objective.evaluate_fold(settings, {}, 0, 11, _digits_fold())
    assert record["status"] == "ok" and record["epochs_run"] == 3
    assert len(record["history"]["val_accuracy"]) == 3
    record.update(fold=0)
    score = objective.score_trial(settings, [record, {**record, "fold": 1}])
    assert score["status"] == "ok" and math.isfinite(score["objective"])
    assert score["metrics"][f"fold_1_{objective.fold_metric}"] == \
        record["metrics"]["val_accuracy"]


# The networks (the python objective calls a promoted trial again from the start:
# tests/objectives/test_python.py).
@pytest.mark.parametrize("name", [n for n in OBJECTIVES
                                  if registry()[n].fidelity and registry()[n].needs_data])
def test_a_promoted_fold_continues_from_its_checkpoint(name, tmp_path):
    """Multi-fidelity promotion: 2 epochs saved, then 2 more from the checkpoint. The
    continued fit starts where the first stopped (its first loss is the first fit's level,
    not a fresh network's), numbers its epochs on, and is deterministic."""
    objective = registry()[name]
    assert objective.fidelity in objective_defaults(name)
    fold = _digits_fold()
    settings = {**objective_defaults(name), **REQUIRED.get(name, {}), "optimizer": "adam",
                "learning_rate": 0.01}
    checkpoint = tmp_path / "trials" / "0" / "fold_0.keras"
    first = objective.evaluate_fold({**settings, objective.fidelity: 2}, {}, 0, 11, fold,
                                    checkpoint_to=str(checkpoint))
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*"))
    continued = [objective.evaluate_fold({**settings, objective.fidelity: 4}, {}, 0, 11, fold,
                                         start_from=(str(checkpoint), 2)) for _ in range(2)]
    fresh = objective.evaluate_fold({**settings, objective.fidelity: 2}, {}, 0, 12, fold)
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


def test_tunables_as_search_space_parameters_build_the_network_they_name():
    """The seed write-ups' tunables searched (initializer, optimizer, dropout, Nesterov): the
    config resolves with them as its space, a setting that is not tunable is refused by key,
    and each proposed point builds the network it names."""
    import keras

    from hpstudy.config import strategy_defaults
    from hpstudy.objectives.cnn import OBJECTIVE as CNN
    from hpstudy.plan import Plan
    from hpstudy.strategies import make_strategy

    config = load_config("cnn_tiny")
    config["space"] = {
        "kernel_initializer": {"type": "choice", "choices": ["zero", "he_uniform"]},
        "optimizer": {"type": "choice", "choices": ["sgd", "nadam"]},
        "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
        "nesterov": {"type": "choice", "choices": [False, True]},
    }
    config["strategies"] = {"random": {"budget": 2}}
    resolved = resolve(config)
    assert list(resolved["space"]) == ["kernel_initializer", "optimizer", "dropout", "nesterov"]
    with pytest.raises(ConfigError, match=r"space\.threads: .*no setting 'threads'"):
        resolve({**config, "space": {**config["space"], "threads": {
            "type": "choice", "choices": [1, 2]}}})
    space = SearchSpace.from_config(resolved["space"])
    points = make_strategy("random", space, strategy_defaults("random"), 3).propose(
        list(range(8)), [])
    for name in ("kernel_initializer", "optimizer", "nesterov"):  # seed 3 draws each value
        assert {point[name] for point in points} == set(config["space"][name]["choices"])
    initializers = {"zero": keras.initializers.Zeros, "he_uniform": keras.initializers.HeUniform}
    settings = Plan.from_config(config).objective_settings
    for point in points:
        model = CNN.build_model({**settings, **point}, (8, 8, 1), 10)
        assert type(model.optimizer).__name__.lower() == point["optimizer"]
        # Nesterov momentum is SGD's: nadam has it built in, with no switch.
        assert getattr(model.optimizer, "nesterov", None) == (
            point["nesterov"] if point["optimizer"] == "sgd" else None)
        dropout = [layer.rate for layer in model.layers
                   if isinstance(layer, keras.layers.Dropout)]
        assert dropout == pytest.approx([point["dropout"]])
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        for layer in (model.layers[0], dense[0]):  # the convolution and the hidden layer
            assert type(layer.kernel_initializer) is initializers[point["kernel_initializer"]]


# --- the initializer study, end to end ----------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_initializer_study_runs_end_to_end_on_fashion_mnist_idx_files(tmp_path):
    """The shipped initializer study at test size: the suite's one workflow run on the
    Fashion-MNIST IDX files. (The CNN trains on them in-process:
    tests/objectives/test_cnn.py::test_the_cnn_learns_a_fold_of_fashion_mnist_idx_images.)"""
    import yaml

    config = yaml.safe_load((REPO / "config" / "initializers_mlp.yaml").read_text())
    config["dataset"]["limit"] = 400  # the shipped study, at test size
    config["objective"]["mlp"]["epochs"] = 2
    run = Workdir(tmp_path)
    run.write_config(config)
    run.snakemake("--cores", "2")
    metadata = json.loads((run.results / "data" / "dataset.json").read_text())
    assert metadata["image_shape"] == [28, 28] and metadata["examples"] == 400
    table = pd.read_csv(run.results / "grid" / "trials.csv")
    assert sorted(table["kernel_initializer"]) == sorted(
        config["space"]["kernel_initializer"]["choices"])
    assert (table["status"] == "ok").all()
    # objective = log10(1 - the mean of the 3 folds' accuracies)
    folds = table[[f"fold_{k}_accuracy" for k in range(3)]]
    assert folds.stack().between(0, 1).all()
    assert table["cv_accuracy_mean"].tolist() == pytest.approx(folds.mean(axis=1).tolist())
    assert table["objective"].tolist() == pytest.approx(
        np.log10(1 - table["cv_accuracy_mean"]).tolist())
    by_initializer = table.set_index("kernel_initializer")
    zero = by_initializer.loc["zero"]
    assert zero["cv_accuracy_mean"] <= 0.2  # chance on 10 classes (a stratified subset)
    assert zero["objective"] == table["objective"].max()  # the worst of the eight
    # The initializers scaled by fan-in learn well past chance (0.1) in 2 epochs on 213
    # images a fold (measured 0.42 to 0.45); Keras' fixed +-0.05 uniform and normal ones
    # only start to (0.17, 0.19), but past chance and the zero initializer (0.09).
    accuracy = by_initializer["cv_accuracy_mean"]
    scaled = ["lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform"]
    assert (accuracy[scaled] > 0.3).all(), accuracy
    assert (accuracy[["uniform", "normal"]] > 0.13).all(), accuracy
    test = json.loads((run.results / "grid" / "test.json").read_text())
    assert test["status"] == "ok" and test["params"]["kernel_initializer"] != "zero"
    assert (run.results / "report" / "index.html").is_file()


# --- the test functions: published minima, evaluation, config ------------------------------

# Published minima (Surjanovic & Bingham's Virtual Library of Simulation Experiments; Hartmann
# 1973): f* at each listed minimiser, and the domain a dense sample draws from.
FUNCTION_MINIMA = {
    "branin": (0.397887, [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)],
               [(-5.0, 10.0), (0.0, 15.0)]),
    "beale": (0.0, [(3.0, 0.5)], [(-4.5, 4.5)] * 2),
    "hartmann3": (-3.86278, [(0.114614, 0.555649, 0.852547)], [(0.0, 1.0)] * 3),
    "hartmann6": (-3.32237, [(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)],
                  [(0.0, 1.0)] * 6),
}


def _function_config(name: str, space: dict) -> dict:
    config = load_config("branin")
    config["objective"]["function"] = {"name": name, "noise_std": 0.1}
    config["space"] = space
    config["strategies"] = {"random": {"budget": 6},
                            "tpe": {"budget": 6, "batch_size": 2, "n_startup_jobs": 2}}
    return config


def _unit_space(names) -> dict:
    return {name: {"type": "uniform", "low": 0.0, "high": 1.0} for name in names}


@pytest.mark.parametrize("name", list(FUNCTION_MINIMA))
def test_a_test_function_has_its_published_minimum(name):
    from hpstudy.objectives.function import FUNCTIONS

    function = FUNCTIONS[name]
    minimum, minimisers, domain = FUNCTION_MINIMA[name]
    for point in minimisers:
        assert function(*point) == pytest.approx(minimum, abs=1e-4), point
    rng = np.random.default_rng(19)
    low, high = np.array(domain).T
    sample = rng.uniform(low, high, size=(20_000, len(domain)))
    lowest = min(function(*(float(v) for v in point)) for point in sample)
    assert lowest >= minimum - 1e-6
    assert lowest < minimum + 0.5  # the sample does reach the minimum's basin


@pytest.mark.parametrize("name", list(FUNCTION_MINIMA))
def test_a_test_function_is_scalar_and_takes_the_spaces_names_as_branin_does(name):
    from hpstudy.objectives.function import ARGUMENTS, FUNCTIONS, OBJECTIVE

    function, arguments = FUNCTIONS[name], ARGUMENTS[name]
    point = [0.25 + 0.1 * i for i in range(len(arguments))]
    value = function(*point)
    assert type(value) is float and math.isfinite(value)
    assert function(**dict(zip(arguments, point, strict=True))) == value  # hpstudy.jobs' way
    settings = {"name": name, "noise_std": 0.5}
    params = dict(zip(arguments, point, strict=True))
    fold = OBJECTIVE.evaluate_fold(settings, params, 0, 3, None)
    noise = 0.5 * float(np.random.default_rng(3).standard_normal())
    assert fold["status"] == "ok" and fold["metrics"]["value"] == value + noise
    test = OBJECTIVE.evaluate_test(settings, params, 3, None)
    assert test["status"] == "ok" and test["test_objective"] == value  # exact, no noise


def test_the_schema_lists_every_test_function():
    from hpstudy.objectives.function import FUNCTIONS

    block = load_schema()["properties"]["objective"]["properties"]["function"]
    assert block["properties"]["name"]["enum"] == list(FUNCTIONS)


def test_an_objective_describes_itself_its_kind_and_a_test_function_by_its_name():
    from hpstudy.objectives.function import TestFunction

    assert TestFunction.describe({"name": "hartmann6"}) == "test function hartmann6"
    assert TestFunction.describe({}) == "test function branin"  # the schema's default
    assert registry()["cnn"].describe({"epochs": 3}) == "cnn objective"
    # The kind of task a suite's report groups benchmarks by.
    assert TestFunction.kind({"name": "beale"}) == "test function"
    table = registry()["table"]
    assert table.kind({"benchmark": "hpobench", "dataset": "australian"}) == "tabular benchmark"
    assert table.kind({"benchmark": "nasbench201", "dataset": "cifar10"}) == \
        "architecture search"
    assert registry()["replay"].kind({}) == "surrogate of a real study"


def test_a_hartmann6_config_needs_exactly_x1_to_x6_naming_the_key():
    names = [f"x{i}" for i in range(1, 7)]
    resolved = resolve(_function_config("hartmann6", _unit_space(names)))
    assert list(resolved["space"]) == names
    with pytest.raises(ConfigError, match=r"space\.x6: missing; .*hartmann6.* takes exactly 6"):
        resolve(_function_config("hartmann6", _unit_space(names[:5])))
    with pytest.raises(ConfigError, match=r"space\.x7: one too many; .*hartmann6"):
        resolve(_function_config("hartmann6", _unit_space([*names, "x7"])))
    with pytest.raises(ConfigError, match=r"space: .*hartmann6.* in order"):
        resolve(_function_config("hartmann6", _unit_space([names[1], names[0], *names[2:]])))
    space = {**_unit_space(names[:5]), "x6": {"type": "choice", "choices": [0.0, 1.0]}}
    with pytest.raises(ConfigError, match=r"space\.x6: a choice"):
        resolve(_function_config("hartmann6", space))
    with pytest.raises(ConfigError, match=r"space\.x3: missing; .*hartmann3"):  # 2-D: not 3
        resolve(_function_config("hartmann3", _unit_space(["x1", "x2"])))
