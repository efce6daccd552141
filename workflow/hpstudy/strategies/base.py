"""The one interface every strategy implements.

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

STATUSES = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class Observation:
    """A finished trial as the strategies see it."""

    trial: int
    params: Mapping[str, Any]
    objective: float | None
    status: str = "ok"

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
    adaptive: ClassVar[bool]

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
