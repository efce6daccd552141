"""What the objectives that run the user's code share (objective.python, a function of
theirs; objective.command, a program of theirs): the metrics a call gives back, checked and
made floats; what counts as diverged; a trial's score as the metric's mean over its folds,
negated for `direction: maximize`; and the held-out test. docs/own-model.md is the contract,
for the user.

A subclass says how one call runs (`run`): it returns the call's metrics and per-step
history, and raises hpstudy.outcome.TrialFailed when the user's code fails.

A call that asks for a checkpoint (python: a `checkpoint` argument; command: `{checkpoint}`)
gets a directory of its own. A promoted trial's holds what the same configuration's call
left in it at the rung below, for that fold; any other call's is empty. What the call leaves
there is the fold's checkpoint, kept (as a zip archive, in the file the rules expect) for the
next rung. Code that asks for none is called again from the start when promoted.
"""

from __future__ import annotations

import io
import logging
import math
import numbers
import statistics
import tempfile
import zipfile
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

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


def pack_checkpoint(directory: Path, path: str) -> None:
    """The files under `directory` as a zip archive at `path`, written atomically; the same
    files give the same bytes (sorted names, fixed dates and modes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(file.relative_to(directory).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    fileio.write_bytes(path, buffer.getvalue())


def unpack_checkpoint(path: str, directory: Path) -> None:
    """A parent's checkpoint into `directory`. Not an archive (NO_CHECKPOINT: the parent ran
    code that asked for none): nothing, the call starts from scratch."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(directory)


def sign(settings: Mapping) -> int:
    """The objective minimised is the metric, or its negative with `direction: maximize`."""
    return -1 if settings["direction"] == "maximize" else 1


class UserCode(Objective):
    """An objective whose fits are the user's code, scored by `settings["metric"]`."""

    tunable = None  # the space's parameters are the user's `params`
    fidelity = "budget"

    @classmethod
    @abstractmethod
    def run(cls, settings: Mapping, params: Mapping, fold: int | None, seed: int, data,
            checkpoint: Path | None = None) -> tuple[Metrics, dict[str, list]]:
        """(metrics, per-step history) of one call, for fold `fold` (None: the held-out
        test), given the directory `checkpoint` when the code asks for one; TrialFailed when
        the user's code fails or gives back no metrics."""

    @classmethod
    def takes_checkpoint(cls, settings: Mapping) -> bool:
        """Whether the user's code asks for a checkpoint directory."""
        return False

    @classmethod
    @contextmanager
    def _checkpoint_directory(cls, settings: Mapping, start_from=None) -> Iterator[Path | None]:
        """The call's checkpoint directory, holding the parent's checkpoint when `start_from`
        names one; None for code that asks for none."""
        if not cls.takes_checkpoint(settings):
            yield None
            return
        with tempfile.TemporaryDirectory(prefix="hpstudy-checkpoint-") as scratch:
            if start_from:
                unpack_checkpoint(start_from[0], Path(scratch))
            yield Path(scratch)

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1, *,
                      start_from=None, checkpoint_to=None):
        """start_from: (the parent's checkpoint, its budget), unpacked into the call's
        checkpoint directory; checkpoint_to: that directory packed after the call (or
        NO_CHECKPOINT, for code that asks for none: it is called again from the start)."""
        with cls._checkpoint_directory(settings, start_from) as directory:
            metrics, history = cls.run(settings, params, fold, seed, data, directory)
            if checkpoint_to and directory is None:
                fileio.write_text(checkpoint_to, NO_CHECKPOINT)
            elif checkpoint_to:
                pack_checkpoint(directory, checkpoint_to)
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
            with cls._checkpoint_directory(settings) as directory:
                metrics, _ = cls.run(settings, params, None, seed, data, directory)
        except TrialFailed as failure:
            log.warning("the held-out test failed: %s", failure.reason)
            return {"status": "failed", "test_objective": None, "metrics": {}}
        value = metrics[settings["metric"]]
        return {"status": "ok" if value is not None else "diverged",
                "test_objective": None if value is None else sign(settings) * value,
                "metrics": metrics}
