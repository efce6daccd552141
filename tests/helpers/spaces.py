"""Search spaces shared by the tests."""

# A search space with every kind of parameter, each with grid points so that grid search
# runs on it too.
ALL_KINDS_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 0.1, "grid": 3},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement", "grid": [0.9, 0.99]},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "grid": 2},
    "filters": {"type": "int", "low": 8, "high": 64, "grid": [16, 32]},
    "optimizer": {"type": "choice", "choices": ["sgd", "adam", "rmsprop"], "grid": 2},
}
