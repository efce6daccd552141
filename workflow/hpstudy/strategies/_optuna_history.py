"""Optuna inside one proposal job: an in-memory study rebuilt from the history, asked for a
round, then thrown away. MLflow stays the only tracking store; no Optuna storage outlives the
job, so a round's proposals are a pure function of (space, settings, seed, ids, history).

Samplers see raw values (space.py): log parameters as FloatDistribution(log=True) over the raw
value, the complement transform undone by `to_raws` exactly as for hyperopt, integers as
IntDistribution and choices as a CategoricalDistribution over their indices (indices, not the
values: YAML choices may be of any type, indices are always valid Optuna choices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies.base import Observation
from hpstudy.strategies.gp import failure_penalty


def quiet_optuna() -> None:
    """Optuna logs every study and trial at INFO: a job's log keeps warnings only."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def distributions(space: SearchSpace) -> dict[str, Any]:
    """{name: Optuna distribution of the raw value}, in the space's order."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    found: dict[str, Any] = {}
    for p in space:
        if p.kind == "loguniform":
            found[p.name] = FloatDistribution(float(p.low), float(p.high), log=True)
        elif p.kind == "uniform":
            found[p.name] = FloatDistribution(float(p.low), float(p.high))
        elif p.kind == "int":
            found[p.name] = IntDistribution(int(p.low), int(p.high))
        else:
            found[p.name] = CategoricalDistribution(tuple(range(len(p.choices))))
    return found


def finished_trial(space: SearchSpace, dists: Mapping[str, Any], observation: Observation,
                   unusable: str, penalty: float):
    """A history trial as an Optuna FrozenTrial of raw params. `unusable` says how a failed or
    diverged trial is added: "pruned" (state PRUNED, no value) or "penalty" (COMPLETE with
    the value `penalty`)."""
    from optuna.trial import TrialState, create_trial

    params = space.to_raws(observation.params)
    if observation.usable:
        return create_trial(params=params, distributions=dict(dists),
                            value=float(observation.objective), state=TrialState.COMPLETE)
    if unusable == "penalty":
        return create_trial(params=params, distributions=dict(dists), value=float(penalty),
                            state=TrialState.COMPLETE)
    return create_trial(params=params, distributions=dict(dists), state=TrialState.PRUNED)


def new_study(sampler):
    """An in-memory, minimising study (no storage URL: nothing is written anywhere)."""
    import optuna

    return optuna.create_study(sampler=sampler, direction="minimize")


def rebuilt_study(space: SearchSpace, history: Sequence[Observation], sampler, unusable: str):
    """A study holding the history in trial order (Optuna numbers trials as they are added,
    and samplers break ties by number: the order must not depend on the caller's)."""
    study = new_study(sampler)
    dists = distributions(space)
    penalty = failure_penalty(history)
    for observation in sorted(history, key=lambda o: o.trial):
        study.add_trial(finished_trial(space, dists, observation, unusable, penalty))
    return study


def ask_round(study, space: SearchSpace, count: int) -> list:
    """`count` trials asked one after another without telling any: each later ask sees the
    earlier ones RUNNING (what TPE's constant liar penalises). Returns the Optuna trials."""
    dists = distributions(space)
    return [study.ask(fixed_distributions=dict(dists)) for _ in range(count)]


def proposal(space: SearchSpace, trial) -> dict[str, Any]:
    """An asked trial's raw params as the objective's values (canonical Python types)."""
    return canonical_params(space, {name: trial.params[name] for name in space.names})
