"""An entry naming a function of the user's (`path/to/train.py:fit` or
`package.module:fit`: objective.python.entry, objective.keras.builder): where its function
is, which arguments it takes, read with `ast` without running any of the user's code (what
the config check needs, before any job), and the function itself, imported and called
(what a job does: `call`, which makes the user's errors the trial's)."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from hpstudy.outcome import TrialFailed, failure_kind, failure_reason

log = logging.getLogger(__name__)

# The arguments a user's function may take, each given only when its signature names it.
ARGUMENTS = ("params", "fold", "seed", "data", "budget", "report", "checkpoint")
FORMS = "path/to/file.py:function or package.module:function"
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class EntryError(ValueError):
    """An entry that cannot be called: the message says why (without the key)."""


def split(entry: str) -> tuple[str, str]:
    """(file or module, function name) of an entry."""
    target, _, function = entry.rpartition(":")
    if not target or not function.isidentifier():
        raise EntryError(f"{entry!r} is not {FORMS}")
    if not target.endswith(".py") and not _MODULE.match(target):
        raise EntryError(f"{entry!r} is not {FORMS}")
    return target, function


def _module_file(name: str) -> str | None:
    """The source of module `name` as a job imports it (`python -m` puts the working
    directory first on its path), found without importing anything, its packages included."""
    search: list[str] | None = [os.getcwd(), *sys.path]
    spec = None
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        if search is None:  # a module is not a package: nothing inside it
            return None
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), search)
        if spec is None:
            return None
        search = spec.submodule_search_locations
    return spec.origin if spec else None


def source_file(entry: str) -> Path:
    """The file that defines the entry's function."""
    target, _ = split(entry)
    if target.endswith(".py"):
        if not Path(target).is_file():
            raise EntryError(f"no file {target!r} (a relative path is read from the working "
                             f"directory)")
        return Path(target)
    origin = _module_file(target)
    if origin is None:
        raise EntryError(f"no module {target!r} on Python's path (the working directory, "
                         f"then PYTHONPATH and the installed packages)")
    if not origin.endswith(".py"):
        raise EntryError(f"module {target!r} has no Python source ({Path(origin).name}): its "
                         f"function's arguments cannot be read")
    return Path(origin)


def arguments(entry: str, allowed: tuple[str, ...] = ARGUMENTS) -> tuple[str, ...]:
    """The names the entry's function takes, from `allowed` (EntryError otherwise)."""
    path = source_file(entry)
    stat = path.stat()
    return _arguments(str(path.resolve()), stat.st_mtime_ns, stat.st_size, split(entry)[1],
                      allowed)


@functools.cache  # by the file's time and size: the Snakefile asks once per job
def _arguments(path: str, mtime_ns: int, size: int, function: str, allowed: tuple[str, ...]
               ) -> tuple[str, ...]:
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except SyntaxError as error:
        raise EntryError(f"{Path(path).name}, line {error.lineno}: {error.msg}") from error
    found = [node for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name == function]
    if not found:
        raise EntryError(f"{Path(path).name} defines no function {function!r} (a top-level "
                         f"`def {function}(...)`)")
    signature = found[-1].args  # the last definition is the one a module ends up with
    if signature.vararg or signature.kwarg or signature.posonlyargs:
        raise EntryError(f"{function}() takes *args, **kwargs or positional-only arguments; "
                         f"it is called with keywords: name each, from {', '.join(allowed)}")
    names = tuple(argument.arg for argument in [*signature.args, *signature.kwonlyargs])
    outside = [name for name in names if name not in allowed]
    if outside:
        raise EntryError(f"{function}() takes {', '.join(outside)}, which it cannot be given; "
                         f"its arguments are any of {', '.join(allowed)}")
    return names


@functools.cache  # once per process: a job that trains several folds imports it once
def load_function(entry: str) -> Callable:
    """The entry's function, imported (its module's top level runs here, in the job)."""
    target, name = split(entry)
    if target.endswith(".py"):
        path = Path(target).resolve()
        module_name = f"hpstudy_entry_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        # As `python train.py` would: modules beside the file can be imported (at the end of
        # the path, so that none of them hides a library).
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)


def entry_file(entry: str) -> str | None:
    """The file of a path entry (an input of the jobs that call it); None for a module, which
    is found on Python's path like any library."""
    target = entry.rpartition(":")[0]
    return target if target.endswith(".py") else None


def call(entry: str, given: Mapping, allowed: tuple[str, ...] = ARGUMENTS,
         then: Callable = lambda returned: returned, context: str = ""):
    """then(what the entry's function returns), called with the arguments its signature
    names, taken from `given`. Whatever the function or `then` raises is the trial's:
    TrialFailed with its reason, the traceback in the job's log. Importing the function is
    outside that: an error there would fail every trial the same way, so it fails the job."""
    function, names = load_function(entry), arguments(entry, allowed)
    try:
        return then(function(**{key: given[key] for key in names}))
    except Exception as error:  # the user's code: its errors are the trial's
        log.exception("%s failed (%s)", entry, context)
        raise TrialFailed(failure_reason(error),
                          out_of_memory=failure_kind(error) == "out_of_memory") from error
