"""Faults, for real, nothing mocked: the disk under results/ fills up during fold jobs, and
the MLflow server dies mid-study. Either way no finished trial is lost: results on disk stay
as they were, the run fails loudly, and the same command run again completes the study and
logs to MLflow exactly what is missing.

The full disk is a small tmpfs mounted on results/ (root only; skipped, with the reason,
where mounting is not permitted) and filled to the last byte before the study goes on: a
deterministic fault, hit by the fold jobs' writes and by MLflow's sqlite DB alike."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hpstudy.plan import Plan
from tests.helpers.network import free_port
from tests.helpers.tracking import FAST_FAILURE, NO_SERVER_JOBS, check_run_tree, mlflow_runs
from tests.helpers.workdir import REPO, SNAKEMAKE, Workdir, load_config

pytestmark = pytest.mark.slow

ENOSPC = "No space left on device"
TRAIN_ATTEMPTS = 3  # workflow/rules/study.smk: retries: 2 on the training rules
# Wall-clock measurements are not results: if a table still carries them, they are left out
# of the byte comparison with the reference run.
TIMING_COLUMNS = {"duration_s", "fit_seconds", "cpu_seconds", "fit_cpu_seconds"}


# ----------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    """A tmpfs of `size` mounted on `path` for the duration of the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (the full disk) needs root")
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(path)], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no `mount` command: cannot make a small disk to fill")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        # A straggling process (or an open sqlite handle) makes a plain umount fail: detach.
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def _fill(path: Path) -> int:
    """Write `path` until the file system is full, down to the last byte; return its size."""
    written = 0
    with open(path, "wb", buffering=0) as filler:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += filler.write(block)
                except OSError as error:
                    assert error.errno == 28, error
                    break
    # Really full: a new file cannot take a single byte.
    probe = path.with_name("probe")
    with pytest.raises(OSError, match=ENOSPC):
        with open(probe, "wb", buffering=0) as handle:
            handle.write(b"x")
    probe.unlink()
    return written


def _checksums(root: Path, skip: set[str] = frozenset()) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip}


def _comparable(path: Path) -> bytes:
    """The file's bytes, without timing columns if it has any."""
    data = path.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not TIMING_COLUMNS & set(rows[0]):
        return data
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_COLUMNS]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[row[i] for i in keep] for row in rows])
    return out.getvalue().encode("utf-8")


def _job_blocks(output: str, header: str) -> list[tuple[str, dict[str, str]]]:
    """Snakemake's job blocks whose first line matches `header` (a regex with the rule name
    as group 1), each with its indented `key: value` lines."""
    lines = output.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        match = re.fullmatch(header, line.strip())
        if not match:
            continue
        fields = {}
        for following in lines[index + 1:]:
            if not following.startswith("    "):
                break
            key, _, value = following.strip().partition(": ")
            fields[key] = value
        blocks.append((match.group(1), fields))
    return blocks


def _outputs(block: tuple[str, dict[str, str]]) -> set[str]:
    return set(block[1].get("output", "").split(", "))


def _start_server(store: Path, port: int, log: Path) -> subprocess.Popen:
    """A real `mlflow server` on 127.0.0.1:port over the sqlite DB and artifacts in `store`,
    in a process group of its own (SIGKILL to the group kills its workers too)."""
    command = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
               "--artifacts-destination", str(store / "artifacts")]
    with open(log, "ab") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True, env={**os.environ, **NO_SERVER_JOBS})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(log.read_text()[-3000:]) from None
            time.sleep(0.3)
    _kill(server)
    raise AssertionError(f"mlflow server did not start within 120 s:\n{log.read_text()[-3000:]}")


def _kill(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


def _port_closed(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                pass
        except OSError:
            return
        time.sleep(0.2)
    raise AssertionError(f"something still answers on port {port} after the kill")


# --------------------------------------------------------------------------- full disk


def test_write_on_a_full_disk_raises_and_keeps_the_old_file(tmp_path):
    """fileio's atomic writes on a real full disk: the error surfaces, the previous version
    of the file survives whole, no temp file is left."""
    from hpstudy import fileio

    with _tmpfs(tmp_path / "disk", "1m") as disk:
        target = disk / "trials" / "0" / "score.json"
        fileio.write_json(target, {"trial": 0, "objective": -1.5})
        old = target.read_bytes()
        _fill(disk / "filler")
        for path, write in (
                (target, lambda: fileio.write_json(target, {"trial": 0, "objective": -2.0})),
                (target, lambda: fileio.write_text(target, "x" * 10_000)),
                (disk / "trials" / "x.npy",
                 lambda: fileio.write_npy(disk / "trials" / "x.npy", np.zeros(1000)))):
            with pytest.raises(OSError, match=ENOSPC) as caught:
                write()
            assert caught.value.filename == str(path)  # the error names the file
        assert target.read_bytes() == old
        assert sorted(p.name for p in disk.rglob("*")) == ["0", "filler", "score.json",
                                                           "trials"]


def test_full_disk_during_fold_jobs_loses_nothing_and_resumes(cnn_study, tmp_path):
    # The real CNN, one job per fold; the reference is the session's uninterrupted run of the
    # same config on an ordinary disk.
    config = load_config("cnn_tiny")
    plan = Plan.from_config(config)
    assert list(plan.trials("grid")) == [0, 1] and list(plan.trials("random")) == [0, 1]
    assert plan.fold_jobs == "per_fold" and plan.folds == 2
    reference = cnn_study
    timings = {}

    run = Workdir(tmp_path / "study")
    run.path.mkdir()
    run.write_config(config)
    with _tmpfs(run.results, "64m"):
        # Before the fault: grid finished and logged to MLflow (sqlite, on the small disk);
        # random proposed, its trial 0 trained, its study run started, but the trial not
        # scored and logged yet (--omit-from stops just before score_trial, which does both).
        started = time.monotonic()
        run.snakemake("--cores", "2", "grid", "results/random/trials/0/mlflow.json",
                      "results/tracking/random.json",
                      "--omit-from", "results/random/trials/0/score.json")
        timings["before"] = time.monotonic() - started
        assert (run.results / "grid" / "trials.csv").exists()
        assert sorted(p.parent.name for p in run.results.glob("grid/trials/*/mlflow.json")) \
            == ["0", "1"]
        assert (run.results / "random" / "trials" / "0" / "fold_1.json").exists()
        assert not (run.results / "random" / "trials" / "0" / "score.json").exists()
        assert not (run.results / "random" / "trials" / "0" / "mlflow.json").exists()
        assert not (run.results / "random" / "trials" / "1").exists()
        before = _checksums(run.results)
        filler = run.results / "filler"
        assert _fill(filler) > 50 << 20

        # The fault: every write under results/ fails from now on.
        started = time.monotonic()
        failed = run.snakemake("--cores", "2", "--keep-going", check=False, env=FAST_FAILURE)
        timings["full disk"] = time.monotonic() - started
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0, output[-4000:]
        # Exactly the jobs that write under results/ failed, each for a full disk: random's two
        # fold jobs (trained, then could not write), grid's held-out test, random trial 0's
        # scoring (its score, before it would log the trial to MLflow).
        # Training jobs have Snakemake `retries` (workflow/rules/study.smk: an out-of-memory
        # trial gets more attempts before it is recorded failed): a full disk fails each of
        # them on every attempt.
        errors = _job_blocks(output, r"Error in rule (\w+):")
        assert Counter(rule for rule, _ in errors) == \
            {"train_fold": 2 * TRAIN_ATTEMPTS, "evaluate_test": 1, "score_trial": 1}, errors
        failed_outputs = set().union(*map(_outputs, errors))
        assert {"results/random/trials/1/fold_0.json", "results/random/trials/1/fold_1.json",
                "results/grid/test.json", "results/random/trials/0/score.json",
                "results/random/trials/0/mlflow.json"} <= failed_outputs, failed_outputs
        assert output.count(f"job failed: OSError: [Errno 28] {ENOSPC}") == \
            2 * TRAIN_ATTEMPTS + 2, output[-6000:]
        # The fold jobs did train: the disk failed them, not the CNN.
        assert len(re.findall(r"trial 1 fold [01]: ok ", output)) == 2 * TRAIN_ATTEMPTS, \
            output[-6000:]

        # Nothing partial left behind: no temp file, no half-written output, no sqlite journal.
        leftovers = [p for p in run.results.rglob("*")
                     if p.name.startswith(".") or p.name.endswith((".tmp", "-journal"))]
        assert leftovers == [], leftovers
        assert not list((run.results / "random" / "trials" / "1").glob("fold_*")), \
            "a failed fold job left an output"
        assert not (run.results / "grid" / "test.json").exists()
        for path in run.results.rglob("*.json"):
            json.loads(path.read_text(encoding="utf-8"))  # complete JSON, not truncated
        # Every file written before the fault is untouched; the only new files are the
        # failed jobs' (empty: the disk is full) logs, and sqlite's write-ahead log and its
        # index, which the failed MLflow job opened (the next connection replays them).
        after = _checksums(run.results, skip={"filler"})
        assert {k: v for k, v in after.items() if k in before} == before
        assert all(name.startswith("logs/") or name in {"mlflow.db-wal", "mlflow.db-shm"}
                   for name in set(after) - set(before)), set(after) - set(before)

        # Space again: the MLflow DB is intact (checked once there is room: in write-ahead-log
        # mode even a reader needs its -shm index), and the same command finishes the study,
        # doing only what was lost.
        filler.unlink()
        with contextlib.closing(sqlite3.connect(run.results / "mlflow.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        started = time.monotonic()
        resumed = run.snakemake("--cores", "2", "--keep-going", env=FAST_FAILURE)
        timings["resume"] = time.monotonic() - started
        started_jobs = _job_blocks(resumed.stdout + resumed.stderr, r"(?:local)?rule (\w+):")
        trained = set().union(*(_outputs(b) for b in started_jobs if b[0] == "train_fold"))
        assert {p for p in trained if not p.endswith("_timing.json")} == \
            {"results/random/trials/1/fold_0.json", "results/random/trials/1/fold_1.json"}
        kept = {k: v for k, v in before.items()
                if k.split("/")[0] in {"data", "grid", "random"} and "timing" not in k}
        now = _checksums(run.results)
        assert {k: now.get(k) for k in kept} == kept, "the resumed run rewrote finished results"
        for strategy in plan.strategies:
            name = f"{strategy}/trials.csv"
            assert _comparable(run.results / name) == _comparable(reference.results / name), \
                f"{name} differs from the uninterrupted run"
        assert (run.results / "report" / "index.html").exists()

        # MLflow: every trial exactly once, every run finished, the grid's runs kept.
        _, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
        assert [(r.info.run_name, r.info.status) for r in runs
                if r.info.status != "FINISHED"] == []
        roles = Counter(r.data.tags.get("role") for r in runs)
        trials = Counter((r.data.tags["strategy"], int(r.data.tags["trial"]))
                         for r in runs if r.data.tags.get("role") == "trial")
        expected = {(s, t) for s in plan.strategies for t in plan.trials(s)}
        hashes = {r.data.tags.get("study_hash", r.data.tags.get("config_hash")) for r in runs}
        assert set(trials) == expected and set(trials.values()) == {1}, \
            (trials, f"hashes {hashes}: more than one if code changed during the test")
        assert roles == {"study": len(plan.strategies), "trial": len(expected)}, roles
        trial_ids = {r.info.run_id for r in runs if r.data.tags.get("role") == "trial"}
        for marker in run.results.glob("grid/trials/*/mlflow.json"):
            assert json.loads(marker.read_text())["run_id"] in trial_ids
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})


# ------------------------------------------------------------- MLflow server killed mid-study


def test_mlflow_server_killed_mid_study_loses_no_trial(tmp_path):
    config = load_config("tracking")  # Branin: random (3 trials), tpe (4 in 2 rounds)
    plan = Plan.from_config(config)
    run = Workdir(tmp_path / "study")
    run.path.mkdir()
    run.write_config(config)
    store = tmp_path / "server"
    store.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **FAST_FAILURE,
           "MLFLOW_TRACKING_URI": f"http://hpuser:s3cret-token@127.0.0.1:{port}"}
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(run.path),
               "--cores", "2", "--keep-going"]
    total = sum(plan.budget(s) for s in plan.strategies)
    servers = []
    timings = {}
    try:
        servers.append(_start_server(store, port, tmp_path / "server.log"))
        started = time.monotonic()
        console = tmp_path / "snakemake.out"
        with open(console, "wb") as sink:
            snakemake = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                         env=env)
            # Kill the server as soon as a trial is logged.
            while not list(run.results.glob("*/trials/*/mlflow.json")):
                assert snakemake.poll() is None, \
                    f"the study ended before any trial was logged:\n{console.read_text()[-4000:]}"
                time.sleep(0.05)
            _kill(servers[0])
            killed_after = time.monotonic() - started
            at_kill = len(list(run.results.glob("*/trials/*/mlflow.json")))
            code = snakemake.wait(timeout=600)
        _port_closed(port)
        timings["until kill"] = killed_after
        timings["failed run"] = time.monotonic() - started
        output = console.read_text()
        assert at_kill < total, "every trial was logged before the kill: not mid-study"
        assert code != 0, output[-4000:]

        # A study whose run the kill kept from starting (the scheduler may start one
        # strategy's study run after another's first trial is logged) failed loudly, naming
        # the redacted URI, and scored nothing: a trial's scoring job logs it into its
        # study's run. Every trial of the other studies was scored and marked by its job,
        # which never fails for MLflow: logged (before the kill), or pending, with MLflow's
        # error naming the redacted URI.
        unstarted = {s for s in plan.strategies if not (run.results / "tracking" /
                                                          f"{s}.json").exists()}
        started = [s for s in plan.strategies if s not in unstarted]
        for strategy in unstarted:
            log = (run.results / "logs" / strategy / "start_study.log").read_text()
            assert "failed after 2 attempts at " f"{url}:" in log, log[-3000:]
        markers = {(p.parents[2].name, int(p.parent.name)): json.loads(p.read_text())
                   for p in run.results.glob("*/trials/*/mlflow.json")}
        assert set(markers) == {(s, t) for s in started for t in plan.trials(s)}
        missing = {trial for trial, marker in markers.items() if "pending" in marker}
        assert missing or unstarted, "no trial failed to log after the kill"
        for strategy, trial in sorted(missing):
            why = markers[strategy, trial]["pending"]
            assert why.startswith(f"MLflow logging of {strategy} trial {trial} failed after 2 "
                                  f"attempts at {url}: "), why
        # What failed: the study runs that could not start, or else the catch-up of the
        # pending trials (finish_studies), naming the first of them and the URI.
        failed = {b[0] for b in _job_blocks(output, r"Error in rule (\w+):")}
        if unstarted:
            assert failed == {"start_study"}, failed
        else:
            assert failed == {"finish_studies"}, failed
            strategy, trial = min(missing, key=lambda m: (plan.strategies.index(m[0]), m[1]))
            log = (run.results / "logs" / "finish_studies.log").read_text()
            assert f"MLflow logging of {strategy} trial {trial} failed after 2 attempts at " \
                f"{url}:" in log, log[-3000:]
        for path in [console, *run.results.rglob("*"), *(run.path / ".snakemake").rglob("*")]:
            if path.is_file() and path.suffix in {".log", ".json", ".csv", ".out", ""}:
                leaks = [line for line in path.read_bytes().splitlines() if b"s3cret" in line]
                assert not leaks, f"credentials in {path}: {leaks[:2]}"
        # Results on disk are complete: every started study scored and summarised.
        for strategy in started:
            table = (run.results / strategy / "trials.csv").read_text().splitlines()
            assert len(table) == 1 + plan.budget(strategy)
            assert not (run.results / strategy / "mlflow_study.json").exists()

        # The same server back on the same store and port: what was logged is there, finished.
        servers.append(_start_server(store, port, tmp_path / "server.log"))
        client, runs = mlflow_runs(url, config["experiment"])
        by_id = {r.info.run_id: r for r in runs}
        for (strategy, trial), marker in markers.items():
            if "pending" in marker:
                continue
            logged = by_id[marker["run_id"]]
            assert (logged.data.tags["role"], logged.data.tags["strategy"],
                    logged.data.tags["trial"], logged.info.status) == \
                ("trial", strategy, str(trial), "FINISHED")
        left_running = sorted(r.info.run_name for r in runs if r.info.status == "RUNNING"
                              and r.data.tags.get("role") != "study")

        started = time.monotonic()
        resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        timings["resume"] = time.monotonic() - started
        assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
        # No trial of a started study trained or scored twice; the catch-up logged exactly
        # the pending trials.
        rerun = _job_blocks(resumed.stdout + resumed.stderr, r"(?:local)?rule (\w+):")
        again = {(rule, fields.get("wildcards")) for rule, fields in rerun
                 if rule in {"train_fold", "score_trial"}
                 and any(f"study={s}," in fields.get("wildcards", "") for s in started)}
        assert again == set(), again
        caught_up = (run.results / "logs" / "finish_studies.log").read_text().split(
            "trials pending or in an earlier study run: ")[-1].splitlines()[0].split(", ") \
            if missing else []
        assert sorted(caught_up) == sorted(f"results/{s}/trials/{t}/mlflow.json"
                                           for s, t in missing)
        # No trial twice, none RUNNING, the whole tree, the report attached.
        assert check_run_tree(url, config, run.results) == \
            {"study": 2, "trial": total}
        for (strategy, trial), marker in markers.items():
            path = run.results / strategy / "trials" / str(trial) / "mlflow.json"
            assert json.loads(path.read_text()) == marker
        print("timings (s):", {k: round(v, 1) for k, v in timings.items()},
              f"trials logged at the kill: {at_kill}/{total}; runs left RUNNING by the kill: "
              f"{left_running}")
    finally:
        for server in servers:
            if server.poll() is None:
                _kill(server)
