"""What the objectives that run the user's code share (objective.python, a function of
theirs; objective.command, a program of theirs): the metrics a call gives back, checked and
made floats; what counts as diverged; a trial's score as the metric's mean over its folds,
negated for `direction: maximize`; and the held-out test. docs/own-model.md is the contract,
for the user.

A subclass says how one call runs (`run`): it returns the call's metrics and per-step
history, and raises hpstudy.outcome.TrialFailed when the user's code fails.
"""

from __future__ import annotations

import logging
import math
import numbers
import statistics
from abc import abstractmethod
from collections.abc import Mapping, Sequence

from hpstudy import fileio
from hpstudy.objectives.base import Objective
from hpstudy.outcome import TrialFailed, trial_status

log = logging.getLogger(__name__)

# What a promoted trial's "checkpoint" holds: not JSON (a failed fold's stand-in starts with
# "{": hpstudy.outcome.failed_checkpoint).
NO_CHECKPOINT = "no model: the user's code is called again from the start when promoted\n"

Metrics = dict[str, float | None]


def number(value, what: str) -> float | None:
    """A metric as the records hold it: a float, None when not finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} is {value!r}, not a number")
    value = float(value)
    return value if math.isfinite(value) else None


def metrics_of(returned, metric: str, source: str, setting: str) -> Metrics:
    """The metrics of what `source` (the user's function or program) gave back: a number (the
    metric) or a mapping of numbers holding `metric`, which config key `setting` names.
    TypeError otherwise."""
    if isinstance(returned, Mapping):
        if metric not in returned:
            raise TypeError(f"{source} returned no {metric!r} ({setting}); "
                            f"its keys: {', '.join(map(str, returned)) or 'none'}")
        return {str(key): number(value, f"{source}'s {key}") for key, value in returned.items()}
    return {metric: number(returned, f"what {source} returned")}


def sign(settings: Mapping) -> int:
    """The objective minimised is the metric, or its negative with `direction: maximize`."""
    return -1 if settings["direction"] == "maximize" else 1


class UserCode(Objective):
    """An objective whose fits are the user's code, scored by `settings["metric"]`."""

    tunable = None  # the space's parameters are the user's `params`
    fidelity = "budget"

    @classmethod
    @abstractmethod
    def run(cls, settings: Mapping, params: Mapping, fold: int | None, seed: int, data
            ) -> tuple[Metrics, dict[str, list]]:
        """(metrics, per-step history) of one call, for fold `fold` (None: the held-out
        test); TrialFailed when the user's code fails or gives back no metrics."""

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1, *,
                      start_from=None, checkpoint_to=None):
        """start_from: ignored (called again from the start at the trial's budget);
        checkpoint_to: NO_CHECKPOINT, for the rule that expects one."""
        metrics, history = cls.run(settings, params, fold, seed, data)
        if checkpoint_to:
            fileio.write_text(checkpoint_to, NO_CHECKPOINT)
        diverged = metrics[settings["metric"]] is None
        return {"status": "diverged" if diverged else "ok", "metrics": metrics,
                "history": history, "epochs_run": settings["budget"] or 0}

    @classmethod
    def score_trial(cls, settings, fold_records: Sequence[Mapping]):
        status, metric = trial_status(fold_records), settings["metric"]
        values = [record["metrics"].get(metric) for record in fold_records]
        metrics = {f"fold_{record['fold']}_value": value
                   for record, value in zip(fold_records, values, strict=True)}
        if status != "ok":
            return {"status": status, "objective": None, "metrics": metrics}
        metrics["value_mean"] = statistics.fmean(values)
        metrics["value_std"] = statistics.pstdev(values)
        return {"status": status, "objective": sign(settings) * metrics["value_mean"],
                "metrics": metrics}

    @classmethod
    def evaluate_test(cls, settings, params, seed, data=None, threads=1):
        """One call (fold None) on every CV example against the held-out test set."""
        try:
            metrics, _ = cls.run(settings, params, None, seed, data)
        except TrialFailed as failure:
            log.warning("the held-out test failed: %s", failure.reason)
            return {"status": "failed", "test_objective": None, "metrics": {}}
        value = metrics[settings["metric"]]
        return {"status": "ok" if value is not None else "diverged",
                "test_objective": None if value is None else sign(settings) * value,
                "metrics": metrics}
