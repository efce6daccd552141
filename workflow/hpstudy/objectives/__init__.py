"""Objectives: what a (trial, fold) job trains and how a trial's folds become one score.

Every module of this package that sets `OBJECTIVE` is an objective (see base.Objective):
adding one is adding its module and its block in the config schema. Objective modules import
TensorFlow inside their methods, so the registry is cheap to build in the Snakefile.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from hpstudy.objectives.base import Objective


@functools.cache
def registry() -> dict[str, type[Objective]]:
    """{name: class} of every objective module, by name."""
    found: dict[str, type[Objective]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        objective = getattr(module, "OBJECTIVE", None)
        if objective is None:  # a helper module (base, keras_classifier)
            continue
        if objective.name in found:
            raise RuntimeError(f"two objectives named {objective.name!r}: "
                               f"{found[objective.name].__module__} and {module.__name__}")
        found[objective.name] = objective
    return dict(sorted(found.items()))


def objective_class(name: str) -> type[Objective]:
    objectives = registry()
    if name not in objectives:
        raise ValueError(f"unknown objective {name!r}; known: {', '.join(objectives)}")
    return objectives[name]


__all__ = ["Objective", "objective_class", "registry"]
