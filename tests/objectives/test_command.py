"""objective.command, in-process: the user's program (tests/helpers/user_program.pl, Perl)
run with its command line's placeholders filled in, the JSON it writes, divergence and
failures (a non-zero exit, a kill, nothing written), the held-out test, its files as inputs,
and every config error it has, through the Snakefile's pre-flight (load_plan). The end to end
run: tests/test_examples.py (examples/perl_logistic)."""

from __future__ import annotations

import logging
import os

import pytest

from hpstudy import jobs, suite
from hpstudy.config import objective_defaults
from hpstudy.objectives.command import OBJECTIVE
from hpstudy.outcome import TrialFailed, fold_or_failure
from hpstudy.preflight import PreflightError, load_plan
from hpstudy.seeds import derive_seed
from tests.helpers.config_errors import assert_refused
from tests.helpers.workdir import REPO

PROGRAM = REPO / "tests" / "helpers" / "user_program.pl"


def _settings(mode: str, **settings) -> dict:
    run = f"perl {PROGRAM} {mode} {{params}} {{fold}} {{seed}} {{budget}} {{output}}"
    return {**objective_defaults("command"), "run": run, **settings}


def _fold(settings: dict, x: float, fold=0, seed=5) -> dict:
    return OBJECTIVE.evaluate_fold(settings, {"x": x}, fold, seed, None)


# --- a run ----------------------------------------------------------------------------------

def test_the_placeholders_are_filled_in_and_the_written_json_is_the_folds_metrics():
    record = _fold(_settings("metrics", budget=9), 3.0, fold=1, seed=42)
    assert record == {"status": "ok", "history": {}, "epochs_run": 9, "metrics": {
        "objective": 4.0, "fold": 1.0, "seed": 42.0, "budget": 9.0}}
    test = OBJECTIVE.evaluate_test(_settings("metrics"), {"x": 0.0}, 7, None)
    assert test["status"] == "ok" and test["test_objective"] == 1.0
    assert test["metrics"]["fold"] == -1.0  # {fold} is "test" for the held-out test
    assert test["metrics"]["budget"] == -1.0  # {budget} is None without objective.command.budget


def test_the_trials_objective_is_the_mean_over_folds_negated_to_maximize():
    settings = _settings("accuracy", metric="accuracy", direction="maximize")
    records = [{**_fold(settings, x), "fold": k} for k, x in enumerate((1.0, 2.0))]
    score = OBJECTIVE.score_trial(settings, records)
    assert score["metrics"] == {"fold_0_value": 1.0, "fold_1_value": 0.5, "value_mean": 0.75,
                                "value_std": 0.25}
    assert score["objective"] == -0.75


@pytest.mark.parametrize("mode", ["nan", "null"])
def test_a_metric_that_is_nan_or_null_is_a_diverged_fold(mode):
    record = _fold(_settings(mode), 2.0)
    assert record["status"] == "diverged" and record["metrics"]["objective"] is None
    score = OBJECTIVE.score_trial(_settings(mode), [{**record, "fold": 0}])
    assert score == {"status": "diverged", "objective": None, "metrics": {"fold_0_value": None}}
    assert OBJECTIVE.evaluate_test(_settings(mode), {"x": 2.0}, 3, None)["status"] == "diverged"


def test_a_non_zero_exit_fails_the_fold_with_its_stderrs_tail_and_its_output_in_the_log(
        caplog):
    settings = _settings("fails")
    with caplog.at_level(logging.INFO):
        record = fold_or_failure(OBJECTIVE, settings, {"trial": 4, "params": {"x": -1.0}}, 0, 5,
                                 None, 1, {}, (1, 1))
    assert record["status"] == "failed"
    assert record["reason"] == ("perl exited with status 3: reading the data | x = -1 must not "
                                "be negative | at train.pl line 9")
    assert "trial of x = -1, fold 0" in caplog.text  # its stdout, in the job's log
    assert OBJECTIVE.score_trial(settings, [{**record, "fold": 0}])["status"] == "failed"
    assert OBJECTIVE.evaluate_test(settings, {"x": -1.0}, 3, None) == {
        "status": "failed", "test_objective": None, "metrics": {}}


def test_a_program_killed_by_sigkill_fails_as_out_of_memory_and_is_retried():
    with pytest.raises(TrialFailed, match=r"^perl was killed by signal 9: nothing on stderr$") \
            as caught:
        _fold(_settings("killed"), 1.0)
    assert caught.value.out_of_memory  # the kernel's OOM killer's signal: another attempt


@pytest.mark.parametrize("mode, reason", [
    ("silent", r"perl exited with status 0 but wrote nothing to \{output\}"),
    ("list", r"TypeError: \{output\} holds list, not a JSON object of metrics"),
    ("no_metric", r"TypeError: perl returned no 'objective' \(objective\.command\.metric\); "
                  r"its keys: loss"),
    ("text", r"TypeError: perl's objective is 'low', not a number"),
])
def test_a_program_that_writes_no_json_object_of_numbers_fails_the_fold(mode, reason):
    with pytest.raises(TrialFailed, match=f"^{reason}$"):
        _fold(_settings(mode), 1.0)


def test_the_jobs_give_each_fold_its_derived_seed_and_a_rerun_the_same_records():
    settings = _settings("metrics")
    entry = {"trial": 2, "seed": 77, "params": {"x": 0.5}}
    records = [record for record, _ in jobs.evaluate_folds("command", settings, entry, [0, 1],
                                                           None, 1)]
    assert [r["metrics"]["seed"] for r in records] == [derive_seed(77, "fold", k)
                                                       for k in (0, 1)]
    again = [record for record, _ in jobs.evaluate_folds("command", settings, entry, [0, 1],
                                                         None, 1)]
    assert again == records


def test_a_program_given_checkpoint_continues_from_its_parents_directory(tmp_path):
    run = (f"perl {PROGRAM} resume {{params}} {{fold}} {{seed}} {{budget}} {{output}} "
           f"{{checkpoint}}")
    settings = {**objective_defaults("command"), "run": run, "budget": 9}
    parent = tmp_path / "fold_0.keras"
    first = OBJECTIVE.evaluate_fold({**settings, "budget": 3}, {"x": 1.0}, 0, 5, None,
                                    checkpoint_to=str(parent))
    promoted = OBJECTIVE.evaluate_fold(settings, {"x": 1.0}, 0, 5, None,
                                       start_from=(str(parent), 3))
    assert (first["metrics"]["resumed_from"], promoted["metrics"]["resumed_from"]) == (0, 3)
    assert promoted["metrics"]["objective"] == pytest.approx(1 / 9)  # Perl prints 15 digits


def test_the_files_the_command_names_are_inputs_and_a_suite_moves_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.pl").write_text("print 1;\n")
    (tmp_path / "data.csv").write_text("x\n1\n")
    shared = tmp_path / "shared.csv"  # an absolute path: a suite leaves it as it is
    shared.write_text("y\n2\n")
    run = f"perl code/train.pl data.csv 3 {{params}} {{output}} {shared}"
    settings = {**objective_defaults("command"), "run": run}
    # The script and the tables; not perl (found on PATH).
    assert OBJECTIVE.input_files(settings) == {"run_0": "code/train.pl", "run_1": "data.csv",
                                               "run_2": str(shared)}
    config = {"objective": {"name": "command", "command": settings}}
    moved = suite.written_config("quick", config)["objective"]["command"]["run"]
    assert moved == (f"perl ../../../code/train.pl ../../../data.csv 3 '{{params}}' "
                     f"'{{output}}' {shared}")


# --- the config: every error before any job -------------------------------------------------

def _config(run: str | None, **command) -> dict:
    block = {"run": run} if run is not None else {}
    return {"experiment": "test-command", "seed": 3, "cv": {"folds": 2},
            "objective": {"name": "command", "command": {**block, **command}},
            "space": {"x": {"type": "uniform", "low": -2.0, "high": 3.0}},
            "strategies": {"random": {"budget": 4}},
            "tracking": {"uri": "sqlite:///results/mlflow.db"}}


def _with(config: dict, **changes) -> dict:
    return {**config, **changes}


RUN = "invalid config: objective.command.run: "
GOOD = f"perl {PROGRAM} metrics {{params}} {{fold}} {{seed}} {{budget}} {{output}}"
ERRORS = [
    ("no command", _config(None), [RUN + "required: a command line with placeholders"]),
    ("an unknown placeholder", _config("perl train.pl {params} {epochs} {output}"),
     [RUN + "'{epochs}' holds {epochs}; the placeholders are {params}, {fold}, {seed}, "
      "{budget}, {output}, {checkpoint} (write {{ and }} for a literal brace)"]),
    ("a format spec", _config("perl train.pl {seed:x} {output}"),
     [RUN + "'{seed:x}' holds {seed:x}; the placeholders are"]),
    ("an unmatched brace", _config("awk {print} {output}"),
     [RUN + "'{print}' holds {print}"]),
    ("a brace left open", _config("perl train.pl {params {output}"),
     [RUN + "'{params': expected '}' before end of string (write {{ and }} for a literal"]),
    ("a quote left open", _config("perl -e 'print 1 {output}"),
     [RUN + "\"perl -e 'print 1 {output}\" cannot be split into words: No closing quotation"]),
    ("a program not on PATH", _config("perl5x train.pl {params} {output}"),
     [RUN + "the program 'perl5x' is not on PATH"]),
    ("a program that is not a file", _config("./no/train.pl {params} {output}"),
     [RUN + "the program './no/train.pl' is not a file"]),
    ("a program that is a placeholder", _config("{params} {output}"),
     [RUN + "the program '{params}' is a placeholder: name the program first"]),
    ("no output", _config(f"perl {PROGRAM} metrics {{params}}"),
     [RUN + "no {output}: the program writes its metrics (a JSON object) to the file it "
      "names"]),
    ("no params", _config(f"perl {PROGRAM} metrics {{seed}} {{output}}"),
     ["invalid config: space.x: objective.command.run has no {params}, so no parameter of "
      "the space reaches the program"]),
    ("a budget the command does not give", _config(f"perl {PROGRAM} {{params}} {{output}}",
                                                   budget=3),
     ["invalid config: objective.command.budget: 3, but objective.command.run has no "
      "{budget} to give it"]),
    ("a {budget} with no budget", _config(GOOD),
     [RUN + "uses {budget}, but objective.command.budget is not set"]),
    ("multi-fidelity without {budget}",
     _with(_config(f"perl {PROGRAM} {{params}} {{output}}"), strategies={"sha": {}}),
     [RUN + "no {budget}, which strategies.sha gives each trial"]),
    ("multi-fidelity without a full budget", _with(_config(GOOD), strategies={"hyperband": {}}),
     ["invalid config: objective.command.budget: required by strategies.hyperband"]),
]


@pytest.mark.parametrize("config, lines", [pytest.param(c, w, id=i) for i, c, w in ERRORS])
def test_each_error_is_one_line_naming_the_key_before_anything_is_written(
        config, lines, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where Snakemake runs: a relative program is read from here
    assert_refused(config, lines, tmp_path)


def test_a_script_that_is_not_executable_is_named_with_its_interpreter_as_the_way_out(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.sh").write_text("#!/bin/sh\n")
    with pytest.raises(PreflightError, match=r"the program './train\.sh' is not executable "
                                             r"\(chmod \+x, or name its interpreter first"):
        load_plan(_config("./train.sh {params} {output}"))
    os.chmod(tmp_path / "train.sh", 0o755)
    plan = load_plan(_config("./train.sh {params} {output}"))
    assert not plan.needs_data and plan.objective_name == "command"
