"""hpstudy.snakemake_overhead against Snakemake's real JobScheduler class,
get_function_params and logger (theirs, not copies), and a real Snakemake run."""

import inspect
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from snakemake.common import get_function_params, get_input_function_aux_params
from snakemake.scheduling.job_scheduler import JobScheduler

from hpstudy.snakemake_overhead import coalesce_reevaluations, known_signature

DELAY = 0.05
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"


def _scheduler(cls):
    """A scheduler with just what a re-evaluation touches (building a real one needs a whole
    workflow and DAG)."""
    scheduler = object.__new__(cls)
    scheduler._lock = threading.Lock()
    scheduler._open_jobs = threading.Semaphore(0)
    return scheduler


def _passes(scheduler, wait=DELAY * 6):
    """How many scheduling passes the timers released, after they fired."""
    time.sleep(wait)
    released = 0
    while scheduler._open_jobs.acquire(blocking=False):
        released += 1
    return released


def test_snakemake_starts_a_timer_for_every_request():
    """What the fix is for (if a Snakemake release changes this, the fix may be moot:
    hpstudy.snakemake_overhead leaves a Snakemake without the method alone)."""
    scheduler = _scheduler(JobScheduler)
    for _ in range(5):
        scheduler._schedule_reevalutation(DELAY)
    assert _passes(scheduler) == 5


def test_coalesced_requests_give_one_pass_and_the_next_request_another():
    cls = type("Scheduler", (JobScheduler,), {})
    assert coalesce_reevaluations(cls)
    assert not coalesce_reevaluations(cls), "applied twice"
    scheduler = _scheduler(cls)
    before = set(threading.enumerate())
    for _ in range(5):
        scheduler._schedule_reevalutation(DELAY)
    timers = [t for t in set(threading.enumerate()) - before if isinstance(t, threading.Timer)]
    assert len(timers) == 1 and timers[0].daemon  # a finished run does not wait for it
    assert _passes(scheduler) == 1
    # The re-evaluation still comes after every later pass: the chain is not broken.
    scheduler._schedule_reevalutation(DELAY)
    assert _passes(scheduler) == 1
    # Snakemake's own class is untouched by patching a subclass.
    assert not getattr(JobScheduler._schedule_reevalutation, "coalesced", False)


def test_a_snakemake_without_the_method_is_left_alone():
    class Other:
        pass

    assert not coalesce_reevaluations(Other)
    assert not hasattr(Other, "_schedule_reevalutation")


def test_snakemake_reads_a_known_signature_without_inspecting_again(monkeypatch):
    def inputs(wildcards, attempt):
        return attempt

    known = known_signature(inputs)
    assert known is inputs
    calls = []
    signature = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f: calls.append(f) or signature(f))
    assert list(get_function_params(known)) == ["wildcards", "attempt"]
    # What Snakemake passes a function follows from it: attempt yes, threads no.
    assert get_input_function_aux_params(known, {"attempt": 2, "threads": 4}) == {"attempt": 2}
    assert calls == []

    def other(wildcards):
        return wildcards

    get_function_params(other)  # an undecorated function is inspected at every call
    assert calls == [other]


DESCRIBED_SNAKEFILE = '''
import sys
sys.path.insert(0, {workflow!r})
if config.get("fix"):
    from hpstudy.snakemake_overhead import fix_snakemake_scheduler
    fix_snakemake_scheduler()


class Described:
    """A param that notes each time Snakemake formats it into a job's shell command."""
    def __format__(self, spec):
        with open("formatted.txt", "a") as notes:
            notes.write("formatted\\n")
        return "described"


rule all:
    input: expand("out_{{i}}.txt", i=range(3))


rule make:
    output: "out_{{i}}.txt"
    params: described=Described()
    shell: "echo {{params.described}} > {{output}}"
'''


def _described_run(directory, *args, fix: bool) -> tuple[list[str], int]:
    """A real Snakemake run of DESCRIBED_SNAKEFILE (fix: with skip_unwanted_job_info, as
    common.smk applies it): its output without the lines that name the run, and how often
    it formatted a job's shell command."""
    directory.mkdir()
    (directory / "Snakefile").write_text(DESCRIBED_SNAKEFILE.format(workflow=str(WORKFLOW)))
    result = subprocess.run([SNAKEMAKE, *args, "--config", f"fix={int(fix)}"], cwd=directory,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = (result.stdout + result.stderr).splitlines()
    formatted = directory / "formatted.txt"
    return ([line.replace(str(directory), "DIR") for line in output
             if not re.match(r"\s*(Date|Workflow ID|Command|Config MD5|host):", line)],
            len(formatted.read_text().splitlines()) if formatted.exists() else 0)


def test_a_quiet_dry_run_formats_no_job_description_and_prints_the_same(tmp_path):
    """`snakemake -n --quiet rules` (planning a study: the table of jobs) formatted every
    job's description, shell command included, for the logger to drop it; with the fix it
    formats none and prints the same. Without --quiet the descriptions are printed, and a
    real run still formats each command it runs."""
    quiet = ["-n", "--quiet", "rules"]
    as_released, formatted_before = _described_run(tmp_path / "a", *quiet, fix=False)
    fixed, formatted_after = _described_run(tmp_path / "b", *quiet, fix=True)
    assert formatted_before > 0 and formatted_after == 0
    assert fixed == as_released and any("make" in line for line in fixed)  # the job table
    described, formatted = _described_run(tmp_path / "c", "-n", fix=True)
    assert formatted > 0 and sum("rule make:" in line for line in described) == 3
    _, formatted = _described_run(tmp_path / "d", "--cores", "1", "--quiet", "rules", fix=True)
    assert formatted > 0
    assert (tmp_path / "d" / "out_2.txt").read_text() == "described\n"


def test_a_handler_that_keeps_job_descriptions_still_gets_them(monkeypatch):
    """handled() asks the handlers themselves: a quiet DefaultFilter drops JOB_INFO, an
    unfiltered handler (a logger plugin's, say) keeps it, and so does one up the hierarchy."""
    import logging

    from snakemake.logging import DefaultFilter, LogEvent, logger
    from snakemake.settings.enums import Quietness

    from hpstudy.snakemake_overhead import handled

    quiet = logging.NullHandler()
    quiet.addFilter(DefaultFilter({Quietness.RULES}, False, False, True, False))
    monkeypatch.setattr(logger, "handlers", [quiet])
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    assert not handled(logger, LogEvent.JOB_INFO)
    assert handled(logger, LogEvent.PROGRESS) == (Quietness.PROGRESS not in quiet.filters[0]
                                                  .quiet)
    monkeypatch.setattr(logger, "handlers", [quiet, logging.NullHandler()])
    assert handled(logger, LogEvent.JOB_INFO)
    monkeypatch.setattr(logger, "handlers", [quiet])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    assert handled(logger, LogEvent.JOB_INFO)


COLLECTED_SNAKEFILE = '''
import gc, sys
sys.path.insert(0, {workflow!r})
from hpstudy.snakemake_overhead import fix_snakemake_scheduler
fix_snakemake_scheduler()


def noted(wildcards):
    """An input function: Snakemake calls it while it builds the DAG."""
    with open("planning.txt", "a") as notes:
        notes.write(f"{{gc.isenabled()}}\\n")
    return []


onstart:
    with open("running.txt", "w") as notes:
        notes.write(f"{{gc.isenabled()}} {{gc.get_freeze_count() > 0}}\\n")


rule all:
    input: expand("out_{{i}}.txt", i=range(3))


rule make:
    input: noted
    output: "out_{{i}}.txt"
    shell: "echo made > {{output}}"
'''


def test_the_collector_is_off_while_the_dag_is_built_and_on_with_it_frozen_for_the_run(
        tmp_path):
    """pause_collection_while_planning in a real Snakemake run: the input functions run with
    the collector off, the jobs with it on and the plan's objects frozen; a dry run plans the
    same way."""
    for name, args in (("run", ["--cores", "1"]), ("dry", ["-n"])):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "Snakefile").write_text(COLLECTED_SNAKEFILE.format(workflow=str(WORKFLOW)))
        result = subprocess.run([SNAKEMAKE, *args], cwd=directory, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert (directory / "planning.txt").read_text().split() == ["False"] * 3
    assert (tmp_path / "run" / "running.txt").read_text().split() == ["True", "True"]
    assert (tmp_path / "run" / "out_2.txt").read_text() == "made\n"
    assert not (tmp_path / "dry" / "running.txt").exists()


def test_pausing_the_collector_applies_once_and_never_overrides_a_choice_to_keep_it_off():
    import gc

    from hpstudy.snakemake_overhead import pause_collection_while_planning

    class Scheduler:
        def __init__(self, value):
            self.value = value

    class Other(Scheduler):
        pass

    try:
        assert pause_collection_while_planning(Scheduler)
        assert not gc.isenabled()
        assert not pause_collection_while_planning(Scheduler), "applied twice"
        assert Scheduler(7).value == 7  # the original __init__ still runs
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.disable()  # someone else's choice: left alone
        assert not pause_collection_while_planning(Other)
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


class ReadyJob:
    """What Snakemake's ILP scheduler reads of a ready job (its JobSchedulerInterface): the
    priority, the scheduler's resources, and input files as Snakemake's annotated strings."""

    def __init__(self, name: str, priority: int = 0, cores: int = 1, mem_mb: int = 0,
                 temp_input: bool = False):
        from snakemake.io import AnnotatedString, temp

        self.name, self.priority = name, priority
        self.scheduler_resources = {"_cores": cores, "_nodes": 1, "mem_mb": mem_mb}
        self.input = [temp(f"{name}.tmp") if temp_input else AnnotatedString(f"{name}.in")]

    def __repr__(self):
        return self.name


def _ilp_schedulers():
    """Snakemake's ILP scheduler as released, and a subclass with solve_only_real_choices;
    each counts the integer programs it hands to the solver."""
    import logging

    from snakemake.scheduling.milp import Scheduler, SchedulerSettings

    from hpstudy.snakemake_overhead import solve_only_real_choices

    class Counted(Scheduler):
        solved = 0

        def _solve_ilp(self, prob, *args, **kwargs):
            type(self).solved += 1
            return super()._solve_ilp(prob, *args, **kwargs)

    released = type("Released", (Counted,), {"solved": 0})
    spared = type("Spared", (Counted,), {"solved": 0})
    assert solve_only_real_choices(spared)
    assert not solve_only_real_choices(spared), "applied twice"
    assert not getattr(released.select_jobs, "solves_only_real_choices", False)
    logger = logging.getLogger("test")
    return released(None, SchedulerSettings(), logger), spared(None, SchedulerSettings(), logger)


def _select(scheduler, jobs, available):
    sizes = {path: 10**8 for job in jobs for path in job.input}
    return scheduler.select_jobs(jobs, jobs, dict(available), sizes)


def _value(selected) -> tuple[int, int]:
    """The ILP's objective without temp files, in the order of its weights: the selected
    jobs' priorities, then their cores (at least 1 each)."""
    return (sum(job.priority for job in selected),
            sum(max(job.scheduler_resources["_cores"], 1) for job in selected))


def _fits(selected, available) -> bool:
    return all(sum(job.scheduler_resources.get(name, 0) for job in selected) <= limit
               for name, limit in available.items())


PULP_DEPRECATIONS = pytest.mark.filterwarnings("ignore:.*PuLP 4.0:DeprecationWarning")


@PULP_DEPRECATIONS
def test_equal_ready_jobs_that_cannot_all_run_need_no_integer_program():
    """1,600 ready Branin trials on 2 cores: any two of them. The released scheduler solves
    an integer program over all 1,600; the spared one picks two without the solver."""
    released, spared = _ilp_schedulers()
    jobs = [ReadyJob(f"trial_{i}") for i in range(1600)]
    available = {"_cores": 2, "_nodes": 9, "mem_mb": 10**6}
    chosen = _select(spared, jobs, available)
    assert len(chosen) == 2 and set(chosen) <= set(jobs)
    assert type(spared).solved == 0
    assert len(_select(released, jobs, available)) == 2
    assert type(released).solved == 1


@PULP_DEPRECATIONS
def test_where_there_is_a_choice_the_solver_makes_it_and_its_optimum_is_kept():
    """Random mixes of priorities, cores, memory and temp inputs: the spared scheduler's
    selection fits and scores the same in the ILP's objective as the released one's (both
    solved by CBC; among equal jobs either may pick others)."""
    import random

    released, spared = _ilp_schedulers()
    rng = random.Random(5)
    for case in range(25):
        jobs = [ReadyJob(f"j{case}_{i}", priority=rng.choice([0, 0, 1, 5]),
                         cores=rng.choice([1, 1, 2, 3]), mem_mb=rng.choice([0, 500, 1500]),
                         temp_input=rng.random() < 0.15)
                for i in range(rng.randint(1, 40))]
        available = {"_cores": rng.randint(1, 6), "_nodes": 100, "mem_mb": 2000}
        before, after = _select(released, jobs, available), _select(spared, jobs, available)
        assert _fits(after, available), case
        assert _value(after) == _value(before), case
    assert 0 < type(spared).solved < type(released).solved


@PULP_DEPRECATIONS
def test_jobs_of_negative_priority_go_to_the_solver_even_when_they_fit():
    """A negative priority lowers the objective: the solver may leave such a job out though
    it fits, so the spared scheduler asks it, and answers as the released one does."""
    released, spared = _ilp_schedulers()
    jobs = [ReadyJob("low", priority=-3), ReadyJob("normal")]
    available = {"_cores": 4, "_nodes": 9, "mem_mb": 10**6}
    assert _select(spared, jobs, available) == _select(released, jobs, available)
    assert type(spared).solved == 1


def test_a_resource_that_is_no_number_leaves_the_jobs_to_the_solver_as_released():
    from hpstudy.snakemake_overhead import jobs_that_could_run

    jobs = [ReadyJob(f"j{i}") for i in range(5)]
    assert jobs_that_could_run(jobs, {"_cores": 2, "tmpdir": "/scratch"}) is None
    assert len(jobs_that_could_run(jobs, {"_cores": 2})) == 2
    with_temp = [*jobs, ReadyJob("t1", temp_input=True), ReadyJob("t2", temp_input=True)]
    kept = jobs_that_could_run(with_temp, {"_cores": 2})
    assert {"t1", "t2"} <= {job.name for job in kept} and len(kept) == 4


SOLVED_SNAKEFILE = '''
import sys
sys.path.insert(0, {workflow!r})
from snakemake.scheduling.milp import Scheduler
if config.get("fix"):
    from hpstudy.snakemake_overhead import fix_snakemake_scheduler
    fix_snakemake_scheduler()
solve = Scheduler._solve_ilp


def noted(self, *args, **kwargs):
    with open("solved.txt", "a") as notes:
        notes.write("solved\\n")
    return solve(self, *args, **kwargs)


Scheduler._solve_ilp = noted


rule all:
    input: expand("{{kind}}_{{i}}.txt", kind=["trial", "resumed"], i=range(6)),
           expand("rung_{{i}}.txt", i=range(3))


rule trial:
    output: "trial_{{i}}.txt"
    shell: "echo {{wildcards.i}} > {{output}}"


rule checkpoint:
    output: temp("checkpoint_{{i}}.txt")
    shell: "echo {{wildcards.i}} > {{output}}"


rule resumed:
    input: "checkpoint_{{i}}.txt"
    output: "resumed_{{i}}.txt"
    shell: "cat {{input}} > {{output}}"


rule rung:
    output: "rung_{{i}}.txt"
    threads: 2
    shell: "echo {{wildcards.i}} > {{output}}"
'''


def test_a_real_run_asks_the_solver_only_when_there_is_a_choice_and_makes_the_same_files(
        tmp_path):
    """Snakemake's ILP scheduler in real runs at --cores 2, as released and spared: the
    first pass has one-core jobs (trials, checkpoints) and two-core rungs ready, a choice
    for the solver; a pass with one core free has none (no rung fits). Both runs make the
    same files and delete every temp checkpoint."""
    outputs, solved = {}, {}
    for fix in (False, True):
        directory = tmp_path / f"fix{int(fix)}"
        directory.mkdir()
        (directory / "Snakefile").write_text(SOLVED_SNAKEFILE.format(workflow=str(WORKFLOW)))
        result = subprocess.run([SNAKEMAKE, "--cores", "2", "--config", f"fix={int(fix)}"],
                                cwd=directory, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs[fix] = {p.name: p.read_text() for p in directory.glob("*.txt")
                        if p.name != "solved.txt"}
        notes = directory / "solved.txt"
        solved[fix] = len(notes.read_text().split()) if notes.exists() else 0
    assert outputs[True] == outputs[False]
    assert len(outputs[True]) == 15 and not any(n.startswith("checkpoint") for n in outputs[True])
    assert outputs[True]["resumed_5.txt"] == "5\n"
    assert 0 < solved[True] < solved[False]
