"""The environments users can build agree with the lock the Makefile installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from tests.helpers.environments import missing, provided, rule_environments
from tests.helpers.workdir import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.MULTILINE)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    return {_normal(name): version for name, version in PIN.findall(text)}


def test_lock_is_hashed_and_names_no_registry():
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    pins = PIN.findall(text)
    assert len(pins) > 50
    assert text.count("--hash=sha256:") >= len(pins)
    assert not re.search(r"https?://|file:|--index-url|--extra-index-url", text)


def test_lock_pins_every_direct_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    lock = _lock()
    for requirement in wanted:
        name = _normal(re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0])
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock"


def test_conda_envs_pin_the_locked_versions():
    lock = _lock()
    env_files = sorted((REPO / "envs").glob("*.yaml"))
    assert {p.stem for p in env_files} >= {"data", "search", "train", "report", "tracking"}
    for path in env_files:
        env = yaml.safe_load(path.read_text(encoding="utf-8"))
        pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert "python=3.11" in env["dependencies"]
        assert pip_section, path.name
        for line in pip_section:
            name, version = line.split("==")
            assert lock.get(_normal(name)) == version, (
                f"{path.name}: {name}=={version}, but requirements.lock has "
                f"{lock.get(_normal(name))}")


def test_every_rule_names_a_conda_env_that_exists():
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', rules.read_text(encoding="utf-8")):
            assert (rules.parent / env).resolve().is_file(), f"{rules.name}: {env}"
            assert Path(env).parent.name == "envs"


def test_every_rule_that_runs_a_script_has_an_env_and_the_envs_cover_known_imports():
    """The full check runs on real jobs (test_workflow's fresh-interpreter run); here what
    is known without running: the report's repeats statistics import scipy."""
    environments = rule_environments()
    scripts = {path.stem for path in (REPO / "workflow" / "scripts").glob("*.py")}
    assert set(environments) == scripts
    assert missing("report.yaml", ["scipy", "pandas", "matplotlib", "numpy"]) == []
    assert missing("train.yaml", ["tensorflow", "keras", "numpy"]) == []
    assert missing("search.yaml", ["hyperopt", "skopt", "scipy"]) == []
    assert missing("report.yaml", ["mlflow"]) == ["mlflow"]  # the check can fail
    assert "sqlalchemy" in provided("tracking.yaml")  # requirements count, as pip installs
