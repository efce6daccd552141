"""objective.python: the user's own function, from a file or a module (docs/own-model.md is
its contract, for the user).

`entry` names it (hpstudy.objectives.python_entry: where it is and which arguments it takes,
read before any job without running the user's code). The training and test jobs import it,
once per process, and call it once per (trial, fold) with the arguments its signature names.
It returns a number or a dict of metrics holding `metric`: non-finite, the fold diverged; an
exception, the fold failed (its reason in the record, its traceback in the job's log) and the
study goes on. A trial's objective is the mean over its folds, as the test functions'
(negated for `direction: maximize`).

`budget` is the fidelity multi-fidelity strategies lower. A promoted trial is called again at
the higher budget, from the start: its checkpoint (which the rules expect of every fold of
such a study) only says so.
"""

from __future__ import annotations

import logging
import math
import numbers
import statistics
from collections.abc import Callable, Mapping

from hpstudy import fileio
from hpstudy.objectives.base import Objective
from hpstudy.objectives.python_entry import FORMS, EntryError, arguments, load_function, split
from hpstudy.outcome import TrialFailed, failure_kind, failure_reason, trial_status

log = logging.getLogger(__name__)

# What a promoted trial's "checkpoint" holds: not JSON (a failed fold's stand-in starts with
# "{": hpstudy.outcome.failed_checkpoint).
NO_CHECKPOINT = "no model: objective.python calls a promoted trial again from the start\n"


def _takes(settings: Mapping, name: str) -> bool:
    """Whether the entry's function takes argument `name` (False when it cannot be read:
    check says why)."""
    try:
        return name in arguments(settings["entry"])
    except (EntryError, KeyError):
        return False


def _number(value, what: str) -> float | None:
    """A metric as the records hold it: a float, None when not finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} is {value!r}, not a number")
    value = float(value)
    return value if math.isfinite(value) else None


def _reporter(history: dict[str, list]) -> Callable:
    def report(step: int, **metrics) -> None:
        """Metrics at `step` (0, 1, ...: an epoch, an iteration): the fold's per-step
        history, logged to the trial's MLflow run as fold_<k>/<metric>."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"report: step must be an integer >= 0, got {step!r}")
        for key, value in metrics.items():
            values = history.setdefault(key, [])
            if step < len(values):
                raise ValueError(f"report: {key} at step {step}, after step "
                                 f"{len(values) - 1}: steps must go up")
            values.extend([None] * (step - len(values)))
            values.append(_number(value, f"report: {key}"))

    return report


def _metrics(returned, metric: str, function: str) -> dict[str, float | None]:
    if isinstance(returned, Mapping):
        if metric not in returned:
            raise TypeError(f"{function}() returned no {metric!r} (objective.python.metric); "
                            f"its keys: {', '.join(map(str, returned))}")
        return {str(key): _number(value, f"{function}()'s {key}")
                for key, value in returned.items()}
    return {metric: _number(returned, f"what {function}() returned")}


def _sign(settings: Mapping) -> int:
    """The objective minimised is the metric, or its negative with `direction: maximize`."""
    return -1 if settings["direction"] == "maximize" else 1


def _call(settings: Mapping, params: Mapping, fold: int | None, seed: int, data
          ) -> tuple[dict[str, float | None], dict[str, list]]:
    """(metrics, per-step history) of one call; TrialFailed when it raises or returns
    something else than a number or a dict of numbers holding the metric."""
    entry = settings["entry"]
    function, name, names = load_function(entry), split(entry)[1], arguments(entry)
    history: dict[str, list] = {}
    given = {"params": dict(params), "fold": fold, "seed": seed, "data": data,
             "budget": settings["budget"], "report": _reporter(history)}
    try:
        returned = function(**{key: given[key] for key in names})
        return _metrics(returned, settings["metric"], name), history
    except Exception as error:  # the user's code: its errors are the trial's
        log.exception("%s failed (fold %s, params %s)", entry, fold, dict(params))
        raise TrialFailed(failure_reason(error),
                          out_of_memory=failure_kind(error) == "out_of_memory") from error


class PythonFunction(Objective):
    """objective.python: `entry`, a function of the user's, scored by its `metric`."""

    name = "python"
    label = "your function"
    tunable = None  # the space's parameters are the function's `params`
    fidelity = "budget"

    @classmethod
    def describe(cls, settings):
        return f"your function {settings.get('entry', '')}".rstrip()

    @classmethod
    def reads_data(cls, settings):
        return _takes(settings, "data")

    @classmethod
    def check(cls, settings, space):
        if not settings.get("entry"):
            return [f"objective.python.entry: required: {FORMS}"]
        try:
            names = arguments(settings["entry"])
        except EntryError as error:
            return [f"objective.python.entry: {error}"]
        function, errors = split(settings["entry"])[1], []
        if "params" not in names:
            errors += [f"space.{name}: {function}() takes no `params`, so no parameter of "
                       f"the space reaches it" for name in space.names]
        if settings["budget"] is not None and "budget" not in names:
            errors.append(f"objective.python.budget: {settings['budget']}, but {function}() "
                          f"takes no `budget` argument to be given it")
        return errors

    @classmethod
    def fidelity_errors(cls, settings, strategy):
        try:
            names = arguments(settings["entry"])
        except (EntryError, KeyError):
            return []  # check says why
        if "budget" not in names:
            return [f"objective.python.entry: {split(settings['entry'])[1]}() takes no "
                    f"`budget`, which strategies.{strategy} gives each trial (it trains them "
                    f"at several budgets)"]
        if settings["budget"] is None:
            return [f"objective.python.budget: required by strategies.{strategy} (the full "
                    f"budget: its last rung's)"]
        return []

    @classmethod
    def input_files(cls, settings):
        """A path entry's file: editing it reruns the jobs that called it. (A suite moves the
        whole `path:function` setting as a path, which keeps the function.) A module is
        found on Python's path like any library: not a file of the study."""
        entry = settings.get("entry") or ""
        target = entry.rpartition(":")[0]
        return {"entry": target} if target.endswith(".py") else {}

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1, *,
                      start_from=None, checkpoint_to=None):
        """start_from: ignored (called again from the start at the trial's budget);
        checkpoint_to: NO_CHECKPOINT, for the rule that expects one."""
        metrics, history = _call(settings, params, fold, seed, data)
        if checkpoint_to:
            fileio.write_text(checkpoint_to, NO_CHECKPOINT)
        diverged = metrics[settings["metric"]] is None
        return {"status": "diverged" if diverged else "ok", "metrics": metrics,
                "history": history, "epochs_run": settings["budget"] or 0}

    @classmethod
    def score_trial(cls, settings, fold_records):
        status, metric = trial_status(fold_records), settings["metric"]
        values = [record["metrics"].get(metric) for record in fold_records]
        metrics = {f"fold_{record['fold']}_value": value
                   for record, value in zip(fold_records, values, strict=True)}
        if status != "ok":
            return {"status": status, "objective": None, "metrics": metrics}
        metrics["value_mean"] = statistics.fmean(values)
        metrics["value_std"] = statistics.pstdev(values)
        return {"status": status, "objective": _sign(settings) * metrics["value_mean"],
                "metrics": metrics}

    @classmethod
    def evaluate_test(cls, settings, params, seed, data=None, threads=1):
        """One call (fold None) on every CV example against the held-out test set."""
        try:
            metrics, _ = _call(settings, params, None, seed, data)
        except TrialFailed as failure:
            log.warning("the held-out test failed: %s", failure.reason)
            return {"status": "failed", "test_objective": None, "metrics": {}}
        value = metrics[settings["metric"]]
        return {"status": "ok" if value is not None else "diverged",
                "test_objective": None if value is None else _sign(settings) * value,
                "metrics": metrics}


OBJECTIVE = PythonFunction
