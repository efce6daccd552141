"""One of several concurrent writers for the sqlite concurrency test (tests/test_tracking.py
runs it as a script): logs N synthetic trials (one fold each) of one strategy through
hpstudy.tracking.runs.log_trial."""

import sys
import tempfile
import time
from pathlib import Path

from hpstudy.tracking.runs import log_trial


def main(tracking_path: str, strategy: str, trials: int) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for trial in range(trials):
            fold = {"fold": 0, "seed": trial, "status": "ok", "epochs_run": 2,
                    "metrics": {"val_accuracy": 0.9},
                    "history": {"val_accuracy": [0.8, 0.9], "loss": [1.0, 0.5]}}
            score = {"trial": trial, "seed": trial, "params": {"x": trial / 10, "y": 1.0},
                     "objective": -1.0, "status": "ok",
                     "metrics": {"cv_accuracy_mean": 0.9}}
            timing = {"fold": 0, "fit_seconds": 0.5, "fit_cpu_seconds": 0.4}
            log_trial(tracking_path, strategy, strategy, 0, score, [fold], [timing], None,
                      str(Path(directory) / f"{trial}.json"))
    print(f"{strategy}: {trials} trials in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
