"""Search strategies behind one interface (see base.Strategy), found by a registry.

Every module of this package that sets `STRATEGY` is a strategy: adding one is adding its
module (and its block in the config schema), nothing else. Strategy modules import their
heavy libraries (hyperopt, scikit-optimize) inside `propose`, so the registry is cheap to
build in the Snakefile.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from hpstudy.strategies.base import Observation, Strategy


@functools.cache
def registry() -> dict[str, type[Strategy]]:
    """{name: class} of every strategy module, by name."""
    found: dict[str, type[Strategy]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        strategy = getattr(module, "STRATEGY", None)
        if strategy is None:  # a helper module (base, hyperopt_history)
            continue
        if strategy.name in found:
            raise RuntimeError(f"two strategies named {strategy.name!r}: "
                               f"{found[strategy.name].__module__} and {module.__name__}")
        found[strategy.name] = strategy
    return dict(sorted(found.items()))


def strategy_class(name: str) -> type[Strategy]:
    strategies = registry()
    if name not in strategies:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(strategies)}")
    return strategies[name]


def make_strategy(name: str, space, settings: dict, study_seed: int) -> Strategy:
    return strategy_class(name)(space, settings, study_seed)


__all__ = ["Observation", "Strategy", "make_strategy", "registry", "strategy_class"]
