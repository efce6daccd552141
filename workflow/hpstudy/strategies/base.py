"""The one interface every strategy implements.

A strategy is one module in this package that sets `STRATEGY` to a `Strategy` subclass, plus
one block under `strategies:` in workflow/schemas/config.schema.yaml (its settings, their
types and `default:` values). The class says everything else the workflow needs to know:
its name and label, whether it adapts to history and whether another seed changes it, its own
config checks, its budget and how its trials are laid out in rounds. The registry
(hpstudy.strategies) finds it; the Snakefile, the config checks, the worker and the report
ask the registry, never a strategy's name. Heavy libraries are imported inside `propose`:
the Snakefile imports every strategy module to learn the names.

A proposal is a pure function of (search space, strategy settings, study seed, the ids of the
trials to propose, the history of finished trials). Nothing else: no global RNG, no clock,
no state kept between calls. This is what lets the DAG call it in a fresh process per round and
get the same answer every time.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpstudy.seeds import derive_seed
from hpstudy.space import SearchSpace


@dataclass(frozen=True)
class Observation:
    """A finished trial as the strategies see it."""

    trial: int
    params: Mapping[str, Any]
    objective: float | None
    status: str = "ok"  # one of hpstudy.outcome.STATUSES

    @property
    def usable(self) -> bool:
        """True when the objective can be trusted as a measurement of these params."""
        return (self.status == "ok" and self.objective is not None
                and math.isfinite(self.objective))

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Observation:
        return cls(trial=int(record["trial"]), params=dict(record["params"]),
                   objective=record.get("objective"), status=record.get("status", "ok"))

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "params": dict(self.params), "objective": self.objective,
                "status": self.status}


class Strategy(ABC):
    name: ClassVar[str]
    label: ClassVar[str]  # how the report and the docs name it
    adaptive: ClassVar[bool]  # proposals depend on the history: rounds wait for scores
    stochastic: ClassVar[bool] = True  # another seed gives other proposals (repeats run it)
    colour: ClassVar[str | None] = None  # fixed colour in figures (else one from a palette)
    # The algorithm, when several libraries implement it (hyperopt's TPE and Optuna's): the
    # verdict compares implementations of one method with each other. None: one of a kind.
    method: ClassVar[str | None] = None
    # A baseline: a model-free reference (random search, Sobol) that the verdict compares
    # every other strategy with.
    baseline: ClassVar[bool] = False
    imports: ClassVar[tuple[str, ...]] = ()  # heavy modules its proposals import (worker)
    # Trains trials at several fidelities (successive halving and its kin): needs an objective
    # that declares one (Objective.fidelity) and says in `proposals` what each trial gets.
    multi_fidelity: ClassVar[bool] = False

    @classmethod
    def budget(cls, settings: Mapping[str, Any], space: SearchSpace) -> int:
        """How many trials a study of this strategy runs."""
        return settings["budget"]

    @classmethod
    def plan_rounds(cls, budget: int, settings: Mapping[str, Any]) -> list[list[int]]:
        """Trial ids per round, in order: a round's proposals see the scores of every earlier
        round. Default: a non-adaptive strategy proposes everything in one round; an adaptive
        one in rounds of `batch_size` (the last one possibly short). A strategy may plan
        rounds of varying size."""
        size = settings["batch_size"] if cls.adaptive else budget
        return [list(range(start, min(start + size, budget)))
                for start in range(0, budget, size)]

    @classmethod
    def round_parents(cls, rounds: Sequence[Sequence[int]],
                      settings: Mapping[str, Any]) -> list[int | None]:
        """For each round, the earlier round whose scores it waits for (its proposals see
        that round's history and scores), or None: it needs none and can run at once.
        Default: each round follows the one before it. Hyperband's brackets, for one, are
        independent of each other: their first rungs run side by side."""
        return [None if index == 0 else index - 1 for index in range(len(rounds))]

    @classmethod
    def continued_rounds(cls, rounds: Sequence[Sequence[int]],
                         settings: Mapping[str, Any]) -> list[int | None]:
        """For each round, the round whose trials' checkpoints its trials continue from (a
        successive-halving rung promotes trials of the rung below: they train on from there
        instead of from scratch), or None: they start fresh. Default: every round fresh."""
        return [None] * len(rounds)

    @classmethod
    def check(cls, settings: Mapping[str, Any], space: SearchSpace) -> list[str]:
        """What the schema cannot say about this strategy's settings: one message per
        problem, naming the key (`strategies.<name>.<setting>`)."""
        return []

    def __init__(self, space: SearchSpace, settings: Mapping[str, Any], study_seed: int):
        self.space = space
        self.settings = dict(settings)
        self.study_seed = study_seed

    def trial_seed(self, trial: int) -> int:
        """Seed of one trial: from (study seed, strategy, trial id), never from batch position."""
        return derive_seed(self.study_seed, self.name, "trial", trial)

    @abstractmethod
    def propose(self, trial_ids: Sequence[int],
                history: Sequence[Observation]) -> list[dict[str, Any]]:
        """Params (objective values, as in config) for each id in trial_ids, in that order."""

    def proposals(self, trial_ids: Sequence[int],
                  history: Sequence[Observation]) -> list[dict[str, Any]]:
        """What the round file records for each trial: its id, seed and params and, for a
        multi-fidelity strategy, its `fidelity` (the value of the objective's fidelity
        setting it trains to, e.g. epochs) and where it sits (`bracket`, `rung`,
        `promoted_from`: the trial of the rung below whose config it continues)."""
        params = self.propose(trial_ids, history)
        return [{"trial": t, "seed": self.trial_seed(t), "params": p}
                for t, p in zip(trial_ids, params, strict=True)]
