"""Errors raised for real, and the tiny CNN that raises them, for the tests of which errors
fail a trial (tests/test_outcome.py) and of the jobs and studies that record them
(tests/test_trial_failures.py)."""

from __future__ import annotations

from hpstudy.config import objective_defaults

# On 8x8 digits a k x k 'valid' convolution leaves (9 - k) x (9 - k), which the 2 x 2 pooling
# needs to be at least 2 x 2: kernels 8 and 9 cannot be built.
IMPOSSIBLE_KERNELS = (8, 9)
# Dense weights of 36 x 2**40 floats (144 TiB, more than an x86-64 process can address):
# TensorFlow's allocation fails on any machine, whatever its memory or overcommit policy.
TOO_MANY_UNITS = 2**40


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - the error is what the test looks at
        return error
    raise AssertionError("no error raised")


def cnn_settings(**overrides) -> dict:
    return {**objective_defaults("cnn"), "filters": 4, "dense_units": 16, "epochs": 1,
            "batch_size": 32, **overrides}
