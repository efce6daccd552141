"""hyperopt has no ask/tell: rebuild a `Trials` object from history, then call a suggest
function for one new id at a time, each with the seed of its own trial, over the space
translated for hyperopt (raw values: space.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies.base import Observation


def hyperopt_space(space: SearchSpace) -> dict[str, Any]:
    """Raw hyperopt space: one label per parameter, transforms applied by to_value."""
    from hyperopt import hp

    found = {}
    for p in space:
        if p.kind == "loguniform":
            found[p.name] = hp.loguniform(p.name, math.log(p.low), math.log(p.high))
        elif p.kind == "uniform":
            found[p.name] = hp.uniform(p.name, p.low, p.high)
        elif p.kind == "int":
            # Widen by half a step so that both end points are as likely as the rest.
            found[p.name] = hp.quniform(p.name, p.low - 0.5, p.high + 0.5, 1)
        else:
            found[p.name] = hp.choice(p.name, list(range(len(p.choices))))
    return found


def _never_called(params):  # Domain needs a function; suggestions never evaluate it.
    raise RuntimeError("the objective is evaluated by the DAG's fold jobs, not by hyperopt")


def build_trials(space: SearchSpace, history: Sequence[Observation]):
    """A hyperopt Trials holding the history. Failed and diverged trials carry
    STATUS_FAIL and no loss, which tpe.suggest reads as an infinite loss: they rank as the
    worst trials (in the 'bad' density) and count towards n_startup_jobs."""
    from hyperopt import STATUS_FAIL, STATUS_OK, Trials
    from hyperopt.base import JOB_STATE_DONE

    trials = Trials()
    if not history:
        return trials
    tids, specs, results, miscs = [], [], [], []
    for observation in sorted(history, key=lambda o: o.trial):
        raw = space.to_raws(observation.params)
        tids.append(observation.trial)
        specs.append(None)
        if observation.usable:
            results.append({"status": STATUS_OK, "loss": float(observation.objective)})
        else:
            results.append({"status": STATUS_FAIL})
        miscs.append({
            "tid": observation.trial,
            "cmd": ("domain_attachment", "FMinIter_Domain"),
            "workdir": None,
            "idxs": {name: [observation.trial] for name in raw},
            "vals": {name: [value] for name, value in raw.items()},
        })
    docs = trials.new_trial_docs(tids, specs, results, miscs)
    for doc in docs:
        doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def suggest_each(space: SearchSpace, history: Sequence[Observation], trial_ids: Sequence[int],
                 seed_of: Callable[[int], int], suggest: Callable[..., Any]) -> list[dict]:
    """One suggest call per new id, on the same history, seeded by that trial's seed.

    Calling per id (not once for the whole batch) makes a trial's proposal independent of
    which other ids share its round: 5 then 5 equals 10 at once.
    """
    from hyperopt.base import Domain

    domain = Domain(_never_called, hyperopt_space(space))
    proposals = []
    for trial in trial_ids:
        trials = build_trials(space, history)
        docs = suggest([trial], domain, trials, seed_of(trial))
        vals = docs[0]["misc"]["vals"]
        raw = {name: vals[name][0] for name in space.names}
        proposals.append(canonical_params(space, raw))
    return proposals
