"""hpstudy.fileio: a job's output is complete or absent (written to a temporary file, then
renamed over the target), and JSON comes out the same bytes for the same content."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpstudy import fileio
from tests.helpers.workdir import REPO


def entries(directory: Path) -> list[str]:
    """Every name in a directory, hidden temporary files included."""
    return sorted(path.name for path in directory.iterdir())


# --- JSON ---------------------------------------------------------------------------------


def test_json_is_canonical_whatever_the_key_order(tmp_path):
    fileio.write_json(tmp_path / "a.json", {"b": [1, 2.5], "a": {"z": None, "y": "é"}})
    fileio.write_json(tmp_path / "b.json", {"a": {"y": "é", "z": None}, "b": [1, 2.5]})
    text = (tmp_path / "a.json").read_text(encoding="utf-8")
    assert text == ('{\n  "a": {\n    "y": "\\u00e9",\n    "z": null\n  },\n'
                    '  "b": [\n    1,\n    2.5\n  ]\n}\n')
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "a.json").read_bytes()
    assert fileio.read_json(tmp_path / "a.json") == {"a": {"y": "é", "z": None}, "b": [1, 2.5]}


def test_floats_survive_the_round_trip_exactly(tmp_path):
    values = [0.1, 1 / 3, 2.0**-1074, 1.7976931348623157e308, -0.0, 0.397887357729738]
    fileio.write_json(tmp_path / "floats.json", values)
    assert fileio.read_json(tmp_path / "floats.json") == values


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_json_refuses_nan_and_keeps_the_old_file(tmp_path, bad):
    target = tmp_path / "score.json"
    fileio.write_json(target, {"objective": 1.0})
    before = target.read_bytes()
    with pytest.raises(ValueError):
        fileio.write_json(target, {"objective": bad})
    assert target.read_bytes() == before
    assert entries(tmp_path) == ["score.json"]


def test_json_refuses_what_is_not_json_without_writing(tmp_path):
    with pytest.raises(TypeError):
        fileio.write_json(tmp_path / "out.json", {"when": object()})
    assert entries(tmp_path) == []


# --- atomic writes ------------------------------------------------------------------------


def test_a_write_creates_the_directories_and_leaves_only_the_target(tmp_path):
    target = tmp_path / "results" / "tpe" / "rounds" / "round_0.json"
    fileio.write_json(target, {"round": 0})
    assert fileio.read_json(target) == {"round": 0}
    assert entries(target.parent) == ["round_0.json"]
    fileio.write_text(tmp_path / "t.csv", "a,b\n1,2\n")
    fileio.write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "t.csv").read_bytes() == b"a,b\n1,2\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert entries(tmp_path) == ["b.bin", "results", "t.csv"]


def test_a_rewrite_replaces_the_file_rather_than_overwriting_it(tmp_path):
    """A reader that opened the old file reads it whole: the new content is a new file put
    in its place by a rename, never the old file truncated and rewritten."""
    target = tmp_path / "trials.csv"
    fileio.write_text(target, "old\n" * 1000)
    with open(target, encoding="utf-8") as reader:
        inode = os.fstat(reader.fileno()).st_ino
        fileio.write_text(target, "new\n")
        assert reader.read() == "old\n" * 1000
    assert target.read_text(encoding="utf-8") == "new\n"
    assert os.stat(target).st_ino != inode
    assert entries(tmp_path) == ["trials.csv"]


def test_a_write_that_fails_midway_leaves_no_temporary_file_and_the_old_content(tmp_path):
    target = tmp_path / "fold_0.json"
    fileio.write_text(target, "complete\n")
    with pytest.raises(TypeError):
        fileio.write_bytes(target, "text where bytes belong")  # raised by the file's write
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert entries(tmp_path) == ["fold_0.json"]


def test_a_target_that_cannot_be_replaced_leaves_no_temporary_file(tmp_path):
    (tmp_path / "fold_0.json").mkdir()  # a directory where the file should go
    with pytest.raises(IsADirectoryError):
        fileio.write_json(tmp_path / "fold_0.json", {"fold": 0})
    assert entries(tmp_path) == ["fold_0.json"]
    assert (tmp_path / "fold_0.json").is_dir()


def test_a_full_disk_names_the_file_and_leaves_the_old_content(tmp_path):
    """The disk fills up while writing: a real write error (EFBIG, from a file size limit of
    4 KiB set in a child process), not a simulated one."""
    target = tmp_path / "trials.csv"
    fileio.write_text(target, "old\n")
    script = f"""
import json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
from hpstudy import fileio
try:
    fileio.write_bytes({str(target)!r}, b"x" * 1_000_000)
except OSError as error:
    print(json.dumps([error.errno, error.filename, str(error)]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    assert result.returncode == 0, result.stderr
    code, filename, message = json.loads(result.stdout)
    assert code == errno.EFBIG
    assert filename == str(target) and str(target) in message  # not only "File too large"
    assert target.read_text(encoding="utf-8") == "old\n"
    assert entries(tmp_path) == ["trials.csv"]


# --- .npy ---------------------------------------------------------------------------------


def test_npy_is_the_same_bytes_on_every_write_and_reads_back(tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]  # not contiguous
    fileio.write_npy(tmp_path / "a.npy", array)
    fileio.write_npy(tmp_path / "b.npy", array.copy())
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    loaded = np.load(tmp_path / "a.npy", allow_pickle=False)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array)
    with pytest.raises(ValueError):
        fileio.write_npy(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "objects.npy").exists()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_written_file_gets_the_mode_the_umask_gives_a_new_file(tmp_path, umask):
    """Not mkstemp's 0600: a teammate or a web server must be able to read trials.csv and
    index.html when the umask lets them, like any file the user creates."""
    previous = os.umask(umask)
    try:
        fileio.write_text(tmp_path / "trials.csv", "trial\n")
        fileio.write_npy(tmp_path / "x.npy", np.zeros(2))
        with open(tmp_path / "plain.txt", "w") as handle:  # what open() gives, for reference
            handle.write("x")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode) == expected
    for name in ("trials.csv", "x.npy"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == expected, name
