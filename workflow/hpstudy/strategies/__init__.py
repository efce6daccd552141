"""Search strategies behind one interface (see base.Strategy), found by a registry.

Every module of this package but base (the interface) is a strategy and sets `STRATEGY`:
adding one is adding its module (and its block in the config schema), nothing else. Helpers
that strategies share are private modules (`_halving`, `_hyperopt_history`,
`_optuna_history`), which the registry skips by name. Strategy modules import their heavy
libraries (hyperopt, scikit-optimize) inside `propose`, so the registry is cheap to build in
the Snakefile.
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
        if module_info.name == "base" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        strategy = getattr(module, "STRATEGY", None)
        if strategy is None:
            raise RuntimeError(f"{module.__name__} sets no STRATEGY: a strategy module sets "
                               f"it, a helper module's name starts with '_'")
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


def minimise(strategy: Strategy, function, trials: int) -> list[Observation]:
    """An in-process sequential study: `trials` proposals one at a time, each seeing every
    result before it, each scored by function(params). No workflow, folds or files: what
    bench/adaptivity.py and the strategy tests compare strategies with."""
    past: list[Observation] = []
    for trial in range(trials):
        params = strategy.propose([trial], past)[0]
        past.append(Observation(trial, params, float(function(params))))
    return past


__all__ = ["Observation", "Strategy", "make_strategy", "minimise", "registry",
           "strategy_class"]
