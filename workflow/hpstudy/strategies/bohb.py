"""BOHB (Falkner et al. 2018): Hyperband whose new configurations come from a TPE-style
density model instead of at random (the rules of HpBandSter's BOHB config generator, written
anew on numpy and scipy).

- Brackets as Hyperband's (strategies._halving), but run one after another: a bracket's first
  rung waits for the last rung of the bracket before it, so its model sees every earlier
  trial. Promotions (rung i > 0) are successive halving's.
- The model: on the largest fidelity whose trials allow one. Of a fidelity's finished trials,
  the `good` ones are the best n_good = max(min_points_in_model, top_n_percent % of the
  usable ones) (usable only: there must be that many); the `bad` ones the next n_bad =
  max(min_points_in_model, (100 - top_n_percent) % of all) (unusable trials rank last, as
  HpBandSter's infinite losses do). Both need more points than the space has parameters.
  min_points_in_model defaults to parameters + 1.
- Each density is a product kernel in the unit cube (log scales in log space, integers by
  bin centres, complements on the raw value): Gaussian for numbers, Aitchison-Aitken for
  choices (as statsmodels' KDEMultivariate), normal-reference bandwidths at least
  min_bandwidth (a choice's at most (levels - 1) / levels: the uniform kernel).
- A new configuration: with probability random_fraction, or without a model, random (as
  Hyperband's). Else num_samples candidates around random good points (numbers: truncated
  normal, bandwidth widened by bandwidth_factor; choices: kept with probability 1 - bandwidth,
  else uniform), and the one maximising l(x) / g(x) (in logs; ties: the first).
- Every random draw of trial t comes from its trial seed: pure in (settings, history, ids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies._halving import HalvingStrategy, random_params, ranking
from hpstudy.strategies.sobol import raw_from_unit


def levels(space: SearchSpace) -> list[int]:
    """Per parameter: its number of choices, or 0 for a number (continuous coordinate)."""
    return [len(p.choices) if p.kind == "choice" else 0 for p in space]


def encode(space: SearchSpace, params) -> list[float]:
    """Params as a point of the unit cube; a choice as its index."""
    point = []
    for parameter in space:
        raw = parameter.to_raw(params[parameter.name])
        low, high = parameter.low, parameter.high
        if parameter.kind == "choice":
            point.append(float(raw))
            continue
        if parameter.kind == "int":
            u = (raw - low + 0.5) / (high - low + 1)
        elif parameter.kind == "loguniform":
            u = math.log(raw / low) / math.log(high / low)
        else:
            u = (raw - low) / (high - low)
        point.append(min(max(float(u), 0.0), 1.0))
    return point


def decode(space: SearchSpace, point) -> dict[str, Any]:
    """A point of the unit cube (a choice as its index) as params."""
    raw = [int(round(float(u))) if parameter.kind == "choice"
           else raw_from_unit(parameter, min(max(float(u), 0.0), 1.0))
           for parameter, u in zip(space, point, strict=True)]
    return canonical_params(space, raw)


class Density:
    """Product-kernel density estimate of points of the unit cube."""

    def __init__(self, points, levels: Sequence[int], min_bandwidth: float):
        import numpy as np

        self.data = np.asarray(points, dtype=float)
        self.levels = np.asarray(levels, dtype=int)
        count, dimensions = self.data.shape
        # Normal reference rule (Scott), per coordinate, as statsmodels' 'normal_reference'.
        width = 1.06 * self.data.std(axis=0) * count ** (-1.0 / (4 + dimensions))
        width = np.maximum(width, min_bandwidth)
        uniform = np.where(self.levels > 1, (self.levels - 1) / np.maximum(self.levels, 1), 0.0)
        self.bandwidth = np.where(self.levels > 0, np.minimum(width, uniform), width)

    def logpdf(self, points):
        import numpy as np
        from scipy.special import logsumexp

        points = np.asarray(points, dtype=float)
        diff = points[:, None, :] - self.data[None, :, :]
        numeric = self.levels == 0
        log_kernel = np.zeros(diff.shape[:2])
        if numeric.any():
            width = self.bandwidth[numeric]
            z = diff[..., numeric] / width
            log_kernel += (-0.5 * z ** 2 - np.log(width * math.sqrt(2 * math.pi))).sum(-1)
        if (~numeric).any():
            lam, count = self.bandwidth[~numeric], self.levels[~numeric]
            with np.errstate(divide="ignore"):  # one-choice parameters: never different
                same, other = np.log1p(-lam), np.log(lam / np.maximum(count - 1, 1))
            log_kernel += np.where(np.abs(diff[..., ~numeric]) < 0.5, same, other).sum(-1)
        return logsumexp(log_kernel, axis=1) - math.log(len(self.data))


class BOHB(HalvingStrategy):
    name = "bohb"
    label = "BOHB"
    colour = "indigo"
    imports = ("scipy.stats", "scipy.special", "hpstudy.strategies.bohb")

    @classmethod
    def first_rung_parent(cls, index):
        """A bracket's first rung follows the last rung before it: its model needs them."""
        return index - 1 if index > 0 else None

    @classmethod
    def check(cls, settings, space):
        errors = super().check(settings, space)
        least, given = len(space.names) + 1, settings["min_points_in_model"]
        if given is not None and given < least:
            errors.append(f"strategies.bohb.min_points_in_model: {given} < {least} (the "
                          f"space's {least - 1} parameters + 1): a density needs more points "
                          f"than dimensions; raise it or leave it null")
        return errors

    def model(self, history) -> tuple[int, Density, Density] | None:
        """(fidelity, good density, bad density) on the largest fidelity that allows one."""
        space, settings = self.space, self.settings
        dimensions = len(space.names)
        least = settings["min_points_in_model"] or dimensions + 1
        top = settings["top_n_percent"]
        past = {o.trial: o for o in history}
        by_fidelity: dict[int, list[int]] = {}
        for o in history:
            by_fidelity.setdefault(self.rung_of(o.trial).fidelity, []).append(o.trial)
        for fidelity in sorted(by_fidelity, reverse=True):
            trials = by_fidelity[fidelity]
            usable = sum(past[t].usable for t in trials)
            n_good = max(least, top * usable // 100)
            n_bad = max(least, (100 - top) * len(trials) // 100)
            order = ranking(trials, past)
            good, bad = order[:n_good], order[n_good:n_good + n_bad]
            if usable >= n_good and len(good) > dimensions and len(bad) > dimensions:
                densities = [Density([encode(space, past[t].params) for t in group],
                                     levels(space), settings["min_bandwidth"])
                             for group in (good, bad)]
                return fidelity, densities[0], densities[1]
        return None

    def from_model(self, good: Density, bad: Density, rng) -> dict[str, Any] | None:
        """The candidate around the good points that maximises l(x) / g(x)."""
        import numpy as np
        from scipy.stats import truncnorm

        count = self.settings["num_samples"]
        centres = good.data[rng.integers(len(good.data), size=count)]
        candidates = centres.copy()
        for j, level in enumerate(good.levels):
            if level == 0:
                width = good.bandwidth[j] * self.settings["bandwidth_factor"]
                drawn = truncnorm.rvs(-centres[:, j] / width, (1 - centres[:, j]) / width,
                                      loc=centres[:, j], scale=width, random_state=rng)
                candidates[:, j] = np.clip(drawn, 0.0, 1.0)
            else:
                keep = rng.random(count) < 1 - good.bandwidth[j]
                candidates[:, j] = np.where(keep, centres[:, j], rng.integers(level, size=count))
        score = good.logpdf(candidates) - bad.logpdf(candidates)
        if not np.isfinite(score).any():
            return None
        best = int(np.argmax(np.where(np.isfinite(score), score, -np.inf)))
        return decode(self.space, candidates[best])

    def new_configs(self, trial_ids, history):
        import numpy as np

        fitted = self.model(history) if trial_ids else None
        proposals = []
        for trial in trial_ids:
            rng = np.random.default_rng(self.trial_seed(trial))
            explore = rng.random() < self.settings["random_fraction"]  # drawn in any case
            params = None
            if fitted is not None and not explore:
                params = self.from_model(fitted[1], fitted[2], rng)
            proposals.append(params if params is not None else random_params(self.space, rng))
        return proposals


STRATEGY = BOHB
