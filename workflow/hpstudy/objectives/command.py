"""objective.command: any program of the user's, in any language, run once per (trial,
fold) from a command line with placeholders (docs/own-model.md is its contract, for the user).

`run` is split into words as a shell would (shlex), but no shell runs it: each word's
placeholders are filled in ({params}: the trial's values as a JSON object; {fold}: the
fold's index, `test` for the held-out test; {seed}; {budget}; {output}: the file to write
the metrics to, as a JSON object; {checkpoint}: a directory, a promoted trial's holding what
its parent's run left there: hpstudy.objectives.user_code) and the program starts with those
words as its arguments, in the directory Snakemake runs in. A non-zero exit is a failed fold
(the tail of its stderr, the reason; all of its output in the job's log); a metric that is
not finite (NaN, Infinity or null in the JSON) a diverged one.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import string
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from hpstudy.objectives.user_code import UserCode, metrics_of
from hpstudy.outcome import TrialFailed

log = logging.getLogger(__name__)

PLACEHOLDERS = ("params", "fold", "seed", "budget", "output", "checkpoint")
STDERR_TAIL = 5  # lines of a failed program's stderr in its fold's reason


class TemplateError(ValueError):
    """A command line that cannot be run: the message says why (without the key)."""


def _fields(word: str) -> list[str]:
    """The placeholders of one word ({{ and }} are literal braces, as in Snakemake's shell)."""
    try:
        parsed = list(string.Formatter().parse(word))
    except ValueError as error:
        raise TemplateError(f"{word!r}: {error} (write {{{{ and }}}} for a literal brace)"
                            ) from error
    fields = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise TemplateError(f"{word!r} holds {{{field}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}}; the placeholders are "
                                f"{', '.join('{' + name + '}' for name in PLACEHOLDERS)} (write "
                                f"{{{{ and }}}} for a literal brace)")
        fields.append(field)
    return fields


def words(run: str) -> list[str]:
    """The command line's words, placeholders unfilled; TemplateError when it has none, does
    not split, or holds an unknown placeholder."""
    try:
        split = shlex.split(run)
    except ValueError as error:
        raise TemplateError(f"{run!r} cannot be split into words: {error}") from error
    if not split:
        raise TemplateError("empty: a command line is required, e.g. "
                            "`perl train.pl {params} {fold} {seed} {output}`")
    for word in split:
        _fields(word)
    return split


def placeholders(run: str) -> set[str]:
    """The placeholders the command line uses."""
    return {field for word in words(run) for field in _fields(word)}


def program(run: str) -> str:
    """The program the command starts, as found: a path (relative to the working directory)
    or a name on PATH. TemplateError when it is not there or cannot be run."""
    name = words(run)[0]
    if _fields(name):
        raise TemplateError(f"the program {name!r} is a placeholder: name the program first")
    if os.sep in name:
        if not Path(name).is_file():
            raise TemplateError(f"the program {name!r} is not a file (a relative path is read "
                                f"from the working directory)")
        if not os.access(name, os.X_OK):
            raise TemplateError(f"the program {name!r} is not executable (chmod +x, or name "
                                f"its interpreter first: `perl {name} ...`)")
        return name
    found = shutil.which(name)
    if found is None:
        raise TemplateError(f"the program {name!r} is not on PATH")
    return found


def study_files(run: str) -> list[str]:
    """The words that name a file (the script, a data file; relative to the working
    directory): what the command reads that is part of the study."""
    return [word for word in words(run) if not _fields(word) and Path(word).is_file()]


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_TAIL:]) or "nothing on stderr"


class CommandProgram(UserCode):
    """objective.command: `run`, a program of the user's, scored by its `metric`."""

    name = "command"
    label = "your program"

    @classmethod
    def describe(cls, settings):
        return f"your program {settings.get('run', '')}".rstrip()

    @classmethod
    def check(cls, settings, space):
        key = "objective.command.run"
        if not settings.get("run"):
            return [f"{key}: required: a command line with placeholders, e.g. "
                    f"`perl train.pl {{params}} {{fold}} {{seed}} {{output}}`"]
        try:
            used = placeholders(settings["run"])
            program(settings["run"])
        except TemplateError as error:
            return [f"{key}: {error}"]
        errors = []
        if "output" not in used:
            errors.append(f"{key}: no {{output}}: the program writes its metrics (a JSON "
                          f"object) to the file it names")
        if "params" not in used:
            errors += [f"space.{name}: {key} has no {{params}}, so no parameter of the space "
                       f"reaches the program" for name in space.names]
        if settings["budget"] is not None and "budget" not in used:
            errors.append(f"objective.command.budget: {settings['budget']}, but {key} has no "
                          f"{{budget}} to give it")
        if settings["budget"] is None and "budget" in used:
            errors.append(f"{key}: uses {{budget}}, but objective.command.budget is not set "
                          f"(the full budget)")
        return errors

    @classmethod
    def fidelity_errors(cls, settings, strategy):
        try:
            used = placeholders(settings["run"])
        except (TemplateError, KeyError):
            return []  # check says why
        if "budget" not in used:
            return [f"objective.command.run: no {{budget}}, which strategies.{strategy} gives "
                    f"each trial (it trains them at several budgets)"]
        if settings["budget"] is None:
            return [f"objective.command.budget: required by strategies.{strategy} (the full "
                    f"budget: its last rung's)"]
        return []

    @classmethod
    def input_files(cls, settings):
        """The files the command line names: editing the script reruns the jobs that ran it.
        (A program found on PATH is not a file of the study.)"""
        try:
            return {f"run_{index}": path
                    for index, path in enumerate(study_files(settings.get("run") or ""))}
        except TemplateError:
            return {}  # check says why

    @classmethod
    def relocated(cls, settings: Mapping, move: Callable[[str], str]) -> dict:
        """The command line with each study file's word moved (a suite runs each benchmark
        in its own directory)."""
        if not settings.get("run"):
            return dict(settings)
        files = set(study_files(settings["run"]))
        moved = [move(word) if word in files else word for word in words(settings["run"])]
        return {**settings, "run": shlex.join(moved)}

    @classmethod
    def takes_checkpoint(cls, settings):
        try:
            return "checkpoint" in placeholders(settings["run"])
        except (TemplateError, KeyError):
            return False  # check says why

    @classmethod
    def run(cls, settings, params, fold, seed, data, checkpoint=None):
        """Runs the command once; TrialFailed when it exits non-zero or writes no JSON object
        of numbers holding the metric."""
        with tempfile.TemporaryDirectory(prefix="hpstudy-command-") as scratch:
            output = Path(scratch) / "metrics.json"
            values = {"params": json.dumps(dict(params), sort_keys=True),
                      "fold": "test" if fold is None else str(fold), "seed": str(seed),
                      "budget": str(settings["budget"]), "output": str(output),
                      "checkpoint": str(checkpoint)}
            command = [word.format_map(values) for word in words(settings["run"])]
            finished = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, errors="replace", check=False)
            for stream, text in (("stdout", finished.stdout), ("stderr", finished.stderr)):
                if text.strip():
                    log.info("%s of %s (fold %s):\n%s", stream, command[0], values["fold"],
                             text.rstrip())
            if finished.returncode != 0:
                how = (f"was killed by signal {-finished.returncode}" if finished.returncode < 0
                       else f"exited with status {finished.returncode}")
                # SIGKILL is what the kernel's out-of-memory killer sends: retried as one.
                raise TrialFailed(f"{command[0]} {how}: {_tail(finished.stderr)}",
                                  out_of_memory=finished.returncode == -9)
            if not output.is_file():
                raise TrialFailed(f"{command[0]} exited with status 0 but wrote nothing to "
                                  f"{{output}}")
            try:
                written = json.loads(output.read_text(encoding="utf-8"))
                if not isinstance(written, Mapping):
                    raise TypeError(f"{{output}} holds {type(written).__name__}, not a JSON "
                                    f"object of metrics")
                # null: a metric the program could not compute (NaN, in JSON's words).
                written = {key: float("nan") if value is None else value
                           for key, value in written.items()}
                return metrics_of(written, settings["metric"], command[0],
                                  "objective.command.metric"), {}
            except (ValueError, TypeError) as error:
                raise TrialFailed(f"{type(error).__name__}: {error}") from error


OBJECTIVE = CommandProgram
