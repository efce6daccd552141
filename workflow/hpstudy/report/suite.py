"""The benchmark suite: the same strategies on several benchmarks (test functions, tabular
benchmarks, surrogates), each a study of its own, compared by regret and by ranks.

Regret (load_benchmark): after t trials the *incumbent* is the ok trial (of a multi-fidelity
strategy: at full fidelity, tables.result_mask) with the best *observed* objective so far,
the first on ties: what the strategy would hand over. Its regret is its *noise-free* value
(Objective.noise_free) minus the benchmark's optimum (Objective.optimum) or, when the
objective knows none, minus the least noise-free value of any trial of any strategy and seed
of that benchmark ("regret to the best found"). NaN before the first ok trial. In medians and
ranks a seed without a result counts as worse than any with one (+inf). A multi-fidelity
strategy (successive halving, Hyperband, BOHB) is counted by cost, not by trials: its
`number` is the units of cost spent, one unit what a trial of the benchmark's random search
costs (report.stats.full_evaluation_cost), one row per unit (the incumbent once it is spent),
up to random search's budget: the strategies are compared at equal cost.

Across benchmarks (Demšar 2006, JMLR 7:1-30): within each benchmark the strategies are ranked
by their task mean, the mean over seeds of the final normalised regret
(hpstudy.report.aggregate: regret over the largest any incumbent held on that benchmark; ties
averaged, scipy.stats.rankdata); the Friedman test
(scipy.stats.friedmanchisquare, blocks = benchmarks) asks whether average ranks differ; the
Nemenyi post-hoc test separates two strategies whose average ranks differ by more than the
critical difference CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the studentized range
quantile (infinite degrees of freedom) over sqrt 2. Orders: benchmarks as given, strategies
by first appearance, seeds by repeat number. Figures, sentences, page: hpstudy.report.suite_page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.plan import Plan
from hpstudy.report.aggregate import complete_block, normalised_curves
from hpstudy.report.stats import REFERENCE, by_cost, full_evaluation_cost
from hpstudy.report.tables import cumulative_resource, read_trials, result_mask, trial_numbers

ALPHA = 0.05
SURROGATES = ("replay",)  # objectives whose benchmarks are surrogates of a real study
# Published minima are rounded (hartmann3's -3.86278 lies 2e-6 above the true one): a value
# found this far (relative) below the declared optimum is rounding, and becomes the optimum.
ROUNDING = 1e-5
TRIAL_COLUMNS = ["benchmark", "strategy", "study", "seed", "trial", "number", "objective",
                 "status", "noise_free", "incumbent", "regret", "optimum", "regret_to"]
REGRET_COLUMNS = ["benchmark", "strategy", "regret_to", "seeds", "no_result", "budget",
                  "median_regret", "q25_regret", "q75_regret", "half_budget", "median_regret_half",
                  "mean_normalised_regret"]
RANKED_BY = "mean_normalised_regret"  # the task mean the ranks and the tests across use
FRIEDMAN_COLUMNS = ["test", "strategy", "other", "statistic", "p_value", "k", "n", "alpha",
                    "q_alpha", "critical_difference", "rank", "other_rank", "rank_difference",
                    "exceeds_cd", "note"]


def typed_params(space, row: Mapping[str, Any]) -> dict[str, Any]:
    """A trials.csv row's parameter columns as the objective receives them, in space order:
    floats, ints, or the choice itself (a CSV reads 32 or "relu" back; the choice is 32)."""
    params = {}
    for parameter in space:
        value = row[parameter.name]
        if parameter.kind == "choice":
            match = [c for c in parameter.choices if c == value or str(c) == str(value)]
            if not match:
                raise ValueError(f"{parameter.name}: {value!r} not in {list(parameter.choices)}")
            value = match[0]
        else:
            value = int(round(float(value))) if parameter.kind == "int" else float(value)
        params[parameter.name] = value
    return params


def _finite(value) -> float:
    return math.nan if value is None or not math.isfinite(value) else float(value)


def _incumbents(table: pd.DataFrame) -> list[int | None]:
    """Per trial (in order): the position of the result with the least observed objective
    so far, the first on ties; None before the first."""
    best, incumbent, out = math.inf, None, []
    values = table["objective"].to_numpy(dtype=float)
    for position, (counts, value) in enumerate(zip(result_mask(table), values, strict=True)):
        if counts and value < best:
            best, incumbent = value, position
        out.append(incumbent)
    return out


def objective_optimum(config: Mapping[str, Any]) -> float | None:
    """The benchmark objective's own optimum (Objective.optimum)."""
    plan = Plan(dict(config))
    return plan.objective.optimum(plan.objective_settings, plan.space)


def load_benchmark(name: str, config: Mapping[str, Any], trials_paths: Mapping[str, str]
                   ) -> pd.DataFrame:
    """One row per trial of every study of one benchmark (TRIAL_COLUMNS). config: the
    benchmark's resolved config; trials_paths: {study (`<strategy>` or
    `<strategy>-repeat<r>`): its trials.csv}; a relative path in config (a replayed
    study's) is read from the working directory. `incumbent` is the incumbent's trial id,
    `optimum` what regret is measured to and `regret_to` "optimum" or "best found"."""
    if not trials_paths:
        raise ValueError(f"benchmark {name}: no trials.csv")
    plan = Plan(dict(config))
    objective, settings, space = plan.objective, plan.objective_settings, plan.space
    tables = {study_name: read_trials(path) for study_name, path in trials_paths.items()}
    references = [table for study_name, table in tables.items()
                  if Plan.strategy_of(study_name) == REFERENCE]
    unit = full_evaluation_cost({REFERENCE: references})
    parts = []
    for study_name, table in tables.items():
        missing = [p for p in space.names if p not in table.columns]
        if missing:
            raise ValueError(f"{trials_paths[study_name]}: missing parameter column(s) "
                             f"{', '.join(missing)}")
        noise_free = np.array([
            _finite(objective.noise_free(settings, typed_params(space, row)))
            for row in table[space.names].to_dict("records")])
        incumbents = _incumbents(table)
        trials = table["trial"].astype(int).to_numpy()
        part = pd.DataFrame({
            "benchmark": name, "strategy": Plan.strategy_of(study_name), "study": study_name,
            "seed": Plan.repeat_of(study_name), "trial": trials,
            "number": trial_numbers(table), "objective": table["objective"].to_numpy(float),
            "status": table["status"].astype(str).to_numpy(), "noise_free": noise_free,
            "incumbent": pd.array([None if i is None else trials[i] for i in incumbents],
                                  dtype="Int64"),
            "incumbent_value": [math.nan if i is None else noise_free[i]
                                for i in incumbents]})
        if unit and by_cost(table):
            part["number"] = np.ceil(cumulative_resource(table) / unit - 1e-9).astype(int)
            part = part.groupby("number", sort=True).tail(1)
            part = part[part["number"] <= max(map(len, references))]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    declared = objective_optimum(config)
    found = float(frame["noise_free"].min())  # NaN when none is known
    optimum, regret_to = found, "best found"
    # Found further below the declared optimum than rounding explains: the declaration is
    # wrong, and the best found is what regret can be measured to.
    if declared is not None and not found < declared - ROUNDING * max(1.0, abs(declared)):
        optimum, regret_to = float(np.nanmin([declared, found])), "optimum"
    frame["regret"] = frame.pop("incumbent_value") - optimum
    frame["optimum"], frame["regret_to"] = optimum, regret_to
    return frame[TRIAL_COLUMNS]


def regret_curves(frame: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """{benchmark: {strategy: seeds x trials array of regret}}: seeds by repeat number, a
    shorter seed padded with NaN. A multi-fidelity strategy's by units of cost: a unit that
    no trial of a seed ended in keeps the incumbent of the one before."""
    curves: dict[str, dict[str, np.ndarray]] = {}
    for (benchmark, strategy), group in frame.groupby(["benchmark", "strategy"], sort=False):
        wide = group.pivot(index="seed", columns="number", values="regret").sort_index()
        if len(wide.columns) and wide.columns.max() > len(wide.columns):  # units skipped
            wide = wide.reindex(columns=range(1, wide.columns.max() + 1)).ffill(axis=1)
        curves.setdefault(benchmark, {})[strategy] = wide.to_numpy(dtype=float)
    return curves


def quantiles(values, qs=(0.25, 0.5, 0.75)) -> list[float]:
    """numpy's linear quantiles with NaN (no result) as +inf, worse than every result
    (np.percentile gives NaN between two infinities)."""
    ordered = np.sort(np.where(np.isnan(np.asarray(values, float)), np.inf, values))
    if not len(ordered):
        return [math.nan] * len(qs)
    out = []
    for q in qs:
        position = q * (len(ordered) - 1)
        low = int(math.floor(position))
        a, b = float(ordered[low]), float(ordered[min(low + 1, len(ordered) - 1)])
        fraction = position - low
        out.append(a if fraction == 0 or a == b else
                   a + (b - a) * fraction if math.isfinite(b) else math.inf)
    return out


def regret_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark x strategy: seeds, seeds with no result at the end, budget, median and
    IQR of the final regret, the median regret at half the budget (budget // 2, >= 1), and
    the task mean (RANKED_BY)."""
    regret_to = frame.groupby("benchmark", sort=False)["regret_to"].first()
    rows = []
    curves = regret_curves(frame)
    normalised = normalised_curves(curves)
    for benchmark, strategies in curves.items():
        for strategy, curve in strategies.items():
            budget = curve.shape[1]
            half = max(1, budget // 2)
            q25, median, q75 = quantiles(curve[:, -1])
            rows.append({"benchmark": benchmark, "strategy": strategy,
                         "regret_to": regret_to[benchmark], "seeds": curve.shape[0],
                         "no_result": int(np.isnan(curve[:, -1]).sum()), "budget": budget,
                         "median_regret": median, "q25_regret": q25, "q75_regret": q75,
                         "half_budget": half,
                         "median_regret_half": quantiles(curve[:, half - 1], (0.5,))[0],
                         RANKED_BY: float(normalised[benchmark][strategy][:, -1].mean())})
    return pd.DataFrame(rows, columns=REGRET_COLUMNS)


def score_matrix(regret: pd.DataFrame) -> tuple[list[str], list[str], np.ndarray]:
    """(benchmarks, strategies, benchmarks x strategies task means (RANKED_BY)) of the
    complete block (aggregate.complete_block), in order of first appearance."""
    ran = {benchmark: list(group["strategy"])
           for benchmark, group in regret.groupby("benchmark", sort=False)}
    benchmarks, strategies = complete_block(ran)
    wide = regret.pivot(index="benchmark", columns="strategy", values=RANKED_BY)
    return benchmarks, strategies, wide.loc[benchmarks, strategies].to_numpy(dtype=float)


def rank_table(regret: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: its average rank over benchmarks and its rank on each (a column per
    benchmark; 1 = least mean normalised final regret, ties averaged), best average rank
    first."""
    from scipy.stats import rankdata

    benchmarks, strategies, matrix = score_matrix(regret)
    if {"strategy", "average_rank"} & set(benchmarks):
        raise ValueError("a benchmark cannot be named strategy or average_rank (ranks.csv)")
    ranks = np.vstack([rankdata(row) for row in matrix]) if len(benchmarks) else \
        np.empty((0, len(strategies)))
    frame = pd.DataFrame({"strategy": strategies, "average_rank": ranks.mean(axis=0)})
    for benchmark, row in zip(benchmarks, ranks, strict=True):
        frame[benchmark] = row
    return frame.sort_values("average_rank", kind="stable").reset_index(drop=True)


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """Nemenyi's q_alpha for k strategies (Demšar 2006, Table 5a)."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))


def best_possible_p(k: int, n: int) -> float:
    """The Friedman p when all n benchmarks order the k strategies alike (chi2 = n (k - 1)):
    the smallest it can give."""
    from scipy.stats import chi2

    return float(chi2.sf(n * (k - 1), k - 1))


def benchmarks_needed(k: int, alpha: float = ALPHA) -> int:
    """The fewest benchmarks with which the same order on all of them reaches Friedman
    p < alpha and separates the first strategy from the last by more than CD."""
    n = 2
    while best_possible_p(k, n) >= alpha or critical_difference(k, n, alpha) >= k - 1:
        n += 1
    return n


def friedman_table(regret: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The Friedman test's row (statistic = chi2, k, n = benchmarks, q_alpha, CD), then a
    Nemenyi row per pair of strategies, the better average rank first: ranks, difference,
    exceeds_cd. Needs 3 strategies and 2 benchmarks; else the one row, with a note."""
    from scipy.stats import friedmanchisquare

    ranks = rank_table(regret)
    benchmarks, strategies, matrix = score_matrix(regret)
    k, n = len(strategies), len(benchmarks)
    row: dict[str, Any] = {"test": "friedman", "statistic": math.nan, "p_value": math.nan,
                           "k": k, "n": n, "alpha": alpha, "q_alpha": math.nan,
                           "critical_difference": math.nan, "note": ""}
    rows = [row]
    if k < 3 or n < 2:
        row["note"] = (f"needs at least 3 strategies and 2 benchmarks (here {k} strategies, "
                       f"{n} benchmark{'' if n == 1 else 's'})")
    elif all(len(set(values)) == 1 for values in matrix.tolist()):
        row["note"] = "every benchmark ties all strategies"
    else:
        result = friedmanchisquare(*matrix.T)
        cd = critical_difference(k, n, alpha)
        row.update(statistic=float(result.statistic), p_value=float(result.pvalue),
                   q_alpha=nemenyi_q(k, alpha), critical_difference=cd)
        average = dict(zip(ranks["strategy"], ranks["average_rank"], strict=True))
        for better, other in combinations(ranks["strategy"], 2):
            difference = average[other] - average[better]
            rows.append({"test": "nemenyi", "strategy": better, "other": other, "k": k, "n": n,
                         "alpha": alpha, "q_alpha": row["q_alpha"],
                         "critical_difference": cd, "rank": average[better],
                         "other_rank": average[other], "rank_difference": difference,
                         "exceeds_cd": bool(difference > cd), "note": ""})
    frame = pd.DataFrame(rows, columns=FRIEDMAN_COLUMNS)
    frame["exceeds_cd"] = pd.array(frame["exceeds_cd"].tolist(), dtype="boolean")
    return frame
