"""Run one benchmark's study with the workflow's own Snakefile (hpstudy.suite)."""

from pathlib import Path

from hpstudy.suite import run_benchmark, tracking_uri

run_benchmark(Path(snakemake.scriptdir).parents[1], snakemake.params.name, snakemake.threads,
              snakemake.log[0], tracking_uri())
