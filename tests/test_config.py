"""Bad configs are rejected before any job runs, naming the key and what is allowed."""

from __future__ import annotations

import copy

import pytest

from hpstudy.config import STRATEGIES, ConfigError, Study, resolve
from tests.conftest import load_config


def _set(config: dict, dotted: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return config


_DELETE = object()

# (case id, dotted key, new value, words the error must contain)
BAD_CONFIGS = [
    ("unknown top-level key", "colour", "blue", ["'colour'", "allowed:", "strategies"]),
    ("unknown nested key", "cv.fold", 3, ["cv: unknown key", "'fold'", "allowed: folds"]),
    ("unknown strategy", "strategies.anneal", {}, ["'anneal'", "allowed: grid, random, tpe, gp"]),
    ("unknown dataset", "dataset.name", "cifar10", ["dataset.name", "'cifar10'",
                                                   "digits, mnist, fashion_mnist"]),
    ("unknown objective", "objective.name", "svm", ["objective.name", "'svm'", "cnn, function"]),
    ("unknown parameter kind", "space.learning_rate.type", "normal",
     ["space.learning_rate.type", "loguniform, uniform, int, choice"]),
    ("unknown acquisition", "strategies.gp.acq_func", "UCB", ["strategies.gp.acq_func",
                                                              "EI, LCB, PI, gp_hedge"]),
    ("wrong type: seed", "seed", "forty-two", ["seed: must be integer", "'forty-two'"]),
    ("wrong type: folds", "cv.folds", "3", ["cv.folds: must be integer"]),
    ("YAML 1e-4 is text", "space.learning_rate.low", "1e-4",
     ["space.learning_rate.low: must be number", "write 1.0e-4"]),
    ("reversed range", "space.learning_rate.low", 0.5,
     ["space.learning_rate", "empty or reversed range", "low=0.5"]),
    ("empty range", "space.learning_rate.high", 3.1623e-4,
     ["space.learning_rate", "empty or reversed range"]),
    ("loguniform at zero", "space.learning_rate.low", 0.0,
     ["space.learning_rate.low", "loguniform needs low > 0"]),
    ("complement beyond 1", "space.momentum.high", 1.5,
     ["space.momentum", "complement", "<= 1"]),
    ("folds < 2", "cv.folds", 1, ["cv.folds: must be >= 2, got 1"]),
    ("budget < 1", "strategies.random.budget", 0, ["strategies.random.budget: must be >= 1"]),
    ("grid parameter without points", "space.momentum.grid", _DELETE,
     ["space.momentum.grid", "grid strategy needs grid points"]),
    ("empty grid list", "space.momentum.grid", [],
     ["space.momentum.grid", "non-empty list of points", "got []"]),
    ("grid budget disagrees", "strategies.grid.budget", 5,
     ["strategies.grid.budget", "disagrees with the grid's size 12"]),
    ("grid point outside range", "space.learning_rate.grid", [0.5],
     ["space.learning_rate.grid", "outside"]),
    ("cnn has no such setting", "space.dropout", {"type": "uniform", "low": 0.0, "high": 0.5,
                                                  "grid": 2},
     ["space.dropout", "no setting 'dropout'", "tunable: learning_rate"]),
    ("tpe random in disguise", "strategies.tpe.n_startup_jobs", 12,
     ["strategies.tpe.n_startup_jobs", ">= budget 12"]),
    ("missing required key", "cv", _DELETE, ["missing required key", "'cv'"]),
    ("no strategies", "strategies", {}, ["strategies: must not be empty"]),
]


@pytest.mark.parametrize("case, key, value, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_resolve_rejects_bad_config_naming_the_key(case, key, value, words):
    with pytest.raises(ConfigError) as caught:
        resolve(_set(load_config("default"), key, value))
    message = str(caught.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_default_and_shipped_configs_are_valid():
    for name in ("default", "branin"):
        study = Study.from_config(load_config(name))
        assert set(study.strategies) <= set(STRATEGIES)
        assert study.config["tracking"]["uri"]


def test_defaults_are_filled_only_for_configured_strategies():
    config = load_config("default")
    config["strategies"] = {"tpe": {"budget": 10}}
    study = Study.from_config(config)
    assert study.strategies == ["tpe"]
    assert study.settings("tpe")["n_startup_jobs"] == 5
    assert study.settings("tpe")["batch_size"] == 1
    with pytest.raises(ConfigError, match="'gp' is not in config.strategies; configured: tpe"):
        study.settings("gp")


def test_rounds_cover_every_trial_once_in_order():
    study = Study.from_config(load_config("default"))
    for strategy in study.strategies:
        flat = [t for round_ids in study.rounds(strategy) for t in round_ids]
        assert flat == list(range(study.budget(strategy)))
        for trial in flat:
            assert trial in study.rounds(strategy)[study.round_of(strategy, trial)]
    assert study.rounds("random") == [list(range(12))]  # non-adaptive: one round
    assert study.rounds("tpe")[0] == [0, 1]  # batch_size 2


def test_config_hash_changes_with_any_setting():
    config = load_config("default")
    first = Study.from_config(config).hash
    config["strategies"]["gp"]["acq_func"] = "LCB"
    assert Study.from_config(config).hash != first


# Through the real workflow: a selection of the cases above, each must stop Snakemake before
# any job runs (non-zero exit, the key named, no results/ written).
WORKFLOW_CASES = [case for case in BAD_CONFIGS if case[0] in {
    "unknown top-level key", "unknown strategy", "unknown dataset", "unknown objective",
    "wrong type: folds", "reversed range", "empty range", "folds < 2", "budget < 1",
    "grid parameter without points"}]


@pytest.mark.parametrize("case, key, value, words", WORKFLOW_CASES,
                         ids=[c[0] for c in WORKFLOW_CASES])
def test_workflow_refuses_to_start(workdir, case, key, value, words):
    workdir.write_config(_set(load_config("default"), key, value))
    result = workdir.snakemake("--cores", "1", check=False, timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "invalid config" in output
    for word in words:
        assert word in output, f"{case}: {word!r} not in {output[-2000:]!r}"
    assert not workdir.results.exists(), "a job ran although the config is invalid"


def test_unconfigured_strategy_target_is_refused(workdir):
    config = load_config("branin")
    del config["strategies"]["gp"]
    workdir.write_config(config)
    result = workdir.snakemake("--cores", "1", "gp", check=False, timeout=120)
    assert result.returncode != 0
    assert "'gp' is not in config.strategies" in result.stdout + result.stderr
    assert not workdir.results.exists()
