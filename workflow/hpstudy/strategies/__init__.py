"""Search strategies behind one interface (see base.Strategy).

Modules are imported on demand: hyperopt and scikit-optimize cost seconds to import, and the
Snakefile imports this package only to know the names.
"""

import importlib

from hpstudy.strategies.base import Observation, Strategy

_MODULES = {
    "grid": "hpstudy.strategies.grid",
    "random": "hpstudy.strategies.random_search",
    "tpe": "hpstudy.strategies.tpe",
    "gp": "hpstudy.strategies.gp",
}


def strategy_class(name: str) -> type[Strategy]:
    if name not in _MODULES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).STRATEGY


def make_strategy(name: str, space, settings: dict, study_seed: int) -> Strategy:
    return strategy_class(name)(space, settings, study_seed)


__all__ = ["Observation", "Strategy", "make_strategy", "strategy_class"]
