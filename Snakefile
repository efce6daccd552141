# Hyperparameter study: search strategies (grid, random, TPE, GP, ...) compared on one objective.
# `snakemake --cores 8` regenerates everything; `snakemake --cores 8 tpe` one strategy.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/jobs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/tracking.smk"


rule all:
    default_target: True
    input:
        # Each strategy's trials.csv and every trial's MLflow marker: listed here so that a
        # marker lost to a failed log is made again even when later files exist.
        studies=[strategy_target(strategy) for strategy in PLAN.strategies],
        report=REPORT["html"],
        studies_logged=[study_logged(study) for study in PLAN.studies],


# One target per strategy module (`snakemake --cores 8 tpe`): data prep and that strategy's
# studies (all its seeds). Input functions, so that a strategy missing from config fails only
# when it is asked for.
for strategy_name in STRATEGY_NAMES:

    rule:
        name:
            strategy_name
        input:
            lambda wildcards, strategy=strategy_name: strategy_target(strategy),
