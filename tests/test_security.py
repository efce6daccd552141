"""Security properties of the workflow, each checked on the real thing:

- every rule with an action runs one fixed command, `python -m hpstudy.launch <script>
  {threads} {log:q} {params.job:q}` (no other shell, no `run:`): a config value reaches a job
  as data, one shell-quoted JSON argument, never as words of a command line; a hostile
  experiment name goes through a real run unchanged and runs nothing;
- what the project starts listens on 127.0.0.1 only (`make ui`, the tests' `mlflow server`);
- credentials in MLFLOW_TRACKING_URI reach no file, no output and nothing on the server, in a
  run that succeeds against a real `mlflow server` (the session's `server_study`, whose run
  tree tests/test_tracking.py::test_tracking_server_receives_the_same_run_tree checks). (The
  unreachable-server case, where the URI ends up in error messages, is tests/test_tracking.py::
  test_unreachable_server_fails_loudly_keeps_results_and_resumes.)
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SERVER_SECRET
from tests.helpers.workdir import REPO, Workdir, load_config

# Loads the workflow with Snakemake's own API and prints, per rule, what its action is.
# In a subprocess: parsing the Snakefile changes the working directory, sys.path and
# os.environ. (Snakemake 9's API has no public accessor for the parsed rules: _workflow.)
RULE_ACTIONS = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings

def action(rule):
    for kind in ("shell", "notebook", "wrapper", "cwl", "template_engine"):
        if getattr(rule, f"is_{kind}"):
            return kind
    if rule.is_script:
        return "script"
    return "run" if rule.is_run else "none"

with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                            snakefile=Path(sys.argv[1]), workdir=Path(sys.argv[2]))._workflow
    print(json.dumps({rule.name: [action(rule), str(rule.shellcmd)] for rule in workflow.rules}))
"""


def rule_actions(study: Workdir) -> dict[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", RULE_ACTIONS, str(REPO / "Snakefile"),
                             str(study.path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def listed_rules(study: Workdir) -> set[str]:
    result = study.snakemake("--list-rules", timeout=120)
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


@pytest.mark.e2e
@pytest.mark.parametrize("fold_jobs, train_rule", [("per_trial", "train_trial"),
                                                   ("per_fold", "train_fold"),
                                                   ("per_round", "evaluate_round")])
def test_every_rule_runs_the_launcher_or_nothing(workdir, fold_jobs, train_rule):
    # Every value of execution.fold_jobs: each defines a different training rule.
    config = load_config("default")
    config["execution"] = {"fold_jobs": fold_jobs}
    workdir.write_config(config)
    actions = rule_actions(workdir)
    assert set(actions) == listed_rules(workdir)  # the API sees what --list-rules lists
    assert {train_rule, "prepare_data", "propose", "init_tracking", "report"} <= set(actions)
    scripts_dir = REPO / "workflow" / "scripts"
    launched = 0
    for name, (kind, command) in actions.items():
        if kind == "none":
            continue
        assert kind == "shell", f"{name} runs {kind}, not the launcher"
        # Training jobs carry Snakemake's attempt number (retries: an out-of-memory trial is
        # recorded failed only on the last attempt): a number Snakemake fills in, a constant.
        match = re.fullmatch(r"(?:HPSTUDY_ATTEMPT=\{resources\.attempt\} HPSTUDY_ATTEMPTS=\d+ )?"
                             r"python -m hpstudy\.launch (\w+) \{threads\} \{log:q\} "
                             r"\{params\.job:q\}", command)
        assert match, f"{name} runs {command!r}"
        assert (scripts_dir / f"{match.group(1)}.py").is_file(), (name, command)
        launched += 1
    assert launched >= 10


@pytest.mark.e2e
def test_a_hostile_config_value_reaches_its_job_as_data(workdir, branin_config):
    """Quotes, $(...), backticks and ; in a config value: the job receives it verbatim
    (the MLflow experiment has exactly that name) and no command in it ran."""
    name = """it's "$(touch pwned-a)" `touch pwned-b`; touch pwned-c && echo \\ %s {x}"""
    branin_config["experiment"] = name
    branin_config["strategies"] = {"random": {"budget": 1}}
    workdir.write_config(branin_config)
    workdir.snakemake("--cores", "2", "results/tracking/experiment.json")
    from hpstudy.fileio import read_json

    assert read_json(workdir.results / "tracking" / "experiment.json")["experiment"] == name
    assert not list(workdir.path.rglob("pwned-*")) and not list(REPO.rglob("pwned-*"))


def _calls(tree: ast.AST):
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def test_no_python_in_the_workflow_starts_a_shell():
    """The scripts and the package run no command through a shell either (argument lists
    only, as provenance.git_commit does)."""
    offenders = []
    for path in sorted((REPO / "workflow").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            name = ast.unparse(call.func)
            shell_true = any(k.arg == "shell" and isinstance(k.value, ast.Constant)
                             and k.value.value is True for k in call.keywords)
            if shell_true or name in ("os.system", "os.popen", "shell"):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno}: {ast.unparse(call)}")
    assert not offenders, offenders


@pytest.mark.e2e
def test_make_ui_listens_on_loopback_only():
    result = subprocess.run(["make", "-n", "ui"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=True)
    commands = [line for line in result.stdout.splitlines() if "mlflow ui" in line]
    assert len(commands) == 1, result.stdout
    assert "--host 127.0.0.1" in commands[0], commands[0]


def _mlflow_starts(path: Path) -> list[tuple[int, str]]:
    """(line, command words) for each `mlflow server`/`mlflow ui` a Python file starts: the
    argument lists holding "server" or "ui" next to an mlflow executable."""
    source = path.read_text(encoding="utf-8")
    starts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            # The source segment last: cutting it out reads the file's lines again each time.
            if ("server" in words or "ui" in words) and \
                    "mlflow" in (ast.get_source_segment(source, node) or ""):
                starts.append((node.lineno, " ".join(map(str, words))))
    return starts


def test_tests_start_mlflow_servers_on_loopback_only():
    # tests/helpers too: running_mlflow_server (tests/helpers/tracking.py) starts most of them.
    starts = {f"{path.relative_to(REPO)}:{line}": command
              for path in sorted((REPO / "tests").rglob("*.py"))
              if path != Path(__file__).resolve()
              for line, command in _mlflow_starts(path)}
    assert starts, "found no mlflow server start: the search is broken"
    assert any(where.startswith("tests/helpers/tracking.py:") for where in starts), starts
    exposed = {where: command for where, command in starts.items()
               if "--host 127.0.0.1" not in command}
    assert not exposed, exposed


@pytest.mark.e2e
def test_credentials_in_the_tracking_uri_reach_no_file_output_or_server_record(server_study):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    study, url, server_dir, console = server_study
    config = load_config("tracking")

    assert SERVER_SECRET not in console
    files = [path for root in (study.results, study.path / ".snakemake")
             for path in root.rglob("*") if path.is_file()]
    assert len(files) > 50  # logs, results, Snakemake's metadata: there is something to see
    assert not [str(path) for path in files if SERVER_SECRET.encode() in path.read_bytes()]
    # The URI did reach the files, redacted: the check above looked where it would be.
    recorded = json.loads((study.results / "tracking" / "experiment.json").read_text())
    assert recorded["tracking_uri"] == url

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name(config["experiment"])
    assert experiment is not None, "nothing was logged to the server"
    runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL,
                              max_results=5000)
    assert len(runs) == 2 + 7  # studies, trials: every run is looked at
    records = [experiment.name, experiment.artifact_location, *experiment.tags.items()]
    for run in runs:
        records += [run.info.run_name, run.info.artifact_uri, *run.data.tags.items(),
                    *run.data.params.items(), *run.data.metrics]
    assert not [record for record in records if SERVER_SECRET in str(record)]
    # Nor in the server's own store, artifacts (the report, trials.csv) and log, all in
    # server_dir (the server_study fixture, tests/conftest.py).
    server_files = [path for path in server_dir.rglob("*") if path.is_file()]
    assert any(path.name == "index.html" for path in server_files)
    assert not [str(path) for path in server_files
                if SERVER_SECRET.encode() in path.read_bytes()]
