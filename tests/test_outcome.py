"""hpstudy.outcome: which errors are a trial's (recorded `failed`, the study goes on) and which
the study's (the job fails), the one-line reason a failed fold records, a trial's status from
its folds', the stand-in checkpoint of a failed fold, and a fit's measured time. No mocks:
every error here is raised for real."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hpstudy import fileio
from hpstudy.config import objective_defaults
from hpstudy.objectives import objective_class
from hpstudy.objectives.cnn import OBJECTIVE as CNN
from hpstudy.outcome import (
    STATUSES,
    TIMING_KEYS,
    failed_checkpoint,
    failure_kind,
    failure_reason,
    fit_time,
    fold_or_failure,
    trial_failures,
    trial_status,
    write_failed_checkpoint,
)
from tests.helpers.failures import IMPOSSIBLE_KERNELS, TOO_MANY_UNITS, cnn_settings, raised

MACHINE_PATH = re.compile(r"/(home|work|tmp|usr|opt|root)/")


@pytest.fixture(scope="module", autouse=True)
def tensorflow():
    """TensorFlow set up as a training job sets it up, before any test uses it (its threads
    cannot change once it has run an op)."""
    from hpstudy.objectives.keras_runtime import configure_tensorflow

    return configure_tensorflow(1, "cpu")


# --- which errors are the trial's -------------------------------------------------------


def test_a_kernel_larger_than_its_input_fails_the_trial_not_the_job():
    import keras

    for kernel in IMPOSSIBLE_KERNELS:
        error = raised(lambda k=kernel: CNN.build_model(cnn_settings(kernel_size=k), (8, 8, 1),
                                                        10))
        assert failure_kind(error) == "trial"
        reason = failure_reason(error)
        assert reason.startswith("ValueError: Computed output size would be zero or negative")
        assert "\n" not in reason and "\x1b" not in reason and not MACHINE_PATH.search(reason)
    assert failure_kind(raised(lambda: keras.layers.Dropout(1.5))) == "trial"
    CNN.build_model(cnn_settings(kernel_size=7), (8, 8, 1), 10)  # the largest that fits


def test_tensorflow_rejecting_a_value_at_run_time_fails_the_trial():
    import tensorflow as tf

    error = raised(lambda: tf.reshape(tf.zeros(4), (3,)))
    assert type(error).__name__ == "InvalidArgumentError" and failure_kind(error) == "trial"


def test_out_of_memory_is_told_apart_for_a_retry():
    error = raised(lambda: CNN.build_model(cnn_settings(dense_units=TOO_MANY_UNITS), (8, 8, 1),
                                           10))
    assert type(error).__name__ == "ResourceExhaustedError"
    assert failure_kind(error) == "out_of_memory"
    assert failure_reason(error).startswith("ResourceExhaustedError: OOM when allocating")
    assert failure_kind(raised(lambda: bytearray(1 << 62))) == "out_of_memory"  # MemoryError


def test_our_bugs_and_the_machines_problems_fail_the_job(tmp_path):
    import keras

    from hpstudy.objectives.keras_runtime import learning_rate

    corrupt = tmp_path / "x.npy"
    corrupt.write_bytes(b"not an array")
    settings = cnn_settings(lr_schedule="exponential", lr_decay_rate=None)

    class OurCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("a bug of ours, called by Keras")

    model = CNN.build_model(cnn_settings(), (8, 8, 1), 10)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int64")
    bugs = [
        raised(lambda: open(tmp_path / "missing.npy")),  # FileNotFoundError
        raised(lambda: np.load(corrupt)),  # numpy's ValueError: a corrupt data file
        raised(lambda: __import__("hpstudy_no_such_module")),  # ImportError
        raised(lambda: {}["kernel_size"]),  # KeyError
        raised(lambda: CNN.build_model(cnn_settings(kernel_size="3"), (8, 8, 1), 10)),
        raised(lambda: learning_rate(settings, 1)),  # our own ValueError
        raised(lambda: model.fit(x, y, epochs=1, verbose=0, callbacks=[OurCallback()])),
    ]
    assert [type(e).__name__ for e in bugs] == [
        "FileNotFoundError", "ValueError", "ModuleNotFoundError", "KeyError", "TypeError",
        "ValueError", "ValueError"]
    assert [failure_kind(e) for e in bugs] == [None] * len(bugs)
    for error in bugs:  # trial_failures lets each pass unchanged
        def inside(error=error):
            with trial_failures():
                raise error
        assert raised(inside) is error


def test_failure_reason_is_one_line_without_paths(tmp_path):
    missing = tmp_path / "somewhere" / "deep" / "data.npy"  # a path of this machine
    error = raised(lambda: open(missing))
    assert failure_reason(error) == ("FileNotFoundError: [Errno 2] No such file or directory: "
                                     "'<path>'")
    wrapped = ValueError("Exception encountered when calling MaxPooling2D.call().\n\n"
                         "\x1b[1mComputed output size would be zero or negative.\x1b[0m\n"
                         "Arguments received by MaxPooling2D.call():\n  • inputs=x")
    assert failure_reason(wrapped) == ("ValueError: Computed output size would be zero or "
                                       "negative.")
    assert failure_reason(MemoryError()) == "MemoryError"
    assert len(failure_reason(ValueError("x" * 1000))) == 300


# --- a trial's status, a failed fold, a fit's time ----------------------------------------


def test_a_trial_is_as_bad_as_its_worst_fold():
    def folds(*statuses):
        return [{"status": status} for status in statuses]

    assert STATUSES == ("ok", "diverged", "failed")  # best to worst
    assert trial_status(folds("ok", "ok")) == "ok"
    assert trial_status(folds("ok", "diverged", "ok")) == "diverged"
    assert trial_status(folds("diverged", "failed", "ok")) == "failed"
    assert trial_status([]) == "ok"


def test_a_fold_promoted_from_a_failed_one_fails_and_stands_in_for_its_checkpoint(tmp_path):
    function = objective_class("function")
    settings = {**objective_defaults("function"), "name": "branin"}
    entry = {"trial": 7, "seed": 3, "params": {"x": 1.0, "y": 2.0}}
    parent, own = tmp_path / "parent.keras", tmp_path / "own.keras"
    write_failed_checkpoint(str(parent), 2, "ValueError: no model")
    record = fold_or_failure(function, settings, entry, 0, 5, None, 1,
                             {"start_from": (str(parent), 1), "checkpoint_to": str(own)},
                             (1, 1))
    assert record == {"status": "failed", "reason": "continues failed trial 2: ValueError: "
                      "no model", "metrics": {}, "history": {}, "epochs_run": 0}
    # The next rung's promotion names the trial that failed first.
    assert failed_checkpoint(str(own)) == {"failed_trial": 2, "reason": "ValueError: no model"}
    real = tmp_path / "real.keras"
    real.write_bytes(b"PK\x03\x04")  # a .keras file is a zip
    assert failed_checkpoint(str(real)) is None
    trained = fold_or_failure(function, settings, entry, 0, 5, None, 1, {}, (1, 1))
    assert trained == function.evaluate_fold(settings, entry["params"], 0, 5)
    assert not set(TIMING_KEYS) & set(trained)  # measured by the job, apart (fit_time)


def test_fit_time_measures_the_block_in_seconds_to_the_millisecond(tmp_path):
    with fit_time() as timing:
        assert timing == {}
        fileio.write_json(tmp_path / "busy.json", {"values": list(range(100_000))})
    assert list(timing) == list(TIMING_KEYS)
    assert all(value >= 0 and value == round(value, 3) for value in timing.values())
