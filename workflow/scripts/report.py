from pathlib import Path

from hpstudy.jobs import setup_logging
from hpstudy.report import build_report

setup_logging(snakemake.log[0])
build_report(
    experiment=snakemake.params.experiment,
    trials_paths=dict(zip(snakemake.params.strategies, snakemake.input.trials, strict=True)),
    out_dir=str(Path(snakemake.output.html).parent),
)
