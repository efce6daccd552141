"""The warm worker and the job launcher (hpstudy.worker, hpstudy.launch), run for real: a
worker process, `python -m hpstudy.launch` processes connecting to it, real jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpstudy import launch, worker
from hpstudy.fileio import read_json, write_json
from hpstudy.launch import WORKER_PID_ENV, WORKER_SOCKET_ENV, Job
from hpstudy.noise import is_noise
from tests.helpers.network import free_port
from tests.helpers.workdir import REPO

TF_START_UP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "E0000 00:00:1795464676.706508    1994 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>",
]
CUDA_PROBE = [
    "I0000 00:00:1795464668.470187    1994 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1795464676.706508    1994 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]


def test_tensorflow_start_up_lines_are_noise_and_errors_are_not(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert all(is_noise(line) for line in TF_START_UP + CUDA_PROBE)
    for line in ("Traceback (most recent call last):",
                 "E0000 00:00:1.0  1 op_kernel.cc:1] OOM when allocating tensor",
                 "ValueError: Kernel shape must have the same length as input",
                 "2026-11-23 20:00:00 INFO hpstudy: trial 3 fold 0: ok"):
        assert not is_noise(line), line
    # With a GPU asked for, a failed CUDA probe is an error, not noise.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not any(is_noise(line) for line in CUDA_PROBE)


def test_job_object_offers_what_the_scripts_use():
    job = Job({"input": {"named": {"round": "r.json", "x": "x.npy"},
                         "positional": ["r.json", "x.npy"]},
               "output": {"named": {"folds": ["f0", "f1"]}, "positional": ["f0", "f1"]},
               "params": {"seed": 3}, "wildcards": {"study": "tpe"}}, threads=2, log="a.log")
    assert job.input.round == "r.json" and job.input["x"] == "x.npy"
    assert job.input.get("previous_round") is None and "x" in job.input.keys()
    assert list(job.output.folds) == ["f0", "f1"] and job.output[0] == "f0"
    assert job.params.seed == 3 and job.wildcards.study == "tpe"
    assert job.log[0] == "a.log" and job.threads == 2


def score_job(directory: Path, trial: int) -> list[str]:
    """The command line of a real scoring job (function objective) on two fold records: it
    scores the trial and logs it to MLflow (pending without its study's run:
    results/tracking/random.json, which sqlite_tracking starts)."""
    folds, timings = [], []
    for fold in range(2):
        path = directory / f"trials/{trial}/fold_{fold}.json"
        write_json(path, {"trial": trial, "fold": fold, "seed": fold, "trial_seed": 5,
                          "params": {"x": 1.0}, "status": "ok",
                          "metrics": {"value": 2.0 + fold}})
        folds.append(str(path))
        timings.append(str(path.with_name(f"fold_{fold}_timing.json")))
        write_json(timings[-1], {"trial": trial, "fold": fold, "fit_seconds": 0.1,
                                 "fit_cpu_seconds": 0.1})
    outputs = {"score": str(directory / f"score_{trial}.json"),
               "logged": str(directory / f"logged_{trial}.json")}
    tracking = "results/tracking/random.json"
    spec = {"input": {"named": {"folds": folds, "timings": timings, "tracking": tracking},
                      "positional": folds + timings + [tracking]},
            "output": {"named": outputs, "positional": list(outputs.values())},
            "params": {"objective": "function", "settings": {"name": "branin"},
                       "strategy": "random", "round": 0},
            "wildcards": {"study": "random", "trial": str(trial)}}
    return [sys.executable, "-m", "hpstudy.launch", "score_trial", "1",
            str(directory / f"score_{trial}.log"), json.dumps(spec)]


def usage(log: Path) -> dict:
    line = [line for line in log.read_text().splitlines() if "hpstudy.launch usage" in line]
    return json.loads(line[-1].split("usage ", 1)[1])


@pytest.fixture
def warm_worker(tmp_path, monkeypatch):
    """A real worker for this test's directory (its socket under .snakemake/)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "workflow"))
    process = worker.start(["hpstudy.jobs", "hpstudy.tracking.runs", "mlflow"], "cpu",
                           str(tmp_path / "worker.log"))
    env = {**os.environ}
    socket_path = Path(env[WORKER_SOCKET_ENV])
    deadline = time.monotonic() + 120
    while not socket_path.exists():
        assert process.poll() is None, (tmp_path / "worker.log").read_text()
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.1)
    try:
        yield process, env
    finally:
        worker.stop(process)
    assert process.returncode == 0, (tmp_path / "worker.log").read_text()
    assert not socket_path.exists()


def test_jobs_fork_from_the_worker_and_match_a_fresh_interpreter(tmp_path, warm_worker):
    process, env = warm_worker
    warm = subprocess.run(score_job(tmp_path, 1), env=env, capture_output=True, text=True,
                          timeout=120)
    assert warm.returncode == 0, warm.stderr
    assert usage(tmp_path / "score_1.log")["mode"] == "warm"
    cold_env = {k: v for k, v in env.items() if k not in (WORKER_SOCKET_ENV, WORKER_PID_ENV)}
    cold = subprocess.run(score_job(tmp_path, 1)[:-2] + [str(tmp_path / "cold.log"),
                                                         score_job(tmp_path, 1)[-1]],
                          env=cold_env, capture_output=True, text=True, timeout=120)
    assert cold.returncode == 0, cold.stderr
    assert usage(tmp_path / "cold.log")["mode"] == "cold"
    assert read_json(tmp_path / "score_1.json")["objective"] == 2.5
    # The job's own log lines reach the launcher's stderr (Snakemake's console) and its log.
    assert "trial 1: objective 2.5 (ok)" in warm.stderr
    assert "trial 1: objective 2.5 (ok)" in (tmp_path / "score_1.log").read_text()
    assert "trial 1: objective 2.5 (ok)" in (tmp_path / "cold.log").read_text()


def test_a_failing_job_fails_its_launcher_and_the_worker_goes_on(tmp_path, warm_worker):
    process, env = warm_worker
    command = score_job(tmp_path, 2)
    (tmp_path / "trials/2/fold_1.json").unlink()  # a genuine bug: an input is missing
    failed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "FileNotFoundError" in (tmp_path / "score_2.log").read_text()
    ok = subprocess.run(score_job(tmp_path, 3), env=env, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert process.poll() is None


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_killing_a_job_kills_its_forked_child(tmp_path, warm_worker):
    """Snakemake kills a job by killing its process: the child in the worker must not go on
    writing. An init_tracking job against a tracking server that does not answer retries with
    exponential backoff for hours; SIGKILL its launcher, and its child is gone."""
    process, env = warm_worker
    write_json(tmp_path / "study.json", {"experiment_id": "1", "study_hash": "h",
                                         "run_id": "r", "study": "random"})
    spec = {"input": {"named": {"tracking": str(tmp_path / "study.json")},
                      "positional": [str(tmp_path / "study.json")]},
            "output": {"named": {}, "positional": [str(tmp_path / "logged.json")]},
            "params": {}, "wildcards": {"study": "random", "trial": "0"}}
    # 1 s, 2 s, 4 s ... between 100 attempts: left alone, the child outlives any deadline
    # below, so a child that is gone within one was killed.
    env = {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
           "HPSTUDY_MLFLOW_ATTEMPTS": "100", "HPSTUDY_MLFLOW_RETRY_DELAY": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "hpstudy.launch", "init_tracking", "1",
                                 str(tmp_path / "init.log"),
                                 json.dumps({**spec, "params": {"experiment": "x"}})],
                                env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (children := children_of(process.pid)):
        assert launcher.poll() is None, "the launcher ended before its job was forked"
        assert time.monotonic() < deadline, "the worker forked no child for the job"
        time.sleep(0.05)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 60
    while alive := [child for child in children if child in children_of(process.pid)]:
        assert time.monotonic() < deadline, f"the job's child {alive} outlived its launcher"
        time.sleep(0.05)
    assert process.poll() is None  # the worker serves on


OPENBLAS_TIMEOUT_PROBE = """
import ctypes, sys
from hpstudy import launch, worker
worker._prepare_imports("cpu") if sys.argv[1] == "worker" else launch.quiet_idle_blas_threads()
import numpy
from threadpoolctl import threadpool_info
print([ctypes.CDLL(info["filepath"]).openblas_thread_timeout()
       for info in threadpool_info() if info["internal_api"] == "openblas"])
"""


@pytest.mark.parametrize("starts", ["worker", "cold job"])
@pytest.mark.parametrize("users_value", [None, "25"])
def test_openblas_loads_with_a_short_idle_spin_unless_the_user_chose_one(starts, users_value):
    """The warm worker (before its imports) and a cold job's launcher (before its script)
    set OPENBLAS_THREAD_TIMEOUT, which OpenBLAS reads when it loads: its default, 2**28
    cycles of spinning each time a job's thread limit starts its pool, cost every job 0.1
    CPU s. Asked of the OpenBLAS numpy loaded, through its own openblas_thread_timeout()."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env["PYTHONPATH"] = str(REPO / "workflow")
    if users_value:
        env["OPENBLAS_THREAD_TIMEOUT"] = users_value
    probe = subprocess.run([sys.executable, "-c", OPENBLAS_TIMEOUT_PROBE, starts], env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    timeouts = json.loads(probe.stdout)
    assert timeouts, "numpy loaded no OpenBLAS"
    assert timeouts == [int(users_value or launch.BLAS_IDLE_SPIN[1])] * len(timeouts)


def test_without_a_running_worker_jobs_start_cold(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO / "workflow"))
    env = {**os.environ, WORKER_SOCKET_ENV: str(tmp_path / "gone.sock"),
           WORKER_PID_ENV: "999999999"}
    result = subprocess.run(score_job(tmp_path, 4), env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no warm worker" in result.stderr
    assert usage(tmp_path / "score_4.log")["mode"] == "cold"


def test_only_workflow_scripts_run(tmp_path, warm_worker):
    _, env = warm_worker
    command = score_job(tmp_path, 5)
    command[3] = "../scripts/../../evil"
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "not a workflow script" in result.stderr


def test_a_users_function_is_preloaded_into_the_cache_its_jobs_inherit(tmp_path, capsys):
    from hpstudy.objectives.python_entry import load_function

    entry = f"{REPO}/tests/helpers/user_functions.py:quadratic"
    load_function.cache_clear()
    worker.preload(entry)
    assert load_function.cache_info().currsize == 1
    function = load_function(entry)  # what a forked job's call finds: no second import
    assert load_function.cache_info().hits == 1 and function({"x": 3.0}) == 4.0
    # A module of the user's that raises at import is left to the job, which says why.
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no GPU here')\n", encoding="utf-8")
    worker.preload(f"{broken}:fit")
    assert f"worker: not preloaded: {broken}:fit: RuntimeError: no GPU here" in \
        capsys.readouterr().out
    load_function.cache_clear()


REMEMBER = """
import json, os, sys, threadpoolctl
import numpy, pandas, mlflow.store.db.utils as utils
from hpstudy import launch, provenance, worker
from hpstudy.tracking import runs
head = utils._get_latest_schema_revision()
worker.remember()
controller = launch.threadpools()
read, write = os.pipe()
if os.fork() == 0:  # a job: what it inherits, and its thread limit
    with launch.threadpools().limit(limits=1):
        limited = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    import logging, tempfile
    from hpstudy import jobs
    levels_set, set_level = [], logging.Logger.setLevel
    logging.Logger.setLevel = lambda self, level: levels_set.append(level) or set_level(self, level)
    job_log = os.path.join(tempfile.mkdtemp(), "job.log")
    jobs.setup_logging(job_log)
    logging.getLogger("hpstudy.jobs").info("a job's line")
    os.write(write, json.dumps({
        "same_controller": launch.threadpools() is controller,
        "schema_head": utils._get_latest_schema_revision(),
        "schema_head_cached": utils._get_latest_schema_revision.cache_info().currsize,
        "provenance_cached": [f.cache_info().currsize for f in
                              (runs.package_versions, provenance.git_commit)],
        "commit": provenance.git_commit(), "versions": runs.package_versions(),
        "limited": limited, "csv_writer": "pandas.io.formats.csvs" in sys.modules,
        "levels_set": levels_set, "logged": "a job's line" in open(job_log).read()}).encode())
    os._exit(0)
os.close(write)
print(os.read(read, 65536).decode())
"""


def test_the_worker_works_out_once_what_its_jobs_share():
    """worker.remember: the thread-limit controller (launch.threadpools), MLflow's schema
    head, a logged trial's provenance (commit, package versions), pandas' table writing and
    the jobs' log level are made before the first fork, so a job reuses them (in a fresh
    interpreter: it changes MLflow's module)."""
    result = subprocess.run([sys.executable, "-c", REMEMBER], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    assert result.returncode == 0, result.stderr[-2000:]
    child = json.loads(result.stdout)
    assert child["same_controller"] and child["schema_head_cached"] == 1
    assert child["csv_writer"]  # a study's tables made once (records.warm_tables)
    # The jobs' log level is set: a job's setup_logging logs at it without setting it again
    # (which clears a cache in every logger).
    assert child["logged"] and child["levels_set"] == []
    assert child["provenance_cached"] == [1, 1]  # the job asked, and found them made
    from hpstudy import provenance
    from hpstudy.tracking import runs

    assert child["commit"] == provenance.git_commit()
    assert json.loads(child["versions"])["mlflow"] == json.loads(runs.package_versions())["mlflow"]
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(db_url=""))
    assert [child["schema_head"]] == list(script.get_heads())  # alembic's own answer
    # numpy's BLAS is found and limited to the job's one thread.
    assert child["limited"] and set(child["limited"]) == {1}


def test_the_worker_loads_the_objectives_table_once_for_every_job(capsys):
    """Objective.warm: a tabular benchmark's table (0.6 CPU s for HPOBench's, per job
    before) is loaded before the first fork, into the cache the jobs' lookups read; a table
    that cannot be loaded is left to the jobs, which say why."""
    from hpstudy.objectives.table import load_table

    load_table.cache_clear()
    worker.warm_objective("table", {"benchmark": "hpobench", "dataset": "australian"})
    assert load_table.cache_info().currsize == 1
    table = load_table("hpobench", "australian")  # what a forked job's trial finds
    assert load_table.cache_info().hits == 1 and table.seeds.shape == (30_000, 5)
    worker.warm_objective("table", {"benchmark": "hpobench", "dataset": "nowhere"})
    assert "worker: objective table not warmed:" in capsys.readouterr().out
    worker.warm_objective("function", {"name": "branin"})  # nothing to warm: no message
    assert capsys.readouterr().out == ""
    load_table.cache_clear()


LONG_SPEC_SNAKEFILE = '''
import json, sys
sys.path.insert(0, {workflow!r})
from hpstudy.launch import JobSpec

# A job that names 4,000 files, as finish_studies does for a study of as many trials.
SPEC = json.dumps({{"input": {{"positional": [f"results/study/trials/{{t}}/mlflow.json"
                                             for t in range(4000)]}}}})


rule all:
    input: "read.txt"


rule read:
    output: "read.txt"
    # A function, as jobs.smk's job_params makes it (a plain string param Snakemake formats).
    params: job=lambda wildcards: JobSpec(SPEC) if config.get("spec_file") else SPEC
    shell: "python -c 'import sys; from hpstudy.launch import read_spec; "
           "print(len(read_spec(sys.argv[1])[\\"input\\"][\\"positional\\"]))' "
           "{{params.job:q}} > {{output}}"
'''


@pytest.mark.parametrize("spec_file", [False, True])
def test_a_spec_too_long_for_a_command_line_goes_in_a_file(tmp_path, spec_file):
    """Linux refuses one argument over 128 KiB, and Snakemake runs a job's command as one
    (`bash -c`): a 180 KB spec inline fails the job ("Argument list too long"), as
    finish_studies did at 1,600 trials; as JobSpec it reaches the job through a file."""
    (tmp_path / "Snakefile").write_text(LONG_SPEC_SNAKEFILE.format(
        workflow=str(REPO / "workflow")))
    result = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--cores", "1",
                             "--config", f"spec_file={int(spec_file)}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    if not spec_file:
        assert result.returncode != 0 and "Argument list too long" in result.stderr
        return
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "read.txt").read_text() == "4000\n"
    files = list((tmp_path / ".snakemake" / "hpstudy-jobs").glob("*.json"))
    assert len(files) == 1 and len(files[0].read_text()) > 128 * 1024


def test_a_job_spec_is_inline_when_short_and_recorded_as_its_text():
    """JobSpec formats as its JSON up to SPEC_INLINE_LIMIT (the command says all), and
    Snakemake records it as that text (repr: its params trigger sees no change)."""
    from snakemake.utils import QuotedFormatter

    from hpstudy.launch import SPEC_INLINE_LIMIT, JobSpec, read_spec

    text = json.dumps({"input": {"positional": ["a b.json"]}, "params": {"x": "it's"}})
    spec = JobSpec(text)
    command = QuotedFormatter().format("launch {job:q}", job=spec)
    assert command == "launch " + __import__("shlex").quote(text)
    assert read_spec(__import__("shlex").split(command)[1]) == json.loads(text)
    assert repr(spec) == repr(text) and spec == text and len(text) <= SPEC_INLINE_LIMIT


@pytest.fixture
def sqlite_tracking(tmp_path, monkeypatch):
    """An embedded sqlite store with a started study in this test's directory, its URI in
    the environment (before warm_worker starts: request this first)."""
    from hpstudy.tracking import runs
    from hpstudy.tracking.client import release_sqlite

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs.init_tracking("worker", str(tmp_path / "experiment.json"))
    runs.start_study(str(tmp_path / "experiment.json"), "random", "random", "h",
                     str(tmp_path / "results" / "tracking" / "random.json"), seed=1, budget=1)
    release_sqlite()
    return uri


def open_files(pid: int) -> list[str]:
    found = []
    for link in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(link))
        except OSError:
            continue
    return found


def test_the_worker_opens_mlflows_store_once_and_keeps_no_connection_across_forks(
        tmp_path, sqlite_tracking, warm_worker):
    """Jobs that log find MLflow's sqlite store opened in the worker (warm_sqlite_store):
    their runs are in the store, the worker holds no connection to it while it forks (a
    sqlite connection must not cross a fork), and the write-ahead log is back in mlflow.db
    after each job, as when each job opened the store itself."""
    from mlflow import MlflowClient

    process, env = warm_worker
    for trial in (0, 1):
        logged = subprocess.run(score_job(tmp_path, trial), env=env, capture_output=True,
                                text=True, timeout=120)
        assert logged.returncode == 0, (tmp_path / f"score_{trial}.log").read_text()
        assert usage(tmp_path / f"score_{trial}.log")["mode"] == "warm"
        assert not [path for path in open_files(process.pid) if "mlflow.db" in path]
        assert not (tmp_path / "mlflow.db-wal").exists()
    worker_log = (tmp_path / "worker.log").read_text()
    assert worker_log.count("MLflow's sqlite store opened for the jobs that log") == 1
    client = MlflowClient(tracking_uri=sqlite_tracking)
    experiment = client.get_experiment_by_name("worker").experiment_id
    trials = client.search_runs([experiment], "tags.role = 'trial'")
    assert sorted((r.data.tags["trial"], r.info.run_id) for r in trials) == sorted(
        (str(t), read_json(tmp_path / f"logged_{t}.json")["run_id"]) for t in (0, 1))


def test_warming_mlflows_store_leaves_a_missing_db_and_a_server_alone(tmp_path, monkeypatch):
    """warm_sqlite_store opens only an embedded sqlite DB that exists: a missing one is
    init_tracking's to create, and a server is never called from the worker. MLflow keeps
    the store it opened, the same object for every later call in the process (what its
    forked jobs rely on)."""
    from mlflow.tracking._tracking_service.utils import _get_store

    from hpstudy.tracking import runs
    from hpstudy.tracking.client import release_sqlite, warm_sqlite_store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    assert not warm_sqlite_store()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert not warm_sqlite_store()
    assert not (tmp_path / "mlflow.db").exists()
    runs.init_tracking("warm", str(tmp_path / "experiment.json"))
    release_sqlite()
    assert warm_sqlite_store()
    assert _get_store() is _get_store()
    assert not [path for path in open_files(os.getpid()) if "mlflow.db" in path]
