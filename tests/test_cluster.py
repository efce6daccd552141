"""Scale-out, for real: the workflow through a one-node SLURM cluster with profiles/slurm, and
MLflow on a team-style server (PostgreSQL store, basic auth, local artifact root).

tests/cluster/slurm.sh and postgres.sh start the services; they install Debian's slurm-wlm,
munge and postgresql when missing, so these tests need root (`make test-e2e`, .ci/run).
Each comparison is against a local `snakemake --cores 2` run of the same study: the session
`cnn_study` (tests/conftest.py) for the CNN, whose files do not depend on how jobs run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from hpstudy.plan import Plan
from tests.helpers.cluster import SLURM_ARGS, slurm_execution
from tests.helpers.network import free_port
from tests.helpers.tracking import run_tree, running_mlflow_server
from tests.helpers.workdir import REPO, Workdir, load_config

pytestmark = pytest.mark.cluster

CLUSTER_SCRIPTS = REPO / "tests" / "cluster"
# Files that measure time or name MLflow runs: they differ between any two runs. (The report
# page embeds the training-time figure and table.)
VARYING = re.compile(r"timing|timings\.csv|training_time\.csv|best_so_far_time\.png"
                     r"|report/index\.html|mlflow|tracking/|benchmarks/|logs/|mlartifacts/"
                     r"|\.db(-wal|-shm)?$")
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)")
TEAM_USER = "hpstudy-ci"
TEAM_PASSWORD = "team-s3cret-9f4e"  # 12+ characters: MLflow's rule for the admin password


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster on loopback (its directory: config, state, daemon logs)."""
    directory = tmp_path_factory.mktemp("slurm")
    run(str(CLUSTER_SCRIPTS / "slurm.sh"), "start", str(directory))
    yield directory
    run(str(CLUSTER_SCRIPTS / "slurm.sh"), "stop", str(directory))


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    """MLflow as a team runs it: PostgreSQL for runs and for users, basic auth, artifacts in a
    local directory. Yields (url, server directory)."""
    directory = tmp_path_factory.mktemp("team-server")
    # PostgreSQL runs as the postgres user, who cannot enter pytest's private temp dirs.
    database = Path(tempfile.mkdtemp(prefix="hpstudy-postgres-"))
    database.chmod(0o755)
    port = free_port()
    database_password = "pg-pass-71c2"
    run(str(CLUSTER_SCRIPTS / "postgres.sh"), "start", str(database), str(port),
        database_password, "mlflow", "mlflow_auth")
    store = f"postgresql://mlflow:{database_password}@127.0.0.1:{port}"
    auth_config = directory / "basic_auth.ini"
    auth_config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = {store}/mlflow_auth\n"
        f"admin_username = {TEAM_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8")
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
           "MLFLOW_AUTH_ADMIN_PASSWORD": TEAM_PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-secret"}
    try:
        with running_mlflow_server(f"{store}/mlflow", directory / "artifacts",
                                   directory / "server.log",
                                   extra_args=("--app-name", "basic-auth"), env=env) as url:
            yield url, directory
    finally:
        run(str(CLUSTER_SCRIPTS / "postgres.sh"), "stop", str(database))
        shutil.rmtree(database)


def credentials_home(path: Path) -> Path:
    """A home directory whose ~/.mlflow/credentials (mode 600) holds the team login: the
    password is in no environment variable, command line or config."""
    (path / ".mlflow").mkdir(parents=True)
    credentials = path / ".mlflow" / "credentials"
    credentials.write_text(f"[mlflow]\nmlflow_tracking_username = {TEAM_USER}\n"
                           f"mlflow_tracking_password = {TEAM_PASSWORD}\n", encoding="utf-8")
    credentials.chmod(0o600)
    return path


def study_dir(path: Path, config: dict) -> Workdir:
    """A fresh study directory holding the config."""
    path.mkdir()
    workdir = Workdir(path)
    workdir.write_config(config)
    return workdir


def result_files(results: Path) -> dict[str, bytes]:
    """Every result file that is a pure function of the config."""
    return {str(path.relative_to(results)): path.read_bytes()
            for path in sorted(results.rglob("*"))
            if path.is_file() and not VARYING.search(str(path.relative_to(results)))}


def submitted_jobs(console: str) -> dict[int, str]:
    """{SLURM job id: its log path} for every job Snakemake submitted."""
    return {int(job): log for job, log in SUBMITTED.findall(console)}


def job_kind(log: str) -> str:
    """What a SLURM job was, from the log directory Snakemake gave it: rule_<name>, or
    group_trial / group_round for a group job."""
    parts = Path(log).parts
    name = parts[parts.index("slurm_logs") + 1]
    if name.startswith("group_"):
        return "group_trial" if re.match(r"group_.+-trial\d+_", name) else "group_round"
    return name


def slurm_request(job_id: int) -> tuple[int, int]:
    """(time limit in minutes, memory in MB) that SLURM holds for a job."""
    shown = run("scontrol", "show", "job", str(job_id))
    hours, minutes, seconds = map(int, re.search(r"TimeLimit=(\d+):(\d+):(\d+)", shown).groups())
    memory = int(re.search(r"MinMemoryNode=(\d+)M", shown).group(1))
    return hours * 60 + minutes + (seconds > 0), memory


def test_cnn_study_through_slurm_equals_local_run_and_logs_to_team_server(
        slurm_cluster, team_server, cnn_study, tmp_path, monkeypatch):
    url, server_directory = team_server
    # The session's tiny CNN study (grid and random), one job per fold grouped per trial.
    config = load_config("cnn_tiny")
    config["execution"] = slurm_execution()
    plan = Plan.from_config(config)
    local = cnn_study

    cluster = study_dir(tmp_path / "cluster", config)
    env = {"MLFLOW_TRACKING_URI": url, "HOME": str(credentials_home(tmp_path / "home"))}
    result = cluster.snakemake(*SLURM_ARGS, env=env)
    console = result.stdout + result.stderr

    # The same files, byte for byte, whether the jobs ran locally or as SLURM jobs.
    expected = result_files(local.results)
    assert {f"{s}/trials/{t}/fold_{k}.json" for s in plan.strategies for t in plan.trials(s)
            for k in range(plan.folds)} <= set(expected)
    assert result_files(cluster.results) == expected

    # What went to SLURM: data prep, each round's proposal, one job per trial (its folds and
    # its score, grouped), each strategy's held-out test. MLflow, summaries and the report
    # ran beside Snakemake (localrules).
    jobs = submitted_jobs(console)
    rounds = sum(len(plan.rounds(s)) for s in plan.strategies)
    trials = sum(plan.budget(s) for s in plan.strategies)
    kinds = {}
    for job_id, log in jobs.items():
        kinds.setdefault(job_kind(log), []).append(job_id)
    assert {kind: len(ids) for kind, ids in kinds.items()} == {
        "rule_prepare_data": 1, "rule_propose": rounds,
        "group_trial": trials, "rule_evaluate_test": len(plan.strategies)}, kinds

    # Each job asked SLURM for what execution.resources says; a trial's group job runs its
    # two folds side by side (2 CPUs) and then its score, so it asks for both folds' memory
    # and for the fold's time plus the score's.
    assert all(slurm_request(j) == (7, 1100) for j in kinds["rule_prepare_data"])
    assert all(slurm_request(j) == (5, 900) for j in kinds["rule_propose"])
    assert all(slurm_request(j) == (9, 1300) for j in kinds["rule_evaluate_test"])
    assert all(slurm_request(j) == (11 + 3, 2 * 1500) for j in kinds["group_trial"])

    # The team server holds the same run tree as the local sqlite DB, and the password is
    # nowhere: not on the console, in results, in Snakemake's or SLURM's files. (This test
    # reads the server with the login in its own environment, set only now.)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", TEAM_USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", TEAM_PASSWORD)
    assert run_tree(url, config["experiment"]) == run_tree(
        f"sqlite:///{local.results / 'mlflow.db'}", config["experiment"])
    assert TEAM_PASSWORD not in console
    for directory in (cluster.path / "results", cluster.path / ".snakemake", slurm_cluster,
                      server_directory / "artifacts"):
        for path in directory.rglob("*"):
            if path.is_file():
                assert TEAM_PASSWORD.encode() not in path.read_bytes(), path


def test_round_groups_send_one_slurm_job_per_round(slurm_cluster, function_study, tmp_path):
    """execution.group: round, on the session's function study: grid and random are one
    round each, TPE and GP one job per round; the results equal the local run's. (This is
    also the suite's rerun of a study in a fresh directory: every file that is a pure function
    of the config comes out with the same bytes.)"""
    config = load_config("branin")
    config["execution"] = {"fold_jobs": "per_fold", "group": "round"}
    plan = Plan.from_config(config)

    cluster = study_dir(tmp_path / "cluster", config)
    result = cluster.snakemake(*SLURM_ARGS)

    expected = result_files(function_study.results)
    assert len(expected) > 50 and "tpe/rounds/round_2.json" in expected
    assert {"report/comparison.csv", "grid/trials/0/fold_1.json", "gp/test.json"} <= \
        set(expected)
    assert result_files(cluster.results) == expected
    jobs = submitted_jobs(result.stdout + result.stderr)
    groups = [log for log in jobs.values() if job_kind(log) == "group_round"]
    assert len(groups) == sum(len(plan.rounds(s)) for s in plan.strategies) == 1 + 1 + 3 + 3
    # The rest: the held-out test of each strategy (the function objective has no data prep).
    assert len(jobs) - len(groups) == len(plan.strategies)


def test_team_server_refuses_a_study_without_credentials(team_server, tmp_path):
    url, _ = team_server
    config = load_config("branin")
    config["experiment"] = "test-no-credentials"
    run_dir = Workdir(tmp_path)
    run_dir.write_config(config)
    env = {"MLFLOW_TRACKING_URI": url, "HOME": str(tmp_path / "empty-home")}
    result = run_dir.snakemake("--cores", "2", "init_tracking", check=False, env=env)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    assert "refused at " + url in console
    assert "error code 401" in console
    assert "~/.mlflow/credentials" in console
    # Refused at once: a wrong password is not retried like an unreachable server.
    assert "retrying" not in console
