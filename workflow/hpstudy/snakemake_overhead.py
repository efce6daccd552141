"""What Snakemake's own process costs per job, and two things the workflow does about it
(docs/performance.md, Snakemake's own CPU). Both touch Snakemake internals, each guarded so
that a Snakemake without them is left as it is.

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


def fix_snakemake_scheduler() -> bool:
    """coalesce_reevaluations on the installed Snakemake's JobScheduler,
    skip_unwanted_job_info on its Job, and pause_collection_while_planning. Whether all
    three applied."""
    try:
        from snakemake.jobs import Job
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:  # another Snakemake layout: nothing to fix that we know of
        return False
    return (coalesce_reevaluations(JobScheduler) & skip_unwanted_job_info(Job)
            & pause_collection_while_planning(JobScheduler))


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
