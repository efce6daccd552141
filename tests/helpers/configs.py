"""Bad configs, one change each to the default config: the Snakefile's pre-flight
(hpstudy.preflight.load_plan, through resolve()) must refuse each before any job runs, in
one line naming the key and what is allowed (tests/test_bad_input.py)."""

from __future__ import annotations

import copy


def with_setting(config: dict, dotted: str, value) -> dict:
    """A copy of config with one dotted key set (or removed, with DELETE)."""
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


DELETE = object()

# (case id, dotted key, new value, words the error must contain)
BAD_CONFIGS = [
    ("unknown top-level key", "colour", "blue", ["'colour'", "allowed:", "strategies"]),
    ("unknown nested key", "cv.fold", 3, ["cv: unknown key", "'fold'", "allowed: folds"]),
    ("unknown strategy", "strategies.anneal", {},
     ["'anneal'", "allowed: grid, random, sobol, tpe, gp"]),
    ("unknown dataset", "dataset.name", "cifar10", ["dataset.name", "'cifar10'",
                                                   "digits, mnist, fashion_mnist"]),
    ("unknown objective", "objective.name", "svm",
     ["objective.name", "'svm'", "allowed: function, cnn, mlp"]),
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
    ("searched momentum beyond 1", "space.momentum",
     {"type": "uniform", "low": 0.5, "high": 1.5, "grid": 2},
     ["space.momentum: values up to 1.5", "the cnn objective's momentum domain [0, 1)"]),
    ("folds < 2", "cv.folds", 1, ["cv.folds: must be >= 2, got 1"]),
    ("budget < 1", "strategies.random.budget", 0, ["strategies.random.budget: must be >= 1"]),
    ("grid parameter without points", "space.momentum.grid", DELETE,
     ["space.momentum.grid", "grid strategy needs grid points"]),
    ("empty grid list", "space.momentum.grid", [],
     ["space.momentum.grid", "non-empty list of points", "got []"]),
    ("grid budget disagrees", "strategies.grid.budget", 5,
     ["strategies.grid.budget", "disagrees with the grid's size 9"]),
    ("grid point outside range", "space.learning_rate.grid", [0.5],
     ["space.learning_rate.grid", "outside"]),
    ("cnn has no such setting", "space.pool_size", {"type": "uniform", "low": 0.0, "high": 0.5,
                                                  "grid": 2},
     ["space.pool_size", "no setting 'pool_size'", "tunable: learning_rate"]),
    ("tpe random in disguise", "strategies.tpe.n_startup_jobs", 9,
     ["strategies.tpe.n_startup_jobs", ">= budget 9"]),
    ("missing required key", "cv", DELETE, ["missing required key", "'cv'"]),
    ("missing required nested key", "dataset.name", DELETE,
     ["dataset: missing required key", "'name'"]),
    ("classes: one class", "dataset.classes", [3],
     ["dataset.classes: needs at least 2 items, got [3]"]),
    ("classes: duplicate", "dataset.classes", [3, 1, 3],
     ["dataset.classes: 3 given more than once in [3, 1, 3]"]),
    ("classes: not a list", "dataset.classes", "0,1",
     ["dataset.classes: must be array or null, got '0,1'"]),
    ("classes: negative label", "dataset.classes", [0, -1],
     ["dataset.classes.1: must be >= 0, got -1"]),
    ("classes: label not in digits", "dataset.classes", [0, 10, 11],
     ["dataset.classes: label(s) [10, 11] not in digits; labels present: 0, 1, 2, 3, 4, 5, 6, "
      "7, 8, 9"]),
    # Non-finite numbers (YAML .inf / .nan) anywhere: rejected by key before hyperopt sees one.
    ("infinite bound", "space.learning_rate.high", float("inf"),
     ["space.learning_rate.high: inf is not a finite number"]),
    ("nan strategy setting", "strategies.tpe.gamma", float("nan"),
     ["strategies.tpe.gamma: nan is not a finite number"]),
    ("infinite grid point", "space.momentum.grid", [0.9, float("-inf")],
     ["space.momentum.grid.1: -inf is not a finite number"]),
    ("no strategies", "strategies", {}, ["strategies: must not be empty"]),
    ("unknown group", "execution.group", "node",
     ["execution.group: 'node' is not allowed; allowed: none, trial, round"]),
    ("unknown job kind", "execution.resources.gpu", {"runtime": 5},
     ["execution.resources: unknown key(s) 'gpu'", "allowed: data, propose, train, test, light"]),
    ("unknown resource", "execution.resources.train", {"mem": 4000},
     ["execution.resources.train: unknown key(s) 'mem'; allowed: runtime, mem_mb"]),
    ("threads as a resource", "execution.resources.train", {"threads": 4},
     ["execution.resources.train: unknown key(s) 'threads'", "objective.cnn.threads"]),
    ("zero runtime", "execution.resources.data", {"runtime": 0},
     ["execution.resources.data.runtime: must be >= 1, got 0"]),
    ("memory as text", "execution.resources.test", {"mem_mb": "4G"},
     ["execution.resources.test.mem_mb: must be integer, got '4G'"]),
]


def tiny_cnn_study(experiment: str, seed: int, split_seed: int, space: dict, strategies: dict,
                   **cnn) -> dict:
    """A CNN study on 200 digits, 2 folds, 4 filters and 16 dense units (2 epochs unless
    `cnn` says otherwise): seconds per trial, for tests that need real training."""
    return {
        "experiment": experiment, "seed": seed,
        "dataset": {"name": "digits", "limit": 200, "split_seed": split_seed},
        "cv": {"folds": 2, "test_fraction": 0.2},
        "objective": {"name": "cnn", "cnn": {"epochs": 2, "batch_size": 32, "filters": 4,
                                             "dense_units": 16, **cnn}},
        "space": space, "strategies": strategies,
        "tracking": {"uri": "sqlite:///results/mlflow.db"},
    }
