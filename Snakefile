# Hyperparameter study: grid, random, TPE and GP search compared on one objective.
# `snakemake --cores 8` regenerates everything; `snakemake --cores 8 tpe` one strategy.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        trials=expand("results/{strategy}/trials.csv", strategy=STUDY.strategies),
        report="results/report/index.html",


# One target per strategy: data prep and that strategy's study, nothing else. Input
# functions, so that a strategy missing from config fails only when it is asked for.
rule grid:
    input:
        lambda wildcards: strategy_target("grid"),


rule random:
    input:
        lambda wildcards: strategy_target("random"),


rule tpe:
    input:
        lambda wildcards: strategy_target("tpe"),


rule gp:
    input:
        lambda wildcards: strategy_target("gp"),
