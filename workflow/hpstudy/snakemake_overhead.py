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

**Signatures.** Snakemake inspects the signature of a rule's input, params or resources
function every time it calls it (inspect.signature: several per job, and again whenever it
re-evaluates a job), unless the function carries the parameters already
(snakemake.common.get_function_params reads `_overwrite_params`): known_signature sets them
once.
"""

from __future__ import annotations

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


def fix_snakemake_scheduler() -> bool:
    """coalesce_reevaluations on the installed Snakemake's JobScheduler, and
    skip_unwanted_job_info on its Job. Whether both applied."""
    try:
        from snakemake.jobs import Job
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:  # another Snakemake layout: nothing to fix that we know of
        return False
    return coalesce_reevaluations(JobScheduler) & skip_unwanted_job_info(Job)


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
