"""hpstudy.seeds.derive_seed: every seed of a study (trials, folds, repeats, the held-out test)
comes from it, so it must be the same everywhere, tell its inputs apart, and fit every
library's seed type."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from hpstudy.seeds import derive_seed
from tests.helpers.workdir import REPO

STRATEGIES = ("grid", "random", "sobol", "tpe", "gp")
PARTS = [(7, "tpe", "trial", 3), (42,), (0, "repeat", 1), (123456789, "fold", 4), ()]


def test_the_same_parts_give_the_same_seed():
    for parts in PARTS:
        assert derive_seed(*parts) == derive_seed(*parts)
    # Values pinned: a change to the derivation changes every proposal of every study, and
    # results written before it could no longer be reproduced.
    assert derive_seed(7, "tpe", "trial", 3) == 990818970
    assert derive_seed(42) == 1894074358
    assert derive_seed(0, "repeat", 1) == 86040810


@pytest.mark.parametrize("hash_seed", ["0", "1", "random"])
def test_a_fresh_interpreter_derives_the_same_seeds(hash_seed):
    """Not Python's hash(), which is salted per process (PYTHONHASHSEED)."""
    script = ("import sys; from hpstudy.seeds import derive_seed; "
              f"print([derive_seed(*parts) for parts in {PARTS!r}])")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        timeout=60, env={**os.environ, "PYTHONHASHSEED": hash_seed,
                         "PYTHONPATH": str(REPO / "workflow")})
    assert result.stdout.strip() == str([derive_seed(*parts) for parts in PARTS])


def test_seeds_differ_between_trials_strategies_and_studies():
    trials = [derive_seed(7, strategy, "trial", t) for strategy in STRATEGIES
              for t in range(1000)]
    assert len(set(trials)) == len(trials)
    folds = [derive_seed(seed, "fold", fold) for seed in range(1000) for fold in range(5)]
    assert len(set(folds)) == len(folds)
    assert not set(trials) & set(folds)
    # Another study seed, another seed for the same trial.
    assert len({derive_seed(seed, "tpe", "trial", 0) for seed in range(1000)}) == 1000


def test_the_order_and_the_boundaries_of_the_parts_matter():
    assert derive_seed(7, "tpe") != derive_seed("tpe", 7)
    assert derive_seed("ab", "c") != derive_seed("a", "bc")
    assert derive_seed(1, 23) != derive_seed(12, 3)
    assert derive_seed(7, "trial", 1) != derive_seed(7, "trial", 1, "fold", 0)


def test_seeds_fit_every_library_and_cover_the_range():
    seeds = [derive_seed(7, "random", "trial", t) for t in range(5000)]
    assert all(type(seed) is int for seed in seeds)
    # Below 2**31 - 1: valid for numpy's RandomState, hyperopt, TensorFlow and scikit-learn
    # (int32), and for numpy's Generator.
    assert 0 <= min(seeds) and max(seeds) < 2**31 - 1
    assert np.array(seeds, dtype=np.int64).astype(np.int32).tolist() == seeds
    np.random.RandomState(max(seeds))
    np.random.default_rng(max(seeds))
    # Spread over the range, not packed into a corner of it.
    assert min(seeds) < 2**31 // 100 and max(seeds) > 2**31 - 2**31 // 100
    quarters = np.histogram(seeds, bins=4, range=(0, 2**31 - 1))[0]
    assert all(1000 < count < 1500 for count in quarters), quarters
