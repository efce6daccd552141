"""Atomic, deterministic writes: a job's output is either complete or absent."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _file_mode() -> int:
    """The mode open() gives a new file under the process's umask. mkstemp creates its file
    0600, which would leave every result unreadable to a teammate or a web server."""
    umask = os.umask(0o022)  # the only way to read the umask is to set it; put it back at once
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    path = Path(path)
    try:
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                            suffix=".tmp")
    except FileNotFoundError:  # a new folder (a job's are made by Snakemake: the usual case)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                            suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as tmp:
            os.fchmod(tmp.fileno(), _file_mode())
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        if error.filename is not None:
            raise
        # A full disk says only "No space left on device": name the file it could not write.
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def dumps_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, fixed indent, NaN refused (it is not JSON)."""
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    _atomic_write_bytes(path, dumps_json(obj).encode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_text(path: str | os.PathLike, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    _atomic_write_bytes(path, payload)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """.npy rather than .npz: np.savez stamps the current time into its zip, so reruns differ."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    _atomic_write_bytes(path, buffer.getvalue())
