"""Shared fixtures: real Snakemake runs of the real workflow in a temporary directory."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


# A search space with every kind of parameter, each with grid points so that grid search
# runs on it too.
ALL_KINDS_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 0.1, "grid": 3},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement", "grid": [0.9, 0.99]},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "grid": 2},
    "filters": {"type": "int", "low": 8, "high": 64, "grid": [16, 32]},
    "optimizer": {"type": "choice", "choices": ["sgd", "adam", "rmsprop"], "grid": 2},
}


def load_config(name: str) -> dict:
    path = REPO / "config.yaml" if name == "default" else CONFIGS / f"{name}.yaml"
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class Workdir:
    """A study directory: its own config.yaml and results/, the repo's Snakefile."""

    def __init__(self, path: Path):
        self.path = path

    def write_config(self, config: dict) -> Path:
        target = self.path / "config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target

    def snakemake(self, *args: str, check: bool = True, timeout: int = 900,
                  env: dict | None = None) -> subprocess.CompletedProcess:
        command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory",
                   str(self.path), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
        return result

    @property
    def results(self) -> Path:
        return self.path / "results"


@pytest.fixture
def workdir(tmp_path) -> Workdir:
    return Workdir(tmp_path)


@pytest.fixture
def branin_config() -> dict:
    return copy.deepcopy(load_config("branin"))
