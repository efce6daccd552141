"""Start one workflow job: as a fork of the warm worker when one runs, else in this process.

Every rule's command is `python -m hpstudy.launch <script> <threads> <log> <spec>`, where
<spec> is the job's named input, output, params and wildcards as JSON (made by the rule's
`params.job`, jobs.smk), or `@<file>` holding it when it is too long for a command line
(JobSpec). The job itself is the rule's adapter script in workflow/scripts/,
run with a `snakemake` object that offers the same attributes as Snakemake's own, so the
scripts stay what they were: a few lines that unpack a job and call hpstudy.jobs.

Why: a `script:` job is a fresh interpreter that imports Snakemake's script preamble and then
TensorFlow, MLflow, hyperopt or scikit-optimize; that start-up (10 s for TensorFlow here) cost
more than a small fit. This module imports only the standard library; the warm worker
(hpstudy.worker) has imported the heavy libraries once and forks a child per job, so a job's
start-up is a connect and a fork. Snakemake still schedules every job (cores, resources,
resume, -n); only where a job's Python starts from changes.
"""

from __future__ import annotations

# Only what every launch needs: a job's launcher is a fresh interpreter, and each module it
# imports costs every job (hashlib and pathlib, now imported where used, with tempfile: 9 of
# the launcher's 34 ms of CPU, measured).
import json
import os
import resource
import socket
import struct
import sys
import time

WORKER_SOCKET_ENV = "HPSTUDY_WORKER"  # path of the warm worker's socket, set by common.smk
WORKER_PID_ENV = "HPSTUDY_WORKER_PID"
# Set in the jobs of a cluster executor, on their node (jobs.smk): such a job does not write
# the run's sqlite DB (hpstudy.tracking.runs.log_trial_here).
CLUSTER_NODE_ENV = "HPSTUDY_CLUSTER_NODE"
RECORD_IMPORTS_ENV = "HPSTUDY_RECORD_IMPORTS"  # see record_imports
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "scripts")
HEADER = struct.Struct("!Q")  # length of the JSON request that follows
# How long a job waits for a worker that is still importing (it binds its socket when ready).
STARTUP_WAIT_S = float(os.environ.get("HPSTUDY_WORKER_STARTUP_WAIT", "600"))


# OpenBLAS's idle threads spin for 2**28 CPU cycles before they sleep (its default
# OPENBLAS_THREAD_TIMEOUT, 28) each time its pool starts and after each threaded call. Every
# job starts the pool: a fresh interpreter when numpy loads, a forked one when its thread limit
# is applied (run_script). Spinning cost every job 0.1 CPU s for nothing, a quarter of a Branin
# study's CPU (perf, 2026-12-05). 2**20 cycles (~0.3 ms) still keeps them waiting between
# back-to-back calls: a loop of 120x120 matrix products at 2 threads took no longer (measured).
# OpenBLAS reads it when it loads, so it is set before any import of numpy; a user's value
# stands.
BLAS_IDLE_SPIN = ("OPENBLAS_THREAD_TIMEOUT", "20")


def quiet_idle_blas_threads() -> None:
    """The environment's BLAS_IDLE_SPIN unless the user set one: for the libraries this
    process and its children load from now on."""
    os.environ.setdefault(*BLAS_IDLE_SPIN)


# A job's spec travels in its shell command, which Snakemake runs as `bash -c <command>`, and
# Linux refuses any one argument over 128 KiB (MAX_ARG_STRLEN: "Argument list too long").
# A job that reads every trial's file (finish_studies, a large study's summary) passes that
# at about 1,500 trials. Such a spec goes in a file, named by its content, and the command
# carries `@<file>`; a spec up to this size stays inline (the command says all).
SPEC_INLINE_LIMIT = 32 * 1024
SPEC_DIR = os.path.join(".snakemake", "hpstudy-jobs")


class JobSpec(str):
    """A job's spec, the JSON text of the rules' `job` param: Snakemake records and compares
    it as that text (its params trigger, repr), and formats it into the shell command
    inline up to SPEC_INLINE_LIMIT characters, else as `@<file>` (spec_file)."""

    def __format__(self, format_spec: str) -> str:
        text = str.__str__(self)
        if len(text) > SPEC_INLINE_LIMIT:
            text = f"@{spec_file(text)}"
        return format(text, format_spec)


def spec_file(text: str) -> str:
    """The path (relative to the working directory: the jobs' too) of a file holding `text`,
    written atomically unless there: named by its content, so that jobs with the same spec
    share it and a changed spec gets a new one. (Called where Snakemake formats the command,
    not in the launcher: hpstudy.fileio's import of numpy costs the launcher nothing.)"""
    import hashlib

    from hpstudy.fileio import write_text

    path = os.path.join(SPEC_DIR, f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}.json")
    if not os.path.exists(path):
        write_text(path, text)
    return path


def read_spec(argument: str) -> dict:
    """A job's spec from its command-line argument: the JSON, or `@<file>` holding it."""
    if argument.startswith("@"):
        with open(argument[1:], encoding="utf-8") as file:
            return json.load(file)
    return json.loads(argument)


class Named:
    """Snakemake's Namedlist, as much of it as the adapter scripts use: items by position
    (flattened, as Snakemake flattens named lists) and by name, `.get`, `.keys`."""

    def __init__(self, named: dict, positional: list):
        self._named, self._positional = dict(named), list(positional)

    def __getattr__(self, name):
        try:
            return self._named[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        return self._positional[key] if isinstance(key, int) else self._named[key]

    def __iter__(self):
        return iter(self._positional)

    def __len__(self):
        return len(self._positional)

    def get(self, name, default=None):
        return self._named.get(name, default)

    def keys(self):
        return self._named.keys()


class Job:
    """The `snakemake` object a script sees: input, output, params, wildcards, log, threads."""

    def __init__(self, spec: dict, threads: int, log: str):
        def files(part):
            return Named(part["named"], part["positional"])

        self.input, self.output = files(spec["input"]), files(spec["output"])
        self.params = Named(spec["params"], list(spec["params"].values()))
        self.wildcards = Named(spec["wildcards"], list(spec["wildcards"].values()))
        self.log = Named({}, [log] if log else [])
        self.threads = threads


_THREADPOOLS = []


def threadpools():
    """threadpoolctl's controller of the BLAS and OpenMP libraries this process has loaded,
    made once: making one scans every loaded library (about 0.1 CPU s with TensorFlow's
    stack), which threadpool_limits would do again for every job. The warm worker makes it
    after its imports (worker.main), so its forked jobs inherit it; a library a job loads
    later than that is not limited (as with threadpool_limits, which sees only libraries
    loaded when it is entered)."""
    if not _THREADPOOLS:
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0]


def run_script(script: str, spec: dict, threads: int, log: str) -> int:
    """Run workflow/scripts/<script>.py on this job; its exit status (1 when it raised).

    Called in the worker's forked child or in this process. BLAS and OpenMP pools are capped
    at the job's threads, as Snakemake's OMP_NUM_THREADS & co. do for a fresh interpreter
    (a forked child inherits pools the worker sized before the job's variables existed)."""
    from hpstudy.noise import StderrFilter

    if not script.isidentifier():  # a name, never a path: only workflow/scripts/ runs
        print(f"hpstudy.launch: not a workflow script: {script!r}", file=sys.stderr)
        return 2
    noise = StderrFilter()
    path = os.path.join(SCRIPTS, f"{script}.py")
    with open(path, encoding="utf-8") as file:
        code = compile(file.read(), path, "exec")
    try:
        with threadpools().limit(limits=threads):
            exec(code, {"__name__": "__main__", "__file__": path,
                        "snakemake": Job(spec, threads, log)})
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        # setup_logging (first line of every script) sent uncaught errors to the job's log.
        sys.excepthook(*sys.exc_info())
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        noise.stop()
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def connect_worker() -> socket.socket | None:
    """A connection to the warm worker, waiting while it still imports; None when there is
    none (not configured, or not running: the job then starts cold, in this process)."""
    path = os.environ.get(WORKER_SOCKET_ENV)
    if not path:
        return None
    pid = int(os.environ.get(WORKER_PID_ENV, "0") or 0)
    deadline = time.monotonic() + STARTUP_WAIT_S
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(path)
            return connection
        except (FileNotFoundError, ConnectionRefusedError, PermissionError):
            connection.close()
            if not pid or not _pid_alive(pid) or time.monotonic() > deadline:
                print(f"hpstudy.launch: no warm worker at {path}; starting this job in a "
                      f"fresh interpreter", file=sys.stderr)
                return None
            time.sleep(0.05)


def send_request(connection: socket.socket, request: dict) -> None:
    """The request, and this process's stdout and stderr: the child writes to them directly,
    so the job's output reaches Snakemake as if the job ran here."""
    payload = json.dumps(request).encode("utf-8")
    socket.send_fds(connection, [HEADER.pack(len(payload))], [1, 2])
    connection.sendall(payload)


def receive_result(connection: socket.socket) -> dict:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    if not chunks:
        return {"status": 1, "error": "the warm worker ended before the job did (its logs: "
                                      "results/logs/worker/)"}
    return json.loads(b"".join(chunks))


def record_imports() -> set[str]:
    """From now on, the top-level names this job's own code (the script, run as __main__, and
    hpstudy's modules) imports by an import statement: the packages its conda environment
    must provide. Libraries' own imports are not counted: they import optional packages when
    these happen to be installed. Only with HPSTUDY_RECORD_IMPORTS set (the environments
    test sets it): it wraps every import statement of the job."""
    import builtins

    recorded: set[str] = set()
    original = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        # An import statement's frame passes its own globals. A C extension importing on its
        # own behalf passes the globals of the innermost Python frame, which is this wrapper
        # importing something else: not counted.
        caller = sys._getframe(1)
        if (level == 0 and globals is not None and caller.f_globals is globals
                and caller.f_code is not recording_import.__code__):
            importer = str(globals.get("__name__", ""))
            if importer == "__main__" or importer.partition(".")[0] == "hpstudy":
                recorded.add(name.partition(".")[0])
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = recording_import
    return recorded


def record_usage(log: str, usage: dict) -> None:
    """One line at the end of the job's log: where its time went. bench/ reads these."""
    if not log or not os.path.isdir(os.path.dirname(log) or "."):
        return
    try:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("hpstudy.launch usage " + json.dumps(usage, sort_keys=True) + "\n")
    except OSError as error:  # a full disk: the job's own status is what counts
        print(f"hpstudy.launch: could not record the job's usage: {error}", file=sys.stderr)


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    quiet_idle_blas_threads()  # a cold job's numpy; the warm worker set it before its imports
    script, threads, log, spec_argument = argv
    spec = read_spec(spec_argument)
    threads = int(threads)
    connection = connect_worker()
    if connection is None:
        launcher_cpu = time.process_time()  # the interpreter's own start
        imports = record_imports() if os.environ.get(RECORD_IMPORTS_ENV) else None
        status = run_script(script, spec, threads, log)
        own = resource.getrusage(resource.RUSAGE_SELF)
        usage = {"mode": "cold", "status": status, "wall_s": time.perf_counter() - started,
                 "launcher_cpu_s": launcher_cpu,
                 "job_cpu_s": own.ru_utime + own.ru_stime - launcher_cpu,
                 "peak_rss_mb": own.ru_maxrss / 1024}
        if imports is not None:  # tests/helpers/environments.py checks envs/ against them
            usage["imports"] = sorted(name for name in imports - {"hpstudy"}
                                      if name not in sys.stdlib_module_names)
    else:
        with connection:
            send_request(connection, {"script": script, "spec": spec, "threads": threads,
                                      "log": log, "cwd": os.getcwd(), "env": dict(os.environ)})
            result = receive_result(connection)
        if "error" in result:
            print(f"hpstudy.launch: {result['error']}", file=sys.stderr)
        status = result["status"]
        own = resource.getrusage(resource.RUSAGE_SELF)
        usage = {"mode": "warm", "status": status, "wall_s": time.perf_counter() - started,
                 "launcher_cpu_s": own.ru_utime + own.ru_stime,
                 "job_cpu_s": result.get("cpu_s", 0.0),
                 "peak_rss_mb": result.get("peak_rss_mb", 0.0)}
    record_usage(log, {"script": script, **usage})
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
