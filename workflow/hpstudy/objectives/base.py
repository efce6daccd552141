"""The one interface every objective implements.

An objective is one module in this package that sets `OBJECTIVE` to an `Objective` subclass,
plus one block under `objective:` in workflow/schemas/config.schema.yaml (its settings, their
types and `default:` values; `objective.name` accepts every block's name). The class says
everything else the workflow needs: whether it reads the prepared data (`reads_data`), which
of its settings a search-space parameter may set, its own config checks, the threads and GPUs
of its training jobs, what a fold, a trial's score and a held-out test return, and which
per-fold metric the report shows. Heavy libraries (TensorFlow) are imported inside the
methods: the Snakefile imports every objective module to learn the names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from hpstudy.space import Domain, SearchSpace


class Objective(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    # Reads results/data/ (prepare_data runs first), unless reads_data says otherwise.
    needs_data: ClassVar[bool] = False
    # Settings a search-space parameter may set (merged over the fixed settings per trial),
    # each with its domain: the values it accepts, which a searched parameter's must stay
    # inside (the schema says the same of a fixed setting). None: the space's parameters are
    # the function's arguments (see check).
    tunable: ClassVar[Mapping[str, Domain] | None] = {}
    # The per-fold metric that scores hold as `fold_<k>_<fold_metric>` (report's CV plots).
    fold_metric: ClassVar[str] = "value"
    imports: ClassVar[tuple[str, ...]] = ()  # heavy modules its jobs import (warm worker)
    # The setting that says how much a fit may spend (the networks' `epochs`): what
    # multi-fidelity strategies (successive halving, Hyperband, BOHB) lower for cheap
    # early looks. None: the objective has one fidelity only.
    fidelity: ClassVar[str | None] = None
    # Whether a promoted trial continues each fold from its parent's checkpoint (a network
    # trains on); False: it is evaluated anew at its fidelity (a test function), so its jobs
    # save no checkpoints and a study may run in one job (execution.fold_jobs: per_study).
    continues: ClassVar[bool] = True

    @classmethod
    def describe(cls, settings: Mapping[str, Any]) -> str:
        """What a benchmark of these settings is, in a few words (a suite's experiment names
        and its report say it). `settings` as written, before resolve fills the defaults."""
        return f"{cls.name} objective"

    @classmethod
    def kind(cls, settings: Mapping[str, Any]) -> str:
        """The kind of task a benchmark of these settings is (a suite's report compares the
        strategies per kind): the objective's label unless the settings decide it."""
        return cls.label

    @classmethod
    def reads_data(cls, settings: Mapping[str, Any]) -> bool:
        """Whether its jobs read results/data/ with these settings (as written, or with the
        defaults filled in): `needs_data`, unless the settings decide it (the python
        objective: whether the user's function takes `data`)."""
        return cls.needs_data

    @classmethod
    def check(cls, settings: Mapping[str, Any], space: SearchSpace) -> list[str]:
        """What the schema cannot say: one message per problem, naming the key. Here: each
        parameter of the space sets a tunable setting, and its values (after the transform)
        stay inside that setting's domain."""
        if cls.tunable is None:
            return []
        errors = []
        for parameter in space:
            name = parameter.name
            if name not in cls.tunable:
                errors.append(f"space.{name}: the {cls.name} objective has no setting "
                              f"{name!r}; tunable: {', '.join(cls.tunable)}")
            elif outside := cls.tunable[name].outside(parameter):
                errors.append(f"space.{name}: {outside} are outside the {cls.name} "
                              f"objective's {name} domain {cls.tunable[name]}")
        return errors

    @classmethod
    def fidelity_errors(cls, settings: Mapping[str, Any], strategy: str) -> list[str]:
        """What keeps these settings from training at several fidelities, as the
        multi-fidelity strategy `strategy` does (an objective with a `fidelity` only): one
        message per problem, naming the key."""
        return []

    @classmethod
    def check_data(cls, settings: Mapping[str, Any], space: SearchSpace,
                   image_shape: tuple[int, ...], classes: int | None) -> list[str]:
        """What the data rules out before any job: one message per fixed setting (or search
        space) that cannot work with images of `image_shape` (height, width) and `classes`
        classes (None: not known before prepare_data). Computed, never by building a model."""
        return []

    @classmethod
    def input_files(cls, settings: Mapping[str, Any]) -> dict[str, str]:
        """Files its training and test jobs read besides results/data/ ({setting: path},
        e.g. the study a surrogate replays): inputs of those jobs, so that a changed file
        retrains what depends on it. Relative paths are relative to the working directory
        (a suite moves them with its studies: hpstudy.suite)."""
        return {}

    @classmethod
    def relocated(cls, settings: Mapping[str, Any], move: Callable[[str], str]) -> dict:
        """These settings with each path of input_files passed through `move`: a suite runs
        each benchmark in its own directory (hpstudy.suite)."""
        return {**settings, **{key: move(settings[key]) for key in cls.input_files(settings)}}

    @classmethod
    def default_space(cls, settings: Mapping[str, Any]) -> dict[str, dict] | None:
        """The `space:` block these settings fix (a tabular benchmark's columns), used when
        the config writes none; None: the config must write one."""
        return None

    @classmethod
    def noise_free(cls, settings: Mapping[str, Any], params: Mapping[str, Any]) -> float | None:
        """The objective of `params` without evaluation noise (a test function's value, a
        table's mean over its seeds, a surrogate's mean): what a benchmark's regret is
        measured on. None: not known (a real model's)."""
        return None

    @classmethod
    def optimum(cls, settings: Mapping[str, Any], space: SearchSpace) -> float | None:
        """The least noise_free value inside `space` (regret = noise_free - optimum); None:
        not known."""
        return None

    @classmethod
    def warm(cls, settings: Mapping[str, Any]) -> None:
        """Make, in this process, what each of its jobs would make again (a table loaded, a
        surrogate fitted) into the caches its jobs read: the warm worker calls it once before
        it forks them. Default: nothing."""
        return None

    @classmethod
    def user_entries(cls, settings: Mapping[str, Any]) -> list[str]:
        """The entries of the user's functions its jobs call
        (hpstudy.objectives.python_entry): the warm worker imports each once per run."""
        return []

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
        """One fold's record: status (ok or diverged; params that cannot be trained raise
        hpstudy.outcome.TrialFailed), final metrics, per-epoch history, epochs_run. The job
        that calls it measures its time (hpstudy.outcome.fit_time).

        An objective with a `fidelity` also takes the keywords `start_from` ((path, its
        fidelity) of this fold's checkpoint at a lower fidelity: train on from it, recording
        `first_epoch`) and `checkpoint_to` (save the fold's model there), which
        multi-fidelity strategies' promoted trials use."""

    @classmethod
    def failed_fold(cls, settings: dict, reason: str, data) -> dict:
        """The record of a fold that could not be trained (TrialFailed): no metrics, no
        history; hpstudy.jobs adds its params and seed."""
        return {"status": "failed", "reason": reason, "metrics": {}, "history": {},
                "epochs_run": 0}

    @classmethod
    @abstractmethod
    def score_trial(cls, settings: dict, fold_records: Sequence[Mapping]) -> dict:
        """A trial's `objective` (the value minimised; a penalty or None when not ok),
        `status` and `metrics` (including `fold_<k>_<fold_metric>`)."""

    @classmethod
    @abstractmethod
    def evaluate_test(cls, settings: dict, params: Mapping[str, Any], seed: int, data,
                      threads: int = 1) -> dict:
        """The held-out test of the best params: `status`, `test_objective`, and optionally
        `test_accuracy` / `test_loss`."""
