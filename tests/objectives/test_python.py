"""objective.python, in-process: the user's function called with the arguments its signature
names, its returns, divergence and failures, report() as the fold's history, the held-out
test, and every config error it has, through the Snakefile's pre-flight (load_plan). The
functions are tests/helpers/user_functions.py's; the end to end run: tests/test_examples.py."""

from __future__ import annotations

import logging
import math
import zipfile

import numpy as np
import pytest

from hpstudy import data, jobs, suite
from hpstudy.config import objective_defaults
from hpstudy.objectives.python import OBJECTIVE
from hpstudy.objectives.user_code import NO_CHECKPOINT
from hpstudy.outcome import TrialFailed, failed_checkpoint, fold_or_failure
from hpstudy.preflight import PreflightError, load_plan
from hpstudy.seeds import derive_seed
from tests.helpers.config_errors import assert_refused
from tests.helpers.workdir import REPO

FILE = REPO / "tests" / "helpers" / "user_functions.py"
MODULE = "tests.helpers.user_functions"


def _settings(function: str, **settings) -> dict:
    return {**objective_defaults("python"), "entry": f"{FILE}:{function}", **settings}


def _fold(settings: dict, x: float, fold=0, seed=5, fold_data=None, **continuation) -> dict:
    return OBJECTIVE.evaluate_fold(settings, {"x": x}, fold, seed, fold_data, **continuation)


def _digits_fold(fold: int = 0) -> data.FoldData:
    x, y, folds, _ = data.prepare({"name": "digits", "path": None, "limit": 200,
                                   "split_seed": 0, "classes": None},
                                  {"folds": 2, "test_fraction": 0.2})
    train, val = (folds != data.TEST_FOLD) & (folds != fold), folds == fold
    return data.FoldData(x[train], y[train], x[val], y[val], int(y.max()) + 1)


# --- a call ---------------------------------------------------------------------------------

def test_a_function_gets_only_the_arguments_its_signature_names():
    # quadratic(params) would raise a TypeError if it were given fold, seed, ...
    assert _fold(_settings("quadratic"), 3.0) == {
        "status": "ok", "metrics": {"objective": 4.0}, "history": {}, "epochs_run": 0}
    fold = _digits_fold()
    record = _fold(_settings("with_everything", budget=3), 2.0, fold=1, seed=12,
                   fold_data=fold)
    assert record["metrics"] == {"objective": 2.0, "fold": 1.0, "seed": 12.0,
                                 "examples": float(len(fold.y_train)), "budget": 3.0}
    assert record["epochs_run"] == 3  # the budget it was given: the report's cost axis


def test_a_path_and_a_module_entry_call_the_same_function():
    by_module = {**_settings("quadratic"), "entry": f"{MODULE}:quadratic"}
    assert _fold(by_module, 0.5) == _fold(_settings("quadratic"), 0.5)
    assert OBJECTIVE.input_files(_settings("quadratic")) == {"entry": str(FILE)}
    assert OBJECTIVE.input_files(by_module) == {}  # found on Python's path, like a library


def test_a_dict_of_metrics_is_scored_by_its_metric_as_the_mean_over_folds():
    settings = _settings("noisy_quadratic", metric="loss")
    records = [{**_fold(settings, 2.0, fold=k, seed=10 + k), "fold": k} for k in range(2)]
    losses = [1.0 + float(np.random.default_rng(10 + k).normal(scale=0.1)) for k in range(2)]
    assert [r["metrics"] for r in records] == [{"loss": losses[k], "fold": float(k)}
                                              for k in range(2)]
    score = OBJECTIVE.score_trial(settings, records)
    assert score["status"] == "ok" and score["objective"] == pytest.approx(np.mean(losses))
    assert score["metrics"]["fold_1_value"] == losses[1]
    assert score["metrics"]["value_std"] == pytest.approx(np.std(losses))


def test_maximize_minimises_minus_the_metric_in_the_cv_score_and_the_test():
    settings = _settings("accuracy", metric="accuracy", direction="maximize")
    records = [{**_fold(settings, x), "fold": k} for k, x in enumerate((1.0, 2.0))]
    score = OBJECTIVE.score_trial(settings, records)
    assert score["metrics"]["value_mean"] == pytest.approx(0.75)
    assert score["objective"] == pytest.approx(-0.75)
    test = OBJECTIVE.evaluate_test(settings, {"x": 1.0}, 3, None)
    assert test["status"] == "ok" and test["test_objective"] == -1.0


def test_a_non_finite_value_is_a_diverged_fold_and_trial():
    settings = _settings("diverges")
    record = {**_fold(settings, 3.0), "fold": 0}
    assert record["status"] == "diverged" and record["metrics"] == {"objective": None}
    score = OBJECTIVE.score_trial(settings, [record, {**_fold(settings, 1.0), "fold": 1}])
    assert score["status"] == "diverged" and score["objective"] is None
    assert OBJECTIVE.evaluate_test(settings, {"x": 3.0}, 3, None)["status"] == "diverged"


def test_an_exception_fails_the_fold_with_its_reason_and_its_traceback_in_the_log(caplog):
    settings = _settings("raises")
    with pytest.raises(TrialFailed, match=r"^ValueError: x = -1.0 must not be negative$"):
        _fold(settings, -1.0)
    entry = {"trial": 4, "params": {"x": -1.0}}
    with caplog.at_level(logging.INFO):
        record = fold_or_failure(OBJECTIVE, settings, entry, 0, 5, None, 1, {}, (1, 1))
    assert record["status"] == "failed"
    assert record["reason"] == "ValueError: x = -1.0 must not be negative"
    assert "Traceback" in caplog.text and 'raise ValueError(f"x = ' in caplog.text
    score = OBJECTIVE.score_trial(settings, [{**record, "fold": 0}])
    assert score["status"] == "failed" and score["objective"] is None
    test = OBJECTIVE.evaluate_test(settings, {"x": -1.0}, 3, None)
    assert test == {"status": "failed", "test_objective": None, "metrics": {}}


def _returning(monkeypatch, function, *names) -> dict:
    """Settings whose entry is `function` (fit(*names)), as load_function would import it."""
    monkeypatch.setattr("hpstudy.objectives.python_entry.load_function",
                        lambda entry: function)
    monkeypatch.setattr("hpstudy.objectives.python_entry.arguments",
                        lambda entry, allowed=None: names)
    return {**_settings("quadratic"), "entry": f"{FILE}:fit"}


@pytest.mark.parametrize("returned, reason", [
    ({"loss": 1.0}, r"fit\(\) returned no 'objective' \(objective\.python\.metric\); its "
                    r"keys: loss"),
    ("five", r"what fit\(\) returned is 'five', not a number"),
    ({"objective": 1.0, "note": "text"}, r"fit\(\)'s note is 'text', not a number"),
])
def test_a_return_that_is_not_a_number_or_holds_no_metric_fails_the_fold(
        returned, reason, monkeypatch):
    settings = _returning(monkeypatch, lambda params: returned, "params")
    with pytest.raises(TrialFailed, match=f"^TypeError: {reason}$"):
        OBJECTIVE.evaluate_fold(settings, {"x": 1.0}, 0, 5, None)


def test_report_is_the_folds_per_step_history_logged_under_the_folds_prefix():
    from hpstudy.tracking.runs import fold_metrics

    record = {**_fold(_settings("with_everything", budget=3), 2.0, seed=9), "fold": 1}
    assert record["history"] == {"loss": [1.0, 0.5, 1 / 3], "step_seed": [2.0] * 3}
    logged = fold_metrics(record, {"fit_seconds": 0.1, "fit_cpu_seconds": 0.1}, 1000)
    assert [(m.key, m.step, m.value) for m in logged if m.key == "fold_1/loss"] == [
        ("fold_1/loss", 0, 1.0), ("fold_1/loss", 1, 0.5), ("fold_1/loss", 2, 1 / 3)]


def test_report_leaves_steps_not_reported_empty_and_refuses_going_back(monkeypatch):
    def steps(report):
        report(0, loss=2.0)
        report(2, loss=math.inf, accuracy=0.5)
        return 1.0

    settings = _returning(monkeypatch, steps, "report")
    record = OBJECTIVE.evaluate_fold(settings, {}, 0, 5, None)
    assert record["history"] == {"loss": [2.0, None, None], "accuracy": [None, None, 0.5]}

    def backwards(report):
        report(3, loss=1.0)
        report(1, loss=0.5)

    settings = _returning(monkeypatch, backwards, "report")
    with pytest.raises(TrialFailed, match=r"ValueError: report: loss at step 1, after step 3"):
        OBJECTIVE.evaluate_fold(settings, {}, 0, 5, None)


def test_the_jobs_give_each_fold_its_derived_seed_and_the_test_fold_none(tmp_path):
    settings = _settings("with_everything")
    entry = {"trial": 2, "seed": 77, "params": {"x": 0.5}}
    records = [record for record, _ in jobs.evaluate_folds("python", settings, entry, [0, 1],
                                                           None, 1)]
    seeds = [derive_seed(77, "fold", k) for k in (0, 1)]
    assert [r["seed"] for r in records] == seeds
    assert [r["metrics"]["seed"] for r in records] == seeds  # what the function was given
    assert [r["metrics"]["fold"] for r in records] == [0.0, 1.0]
    assert OBJECTIVE.evaluate_test(settings, {"x": 0.5}, 3, None)["metrics"]["fold"] == -1.0
    again = [record for record, _ in jobs.evaluate_folds("python", settings, entry, [0, 1],
                                                         None, 1)]
    assert again == records  # a deterministic function: the same records


def test_a_promoted_fold_is_called_again_at_its_budget_and_leaves_a_checkpoint(tmp_path):
    settings = _settings("budgeted", budget=9)
    checkpoint = tmp_path / "trials" / "3" / "fold_0.keras"
    first = _fold({**settings, "budget": 3}, 1.0, checkpoint_to=str(checkpoint))
    assert checkpoint.read_text() == NO_CHECKPOINT and failed_checkpoint(str(checkpoint)) is None
    promoted = _fold(settings, 1.0, start_from=(str(checkpoint), 3))
    assert (first["metrics"]["objective"], promoted["metrics"]["objective"]) == (1 / 3, 1 / 9)
    assert (first["epochs_run"], promoted["epochs_run"]) == (3, 9)


def test_a_function_taking_checkpoint_continues_from_its_parents_directory(tmp_path):
    settings = _settings("resumable", budget=9)
    parent = tmp_path / "trials" / "3" / "fold_0.keras"
    first = _fold({**settings, "budget": 3}, 1.0, checkpoint_to=str(parent))
    assert first["metrics"]["resumed_from"] == 0  # a fresh call: an empty directory
    with zipfile.ZipFile(parent) as archive:
        assert archive.namelist() == ["state/steps.txt"]
        assert archive.read("state/steps.txt") == b"3"
    promoted = _fold(settings, 1.0, start_from=(str(parent), 3),
                     checkpoint_to=str(tmp_path / "fold_0_next.keras"))
    assert (promoted["metrics"]["resumed_from"], promoted["metrics"]["objective"]) == (3, 1 / 9)
    # The same call leaves the same bytes (a rerun rewrites the checkpoint unchanged).
    again = tmp_path / "again.keras"
    _fold({**settings, "budget": 3}, 1.0, checkpoint_to=str(again))
    assert again.read_bytes() == parent.read_bytes()
    # The held-out test and an unpromoted fold start from an empty directory.
    assert OBJECTIVE.evaluate_test(settings, {"x": 1.0}, 3, None)["metrics"][
        "resumed_from"] == 0
    assert _fold(settings, 1.0)["metrics"]["resumed_from"] == 0


def test_a_parent_that_left_no_checkpoint_starts_its_promoted_trial_from_scratch(tmp_path):
    # The parent ran before the function took `checkpoint`: its stand-in is no archive.
    parent = tmp_path / "fold_0.keras"
    parent.write_text(NO_CHECKPOINT)
    promoted = _fold(_settings("resumable", budget=9), 1.0, start_from=(str(parent), 3))
    assert promoted["metrics"]["resumed_from"] == 0


def test_a_suite_moves_a_path_entry_and_keeps_its_function():
    config = {"objective": {"name": "python", "python": {"entry": "code/train.py:fit"}}}
    moved = suite.written_config("quick", config)["objective"]["python"]["entry"]
    assert moved.endswith("code/train.py:fit") and moved.startswith("..")


# --- the config: data, and every error before any job ---------------------------------------

def _config(function: str | None, **python) -> dict:
    block = {"entry": f"{FILE}:{function}"} if function else {}
    return {"experiment": "test-python", "seed": 3, "cv": {"folds": 2},
            "objective": {"name": "python", "python": {**block, **python}},
            "space": {"x": {"type": "uniform", "low": -2.0, "high": 3.0}},
            "strategies": {"random": {"budget": 4}},
            "tracking": {"uri": "sqlite:///results/mlflow.db"}}


def test_data_is_prepared_only_for_a_function_that_takes_it():
    plan = load_plan(_config("quadratic"))  # no dataset: none needed
    assert not plan.needs_data and "dataset" not in plan.config
    with_data = {**_config("mean_pixel"), "dataset": {"name": "digits", "limit": 200}}
    assert load_plan(with_data).needs_data
    sha = {**_config("budgeted", budget=9), "strategies": {"sha": {}, "random": {"budget": 2}}}
    assert load_plan(sha).config["strategies"]["sha"]["max_resource"] == 9


def _with(config: dict, **changes) -> dict:
    return {**config, **changes}


ENTRY = "invalid config: objective.python.entry: "
ERRORS = [
    ("no entry", _config(None), [ENTRY + "required: path/to/file.py:function"]),
    ("not an entry", _config(None, entry="train.fit"),
     [ENTRY + "'train.fit' is not path/to/file.py:function or package.module:function"]),
    ("no such file", _config(None, entry="no/train.py:fit"),
     [ENTRY + "no file 'no/train.py' (a relative path is read from the working directory)"]),
    ("no such module", _config(None, entry="no_such_package.train:fit"),
     [ENTRY + "no module 'no_such_package.train' on Python's path"]),
    ("no such function", _config("fit"),
     [ENTRY + "user_functions.py defines no function 'fit'"]),
    ("no such function in a module", _config(None, entry=f"{MODULE}:fit"),
     [ENTRY + "user_functions.py defines no function 'fit'"]),
    ("an argument outside the set", _config("unknown_argument"),
     [ENTRY + "unknown_argument() takes epochs, which it cannot be given; its arguments are "
      "any of params, fold, seed, data, budget, report"]),
    ("data without a dataset", _config("mean_pixel"),
     ["invalid config: dataset: required by the 'python' objective"]),
    ("multi-fidelity without budget", _with(_config("quadratic"), strategies={"sha": {}}),
     [ENTRY + "quadratic() takes no `budget`, which strategies.sha gives each trial"]),
    ("multi-fidelity without a full budget",
     _with(_config("budgeted"), strategies={"hyperband": {}}),
     ["invalid config: objective.python.budget: required by strategies.hyperband"]),
    ("a budget the function does not take", _config("quadratic", budget=3),
     ["invalid config: objective.python.budget: 3, but quadratic() takes no `budget`"]),
    ("a space the function cannot see", _config("seed_only"),
     ["invalid config: space.x: seed_only() takes no `params`"]),
    ("an unknown setting", _config("quadratic", epochs=3),
     ["invalid config: objective.python: unknown key(s) 'epochs'; allowed: entry, metric, "
      "direction, budget"]),
]


@pytest.mark.parametrize("config, lines", [pytest.param(c, w, id=i) for i, c, w in ERRORS])
def test_each_error_is_one_line_naming_the_key_before_anything_is_written(
        config, lines, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where Snakemake runs: a relative entry is read from here
    assert_refused(config, lines, tmp_path)


def test_a_file_python_cannot_read_is_refused_by_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("def fit(params):\n    return params[\n")
    with pytest.raises(PreflightError, match=r"objective\.python\.entry: train\.py, line 2"):
        load_plan(_config(None, entry="train.py:fit"))
    # Nothing of it ran: the check reads it, it does not import it.
    (tmp_path / "train.py").write_text("open('ran', 'w')\ndef fit(params):\n    return 1\n")
    load_plan(_config(None, entry="train.py:fit"))
    assert not (tmp_path / "ran").exists()
