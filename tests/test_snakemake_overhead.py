"""hpstudy.snakemake_overhead against Snakemake's real JobScheduler class and
get_function_params (theirs, not copies)."""

import inspect
import threading
import time

from snakemake.common import get_function_params, get_input_function_aux_params
from snakemake.scheduling.job_scheduler import JobScheduler

from hpstudy.snakemake_overhead import coalesce_reevaluations, known_signature

DELAY = 0.05


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
