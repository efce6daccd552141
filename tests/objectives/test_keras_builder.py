"""objective.keras, in-process: the user's builder trained by the harness of the built-in
networks. The MLP through objective.keras trains to the same fold record as objective.mlp
(the harness is generic: cnn and mlp are builders on it); a builder's own parameters, a
functional model, a continued (promoted) fold; what a builder can get wrong, as a failed
fold; and every config error, through the Snakefile's pre-flight (load_plan). The builders
are tests/helpers/user_models.py's."""

from __future__ import annotations

import pytest

from hpstudy import data
from hpstudy.config import objective_defaults
from hpstudy.objectives import registry
from hpstudy.objectives.keras_builder import OBJECTIVE
from hpstudy.outcome import TrialFailed, fold_or_failure
from hpstudy.preflight import load_plan
from tests.helpers.config_errors import assert_refused
from tests.helpers.workdir import REPO

MODELS = REPO / "tests" / "helpers" / "user_models.py"


def _settings(builder: str, **settings) -> dict:
    return {**objective_defaults("keras"), "builder": builder, "epochs": 2,
            "learning_rate": 0.05, **settings}


@pytest.fixture(scope="module")
def fold() -> data.FoldData:
    x, y, folds, _ = data.prepare({"name": "digits", "path": None, "limit": 200,
                                   "split_seed": 0, "classes": None},
                                  {"folds": 2, "test_fraction": 0.2})
    train, val = (folds != data.TEST_FOLD) & (folds != 0), folds == 0
    return data.FoldData(x[train], y[train], x[val], y[val], int(y.max()) + 1)


def test_the_mlp_as_a_builder_trains_to_the_mlp_objectives_own_record(fold):
    mlp = {**objective_defaults("mlp"), "epochs": 2, "learning_rate": 0.05}
    built = _settings("hpstudy.objectives.mlp:build_model", kernel_initializer="uniform",
                      dropout=0.1)
    params = {"units": 16, "momentum": 0.5}  # units: the builder's own parameter
    expected = registry()["mlp"].evaluate_fold(mlp, params, 0, 11, fold)
    assert OBJECTIVE.evaluate_fold(built, params, 0, 11, fold) == expected
    assert expected["status"] == "ok" and len(expected["history"]["val_accuracy"]) == 2


def test_a_builders_own_parameter_reaches_it_and_a_functional_model_trains(fold):
    record = OBJECTIVE.evaluate_fold(_settings(f"{MODELS}:small_dense"), {"width": 12}, 1, 5,
                                     fold)
    assert record["status"] == "ok" and record["epochs_run"] == 2
    score = OBJECTIVE.score_trial(_settings(f"{MODELS}:small_dense"),
                                  [{**record, "fold": 0}, {**record, "fold": 1}])
    assert score["status"] == "ok" and score["objective"] < 0
    functional = OBJECTIVE.evaluate_fold(_settings(f"{MODELS}:functional"), {}, 0, 5, fold)
    assert functional["status"] == "ok"


def test_a_promoted_fold_continues_from_its_checkpoint(fold, tmp_path):
    settings = _settings(f"{MODELS}:small_dense")
    checkpoint = tmp_path / "fold_0.keras"
    first = OBJECTIVE.evaluate_fold({**settings, "epochs": 1}, {"width": 12}, 0, 5, fold,
                                    checkpoint_to=str(checkpoint))
    promoted = OBJECTIVE.evaluate_fold({**settings, "epochs": 3}, {"width": 12}, 0, 5, fold,
                                       start_from=(str(checkpoint), 1))
    assert first["epochs_run"] == 1 and promoted["first_epoch"] == 1
    assert len(promoted["history"]["loss"]) == 2  # epochs 2 and 3, continued


@pytest.mark.parametrize("builder, reason", [
    ("raises", r"ValueError: width 12 is too wide"),
    ("not_a_model", r"TypeError: not_a_model\(\) returned int, not a Keras model or a list "
                    r"of layers"),
    ("three_outputs", r"ValueError: three_outputs\(\)'s model outputs shape \(None, 3\); the "
                      r"harness needs \(None, 10\): a softmax over the 10 classes last"),
])
def test_what_a_builder_gets_wrong_fails_the_fold_with_its_reason(builder, reason, fold):
    settings = _settings(f"{MODELS}:{builder}")
    with pytest.raises(TrialFailed, match=f"^{reason}$"):
        OBJECTIVE.evaluate_fold(settings, {"width": 12}, 0, 5, fold)
    record = fold_or_failure(OBJECTIVE, settings, {"trial": 1, "params": {"width": 12}}, 0, 5,
                             fold, 1, {}, (1, 1))
    assert record["status"] == "failed" and record["classes"] == 10


def test_a_path_builder_is_an_input_of_the_training_jobs():
    assert OBJECTIVE.input_files({"builder": f"{MODELS}:small_dense"}) == {
        "builder": str(MODELS)}
    assert OBJECTIVE.input_files({"builder": "hpstudy.objectives.mlp:build_model"}) == {}


def _config(builder: str | None, space: dict | None = None, **keras) -> dict:
    block = {"builder": builder} if builder else {}
    return {"experiment": "test-keras", "seed": 3, "cv": {"folds": 2},
            "dataset": {"name": "digits", "limit": 200},
            "objective": {"name": "keras", "keras": {**block, **keras}},
            "space": space or {"width": {"type": "int", "low": 4, "high": 32},
                               "learning_rate": {"type": "loguniform", "low": 1e-3,
                                                 "high": 0.1}},
            "strategies": {"random": {"budget": 2}},
            "tracking": {"uri": "sqlite:///results/mlflow.db"}}


BUILDER = "invalid config: objective.keras.builder: "
ERRORS = [
    ("no builder", _config(None), [BUILDER + "required: path/to/file.py:function"]),
    ("no such function", _config(f"{MODELS}:build"),
     [BUILDER + "user_models.py defines no function 'build'"]),
    ("an argument outside the set", _config(f"{MODELS}:asks_for_epochs"),
     [BUILDER + "asks_for_epochs() takes epochs, which it cannot be given; its arguments are "
      "any of params, input_shape, n_classes"]),
    ("a parameter no one gets", _config(f"{MODELS}:functional"),
     ["invalid config: space.width: not a setting of the harness, and functional() takes no "
      "`params` to get it"]),
    ("a harness setting outside its domain",
     _config(f"{MODELS}:small_dense", {"momentum": {"type": "uniform", "low": 0.5,
                                                   "high": 1.5}}),
     ["invalid config: space.momentum: values up to 1.5 are outside the keras objective's "
      "momentum domain"]),
    ("a schedule with no rate", _config(f"{MODELS}:small_dense", lr_schedule="step"),
     ["invalid config: objective.keras.lr_decay_rate: lr_schedule 'step' needs a decay rate"]),
]


@pytest.mark.parametrize("config, lines", [pytest.param(c, w, id=i) for i, c, w in ERRORS])
def test_each_error_is_one_line_naming_the_key(config, lines):
    assert_refused(config, lines)


def test_a_good_config_plans_and_names_the_builders_file():
    plan = load_plan(_config(f"{MODELS}:small_dense"))
    assert plan.needs_data and plan.objective_name == "keras"
    assert plan.objective.input_files(plan.objective_settings) == {"builder": str(MODELS)}
