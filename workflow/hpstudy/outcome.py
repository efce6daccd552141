"""A fold's outcome: ok, diverged (the objective's verdict: a non-finite value, a runaway
loss) or failed (these params cannot be trained: TrialFailed, and which errors are the
trial's rather than the study's); a trial's status from its folds'; and the wall-clock and
CPU time of a fit, measured once, by the job that calls it (fit_time)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from hpstudy import fileio

log = logging.getLogger("hpstudy")

# From best to worst: a trial is as bad as its worst fold (trial_status).
STATUSES = ("ok", "diverged", "failed")


def trial_status(fold_records) -> str:
    """A trial is as bad as its worst fold: failed > diverged > ok."""
    return max((record["status"] for record in fold_records), key=STATUSES.index,
               default="ok")


class TrialFailed(Exception):
    """These params could not be trained (`reason`: the error's type and first line). The
    fold is recorded `failed` and the study goes on (fold_or_failure); one that ran
    `out_of_memory` is first retried by Snakemake (the training rules' `retries`)."""

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


# Wall-clock and CPU measurements of a fit (fit_time). They go to a timing file of their own,
# so that the fold record (and everything made from it: score, trials.csv, report tables) is
# a pure function of the job's inputs and reruns are byte-identical.
TIMING_KEYS = ("fit_seconds", "fit_cpu_seconds")


@contextmanager
def fit_time() -> Iterator[dict[str, float]]:
    """Measures the block (a fit, failed or not): the dict it yields holds TIMING_KEYS, in
    seconds to the millisecond, once the block ends. Wall clock depends on what else runs on
    the machine; process CPU time much less so."""
    timing: dict[str, float] = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    yield timing
    timing.update({"fit_seconds": round(time.perf_counter() - started, 3),
                   "fit_cpu_seconds": round(time.process_time() - started_cpu, 3)})


# A failed fold of a multi-fidelity trial has no model, but its job must still write the
# checkpoint Snakemake expects of it: this small JSON stands in for it, so that the trial the
# next rung promotes from it is recorded failed too (fold_or_failure), not trained from
# nothing.
# A real checkpoint is a .keras zip file: it never starts with "{".
def write_failed_checkpoint(path: str, trial: int, reason: str) -> None:
    fileio.write_json(path, {"failed_trial": trial, "reason": reason})


def failed_checkpoint(path: str) -> dict[str, Any] | None:
    """{failed_trial, reason} when `path` stands in for a failed fold's checkpoint."""
    with open(path, "rb") as handle:
        if handle.read(1) != b"{":
            return None
    return fileio.read_json(path)


def fold_or_failure(module, settings: Mapping, entry: Mapping, fold: int, seed: int, fold_data,
                    threads: int, continuation: Mapping, attempt: tuple[int, int]) -> dict:
    """The objective's record of the fold or, when it raises TrialFailed (which errors do:
    failure_kind), a `failed` record with the reason. Out of memory is raised again before
    the job's last attempt (Snakemake runs the job again); a fold promoted from a failed one
    fails too. A killed process records nothing: only `retries` helps it, and a job killed
    on every attempt fails."""
    failed_parent = None
    if "start_from" in continuation:
        failed_parent = failed_checkpoint(continuation["start_from"][0])
    try:
        if failed_parent:
            raise TrialFailed(f"continues failed trial {failed_parent['failed_trial']}: "
                              f"{failed_parent['reason']}")
        return module.evaluate_fold(dict(settings), entry["params"], fold, seed, fold_data,
                                    threads, **continuation)
    except TrialFailed as failure:
        reason = failure.reason
        if failure.out_of_memory:
            if attempt[0] < attempt[1]:
                log.warning("trial %d fold %d: %s (attempt %d of %d: failing the job for "
                            "Snakemake to retry)", entry["trial"], fold, reason, *attempt)
                raise
            reason = f"out of memory after {attempt[1]} attempt(s): {reason}"
        log.warning("trial %d fold %d failed: %s", entry["trial"], fold, reason)
        record = module.failed_fold(dict(settings), reason, fold_data)
    if "checkpoint_to" in continuation:
        origin = failed_parent or {"failed_trial": entry["trial"], "reason": reason}
        write_failed_checkpoint(continuation["checkpoint_to"], origin["failed_trial"],
                                origin["reason"])
    return record
