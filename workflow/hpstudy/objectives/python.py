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
the higher budget: from the start, or, when the function takes `checkpoint`, with the
directory its parent's call left (hpstudy.objectives.user_code).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

from hpstudy.objectives.python_entry import FORMS, EntryError, arguments, call, entry_file, split
from hpstudy.objectives.user_code import UserCode, metrics_of, number


def _takes(settings: Mapping, name: str) -> bool:
    """Whether the entry's function takes argument `name` (False when it cannot be read:
    check says why)."""
    try:
        return name in arguments(settings["entry"])
    except (EntryError, KeyError):
        return False


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
            values.append(number(value, f"report: {key}"))

    return report


class PythonFunction(UserCode):
    """objective.python: `entry`, a function of the user's, scored by its `metric`."""

    name = "python"
    label = "your function"

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
        path = entry_file(settings.get("entry") or "")
        return {"entry": path} if path else {}

    @classmethod
    def user_entries(cls, settings):
        return [settings["entry"]] if settings.get("entry") else []

    @classmethod
    def takes_checkpoint(cls, settings):
        return _takes(settings, "checkpoint")

    @classmethod
    def run(cls, settings, params, fold, seed, data, checkpoint=None):
        """One call of the function with the arguments it names; TrialFailed when it raises
        or returns something else than a number or a dict of numbers holding the metric."""
        entry = settings["entry"]
        history: dict[str, list] = {}
        given = {"params": dict(params), "fold": fold, "seed": seed, "data": data,
                 "budget": settings["budget"], "report": _reporter(history),
                 "checkpoint": checkpoint}
        metrics = call(entry, given, then=lambda returned: metrics_of(
            returned, settings["metric"], f"{split(entry)[1]}()", "objective.python.metric"),
            context=f"fold {fold}, params {dict(params)}")
        return metrics, history


OBJECTIVE = PythonFunction
