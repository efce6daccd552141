"""Synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018's inner loop):
one bracket, s = s_max. n_configs random configurations train to min_resource; the best
1/eta of each rung train eta times longer, up to max_resource. One round per rung: a rung
waits for the scores of the one below. The arithmetic and promotions: strategies._halving.
"""

from __future__ import annotations

from hpstudy.strategies._halving import HalvingStrategy, max_bracket


class SuccessiveHalving(HalvingStrategy):
    name = "sha"
    label = "successive halving"
    colour = "goldenrod"
    imports = ("numpy", "hpstudy.strategies.sha")

    @classmethod
    def brackets(cls, settings):
        low, high, eta = cls.resources(settings)
        s_max = max_bracket(low, high, eta)
        return [(settings["n_configs"] or eta ** s_max, s_max)]

    @classmethod
    def check(cls, settings, space):
        errors = super().check(settings, space)
        if errors or settings["max_resource"] is None or settings["n_configs"] is None:
            return errors
        low, high, eta = cls.resources(settings)
        s_max = max_bracket(low, high, eta)
        if settings["n_configs"] < eta ** s_max:
            errors.append(
                f"strategies.sha.n_configs: {settings['n_configs']} < eta**s_max = "
                f"{eta ** s_max} (s_max = {s_max} halvings from {low} to {high}): the last "
                f"rung would train no configuration; raise it, or raise min_resource or eta")
        return errors


STRATEGY = SuccessiveHalving
