"""Run one benchmark's study with the workflow's own Snakefile (hpstudy.suite), with every
core of the suite's run (the rule claims half of them: workflow/suite.smk)."""

from pathlib import Path

from hpstudy.suite import run_benchmark, suite_cores, tracking_uri

run_benchmark(Path(snakemake.scriptdir).parents[1], snakemake.params.name,
              suite_cores(snakemake.threads), snakemake.log[0], tracking_uri())
