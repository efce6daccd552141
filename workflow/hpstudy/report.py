"""The comparison report: figures (matplotlib) and tables (pandas) across strategies.

Written as a self-contained results/report/index.html (figures embedded) with the PNGs and
CSVs beside it.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

from hpstudy import fileio


def load_trials(trials_paths: Mapping[str, str]):
    import pandas as pd

    return {strategy: pd.read_csv(path) for strategy, path in trials_paths.items()}


def best_so_far(table):
    """Running minimum of the objective over trials; failed trials carry the last best."""
    import numpy as np

    values = table["objective"].where(table["status"] == "ok", np.inf)
    return values.cummin().replace(np.inf, np.nan)


def comparison_table(trials):
    import pandas as pd

    rows = []
    for strategy, table in trials.items():
        ok = table[table["status"] == "ok"]
        row = {"strategy": strategy, "trials": len(table), "ok": len(ok),
               "failed_or_diverged": len(table) - len(ok),
               "training_seconds": float(table["duration_s"].sum())}
        if len(ok):
            best = ok.loc[ok["objective"].idxmin()]
            row.update({"best_objective": float(best["objective"]),
                        "best_trial": int(best["trial"])})
        rows.append(row)
    return pd.DataFrame(rows)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    # No Software/date metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def best_so_far_figure(trials):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for strategy, table in trials.items():
        axis.plot(table["trial"] + 1, best_so_far(table), drawstyle="steps-post",
                  label=strategy)
    axis.set_xlabel("trial")
    axis.set_ylabel("best objective so far (lower is better)")
    axis.set_title("Best-so-far per strategy")
    axis.legend()
    figure.tight_layout()
    return figure


def build_report(experiment: str, trials_paths: Mapping[str, str], out_dir: str) -> None:
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    trials = load_trials(trials_paths)
    table = comparison_table(trials)
    fileio.write_text(out / "comparison.csv", table.to_csv(index=False, lineterminator="\n"))
    figure = best_so_far_figure(trials)
    png = _png(figure)
    plt.close(figure)
    fileio.write_bytes(out / "best_so_far.png", png)
    encoded = base64.b64encode(png).decode("ascii")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(experiment)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}</style>
</head><body>
<h1>Hyperparameter study: {html.escape(experiment)}</h1>
<h2>Strategies compared</h2>
{table.to_html(index=False, float_format=lambda v: f"{v:.6g}")}
<h2>Best objective so far</h2>
<img alt="best objective so far per strategy" src="data:image/png;base64,{encoded}">
</body></html>
"""
    fileio.write_text(out / "index.html", page)
