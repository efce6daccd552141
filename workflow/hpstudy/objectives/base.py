"""The one interface every objective implements.

An objective is one module in this package that sets `OBJECTIVE` to an `Objective` subclass,
plus one block under `objective:` in workflow/schemas/config.schema.yaml (its settings, their
types and `default:` values; `objective.name` accepts every block's name). The class says
everything else the workflow needs: whether it reads the prepared data, which of its settings
a search-space parameter may set, its own config checks, the threads and GPUs of its training
jobs, what a fold, a trial's score and a held-out test return, and which per-fold metric the
report shows. Heavy libraries (TensorFlow) are imported inside the methods: the Snakefile
imports every objective module to learn the names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hpstudy.space import SearchSpace

STATUSES = ("ok", "diverged", "failed")


def trial_status(fold_records) -> str:
    """A trial is as bad as its worst fold: failed > diverged > ok."""
    statuses = {record["status"] for record in fold_records}
    for status in ("failed", "diverged"):
        if status in statuses:
            return status
    return "ok"


class Objective(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    needs_data: ClassVar[bool] = False  # reads results/data/ (prepare_data runs first)
    # Settings a search-space parameter may set (merged over the fixed settings per trial);
    # None: the space's parameters are the function's arguments (see check).
    tunable: ClassVar[tuple[str, ...] | None] = ()
    # The per-fold metric that scores hold as `fold_<k>_<fold_metric>` (report's CV plots).
    fold_metric: ClassVar[str] = "value"
    imports: ClassVar[tuple[str, ...]] = ()  # heavy modules its jobs import (warm worker)
    # The setting that says how much a fit may spend (the networks' `epochs`): what
    # multi-fidelity strategies (successive halving, Hyperband, BOHB) lower for cheap
    # early looks. None: the objective has one fidelity only.
    fidelity: ClassVar[str | None] = None

    @classmethod
    def check(cls, settings: Mapping[str, Any], space: SearchSpace) -> list[str]:
        """What the schema cannot say: one message per problem, naming the key."""
        if cls.tunable is None:
            return []
        return [f"space.{name}: the {cls.name} objective has no setting {name!r}; "
                f"tunable: {', '.join(cls.tunable)}"
                for name in space.names if name not in cls.tunable]

    @classmethod
    def threads(cls, settings: Mapping[str, Any]) -> int:
        """Threads of its training and test jobs (part of what a result depends on)."""
        return 1

    @classmethod
    def gpus(cls, settings: Mapping[str, Any]) -> int:
        """GPUs each training or test job asks for."""
        return 0

    @classmethod
    def device(cls, settings: Mapping[str, Any]) -> str:
        return "cpu"

    @classmethod
    @abstractmethod
    def evaluate_fold(cls, settings: dict, params: Mapping[str, Any], fold: int, seed: int,
                      data, threads: int = 1) -> dict:
        """One fold's record: status, final metrics, per-epoch history, epochs_run,
        fit_seconds and fit_cpu_seconds (the timings are moved to their own file).

        An objective with a `fidelity` also takes the keywords `start_from` ((path, its
        fidelity) of this fold's checkpoint at a lower fidelity: train on from it, recording
        `first_epoch`) and `checkpoint_to` (save the fold's model there), which
        multi-fidelity strategies' promoted trials use."""

    @classmethod
    @abstractmethod
    def score_trial(cls, settings: dict, fold_records: Sequence[Mapping]) -> dict:
        """A trial's `objective` (the value minimised; a penalty or None when not ok),
        `status` and `metrics` (including `fold_<k>_<fold_metric>`)."""

    @classmethod
    @abstractmethod
    def evaluate_test(cls, settings: dict, params: Mapping[str, Any], seed: int, data,
                      threads: int = 1) -> dict:
        """The held-out test of the best params: `status`, `test_objective`, `fit_seconds`,
        and optionally `test_accuracy` / `test_loss`."""
