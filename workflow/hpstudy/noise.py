"""TensorFlow's start-up lines, kept off the console; every other line passes.

TensorFlow's C++ side writes to file descriptor 2 directly (TF_CPP_MIN_LOG_LEVEL does not
reach the absl lines printed before its logging starts), so the filter sits on the descriptor:
a pipe whose reader thread passes every line except the known start-up noise below. Errors,
tracebacks and warnings not listed here still show.
"""

from __future__ import annotations

import os
import re
import threading

# Printed on every start on a machine without a GPU (or with CUDA hidden, device: cpu) and by
# this TensorFlow/Keras pair; none of them means anything is wrong.
_ALWAYS = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^[IWE]\d{4} .*\] ("
    r"NodeDef mentions attribute use_unbounded_threadpool"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|computation placer already registered"
    r")"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|^TF-TRT Warning: Could not find TensorRT")
# CUDA's driver probe: noise only where no GPU is wanted (CUDA_VISIBLE_DEVICES=-1, which the
# CNN sets for device: cpu) or none exists; with a GPU asked for, a failed cuInit is an error.
_NO_GPU = re.compile(
    r"^[IWE]\d{4} .*\] (Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|(kernel driver|retrieving CUDA diagnostic|hostname|env: CUDA_VISIBLE_DEVICES)"
    r"|CUDA error: Failed call to cuInit)")


def is_noise(line: str) -> bool:
    if _ALWAYS.search(line):
        return True
    return os.environ.get("CUDA_VISIBLE_DEVICES") == "-1" and bool(_NO_GPU.search(line))


class StderrFilter:
    """Descriptor 2 through a pipe; stop() restores it after passing on what is left."""

    def __init__(self):
        self._target = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True,
                                        name="stderr-filter")
        self._thread.start()

    def _pump(self, read_end: int) -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                self._write(lines, end=b"\n")
            if pending:
                self._write([pending], end=b"")

    def _write(self, lines: list[bytes], end: bytes) -> None:
        kept = [line for line in lines if not is_noise(line.decode("utf-8", "replace"))]
        payload = b"\n".join(kept) + end if kept else b""
        while payload:
            payload = payload[os.write(self._target, payload):]

    def stop(self) -> None:
        os.dup2(self._target, 2)  # closes the pipe's last write end: the reader sees EOF
        self._thread.join(timeout=10)
        os.close(self._target)
