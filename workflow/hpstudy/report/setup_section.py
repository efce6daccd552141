"""What the report is about, stated at its top: data, folds, objective, budget, seeds,
strategies and their settings, package versions, git commit, config hash and the compute the
study took. A reader (or a referee) can tell from it which study produced the figures."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from hpstudy.provenance import git_commit, package_versions
from hpstudy.space import fixed_settings

# The packages whose versions decide the results (the report job's environment: in a conda
# run the training packages live in another environment and are left out here).
PACKAGES = ("tensorflow", "keras", "hyperopt", "scikit-optimize", "optuna", "mlflow",
            "snakemake", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib")


def _settings(settings: Mapping[str, Any]) -> str:
    """Settings as `key=value, ...` in config order, nulls left out."""
    return ", ".join(f"{key}={json.dumps(value) if isinstance(value, list | dict) else value}"
                     for key, value in settings.items() if value is not None) or "defaults"


def _data_row(config: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
    if data is None:
        return "none (the objective reads no data)"
    shape = "x".join(str(side) for side in data.get("image_shape", []))
    digest = data.get("sha256", {}).get("x", "")
    return (f"{data['name']} ({data.get('source', '')}): {data['examples']} examples "
            f"of {shape}, {len(data.get('classes', []))} classes; sha256 of the images "
            f"{digest[:16]}; split_seed {config['dataset']['split_seed']}")


def compute_totals(trials_paths: Sequence[str], timings_paths: Sequence[str]) -> tuple[int, float]:
    """(trials, fit CPU seconds) over every study's trials.csv and timings.csv."""
    trials = sum(len(pd.read_csv(path)) for path in trials_paths)
    cpu = sum(float(pd.read_csv(path)["fit_cpu_seconds"].sum()) for path in timings_paths)
    return trials, cpu


def setup_table(config: Mapping[str, Any], *, config_hash: str, budgets: Mapping[str, int],
                data: Mapping[str, Any] | None, trials: int, fit_cpu_seconds: float,
                commit: str | None = None,
                versions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The study's setup as (item, value) rows, in reading order.

    config: the validated config (hpstudy.config). budgets: {strategy: trials per seed}.
    data: results/data/dataset.json (None without data). trials, fit_cpu_seconds: every
    trial of every study (repeats included) and the CPU seconds of their fits.
    """
    objective = config["objective"]
    name = objective["name"]
    test_fraction = config["cv"].get("test_fraction")
    held_out = (f"; {data['test_examples']} examples ({test_fraction:g}) held out for the "
                f"winners' test" if data and "test_examples" in data else "")
    rows = [
        ("data", _data_row(config, data)),
        ("folds", f"{config['cv']['folds']}-fold cross-validation{held_out}"),
        # The fixed settings: a searched one is in the search space row, not here.
        ("objective", f"{name}: " + _settings(fixed_settings(objective.get(name, {}),
                                                             config["space"]))),
        ("search space", "; ".join(f"{p}: {_settings(s)}" for p, s in config["space"].items())),
        ("seeds", f"{config['repeats']} per stochastic strategy (grid: 1), from seed "
                  f"{config['seed']}"),
    ]
    for strategy, settings in config["strategies"].items():
        rows.append((f"strategy {strategy}",
                     f"{budgets.get(strategy, '?')} trials per seed; {_settings(settings)}"))
    hours = fit_cpu_seconds / 3600 if math.isfinite(fit_cpu_seconds) else math.nan
    if versions is None:
        versions = package_versions(PACKAGES)
    rows += [
        ("compute", f"{trials} trials, {hours:.3g} CPU hours of fits"),
        ("config hash", f"{config_hash} (all but execution and tracking)"),
        ("git commit", commit if commit is not None else git_commit(mark_changes=True)),
        ("packages", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])
