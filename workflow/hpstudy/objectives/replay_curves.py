"""A finished network study's learning curves as the replay objective's source: one row per
trial and epoch, what the trial's CV score would have been had its fits stopped after that
epoch (hpstudy.objectives.replay with `epochs`: a multi-fidelity surrogate whose fidelity is
real epochs).

Read from the study's results: its trials.csv (params, in its column order) and each ok
trial's fold records (results/<study>/trials/<t>/fold_<k>.json), whose `history` holds the
validation accuracy after every epoch. A row's `fold_<k>_accuracy` is fold k's after `epoch`
epochs and its objective log10(1 - their mean), floored as the network's own score
(keras_classifier.ERROR_FLOOR). Trials not ok, or a fold without that epoch, are left out.

    PYTHONPATH=workflow python -m hpstudy.objectives.replay_curves results/grid OUT.csv
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from hpstudy.objectives.keras_classifier import ERROR_FLOOR

METRIC = "val_accuracy"  # the per-epoch history key a row's accuracies come from
FOLD_RECORD = re.compile(r"fold_(\d+)\.json")  # hpstudy.paths.fold_file's name


def curves_table(study_dir: str):
    """The curves of the study in `study_dir` (results/<study>) as a DataFrame: trial,
    round, the params, epoch, objective, status, fold_<k>_accuracy."""
    import pandas as pd

    study = Path(study_dir)
    trials = pd.read_csv(study / "trials.csv")
    columns = list(trials.columns)
    names = columns[columns.index("round") + 1:columns.index("objective")]
    rows = []
    for trial in trials[trials["status"] == "ok"].itertuples(index=False):
        trial = trial._asdict()
        records = {int(found[1]): path for path in
                   (study / "trials" / str(trial["trial"])).iterdir()
                   if (found := FOLD_RECORD.fullmatch(path.name))}  # not fold_<k>_timing
        folds = [records[k] for k in sorted(records)]
        curves = [json.loads(path.read_text(encoding="utf-8"))["history"].get(METRIC, [])
                  for path in folds]
        if not curves:
            raise ValueError(f"{study}: trial {trial['trial']} has no fold records")
        for epoch in range(1, max(map(len, curves)) + 1):
            accuracies = [c[epoch - 1] if len(c) >= epoch else None for c in curves]
            if any(a is None or not math.isfinite(a) for a in accuracies):
                continue
            mean = sum(accuracies) / len(accuracies)
            rows.append({"trial": trial["trial"], "round": trial["round"],
                         **{name: trial[name] for name in names}, "epoch": epoch,
                         "objective": math.log10(max(1.0 - mean, ERROR_FLOOR)),
                         "status": "ok",
                         **{f"fold_{k}_accuracy": a for k, a in enumerate(accuracies)}})
    if not rows:
        raise ValueError(f"{study}: no ok trial with per-epoch {METRIC}")
    return pd.DataFrame(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    from hpstudy import fileio

    table = curves_table(argv[0])
    fileio.write_text(argv[1], table.to_csv(index=False))
    print(f"{argv[1]}: {table['trial'].nunique()} trials x {table['epoch'].max()} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
