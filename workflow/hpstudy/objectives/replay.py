"""A SURROGATE of a finished study: its trials replayed by a model fitted on them, so that
strategies can be compared over many seeds in minutes on "this problem" (approximately).

objective.replay.trials names the source study's trials.csv. A Gaussian process (scikit-learn:
ConstantKernel * Matern 5/2 with a length scale per parameter + WhiteKernel, normalize_y,
seeded restarts) is fitted on its ok trials' `objective`, the params encoded on the unit cube
(hpstudy.objectives.replay_surrogate). A fold of a replayed trial is the surrogate's mean at
its params plus Gaussian noise of the source's pooled fold-to-fold standard deviation (its
per-fold objectives: `fold_scale` of its `fold_<k>_<fold_metric>` columns), drawn from the
fold's seed; the held-out test is the noise-free mean. Deterministic: the same file and
settings give the same numbers, in every process.

What it does NOT reproduce, by construction:
- failures and divergence: it is fitted on ok trials only; every replayed trial is ok, and
  a region where the real model diverged reads as the surrogate's smooth guess;
- the real noise's structure: fold noise is independent and the same everywhere (the real
  folds differ systematically, one fold harder for every trial, and by params);
- training cost (fit times are 0); the fidelity only from a learning-curve source (`epochs`:
  a surrogate per epoch, fitted on the source's scores after that many epochs, so a promoted
  trial is the surrogate at its higher epoch, replayed anew: its resource counts every epoch,
  as a fit from scratch would);
- anything outside the source's points: there the surrogate is an extrapolation.
Its optimum is the surrogate's, not the real problem's; `holdout_check` measures how well
it predicts the real trials it was fitted on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hpstudy.objectives import function
from hpstudy.objectives.base import Objective
from hpstudy.objectives.replay_surrogate import (
    SourceError,
    holdout,
    infer_scale,
    read_source,
    scale_problem,
    surrogate,
)
from hpstudy.space import Parameter, SearchSpace
from hpstudy.strategies.sobol import raw_from_unit

MIN_TRIALS = 10  # ok source trials the surrogate needs
OPTIMUM_SAMPLE = 2**13  # Sobol points of the space that optimum() searches


def _matches(parameter: Parameter, value: Any) -> bool:
    """Whether a trials.csv value (as pandas read it) is one of the parameter's values."""
    if parameter.kind == "choice":
        return any(value == c or str(value) == str(c) for c in parameter.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if parameter.kind == "int":
        return float(value).is_integer() and parameter.contains(int(value))
    return parameter.contains(float(value))


def _space_scales(parameter: Parameter) -> tuple[str, ...]:
    """The encodings that match the parameter's raw scale (empty: any)."""
    if parameter.kind == "loguniform":
        return ("log_complement",) if parameter.transform == "complement" else ("log",)
    return {"uniform": ("linear",), "int": ("linear", "log")}.get(parameter.kind, ())


def _source_errors(settings: Mapping[str, Any], space: SearchSpace, source) -> list[str]:
    path, names = settings["trials"], source.names
    errors = [f"space.{name}: not a parameter of the replayed study {path!r} (its "
              f"parameters: {', '.join(names)}); the space must be the source study's"
              for name in space.names if name not in names]
    errors += [f"space.{name}: missing; the replayed study {path!r} has parameter {name} "
               f"(the space must be the source study's)" for name in names
               if name not in space.names]
    if len(source.objective) < MIN_TRIALS:
        errors.append(f"objective.replay.trials: {len(source.objective)} ok trial(s) in "
                      f"{path!r}; the surrogate needs at least {MIN_TRIALS}")
    if settings.get("noise", "folds") == "folds" and source.folds.shape[1] < 2:
        errors.append(f"objective.replay.fold_metric: {path!r} has one fold_<k>_"
                      f"{settings['fold_metric']} column; the fold noise needs two or more "
                      f"(or objective.replay.noise: none)")
    scales = settings.get("scales") or {}
    for name, scale in scales.items():
        problem = (f"not a parameter of {path!r}" if name not in names
                   else scale_problem(scale, source.columns[name]))
        if problem:
            errors.append(f"objective.replay.scales.{name}: {problem}")
    for parameter in space:
        if parameter.name not in names:
            continue
        values = source.columns[parameter.name]
        outside = [v for v in values if not _matches(parameter, v)]
        if outside:
            errors.append(f"space.{parameter.name}: {len(outside)} of the replayed study's "
                          f"{len(values)} values lie outside it (e.g. {outside[0]!r}); the "
                          f"space must be the source study's")
            continue
        expected = _space_scales(parameter)
        scale = scales.get(parameter.name) or infer_scale(values)
        if expected and scale not in expected:
            kind = parameter.kind + (" with complement" if parameter.transform != "none"
                                     else "")
            errors.append(f"objective.replay.scales.{parameter.name}: the surrogate would "
                          f"encode it on a {scale} scale (the source's points are most evenly "
                          f"spread on it) but space.{parameter.name} is {kind}: set "
                          f"objective.replay.scales.{parameter.name}: {expected[0]}")
    return errors


def holdout_check(settings: Mapping[str, Any], space: SearchSpace, folds: int = 5) -> dict:
    """How well the surrogate predicts the real study it was fitted on: K-fold over the
    source's ok trials (seeded shuffle), each part predicted by a surrogate refitted on the
    rest. {"trials", "spearman", "rmse", "mae"} (objective units), and "fold_std" (the
    noise a replayed fold gets)."""
    errors = Replay.check(settings, space)
    if errors:
        raise ValueError("; ".join(errors))
    fitted = surrogate(settings)
    return {**holdout(fitted, folds, settings["seed"]), "fold_std": fitted.fold_std}


class Replay(Objective):
    """objective.replay: a surrogate fitted on the study `trials` (hpstudy.objectives.replay's
    docstring: what it does and what it does not reproduce)."""

    name = "replay"
    label = "replay surrogate"
    tunable = None  # the space's parameters are the source study's
    fidelity = "epochs"  # of a learning-curve source only (hpstudy.objectives.replay_curves)
    continues = False  # a promoted trial is the surrogate at its epoch: nothing to continue

    @classmethod
    def describe(cls, settings):
        name = Path(str(settings.get("trials"))).name
        if settings.get("epochs") is not None:
            return f"learning-curve surrogate replaying {name}"
        return f"surrogate replaying {name}"

    @classmethod
    def kind(cls, settings):
        return "multi-fidelity" if settings.get("epochs") is not None \
            else "surrogate of a real study"

    @classmethod
    def fidelity_errors(cls, settings, strategy):
        if settings["epochs"] is None:
            return [f"objective.replay.epochs: required by strategies.{strategy} (the full "
                    f"fidelity, of a learning-curve source: hpstudy.objectives.replay_curves)"]
        return []

    @classmethod
    def check(cls, settings, space):
        path = settings.get("trials")
        if not path:
            return ["objective.replay.trials: required: the trials.csv of the study to "
                    "replay (the space must be that study's)"]
        if not Path(path).is_file():
            return [f"objective.replay.trials: no file {path!r} (a relative path is read "
                    f"from the working directory)"]
        try:
            source = read_source(path, settings["fold_metric"], settings["fold_scale"],
                                 settings.get("epochs"))
        except SourceError as error:
            return [str(error)]
        return _source_errors(settings, space, source)

    @classmethod
    def input_files(cls, settings):
        return {"trials": settings["trials"]} if settings.get("trials") else {}

    @classmethod
    def warm(cls, settings):
        surrogate(settings)  # the Gaussian process fitted on the source study

    @classmethod
    def noise_free(cls, settings, params):
        """The surrogate's mean at params (not the real model's score)."""
        return float(surrogate(settings).mean([params])[0])

    @classmethod
    def optimum(cls, settings, space):
        """The SURROGATE's optimum, not the real problem's: the least surrogate mean over a
        seeded scrambled Sobol sample of `space` (OPTIMUM_SAMPLE points) and the source's
        ok trials."""
        from scipy.stats import qmc

        fitted = surrogate(settings)
        units = qmc.Sobol(len(space.parameters), scramble=True,
                          seed=settings["seed"]).random_base2(int(math.log2(OPTIMUM_SAMPLE)))
        points = [{p.name: p.to_value(raw_from_unit(p, float(u)))
                   for p, u in zip(space, row, strict=True)} for row in units]
        return float(np.min(fitted.mean(points + list(fitted.source.points))))

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1):
        fitted = surrogate(settings)
        value = float(fitted.mean([params])[0])
        if fitted.fold_std > 0:
            value += fitted.fold_std * float(np.random.default_rng(seed).standard_normal())
        return {"status": "ok", "metrics": {"value": value}, "history": {},
                "epochs_run": settings.get("epochs") or 0}

    @classmethod
    def score_trial(cls, settings, fold_records):
        return function.score_trial(settings, fold_records)

    @classmethod
    def evaluate_test(cls, settings, params, seed, data=None, threads=1):
        """The surrogate's noise-free mean at the best params."""
        value = cls.noise_free(settings, params)
        return {"status": "ok", "test_objective": value, "metrics": {"value": value}}


OBJECTIVE = Replay
