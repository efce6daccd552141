"""The benchmark suite's figures and page: regret curves (a panel per benchmark), the average
ranks with the Nemenyi critical difference, the verdict sentences and setup lines, then
build_suite_report, which writes the tables (hpstudy.report.suite, and across benchmarks
hpstudy.report.aggregate), the PNGs and index.html into one directory, each file atomically
(hpstudy.fileio). The same inputs give the same bytes (hpstudy.report: no PNG metadata, no
timestamp, every order from the inputs)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hpstudy import fileio
from hpstudy.plan import Plan
from hpstudy.report import aggregate as across
from hpstudy.report.aggregate_figures import critical_difference_figure, interval_figure
from hpstudy.report.page import environment, html_table
from hpstudy.report.plotting import new_figure, render_png, strategy_colour
from hpstudy.report.stats import RESOURCE_COLUMNS, nan_stats, resource_to_reference
from hpstudy.report.suite import (
    ALPHA,
    SURROGATES,
    benchmarks_needed,
    best_possible_p,
    critical_difference,
    friedman_table,
    load_benchmark,
    objective_optimum,
    rank_table,
    regret_curves,
    regret_table,
)
from hpstudy.report.tables import read_trials
from hpstudy.strategies import strategy_class

PANELS_PER_ROW = 3
CAPTIONS = {
    "regret_curves": "Regret of the incumbent (the trial with the best observed objective so "
                     "far) by trial, one panel per benchmark: per strategy the median over "
                     "seeds (line) and the interquartile range (band). The regret is the "
                     "incumbent's noise-free value minus the benchmark's optimum (or the best "
                     "noise-free value found, where the panel says so). Log scale where regrets "
                     "are positive; a regret of 0 is drawn at the bottom, as the panel notes. "
                     "A seed without an ok trial yet is left out until it has one.",
    "critical_difference": "Critical-difference diagram: each strategy at its average rank "
                           "over the benchmarks by mean final normalised regret (1 = least, "
                           "on the left). A thick bar joins strategies that no pairwise "
                           "Wilcoxon signed-rank test over the benchmarks, Holm-corrected, "
                           "tells apart (pairwise.csv).",
    "intervals": "Per strategy, the interquartile mean (IQM: the mean of the middle 50 %) over "
                 "every benchmark and seed of the final normalised regret (left) and of the "
                 "area under its normalised regret curve (right: anytime performance), with "
                 "95 % stratified bootstrap intervals (aggregate.csv). 0 is the optimum, 1 the "
                 "worst incumbent any run held on that benchmark.",
    "average_ranks": "Each strategy's average rank over the benchmarks (1 = least mean "
                     "normalised final regret). With a Friedman test, each bar is half the Nemenyi "
                     "critical difference either side: two strategies whose bars do not "
                     "overlap differ by more than the critical difference.",
}


def regret_curves_figure(curves: Mapping[str, Mapping[str, np.ndarray]],
                         regret_to: Mapping[str, str], strategies: Sequence[str],
                         surrogates: Sequence[str] = ()) -> Figure:
    """curves: suite.regret_curves. regret_to: {benchmark: "optimum" | "best found"};
    strategies: the colour order; surrogates: benchmarks to title as surrogates."""
    names = list(curves)
    columns = max(1, min(PANELS_PER_ROW, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    figure = new_figure(4.2 * columns, 3.4 * rows)
    for index, benchmark in enumerate(names):
        axis = figure.add_subplot(rows, columns, index + 1)
        panel = curves[benchmark]
        values = np.concatenate([curve.ravel() for curve in panel.values()])
        positive = values[np.isfinite(values) & (values > 0)]
        floor = float(positive.min()) / 2 if len(positive) else None
        clipped = False
        for strategy, curve in panel.items():
            median, q25, q75 = (np.asarray(v, float) for v in nan_stats(curve, axis=0))
            if floor is not None:  # log axis: 0 (the optimum found) drawn at the floor
                clipped |= bool(np.any(np.where(np.isnan(q25), np.inf, q25) < floor))
                median, q25, q75 = (np.maximum(v, floor) for v in (median, q25, q75))
            x = np.arange(1, curve.shape[1] + 1)
            colour = strategy_colour(strategy, strategies)
            axis.plot(x, median, "o-", markersize=3, color=colour,
                      label=f"{strategy} ({curve.shape[0]} seeds)")
            axis.fill_between(x, q25, q75, color=colour, alpha=0.2, linewidth=0)
        if floor is not None:
            axis.set_yscale("log")
        if clipped:
            axis.text(0.98, 0.02, f"0 drawn at {floor:.2g}", transform=axis.transAxes,
                      ha="right", va="bottom", fontsize=7, color="#555")
        surrogate = " (surrogate)" if benchmark in surrogates else ""
        axis.set_title(f"{benchmark}{surrogate}", fontsize=10)
        axis.set_xlabel("trial (multi-fidelity: full evaluations' worth of cost)"
                        if multi_fidelity(panel) else "trial")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("regret" if regret_to[benchmark] == "optimum"
                        else "regret to the best found")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def average_rank_figure(ranks: pd.DataFrame, friedman: pd.DataFrame,
                        strategies: Sequence[str]) -> Figure:
    """suite.rank_table's strategies (best first, on top) at their average rank, with bars
    of half the critical difference either side when suite.friedman_table has one."""
    k = len(ranks)
    test = friedman.iloc[0]
    cd = float(test["critical_difference"])
    figure = new_figure(7.0, 1.6 + 0.45 * max(k, 1))
    axis = figure.add_subplot()
    y = np.arange(k)[::-1].astype(float)
    average = ranks["average_rank"].to_numpy(dtype=float)
    for row, strategy, rank in zip(y, ranks["strategy"], average, strict=True):
        colour = strategy_colour(strategy, strategies)
        if math.isfinite(cd):
            axis.plot([rank - cd / 2, rank + cd / 2], [row, row], color=colour, linewidth=4,
                      alpha=0.35, solid_capstyle="butt")
        axis.plot([rank], [row], "o", color=colour, markersize=8)
        axis.annotate(f"{rank:.3g}", (rank, row), textcoords="offset points", xytext=(0, 7),
                      ha="center", fontsize=8)
    half = cd / 2 if math.isfinite(cd) else 0.0
    low = min([1.0, *(average - half)]) - 0.3
    high = max([float(max(k, 1)), *(average + half)]) + 0.3
    axis.set_xlim(low, high)
    axis.set_ylim(-0.8, k - 0.2 + (0.8 if math.isfinite(cd) else 0))
    axis.set_yticks(y, labels=list(ranks["strategy"]))
    n = int(test["n"])
    axis.set_xlabel(f"average rank over {n} benchmark{'' if n == 1 else 's'} "
                    f"(1 = least mean normalised final regret)")
    if math.isfinite(cd):  # the critical difference as a scale bar, from rank 1
        axis.plot([1.0, 1.0 + cd], [k - 0.1] * 2, color="black", linewidth=1.5)
        axis.text(1.0 + cd / 2, k - 0.05, f"CD = {cd:.3g}", ha="center", va="bottom",
                  fontsize=8)
        axis.set_title(f"Friedman p = {float(test['p_value']):.3g}; Nemenyi critical "
                       f"difference at alpha {float(test['alpha']):g}", fontsize=10)
    else:
        axis.set_title(f"No Friedman test: it {test['note']}", fontsize=9)
    axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _g(value: float) -> str:
    return f"{value:.3g}"


def suite_sentences(ranks: pd.DataFrame, friedman: pd.DataFrame) -> list[str]:
    """The verdict line, then what the number of benchmarks lets the tests show."""
    test = friedman.iloc[0]
    k, n, alpha, p, cd = (int(test["k"]), int(test["n"]), float(test["alpha"]),
                          test["p_value"], test["critical_difference"])
    plural = "" if n == 1 else "s"
    listed = ", ".join(f"{s} {_g(r)}" for s, r in zip(ranks["strategy"], ranks["average_rank"],
                                                      strict=True))
    head = (f"Across {n} benchmark{plural}, average ranks (1 = least mean normalised final "
            f"regret): {listed}")
    if test["note"]:
        verdict = f"{head}; no Friedman test: it {test['note']}."
    elif p >= alpha:
        verdict = (f"{head}; Friedman p = {_g(p)}: no difference detectable with {n} "
                   f"benchmark{plural}.")
    else:
        pairs = friedman[(friedman["test"] == "nemenyi") & friedman["exceeds_cd"].fillna(False)]
        beats = [f"{r.strategy} beats {r.other} by more than the critical difference {_g(cd)} "
                 f"(rank difference {_g(r.rank_difference)})" for r in pairs.itertuples()]
        verdict = (f"{head}; Friedman p = {_g(p)}; " + "; ".join(beats) + "." if beats else
                   f"{head}; Friedman p = {_g(p)}, but no two strategies differ by more than "
                   f"the critical difference {_g(cd)} (Nemenyi, alpha {alpha:g}).")
    if k < 3 or n < 2:
        fewest = f" (it would take {benchmarks_needed(k, alpha)})" if k >= 3 else ""
        return [verdict, f"With {k} strategies and {n} benchmark{plural} no test across "
                         f"benchmarks applies{fewest}; regret.csv compares them per benchmark."]
    best_p, cd = best_possible_p(k, n), critical_difference(k, n, alpha)
    power = (f"With {n} benchmarks and {k} strategies even the same order on every benchmark "
             f"gives Friedman p = {_g(best_p)} at best, so "
             + ("no difference can be detected" if best_p >= alpha else
                "only a difference that nearly every benchmark agrees on can show")
             + f"; the critical difference {_g(cd)} "
             + (f"exceeds the largest possible rank difference, {k - 1}, so no two strategies "
                f"can be told apart" if cd >= k - 1 else
                f"is what two average ranks must differ by (at most {k - 1}) to tell apart")
             + f". {benchmarks_needed(k, alpha)} benchmarks are the fewest with which both tests"
               f" can show a difference every benchmark agrees on, and the Friedman test's "
               f"chi-squared approximation is rough with fewer than about 10 (Demšar 2006).")
    return [verdict, power]


def left_out_sentences(ran: dict[str, list[str]], compared: list[str],
                       ranked: list[str]) -> list[str]:
    """What the comparisons across benchmarks leave out to have complete blocks
    (aggregate.complete_block), and why: none when every strategy ran everywhere."""
    sentences = []
    for strategy in dict.fromkeys(s for strategies in ran.values() for s in strategies):
        if strategy not in ranked:
            missing = [b for b, strategies in ran.items() if strategy not in strategies]
            present = [b for b in ran if b not in missing]
            where = (f"it ran only on {', '.join(present)}" if len(present) < len(missing)
                     else f"it did not run on {', '.join(missing)}")
            sentences.append(f"{strategy} is left out of the comparisons across benchmarks: "
                             f"{where}.")
    skipped = [b for b in ran if b not in compared]
    if skipped:
        why = {b: [s for s in ranked if s not in ran[b]] for b in skipped}
        sentences.append("Left out of the comparisons across benchmarks (every strategy "
                         "compared must have run on each): " + "; ".join(
                             f"{b} (no {', '.join(why[b])})" for b in skipped)
                         + ". Their results per benchmark are in the regret table and figures.")
    return sentences


# pairwise.csv's columns on the page, with short headers (the CSV keeps every column).
PAIRWISE_SHOWN = {"strategy": "strategy", "other": "against", "wins": "better on",
                  "losses": "worse on", "p_holm": "p (Holm)", "significant": "significant",
                  "difference_estimate": "difference", "difference_low": "95 % CI low",
                  "difference_high": "95 % CI high",
                  "probability_of_improvement": "P(improvement)",
                  "improvement_low": "P low", "improvement_high": "P high"}


def aggregate_sentences(aggregate: pd.DataFrame, pairwise: pd.DataFrame,
                        by_kind: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """What the normalised regret says across benchmarks: each strategy's IQM with its
    interval, best first; which pairs the Holm-corrected tests separate; and, where the
    benchmarks are of several kinds, which strategies rank best on each kind."""
    if not len(aggregate):
        return []
    n = int(aggregate["benchmarks"].iloc[0])
    listed = "; ".join(f"{r.strategy} {_g(r.iqm_final)} [{_g(r.iqm_final_low)}, "
                       f"{_g(r.iqm_final_high)}]" for r in aggregate.itertuples())
    lines = [f"Final normalised regret (0 = the optimum, 1 = the worst incumbent seen), IQM "
             f"over {n} benchmark{'' if n == 1 else 's'} and their seeds with 95 % intervals, "
             f"by average rank: {listed}."]
    if not len(pairwise):
        return lines
    separated = pairwise[pairwise["significant"].fillna(False).astype(bool)]
    if len(separated):
        said = [f"{r.strategy} beats {r.other} (better on {r.wins} of {r.benchmarks}, "
                f"p = {_g(r.p_holm)}, P(improvement) {_g(r.probability_of_improvement)})"
                for r in separated.itertuples()]
        rest = len(pairwise) - len(separated)
        lines.append(f"Wilcoxon signed-rank over benchmarks on task means, Holm-corrected at "
                     f"alpha {alpha:g}: " + "; ".join(said)
                     + (f"; the other {rest} pair{'' if rest == 1 else 's'} not told apart."
                        if rest else "."))
    else:
        lines.append(f"Wilcoxon signed-rank over benchmarks on task means, Holm-corrected at "
                     f"alpha {alpha:g}: no pair of strategies told apart with {n} "
                     f"benchmark{'' if n == 1 else 's'}.")
    if by_kind["kind"].nunique() > 1:
        parts = []
        for kind, rows in by_kind.groupby("kind", sort=False):
            count = int(rows["benchmarks"].iloc[0])
            ranked = ", ".join(f"{r.strategy} {_g(r.average_rank)}" for r in rows.itertuples())
            parts.append(f"{kind} ({count} benchmark{'' if count == 1 else 's'}): {ranked}")
        lines.append("By kind of benchmark, average rank by task mean: " + "; ".join(parts)
                     + " (too few benchmarks per kind for tests: by_kind.csv).")
    return lines


def _settings(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value) if isinstance(value, list | dict) else value}"
                     for key, value in settings.items() if value is not None) or "defaults"


def _kind(config: Mapping[str, Any]) -> str:
    plan = Plan(dict(config))
    return plan.objective.kind(plan.objective_settings)


def _surrogate_check(plan: Plan) -> str:
    from hpstudy.objectives.replay import holdout_check

    check = holdout_check(plan.objective_settings, plan.space)
    return (f"; checked against the real study it replays, by 5-fold hold-out over its "
            f"{check['trials']} ok trials: Spearman {check['spearman']:.3f}, RMSE "
            f"{check['rmse']:.3g}, MAE {check['mae']:.3g} (its fold-to-fold standard "
            f"deviation: {check['fold_std']:.3g})")


def setup_lines(benchmarks: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]],
                frame: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """(benchmark, is a surrogate, its setup in one line): objective and settings, space,
    each strategy's budget (config) and seeds (found), what regret is measured to, and for
    a surrogate how well it predicts the real study it replays (held-out trials)."""
    lines = []
    for name, (config, _) in benchmarks.items():
        plan = Plan(dict(config))
        rows = frame[frame["benchmark"] == name]
        surrogate = plan.objective_name in SURROGATES
        seeds = rows.groupby("strategy", sort=False)["seed"].nunique()
        runs = ", ".join(f"{s} {plan.budget(s)} trials x {seeds[s]} seed"
                         f"{'' if seeds[s] == 1 else 's'}" for s in seeds.index)
        optimum = float(rows["optimum"].iloc[0])
        declared = objective_optimum(config)
        if rows["regret_to"].iloc[0] == "optimum":
            target = f"regret to the optimum {optimum:.6g}"
        elif declared is None:
            target = (f"regret to the best found, {optimum:.6g} (the objective knows no "
                      f"optimum in this space)")
        else:
            target = (f"regret to the best found, {optimum:.6g}, which lies below the "
                      f"declared optimum {declared:.6g}")
        kind = "surrogate" if surrogate else plan.objective.label
        lines.append((name, surrogate,
                      f"{name}: {plan.objective_name} objective ({kind}; "
                      f"{_settings(plan.objective_settings)}); space "
                      f"{', '.join(plan.space.names)}; {runs}; {target}"
                      f"{_surrogate_check(plan) if surrogate else ''}."))
    return lines


def multi_fidelity(strategies) -> bool:
    return any(strategy_class(s).multi_fidelity for s in strategies)


def resource_table(benchmarks: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]]
                   ) -> pd.DataFrame:
    """Per benchmark with multi-fidelity strategies: each one's resource to reach random
    search's final best, paired by seed (report.stats.resource_to_reference)."""
    parts = []
    for name, (_, paths) in benchmarks.items():
        if not multi_fidelity({Plan.strategy_of(study) for study in paths}):
            continue  # only these benchmarks' tables are read a second time
        seeds: dict[str, list[pd.DataFrame]] = {}
        for study in sorted(paths, key=Plan.repeat_of):  # strategies in the config's order
            seeds.setdefault(Plan.strategy_of(study), []).append(read_trials(paths[study]))
        table = resource_to_reference(seeds)
        if len(table):
            parts.append(table.assign(benchmark=name))
    columns = ["benchmark", *RESOURCE_COLUMNS]
    return pd.concat(parts, ignore_index=True)[columns] if parts \
        else pd.DataFrame(columns=columns)


def resource_sentences(resource: pd.DataFrame) -> list[str]:
    """The multi-fidelity strategies' cost to reach random search's final best, one
    sentence for all."""
    if not len(resource):
        return []
    parts = [f"{row.strategy} {row.median_fraction:.2g} on {row.benchmark} ({row.reached} of "
             f"{row.seeds} seeds got there)" for row in resource.itertuples()]
    return ["Multi-fidelity, by cost: the median share of random search's resource spent to "
            "reach its final best of the same seed (below 1/3: three times cheaper; inf: most "
            "seeds never got there): " + "; ".join(parts) + " (resource.csv)."]


def _write_csv(path: Path, frame: pd.DataFrame) -> str:
    fileio.write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    return str(path)


def build_suite_report(benchmarks: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]],
                       out_dir: str, *, title: str = "Benchmark suite", alpha: float = ALPHA,
                       seed: int | None = None) -> dict[str, Any]:
    """Write the suite's report into out_dir: regret_trials.csv (suite.load_benchmark's rows
    of every benchmark), regret.csv, ranks.csv, friedman.csv, aggregate.csv, pairwise.csv and
    by_kind.csv (hpstudy.report.aggregate), regret_curves.png, critical_difference.png,
    intervals.png, average_ranks.png and index.html (figures as data URIs, tables inline).

    benchmarks: {name: (its resolved config, {study: trials.csv path})}, in page order; a
    relative path in a config is read from the working directory. seed: the bootstrap's
    (default: the first benchmark config's `seed`). Returns {"html": path, "tables": {name:
    path}, "figures": {name: path}, "sentences": [the verdict line, what the number of
    benchmarks lets the tests show, then what normalised regret says across benchmarks]}.
    """
    if not benchmarks:
        raise ValueError("no benchmark to report on")
    out = Path(out_dir)
    frame = pd.concat([load_benchmark(name, config, paths)
                       for name, (config, paths) in benchmarks.items()], ignore_index=True)
    strategies = list(dict.fromkeys(frame["strategy"]))
    if seed is None:
        seed = int(next(iter(benchmarks.values()))[0].get("seed", 0))
    regret = regret_table(frame)
    ranks = rank_table(regret)
    friedman = friedman_table(regret, alpha)
    curves = regret_curves(frame)
    normalised = across.normalised_curves(curves)
    compared, ranked = across.complete_block(normalised)
    finals = {b: {s: v for s, v in per.items() if s in ranked}
              for b, per in across.final_scores(normalised).items() if b in compared}
    aucs = {b: per for b, per in across.auc_scores(normalised).items() if b in compared}
    mean_ranks = across.average_ranks(across.task_means(finals, ranked))
    order = list(mean_ranks.index)
    pairwise = across.pairwise_table(finals, order, seed, alpha)
    aggregate = across.aggregate_table(finals, aucs, mean_ranks, seed)
    kinds = {name: _kind(config) for name, (config, _) in benchmarks.items()}
    by_kind = across.kind_table(across.task_means(finals, order), kinds)
    resource = resource_table(benchmarks)
    sentences = suite_sentences(ranks, friedman) + left_out_sentences(
        {b: list(per) for b, per in curves.items()}, compared, ranked) + aggregate_sentences(
        aggregate, pairwise, by_kind, alpha) + resource_sentences(resource)
    tables = {"regret_trials": frame, "regret": regret, "ranks": ranks, "friedman": friedman,
              "aggregate": aggregate, "pairwise": pairwise, "by_kind": by_kind,
              "resource": resource}
    written: dict[str, Any] = {"html": str(out / "index.html"), "sentences": sentences,
                               "tables": {name: _write_csv(out / f"{name}.csv", table)
                                          for name, table in tables.items()},
                               "figures": {}}
    setup = setup_lines(benchmarks, frame)
    regret_to = dict(zip(regret["benchmark"], regret["regret_to"], strict=True))
    figures = {
        "critical_difference": critical_difference_figure(
            mean_ranks, across.cliques(order, pairwise), strategies, len(finals)),
        "intervals": interval_figure(aggregate, strategies),
        "regret_curves": regret_curves_figure(
            curves, regret_to, strategies,
            [name for name, surrogate, _ in setup if surrogate]),
        "average_ranks": average_rank_figure(ranks, friedman, strategies),
    }
    images = {}
    for name, figure in figures.items():
        png = render_png(figure)
        figure.clear()
        fileio.write_bytes(out / f"{name}.png", png)
        written["figures"][name] = str(out / f"{name}.png")
        images[name] = base64.b64encode(png).decode("ascii")
    page = environment().get_template("suite.html.j2").render(
        title=title, strategies=strategies, benchmarks=list(benchmarks),
        sentences=sentences, setup=setup, images=images, captions=CAPTIONS,
        regret=Markup(html_table(regret)), ranks=Markup(html_table(ranks)),
        friedman=Markup(html_table(friedman)), aggregate=Markup(html_table(aggregate)),
        by_kind=Markup(html_table(by_kind)),
        resource=Markup(html_table(resource)) if len(resource) else None,
        pairwise=Markup(html_table(pairwise[list(PAIRWISE_SHOWN)].rename(
            columns=PAIRWISE_SHOWN))),
        best_found=any(to != "optimum" for to in regret_to.values()))
    fileio.write_text(out / "index.html", page)
    return written
