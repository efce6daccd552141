"""The benchmark suite's report (hpstudy.report.suite_page.build_suite_report).

params: configs ({benchmark: its config without execution and tracking}, in page order),
trials ({benchmark: {study: trials.csv path}}: every one also an input). output: html; the
CSVs and figures are written beside it.
"""

from pathlib import Path

from hpstudy.jobs import setup_logging
from hpstudy.report.suite_page import build_suite_report

setup_logging(snakemake.log[0] if snakemake.log else None)
configs, trials = snakemake.params.configs, snakemake.params.trials
build_suite_report({name: (config, dict(trials[name])) for name, config in configs.items()},
                   out_dir=str(Path(snakemake.output.html).parent))
