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

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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


class TrialFailed(Exception):
    """These params could not be trained (`reason`: the error's type and first line). The
    fold is recorded `failed` and the study goes on (hpstudy.records.fold_or_failure); one
    that ran `out_of_memory` is first retried by Snakemake (the training rules' `retries`)."""

    def __init__(self, reason: str, out_of_memory: bool = False):
        super().__init__(reason)
        self.reason, self.out_of_memory = reason, out_of_memory


# Which errors of building or fitting a trial's model are the trial's, and which the study's.
# The trial's: what the model library raises because these params cannot work (a kernel
# larger than its input: Keras' ValueError; a shape or value TensorFlow rejects at run time:
# InvalidArgumentError), and running out of memory (MemoryError, TensorFlow's
# ResourceExhaustedError), which may pass on another attempt. Everything else is ours or the
# machine's (a missing or corrupt data file: OSError, or numpy's ValueError; ImportError; a
# KeyError or TypeError of our code; a ValueError our own code raises, even when Keras calls
# it, as in a callback): recording it would turn a bug into a study of `failed` trials, so it
# fails the job. A ValueError counts only when the innermost frame is the library's.
MODEL_LIBRARIES = ("keras", "tensorflow")


def _is_tensorflow_error(error: BaseException, name: str) -> bool:
    # By class name: classifying must not import TensorFlow (the function objective's jobs
    # never do).
    return any(cls.__name__ == name and cls.__module__.startswith("tensorflow")
               for cls in type(error).__mro__)


def _raised_by(error: BaseException, packages: Sequence[str]) -> bool:
    trace = error.__traceback__
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    module = str(trace.tb_frame.f_globals.get("__name__", ""))
    return module.partition(".")[0] in packages


def failure_kind(error: BaseException) -> str | None:
    """What `error`, raised while building or fitting a trial's model, is: out_of_memory,
    trial (these params cannot be trained) or None (not the trial's: the job fails). Why:
    MODEL_LIBRARIES' comment."""
    if isinstance(error, MemoryError) or _is_tensorflow_error(error, "ResourceExhaustedError"):
        return "out_of_memory"
    if _is_tensorflow_error(error, "InvalidArgumentError"):
        return "trial"
    if isinstance(error, ValueError) and _raised_by(error, MODEL_LIBRARIES):
        return "trial"
    return None


# Lines of Keras' and TensorFlow's messages that wrap the cause: its heading, and the
# traceback of the graph node (with the machine's paths) that TensorFlow puts before it.
_WRAPPER_LINE = re.compile(r"^(Exception encountered when calling|Graph execution error|"
                           r"Detected at node|File \"|Arguments received by)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TENSORFLOW_NODE = re.compile(r"\{\{[^}]*\}\}\s*")  # {{function_node ...}}: the op's internals
_PATH = re.compile(r"(?<![\w.])(?:/[\w.@+-]+){2,}/?")


def failure_reason(error: BaseException, limit: int = 300) -> str:
    """The error's type and the first line of its message that says what went wrong: no
    traceback, no paths of this machine (a record must read the same on every machine)."""
    message = _TENSORFLOW_NODE.sub("", _ANSI.sub("", str(error)))
    lines = [line.strip() for line in message.splitlines()]
    cause = next((line for line in lines if line and not _WRAPPER_LINE.match(line)), "")
    reason = f"{type(error).__name__}: {_PATH.sub('<path>', cause)}".rstrip(": ")
    return reason if len(reason) <= limit else reason[:limit - 3] + "..."


@contextmanager
def trial_failures() -> Iterator[None]:
    """Around building and fitting one trial's model: an error that is the trial's
    (failure_kind) becomes TrialFailed; any other passes unchanged."""
    try:
        yield
    except Exception as error:  # MemoryError included; KeyboardInterrupt & co. are not
        kind = failure_kind(error)
        if kind is None:
            raise
        raise TrialFailed(failure_reason(error), out_of_memory=kind == "out_of_memory") \
            from error


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
    def failed_fold(cls, settings: dict, reason: str, data) -> dict:
        """The record of a fold that could not be trained (TrialFailed): no metrics, no
        history; hpstudy.jobs adds its params, seed and measured times."""
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
        """The held-out test of the best params: `status`, `test_objective`, `fit_seconds`,
        and optionally `test_accuracy` / `test_loss`."""
