from pathlib import Path

from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.report import build_report
from hpstudy.report.setup_section import compute_totals
from hpstudy.space import SearchSpace

setup_logging(snakemake.log[0])
strategies = snakemake.params.strategies
tests = {s: read_json(p) for s, p in zip(strategies, snakemake.input.tests, strict=True)}
trials, fit_cpu_seconds = compute_totals(snakemake.input.all_trials, snakemake.input.all_timings)
setup = {
    "config": snakemake.params.config,
    "config_hash": snakemake.params.config_hash,
    "budgets": snakemake.params.budgets,
    "data": read_json(snakemake.input.data) if snakemake.input.data else None,
    "trials": trials,
    "fit_cpu_seconds": fit_cpu_seconds,
}
build_report(
    experiment=snakemake.params.experiment,
    trials_paths=dict(zip(strategies, snakemake.input.trials, strict=True)),
    timings_paths=dict(zip(strategies, snakemake.input.timings, strict=True)),
    out_dir=str(Path(snakemake.output.html).parent),
    figures_dir=snakemake.output.figures,
    space=SearchSpace.from_config(snakemake.params.space),
    margin=snakemake.params.margin,
    test_results={s: t for s, t in tests.items() if t.get("status") != "no_ok_trial"},
    repeats=snakemake.params.repeats or None,
    fold_metric=snakemake.params.fold_metric,
    setup=setup,
    seed=snakemake.params.seed,
    figures=snakemake.params.figures,
)
