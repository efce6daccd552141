"""What Snakemake's own process costs per job, and what the workflow does about it
(docs/performance.md, Snakemake's own CPU). Each touches Snakemake internals, guarded so that
a Snakemake without them is left as it is.

**Scheduling passes.** Snakemake 9's scheduler ends every scheduling pass by starting a timer
that triggers another pass one rate-limit timespan later (`--max-jobs-per-timespan`, on by
default at 100/1s), so that jobs held back by the rate limit are looked at again. Every pass
starts one, passes started by those timers included, so each finished job starts a chain of
passes, once a second, that lasts until the run ends: the passes per second grow with the jobs
finished, and the scheduler's own CPU with the square of the run's length. Each pass
re-evaluates the params of every ready job and stats all their inputs. Measured here (a
Branin study, 347 jobs, `--cores 2`): 7,226 passes and 47.3 CPU s of Snakemake's own process;
with one timer at a time, 422 passes and 12.6 CPU s, the same files. coalesce_reevaluations
keeps the re-evaluation (a pass at most one timespan after any pass, whatever held jobs back)
but never more than one timer at a time, and makes it a daemon thread: a finished run no
longer waits up to a second for its last timer before it exits.

**Job descriptions nobody reads.** Snakemake describes every job it plans (a dry run) or starts
(Job.log_info): its files, wildcards, reason, resources and shell command, all formatted into a
log record before the logger's filters look at it, and `--quiet rules` then drops the record.
A dry run of a 46,912-job study spent 58 of its 199 CPU s there (29 %, profiled), all of it
discarded with `--quiet rules`. skip_unwanted_job_info formats a job's description only when
some handler of Snakemake's logger would take it (asked with a record of that event: a
logger plugin's handler that wants it gets it, as before).

**Garbage collection while planning.** Building a DAG makes millions of objects that live as
long as the run (jobs, their files, wildcards, params), few of them cyclic garbage. Python's
cyclic collector walks all of them again at every full collection, each time more of them: a
dry run of the 46,852-job cluster study (bench/dag.py --cluster) spent a third of its wall
time there (74.3 s; 49.6 s with the collector off, the same peak memory).
pause_collection_while_planning turns the collector off while the Snakefile is read and the
DAG built, and back on once Snakemake makes its scheduler, after moving every object alive
then into the permanent generation (gc.freeze): the DAG is not walked again by the
collections of the run.

**Integer programs with no choice in them.** Snakemake's default scheduler (`--scheduler
ilp`) solves an integer program at every scheduling pass: it builds it in Python over every
ready job, after scanning every job left in the DAG for temp files, and runs the CBC solver
as a process. With 1,600 ready Branin trials and 2 cores, that was a fifth of the run's CPU
(241.6 CPU s; 193.8 with `--scheduler greedy`), and per pass it grew with the study.
solve_only_real_choices gives the solver at most as many of each kind of ready job (same
priority, same resources, no temp input: the same column of the program) as could run at
once, which leaves its optimum as it was, and does not call it when those jobs all fit
together (every term of its objective grows with each job selected, so all of them is the
one optimum). Which of a kind's equal jobs runs first was the solver's arbitrary choice,
and is the order Snakemake lists them in now. Jobs with temp inputs go to the solver as
they are, with every remaining job (though Snakemake 9.27 flags a temp file on the job that
writes it, not on the jobs that read it, so the program's temp-file terms stay empty: seen
in a real run of multi-fidelity-like temp checkpoints). 1,600 trials: 204.8
and 199.5 CPU s in two runs, against 245.2 and 236.2 before (interleaved).

**Signatures.** Snakemake inspects the signature of a rule's input, params or resources
function every time it calls it (inspect.signature: several per job, and again whenever it
re-evaluates a job), unless the function carries the parameters already
(snakemake.common.get_function_params reads `_overwrite_params`): known_signature sets them
once.
"""

from __future__ import annotations

import gc
import logging
import threading

PENDING = "_hpstudy_reevaluation_pending"
# Guards PENDING: a lock of our own, not the scheduler's (Snakemake may hold that one when it
# asks for a re-evaluation).
_PENDING_LOCK = threading.Lock()


def coalesce_reevaluations(scheduler_class) -> bool:
    """Replace scheduler_class._schedule_reevalutation (Snakemake's spelling) by one that
    keeps at most one timer pending. Returns whether it did: a Snakemake without that method
    (renamed, or fixed upstream) is left as it is."""
    original = getattr(scheduler_class, "_schedule_reevalutation", None)
    if original is None or getattr(original, "coalesced", False):
        return False

    def schedule_reevaluation(self, delay) -> None:
        with _PENDING_LOCK:
            if getattr(self, PENDING, False):
                return  # a pass comes within `delay` anyway
            setattr(self, PENDING, True)

        def reevaluate() -> None:
            with _PENDING_LOCK:
                setattr(self, PENDING, False)
            self._open_jobs.release()

        timer = threading.Timer(delay, reevaluate)
        timer.daemon = True
        timer.start()

    schedule_reevaluation.coalesced = True
    scheduler_class._schedule_reevalutation = schedule_reevaluation
    return True


def known_signature(function):
    """`function`, with its parameters worked out once for Snakemake (see the module doc)."""
    import inspect

    try:
        from snakemake.common import FUNC_OVERWRITE_PARAMS_ATTR
    except ImportError:  # a Snakemake without the attribute inspects every call, as before
        return function
    setattr(function, FUNC_OVERWRITE_PARAMS_ATTR, inspect.signature(function).parameters)
    return function


def pause_collection_while_planning(scheduler_class) -> bool:
    """Turn Python's cyclic garbage collector off until Snakemake makes its scheduler
    (scheduler_class.__init__, after the DAG is built, in a dry run too), then freeze what is
    alive and turn it back on (see the module doc). Returns whether it did: with no such
    class, or the collector already off (someone else's choice), nothing changes."""
    original = getattr(scheduler_class, "__init__", None)
    if original is None or getattr(original, "resumes_collection", False) or not gc.isenabled():
        return False

    def __init__(self, *args, **kwargs):
        resume_collection()
        original(self, *args, **kwargs)

    __init__.resumes_collection = True
    scheduler_class.__init__ = __init__
    gc.disable()
    return True


def resume_collection() -> None:
    """What pause_collection_while_planning does when planning ends (at most once: the
    objects that a later scheduler would find alive are the run's, not the plan's)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def solve_only_real_choices(ilp_scheduler_class) -> bool:
    """Wrap ilp_scheduler_class.select_jobs (Snakemake's ILP scheduler) so that it is given
    at most as many of each kind of ready job as could run at once, and is not asked at all
    when every job it would be given fits (see the module doc). Returns whether it did: a
    Snakemake without that method is left as it is."""
    original = getattr(ilp_scheduler_class, "select_jobs", None)
    if original is None or getattr(original, "solves_only_real_choices", False):
        return False

    def select_jobs(self, selectable_jobs, remaining_jobs, available_resources, input_sizes):
        candidates = jobs_that_could_run(selectable_jobs, available_resources)
        if candidates is None:
            return original(self, selectable_jobs, remaining_jobs, available_resources,
                            input_sizes)
        if not any(has_temp_input(job) for job in candidates):
            if all_fit(candidates, available_resources):
                return candidates
            remaining_jobs = []  # the ILP reads them only for the candidates' temp files
        return original(self, candidates, remaining_jobs, available_resources, input_sizes)

    select_jobs.solves_only_real_choices = True
    ilp_scheduler_class.select_jobs = select_jobs
    return True


def has_temp_input(job) -> bool:
    return any(path.is_flagged("temp") for path in job.input)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def jobs_that_could_run(selectable_jobs, available_resources) -> list | None:
    """The ready jobs, each kind cut to as many as the available resources could run at
    once. Jobs of a kind are the same to the ILP: the same priority and the same needs of
    every resource (cores counted at least 1, as its objective counts them); a job with a
    temp input is a kind of its own (the ILP weighs its temp files). None when a resource
    is not a number (the ILP then sees every job, as released)."""
    names = sorted(available_resources)
    if not all(_is_number(available_resources[name]) for name in names):
        return None
    kinds: dict[tuple, list] = {}
    candidates = []
    for job in selectable_jobs:
        if has_temp_input(job):
            candidates.append(job)
            continue
        resources = job.scheduler_resources
        needs = tuple(resources.get(name, 0) for name in names)
        cores = resources.get("_cores", 1)
        if not all(_is_number(need) for need in (*needs, cores)):
            return None
        kinds.setdefault((job.priority, max(cores, 1), needs), []).append(job)
    for (_, _, needs), jobs in kinds.items():
        room = [int(available_resources[name] // need)
                for name, need in zip(names, needs, strict=True) if need > 0]
        candidates += jobs[:max(min(room, default=len(jobs)), 0)]
    return candidates


def all_fit(jobs, available_resources) -> bool:
    """Whether these jobs, none of negative priority, fit the available resources together:
    every term of the ILP's objective then grows with each job selected, so its one
    optimum is all of them."""
    return all(job.priority >= 0 for job in jobs) and all(
        sum(job.scheduler_resources.get(name, 0) for job in jobs) <= available
        for name, available in available_resources.items())


def fix_snakemake_scheduler() -> bool:
    """coalesce_reevaluations on the installed Snakemake's JobScheduler,
    skip_unwanted_job_info on its Job, pause_collection_while_planning, and
    solve_only_real_choices on its ILP scheduler. Whether all four applied."""
    try:
        from snakemake.jobs import Job
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:  # another Snakemake layout: nothing to fix that we know of
        return False
    try:
        from snakemake.scheduling.milp import Scheduler as IlpScheduler
    except ImportError:  # no ILP scheduler: nothing to spare it
        IlpScheduler = None
    return (coalesce_reevaluations(JobScheduler) & skip_unwanted_job_info(Job)
            & pause_collection_while_planning(JobScheduler)
            & (IlpScheduler is not None and solve_only_real_choices(IlpScheduler)))


def handled(logger: logging.Logger, event) -> bool:
    """Whether an INFO record of this Snakemake log event would reach a handler that keeps it
    (the logger's level and filters, then each handler's on the way up, as Logger.handle
    walks them)."""
    if not logger.isEnabledFor(logging.INFO):
        return False
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "", None, None,
                               extra={"event": event})
    if not logger.filter(record):
        return False
    current = logger
    while current is not None:
        for handler in current.handlers:
            if record.levelno >= handler.level and handler.filter(record):
                return True
        if not current.propagate:
            break
        current = current.parent
    return False


def skip_unwanted_job_info(job_class) -> bool:
    """Replace job_class.log_info by one that describes the job only when its description
    (JOB_INFO, SHELLCMD) would be logged (see the module doc); the checkpoint and handover
    notes it adds are kept. Returns whether it did: a Snakemake without that method or its
    log events is left as it is."""
    original = getattr(job_class, "log_info", None)
    try:
        from snakemake.logging import LogEvent, logger
    except ImportError:
        return False
    events = [getattr(LogEvent, name, None) for name in ("JOB_INFO", "SHELLCMD")]
    if original is None or None in events or getattr(original, "skips_unwanted", False):
        return False

    def log_info(self, *args, **kwargs):
        if any(handled(logger, event) for event in events):
            return original(self, *args, **kwargs)
        if self.rule.is_checkpoint:
            logger.info("DAG of jobs will be updated after completion.")
        if self.rule.is_handover:
            logger.info("Handing over execution to foreign system...")
        return None

    log_info.skips_unwanted = True
    job_class.log_info = log_info
    return True
