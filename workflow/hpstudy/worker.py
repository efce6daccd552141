"""The warm worker: one process per `snakemake` run that imports the heavy libraries once
and forks a child per job (the pattern of Python's multiprocessing forkserver with preloaded
modules, and of Bazel's persistent workers).

- Snakemake still decides what runs, when, and how many at once: each job is a Snakemake job
  whose command (hpstudy.launch) connects here and waits for its child. The worker holds no
  queue; it forks as soon as a job connects.
- Started by the Snakefile's `onstart` (never for -n, --lint, or a job of a cluster executor,
  whose jobs start cold on their node), stopped by `onsuccess`/`onerror`, and gone with its
  `snakemake`: it exits when its stdin, a pipe from `snakemake`, closes, and each child gets
  SIGKILL when the worker dies (PR_SET_PDEATHSIG). A job whose `hpstudy.launch` is killed
  has its child killed too, so a killed run leaves nothing writing behind it.
- Forking after `import tensorflow` is safe as long as the parent never ran a TensorFlow op
  (no thread pools, no CUDA context yet): the worker only imports. Each child configures
  TensorFlow's threads for its job, as a fresh interpreter does; results are byte-identical
  (tests/test_worker.py, tests/test_workflow.py).
- Only the user who started it can connect: the socket lies in a 0700 directory, and the
  peer's uid is checked (SO_PEERCRED).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from hpstudy.launch import (
    HEADER,
    WORKER_PID_ENV,
    WORKER_SOCKET_ENV,
    quiet_idle_blas_threads,
    run_script,
)

SOCKET_DIR = ".snakemake/hpstudy-worker"
PR_SET_PDEATHSIG = 1
REQUEST_TIMEOUT_S = 30


def start(preload: list[str], device: str, log_path: str,
          objective: tuple[str, Mapping] | None = None) -> subprocess.Popen:
    """Start the worker for this `snakemake` run and tell its jobs (their environment) where
    it listens. It imports in the background: jobs wait for its socket. objective: (name,
    settings) of the study's objective, whose `warm` the worker calls before serving."""
    directory = Path(SOCKET_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / f"{os.getpid()}.sock"
    path.unlink(missing_ok=True)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpstudy.worker", "--socket", str(path), "--device", device,
             *([] if objective is None else ["--objective", json.dumps(list(objective))]),
             *preload], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    os.environ[WORKER_SOCKET_ENV] = str(path)
    os.environ[WORKER_PID_ENV] = str(process.pid)
    return process


def stop(process: subprocess.Popen | None) -> None:
    os.environ.pop(WORKER_SOCKET_ENV, None)
    os.environ.pop(WORKER_PID_ENV, None)
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _prepare_imports(device: str) -> None:
    """The environment a job's fresh interpreter would import with."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    quiet_idle_blas_threads()  # every forked job's thread limit restarts OpenBLAS's pool
    if device == "cpu":
        # As hpstudy.objectives.keras_classifier sets it: no CUDA driver probe on CPU studies.
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    connection.settimeout(REQUEST_TIMEOUT_S)
    header, fds, _, _ = socket.recv_fds(connection, HEADER.size, 2)
    if len(header) != HEADER.size or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("incomplete request")
    (length,) = HEADER.unpack(header)
    payload = bytearray()
    while len(payload) < length:
        chunk = connection.recv(min(65536, length - len(payload)))
        if not chunk:
            raise ConnectionError("request cut short")
        payload += chunk
    connection.settimeout(None)
    return json.loads(payload), fds


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _run_child(request: dict, fds: list[int], parent: int) -> None:
    """In the forked child: become the job's process, run it, exit with its status."""
    status = 1
    try:
        _die_with_parent()
        if os.getppid() != parent:  # the worker died between fork and prctl
            os._exit(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (devnull, *fds):
            os.close(fd)
        gc.enable()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        status = run_script(request["script"], request["spec"], request["threads"],
                            request["log"])
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


class Worker:
    def __init__(self, path: str):
        self.path = path
        self.jobs: dict[int, socket.socket] = {}  # pid -> its launcher's connection
        self.tracking_warm = False
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(wakeup_write, False)
        signal.set_wakeup_fd(wakeup_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the pipe
        signal.signal(signal.SIGTERM, self._terminate)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        Path(path).unlink(missing_ok=True)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(128)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_read, selectors.EVENT_READ, "signal")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "parent")

    def _terminate(self, *_):
        raise SystemExit(0)

    def serve(self) -> None:
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "signal":
                        os.read(self.wakeup_read, 4096)
                        self._reap()
                    elif key.data == "parent":
                        if not os.read(sys.stdin.fileno(), 4096):
                            return  # snakemake is gone
                    else:
                        self._client_readable(key.fileobj, key.data)
        finally:
            for pid in list(self.jobs):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            Path(self.path).unlink(missing_ok=True)

    def _accept(self) -> None:
        connection, _ = self.listener.accept()
        try:
            if _peer_uid(connection) != os.getuid():
                raise ConnectionError("a job of another user")
            request, fds = _receive_request(connection)
        except (OSError, ValueError) as error:
            with suppress(OSError):
                print(f"worker: refused a connection: {error}", file=sys.stderr, flush=True)
            connection.close()
            return
        self._warm_tracking(request)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            self.listener.close()
            for client in self.jobs.values():
                client.close()
            connection.close()
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(number, signal.SIG_DFL)
            _run_child(request, fds, parent)
        for fd in fds:
            os.close(fd)
        self.jobs[pid] = connection
        self.selector.register(connection, selectors.EVENT_READ, pid)

    def _warm_tracking(self, request: dict) -> None:
        """Once the run's sqlite DB exists, MLflow's store for it opened here, before forking
        (tracking.client.warm_sqlite_store), for the jobs that log: only for a job of this
        run's directory and tracking URI, which a forked job then finds cached."""
        if self.tracking_warm or "mlflow" not in sys.modules:
            return
        uri = "MLFLOW_TRACKING_URI"
        if request.get("cwd") != os.getcwd() or \
                request.get("env", {}).get(uri) != os.environ.get(uri):
            return
        from hpstudy.tracking.client import warm_sqlite_store

        try:
            self.tracking_warm = warm_sqlite_store()
            if self.tracking_warm:
                print("worker: MLflow's sqlite store opened for the jobs that log",
                      flush=True)
        except Exception as error:  # the jobs open the store themselves and report it
            self.tracking_warm = True  # not again for every job
            with suppress(OSError):
                print(f"worker: MLflow's store not warmed: {type(error).__name__}: {error}",
                      flush=True)

    def _client_readable(self, connection: socket.socket, pid: int) -> None:
        """A job's launcher sends nothing after its request: readable means it is gone
        (killed by Snakemake or by a signal), so its child goes too."""
        try:
            gone = not connection.recv(1)
        except OSError:
            gone = True
        if gone:
            self.selector.unregister(connection)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.jobs.pop(pid, None)
            if connection is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            result = {"status": code if code >= 0 else 128 - code,
                      "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_mb": usage.ru_maxrss / 1024}
            with suppress(KeyError, ValueError):
                self.selector.unregister(connection)
            with suppress(OSError):
                connection.sendall(json.dumps(result).encode("utf-8"))
            connection.close()


def preload(name: str) -> None:
    """Imports a module, or a user's function given as its entry (`file.py:function`,
    `module:function`: a module name holds no colon), into python_entry.load_function's
    cache, which every forked job inherits. What fails is left to the job that needs it: it
    imports it again and says why (for the user's code, its error stops that job)."""
    try:
        if ":" in name:
            from hpstudy.objectives.python_entry import load_function

            load_function(name)
        else:
            importlib.import_module(name)
    except Exception as error:  # the user's module may raise anything at its top level
        print(f"worker: not preloaded: {name}: {type(error).__name__}: {error}", flush=True)


def warm_objective(name: str, settings: Mapping) -> None:
    """The objective's own warm-up (Objective.warm: a table loaded once, not once per job).
    What fails is left to the jobs, which do it again and say why."""
    try:
        from hpstudy.objectives import objective_class

        objective_class(name).warm(settings)
    except Exception as error:  # a missing table, a bad source file: the jobs report it
        print(f"worker: objective {name} not warmed: {type(error).__name__}: {error}",
              flush=True)


def remember() -> None:
    """What every job would otherwise work out again, once, before the first fork, so that
    jobs inherit it: the objective registry (its modules imported), MLflow's schema head,
    the provenance a logged trial carries (the code's git commit, a `git` process, and the
    package versions, read from their metadata: 0.04 CPU s per logging job, measured), a
    study's tables made once (records.warm_tables: pandas' first use), and
    the BLAS and OpenMP libraries a job's thread limit applies to (launch.threadpools: last,
    after every import that loads one), and the log level of its jobs (jobs.setup_logging).
    0.25 to 0.5 CPU s per job before (measured)."""
    import logging

    from hpstudy.jobs import JOB_LOG_LEVEL
    from hpstudy.launch import threadpools
    from hpstudy.objectives import registry

    registry()
    logging.getLogger().setLevel(JOB_LOG_LEVEL)
    if "pandas" in sys.modules:
        from hpstudy.records import warm_tables

        warm_tables()
    if "mlflow" in sys.modules:
        from hpstudy import provenance
        from hpstudy.tracking.client import remember_schema_head
        from hpstudy.tracking.runs import package_versions

        remember_schema_head()
        package_versions()
        provenance.git_commit()
    threadpools()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hpstudy's warm worker (see module doc)")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--objective", type=json.loads, default=None,
                        help='the objective to warm: JSON ["name", {settings}]')
    parser.add_argument("preload", nargs="*")
    args = parser.parse_args(argv)
    # Python's advice for processes that fork without exec (gc.freeze): no collection in the
    # worker while it imports, then everything imported is frozen out of the children's
    # collections. Otherwise every gc.collect() in a job (Keras' clear_session does one per
    # fold) walks the whole preloaded heap: 0.27 CPU s each, measured, and it dirties the
    # pages the children share with the worker.
    gc.disable()
    _prepare_imports(args.device)
    from hpstudy.noise import StderrFilter

    started, started_cpu = time.perf_counter(), time.process_time()
    noise = StderrFilter()
    try:
        for module in args.preload:
            preload(module)
        if args.objective:
            warm_objective(*args.objective)
        remember()
    finally:
        noise.stop()  # no thread may live in a process that forks
    with suppress(OSError):  # its log may sit on a full disk; the jobs' own errors say so
        print(f"worker {os.getpid()}: imported {', '.join(args.preload)} in "
              f"{time.perf_counter() - started:.1f} s ({time.process_time() - started_cpu:.1f}"
              f" CPU s); serving {args.socket}", flush=True)
    gc.freeze()
    Worker(args.socket).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
