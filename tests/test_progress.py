"""`make status` (hpstudy.progress): trials done of those planned, best objective, failed or
diverged trials, fit CPU and the time left, per study, read from results/ alone: before a
study runs, while the real Snakemake runs it (beside it, never in its way), partway and
after, with a job per trial and per round. Nothing mocked: the trees are real runs, and the
changes made to them are written with the package's own writer (hpstudy.fileio)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hpstudy import fileio
from hpstudy.paths import round_results, score_file, timing_file, trials_table
from hpstudy.progress import load_plan, main, study_progress, trial_work
from tests.helpers.studies import copy_study
from tests.helpers.tiers import require_end_to_end
from tests.helpers.workdir import REPO, SNAKEMAKE, Workdir

# Branin, 3 small studies (grid: 4 trials, random: 4, TPE: 2 rounds of 2): a few seconds.
CONFIG = {
    "experiment": "test-progress",
    "seed": 7,
    "dataset": {"name": "digits"},
    "cv": {"folds": 2},
    "objective": {"name": "function", "function": {"name": "branin", "noise_std": 0.5}},
    "space": {"x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 2},
              "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": 2}},
    "strategies": {"grid": {}, "random": {"budget": 4},
                   "tpe": {"budget": 4, "batch_size": 2, "n_startup_jobs": 2}},
}
PLANNED = {"grid": 4, "random": 4, "tpe": 4}
# The summaries only: the MLflow logging and the report add jobs, not trials.
TARGETS = [trials_table(study) for study in PLANNED]


def config(fold_jobs: str) -> dict:
    return {**CONFIG, "execution": {"fold_jobs": fold_jobs}}


def status(directory: Path, *args: str) -> tuple[dict[str, dict], str]:
    """The rows `python -m hpstudy.progress` prints (by study, and "total"), and its text."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--directory", str(directory), *args]) == 0
    rows = {}
    for line in out.getvalue().splitlines():
        cells = line.split()
        if len(cells) == 6 and "/" in cells[1] and cells[0] != "study":
            done, planned = map(int, cells[1].split("/"))
            rows[cells[0]] = {"done": done, "planned": planned,
                              "best": None if cells[2] == "-" else float(cells[2]),
                              "bad": int(cells[3]), "cpu": float(cells[4]), "left": cells[5]}
    return rows, out.getvalue()


def files(directory: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in directory.rglob("*")}


@pytest.fixture(scope="module")
def per_round(tmp_path_factory) -> Workdir:
    """The whole study, one job per round."""
    run = Workdir(tmp_path_factory.mktemp("per_round"))
    run.write_config(config("per_round"))
    run.snakemake("--cores", "2", *TARGETS)
    return run


def scored(directory: Path) -> dict[str, int]:
    """How many trials of each study have their score file on disk (one job per trial)."""
    return {study: len(list((directory / "results" / study / "trials").glob("*/score.json")))
            for study in PLANNED}


def frozen_look(snakemake: subprocess.Popen, directory: Path) -> dict:
    """`make status` with the whole run stopped (SIGSTOP to its process group, as Ctrl-Z
    stops a job), so that nothing is written while it looks: whether the run was still
    going, the scores on disk before and after the look, and what the look said."""
    deadline = time.monotonic() + 60
    try:
        # A stop lands asynchronously (and a job forked meanwhile needs one of its own): look
        # only once every process of the run is stopped.
        while stopped := _not_stopped(snakemake.pid):
            os.killpg(snakemake.pid, signal.SIGSTOP)
            assert time.monotonic() < deadline, f"the run did not stop: {stopped}"
            time.sleep(0.01)
        running = snakemake.poll() is None  # a stopped process is not an ended one
        before = scored(directory)
        rows, text = status(directory)
        return {"running": running, "before": before, "rows": rows, "text": text,
                "after": scored(directory)}
    finally:
        os.killpg(snakemake.pid, signal.SIGCONT)


def _not_stopped(group: int) -> list[str]:
    """The processes of the group that are neither stopped nor dead (ps states T, Z). A
    process in uninterruptible sleep (D) with a stopped child counts as stopped: it is a
    parent waiting in vfork (Python's subprocess spawns so) for a child that the stop caught
    before its exec, and it cannot run again until that child does."""
    listing = subprocess.run(["ps", "-o", "pid=,ppid=,stat=", "-g", str(group)],
                             capture_output=True, text=True).stdout
    processes = [line.split() for line in listing.splitlines()]
    stopped_parents = {ppid for _, ppid, state in processes if state[0] == "T"}
    return [" ".join(cells) for cells in processes
            if cells[2][0] not in "TZ" and not (cells[2][0] == "D" and cells[0] in stopped_parents)]


@pytest.fixture(scope="module")
def partway(tmp_path_factory) -> tuple[Workdir, list[tuple], dict | None]:
    """Random search and TPE's first round, one job per trial, with `make status` asked again
    and again while Snakemake runs, each look between two counts of the scores on disk (so
    what it may count is known whatever the timing), and one look with the run frozen as
    soon as its first trial is scored. The run, the looks (scores before, the rows, scores
    after) and the frozen look (None if the run ended before it)."""
    require_end_to_end("a Snakemake workflow")
    run = Workdir(tmp_path_factory.mktemp("per_trial"))
    run.write_config(config("per_trial"))
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(run.path),
               "--cores", "2", trials_table("random"), "results/tpe/rounds/round_1.json"]
    looks, frozen = [], None
    with open(run.path / "snakemake.out", "w+", encoding="utf-8") as console:
        # Its own process group, with every job and the warm worker in it: what is frozen.
        snakemake = subprocess.Popen(command, stdout=console, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            while snakemake.poll() is None:
                if frozen is None and any(scored(run.path).values()):
                    frozen = frozen_look(snakemake, run.path)
                before = scored(run.path)
                rows, text = status(run.path)
                assert "not counted" not in text  # atomic writes: never a half-written file
                looks.append((before, rows, scored(run.path)))
                time.sleep(0.05)
        finally:
            if snakemake.poll() is None:  # a failed assertion above: stop the run
                os.killpg(snakemake.pid, signal.SIGKILL)
                snakemake.wait()
        console.seek(0)
        assert snakemake.returncode == 0, console.read()[-4000:]
    return run, looks, frozen


def test_before_anything_ran_every_study_is_planned_and_has_no_estimate(tmp_path):
    Workdir(tmp_path).write_config(config("per_trial"))
    rows, text = status(tmp_path, "--cores", "3")
    assert rows == {
        **{study: {"done": 0, "planned": n, "best": None, "bad": 0, "cpu": 0.0, "left": "-"}
           for study, n in PLANNED.items()},
        "total": {"done": 0, "planned": 12, "best": None, "bad": 0, "cpu": 0.0, "left": "-"}}
    assert "3 cores" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]  # wrote nothing


@pytest.mark.e2e
def test_while_snakemake_runs_counts_only_grow_and_nothing_is_written(partway):
    run, looks, frozen = partway
    assert looks, "Snakemake finished before the first look"
    for study in PLANNED:
        done = [rows[study]["done"] for _, rows, _ in looks]
        assert done == sorted(done), study
        # A look counts every score written before it began, and none not yet written.
        for before, rows, after in looks:
            assert before[study] <= rows[study]["done"] <= after[study], (study, before, after)
    # Frozen partway, with a trial scored: the look counts exactly the scores on disk.
    assert frozen is not None, "the run ended before its first trial was scored"
    assert frozen["running"], "the run had ended when it was frozen"
    assert frozen["after"] == frozen["before"], "something wrote while the run was frozen"
    assert {study: frozen["rows"][study]["done"] for study in PLANNED} == frozen["before"]
    assert sum(frozen["before"].values()) >= 1 and "not counted" not in frozen["text"]
    # After the run: looking changes no file (and so takes no lock in .snakemake/).
    before = files(run.path)
    status(run.path)
    assert files(run.path) == before


@pytest.mark.e2e
def test_partway_counts_the_trials_done_and_estimates_only_studies_that_began(partway):
    run, _, _ = partway
    rows, _ = status(run.path)
    assert {study: (rows[study]["done"], rows[study]["planned"]) for study in PLANNED} == \
        {"grid": (0, 4), "random": (4, 4), "tpe": (2, 4)}
    assert rows["grid"]["left"] == "-" and rows["grid"]["best"] is None
    # Branin's fits take no CPU: whatever is left of a study that began costs 0 s.
    assert rows["tpe"]["left"] == "0s" and rows["total"]["done"] == 6
    table = pd.read_csv(run.results / "random" / "trials.csv")
    assert rows["random"]["best"] == pytest.approx(table["objective"].min(), rel=1e-5)


@pytest.mark.e2e
def test_failed_and_diverged_trials_are_counted_and_never_best(partway, tmp_path):
    directory = copy_study(partway[0], tmp_path / "study").path
    plan = load_plan(directory, [], replace=False)
    objectives = {}
    for trial, status_ in ((0, "diverged"), (1, "failed"), (2, "ok"), (3, "ok")):
        path = directory / score_file("random", trial)
        score = fileio.read_json(path)
        if status_ != "ok":  # as score_trial writes a trial with a bad fold
            score.update(status=status_, objective=None)
            fileio.write_json(path, score)
        objectives[trial] = score["objective"]
    progress = study_progress(plan, "random", directory)
    assert (progress.done, progress.bad) == (4, 2)
    assert progress.best == min(objectives[2], objectives[3])
    assert status(directory)[0]["total"]["bad"] == 2


@pytest.mark.e2e
def test_estimate_is_fit_cpu_per_trial_done_times_trials_left_over_cores(partway, tmp_path):
    directory = copy_study(partway[0], tmp_path / "study").path
    plan = load_plan(directory, [], replace=False)
    for name in ("random", "tpe"):  # every fold timed so far took 3 CPU seconds
        for trial in range(2 if name == "tpe" else 4):
            for fold in range(plan.folds):
                fileio.write_json(directory / timing_file(name, trial, fold),
                                  {"trial": trial, "fold": fold, "fit_seconds": 3.0,
                                   "fit_cpu_seconds": 3.0})
    rows, _ = status(directory, "--cores", "2")
    assert rows["random"]["cpu"] == 24.0 and rows["random"]["left"] == "0s"
    assert rows["tpe"]["cpu"] == 12.0 and rows["tpe"]["left"] == "6s"  # 6 s x 2 left / 2
    # The total goes by every trial done (6 s each): grid's 4 and TPE's 2 left: 18 s.
    assert rows["total"]["cpu"] == 36.0 and rows["total"]["left"] == "18s"
    assert rows["grid"]["left"] == "-"


@pytest.mark.e2e
def test_a_half_written_score_is_not_counted_and_is_named(partway, tmp_path):
    directory = copy_study(partway[0], tmp_path / "study").path
    path = directory / score_file("random", 3)
    path.write_text(path.read_text(encoding="utf-8")[:40], encoding="utf-8")
    rows, text = status(directory)
    assert rows["random"]["done"] == 3
    assert "not counted (1 file(s) unreadable" in text and str(path) in text


@pytest.mark.e2e
def test_after_the_study_every_trial_is_done_with_trials_csv_best(per_round):
    rows, text = status(per_round.path)
    assert "fold_jobs per_round" in text
    for study, planned in PLANNED.items():
        table = pd.read_csv(per_round.results / study / "trials.csv")
        assert (rows[study]["done"], rows[study]["planned"]) == (planned, planned)
        best = table.loc[table["status"] == "ok", "objective"].min()
        assert rows[study]["best"] == pytest.approx(best, rel=1e-5)
        assert rows[study]["left"] == "0s"
    assert (rows["total"]["done"], rows["total"]["planned"]) == (12, 12)
    assert not list(per_round.results.glob("*/trials")), "per_round wrote per-trial files"


@pytest.mark.e2e
def test_per_round_counts_the_rounds_whose_results_are_written(per_round, tmp_path):
    directory = copy_study(per_round, tmp_path / "study").path
    (directory / round_results("tpe", 1)).unlink()
    rows, _ = status(directory)
    assert (rows["tpe"]["done"], rows["tpe"]["planned"]) == (2, 4)
    assert rows["total"]["done"] == 10


def test_multi_fidelity_best_is_full_fidelity_and_work_is_epochs(tmp_path):
    """config/multi_fidelity.yaml with --replace-workflow-config, as its comment runs it."""
    mf_config = str(REPO / "config" / "multi_fidelity.yaml")
    plan = load_plan(tmp_path, [mf_config], replace=True)
    assert plan.studies == ["random", "sha", "hyperband", "bohb"]
    # The epochs per fold its comment gives: 21 for successive halving, 69 for Hyperband.
    assert sum(trial_work(plan, "sha").values()) * 9 == pytest.approx(21)
    assert sum(trial_work(plan, "hyperband").values()) * 9 == pytest.approx(69)
    # (trials, fidelity, epochs trained: a promoted trial goes on from the rung below's,
    # objective): the 1-epoch looks score best, yet do not count.
    rungs = [(range(0, 9), 1, 1, 0.1), (range(9, 12), 3, 2, 0.05), (range(12, 13), 9, 6, 0.2)]
    for trials, fidelity, epochs, objective in rungs:
        for trial in trials:
            fileio.write_json(tmp_path / score_file("sha", trial),
                              {"trial": trial, "status": "ok", "objective": objective,
                               "fidelity": fidelity})
            for fold in range(plan.folds):  # 2 CPU seconds per epoch and fold
                fileio.write_json(tmp_path / timing_file("sha", trial, fold),
                                  {"trial": trial, "fold": fold,
                                   "fit_cpu_seconds": 2.0 * epochs})
    (tmp_path / score_file("sha", 12)).unlink()  # the full-fidelity trial is not done yet
    shutil.rmtree(tmp_path / "results" / "sha" / "trials" / "11")
    progress = study_progress(plan, "sha", tmp_path)
    assert (progress.done, progress.best) == (11, None)
    # 6 CPU s per epoch of a trial's 3 folds: trial 11 (2 epochs) and 12 (6) cost 48 s more.
    assert progress.seconds_left(cores=1) == pytest.approx(48)
    rows, _ = status(tmp_path, "--configfile", mf_config, "--replace-workflow-config",
                     "--cores", "1")
    assert rows["sha"]["done"] == 11 and rows["sha"]["left"] == "48s"
    fileio.write_json(tmp_path / score_file("sha", 12),
                      {"trial": 12, "status": "ok", "objective": 0.2, "fidelity": 9})
    assert study_progress(plan, "sha", tmp_path).best == 0.2
    # Without --replace-workflow-config the file is merged over config.yaml, as Snakemake
    # does: the default config's grid, TPE and GP would run too (the file's comment).
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    merged = load_plan(tmp_path, [mf_config], replace=False)
    assert merged.strategies == ["grid", "random", "tpe", "gp", "sha", "hyperband", "bohb"]


def test_an_invalid_config_is_reported_not_raised(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**CONFIG, "seed": "x"}))
    assert main(["--directory", str(tmp_path)]) == 2
    assert "seed: must be integer" in capsys.readouterr().err


@pytest.mark.e2e
def test_runs_as_a_module_from_the_repository_root(per_round):
    result = subprocess.run([sys.executable, "-m", "hpstudy.progress", "--directory",
                             str(per_round.path), "--cores", "1"], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(REPO / "workflow")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:2] == ["total", "12/12"]
