"""The repository's paths, its test configs, and a study directory run by the real Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.tiers import require_end_to_end

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "tests" / "configs"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def load_config(name: str) -> dict:
    """config.yaml for "default", else tests/configs/<name>.yaml."""
    path = REPO / "config.yaml" if name == "default" else CONFIGS / f"{name}.yaml"
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class Workdir:
    """A study directory: its own config.yaml and results/, the repo's Snakefile."""

    def __init__(self, path: Path):
        self.path = path
        self.console = ""  # what the run that made a session study printed (run_study)

    def write_config(self, config: dict) -> Path:
        target = self.path / "config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target

    def snakemake(self, *args: str, check: bool = True, timeout: int = 900,
                  env: dict | None = None) -> subprocess.CompletedProcess:
        require_end_to_end("a Snakemake workflow")
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
