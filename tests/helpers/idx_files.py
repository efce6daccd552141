"""IDX files (MNIST's format) built byte by byte, as tests/test_data_*.py and
tests/test_bad_input.py write them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An unsigned-byte IDX file: 4-byte big-endian magic 0x0000080N, N big-endian dims."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    payload = idx_bytes(array, magic)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def random_images(rng: np.random.Generator, n: int, h: int = 5, w: int = 4) -> np.ndarray:
    return rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)


def write_split(directory: Path, prefix: str, images: np.ndarray, labels: np.ndarray,
                gz: bool = False, dotted: bool = False) -> None:
    sep = "." if dotted else "-"
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images{sep}idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels)
