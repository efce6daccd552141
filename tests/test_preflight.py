"""hpstudy.preflight: what the Snakefile checks before any job, computed without training and
compared with what prepare_data and Keras really do."""

from __future__ import annotations

import numpy as np
import pytest

from hpstudy import data
from hpstudy.plan import Plan
from hpstudy.preflight import check_plan, selected_counts
from tests.helpers.workdir import load_config


@pytest.mark.parametrize("dataset", [
    {"limit": 150, "classes": [3, 1, 7], "split_seed": 0},
    {"limit": 333, "classes": None, "split_seed": 5},
    {"limit": None, "classes": [9, 0], "split_seed": 0},
])
def test_selected_counts_are_the_counts_prepare_data_keeps(dataset):
    """The same stratified subset as prepare_data, from the label counts alone."""
    config = {"name": "digits", "path": None, **dataset}
    facts = data.check_source(config)
    _, y, _, _ = data.prepare(config, {"folds": 2, "test_fraction": 0.2})
    assert selected_counts(facts.label_counts, config) == np.bincount(y).tolist()


def test_a_searched_kernel_that_sometimes_fits_passes_and_returns_the_facts():
    """Only a space with no kernel that fits is refused: the others' too-large trials fail
    and are recorded as failed (issue 18)."""
    config = load_config("default")
    config["space"]["kernel_size"] = {"type": "int", "low": 1, "high": 9, "grid": [3, 9]}
    facts = check_plan(Plan.from_config(config))
    assert facts.image_shape == (8, 8) and sum(facts.label_counts.values()) == 1797


def test_the_largest_kernel_is_the_one_keras_can_build():
    """ConvolutionalNetwork.largest_kernel against Keras itself: k builds, k + 1 does not."""
    from hpstudy.objectives.cnn import ConvolutionalNetwork as CNN
    from hpstudy.objectives.keras_runtime import configure_tensorflow

    # TensorFlow's threads as a training test in the same process sets them (they cannot
    # change once it has run an op).
    configure_tensorflow(1, "cpu")
    settings = {**Plan.from_config(load_config("default")).objective_settings}
    for shape in ((8, 8), (5, 4)):
        largest = CNN.largest_kernel(shape)
        CNN.build_model({**settings, "kernel_size": largest}, (*shape, 1), 3)
        with pytest.raises(ValueError):
            CNN.build_model({**settings, "kernel_size": largest + 1}, (*shape, 1), 3)


def test_objectives_without_data_are_not_looked_at():
    assert check_plan(Plan.from_config(load_config("branin"))) is None
