"""Quasi-random search: a scrambled Sobol sequence (scipy.stats.qmc), seeded by the study.

Points fill the unit cube more evenly than independent random draws, so at equal budget it
is a stronger non-adaptive baseline than random search. The cube's coordinates are mapped
onto each parameter's scale as the other strategies' raw values are (log scales in log
space, complement parameters as 1 - x, integers and choices by equal-width bins), so the
proposals respect the space exactly as random search does.

Trial t is the t-th point of the study's sequence: the same params whichever round asks for
it. Sobol's balance holds for the first 2^m points; a budget that is not a power of two
still gets a well-spread prefix (scipy warns; the warning is expected).
"""

from __future__ import annotations

import math
import warnings

from hpstudy.seeds import derive_seed
from hpstudy.space import Parameter, canonical_params
from hpstudy.strategies.base import Strategy


def raw_from_unit(parameter: Parameter, u: float):
    """A coordinate in [0, 1) as the parameter's raw (sampler-space) value: log-uniform in
    log space, integers and choices by equal-width bins."""
    if parameter.kind == "choice":
        return min(int(u * len(parameter.choices)), len(parameter.choices) - 1)
    low, high = parameter.low, parameter.high
    if parameter.kind == "int":
        return min(int(low) + int(u * (int(high) - int(low) + 1)), int(high))
    if parameter.kind == "loguniform":
        return min(low * math.exp(u * math.log(high / low)), high)
    return min(low + u * (high - low), high)


class SobolSearch(Strategy):
    name = "sobol"
    label = "Sobol (quasi-random)"
    adaptive = False
    baseline = True
    imports = ("scipy.stats",)

    def propose(self, trial_ids, history):
        from scipy.stats import qmc

        if not trial_ids:
            return []
        sampler = qmc.Sobol(d=len(self.space.names), scramble=True,
                            seed=derive_seed(self.study_seed, self.name, "sequence"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs 2^m points
            cube = sampler.random(max(trial_ids) + 1)
        return [canonical_params(self.space, [raw_from_unit(parameter, float(u)) for
                                              parameter, u in zip(self.space, cube[trial],
                                                                  strict=True)])
                for trial in trial_ids]


STRATEGY = SobolSearch
