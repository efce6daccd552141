# Benchmark suite: every strategy x several benchmark problems x many seeds, and a report
# across them (docs/benchmarking.md):
#   snakemake --snakefile workflow/suite.smk --cores 8
# config/benchmark_suite.yaml by default; --configfile F --replace-workflow-config for
# another (config/benchmark_suite_quick.yaml: the small one CI runs). Each benchmark is an
# ordinary study in results/suite/<benchmark>/, run by the workflow's own Snakefile.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/benchmark_suite.yaml"


sys.path.insert(0, workflow.basedir)

from hpstudy.config import ConfigError
from hpstudy.plan import Plan
from hpstudy.paths import REPORT, trials_table
from hpstudy.suite import (
    SUITE_CORES_ENV,
    SUITE_REPORT,
    benchmark_config_file,
    benchmark_dir,
    study_configs,
    written_config,
)

try:
    BENCHMARKS = study_configs(config)
except ConfigError as error:
    # The message alone, exit status 1 (a WorkflowError would be framed: see common.smk).
    sys.exit(str(error))
PLANS = {name: Plan.from_config(benchmark) for name, benchmark in BENCHMARKS.items()}
# Every core for each benchmark's own run (the benchmark rules below; set, not required).
os.environ[SUITE_CORES_ENV] = str(workflow.cores)


def in_benchmark(name, path):
    """A file of the benchmark's study, seen from here."""
    return f"{benchmark_dir(name)}/{path}"


def benchmark_outputs(name):
    """What a benchmark's study leaves that the suite reads: its trials tables and report."""
    return {
        "trials": [
            in_benchmark(name, trials_table(study)) for study in PLANS[name].studies
        ],
        "report": in_benchmark(name, REPORT["html"]),
    }


rule all:
    default_target: True
    input:
        SUITE_REPORT["html"],


rule benchmark_config:
    output:
        benchmark_config_file("{benchmark}"),
    params:
        config=lambda wildcards: written_config(
            wildcards.benchmark, BENCHMARKS[wildcards.benchmark]
        ),
    log:
        "results/suite/logs/{benchmark}_config.log",
    localrule: True
    conda:
        "../envs/suite.yaml"
    script:
        "scripts/write_benchmark_config.py"


# One rule per benchmark (its outputs are its own studies'). Each claims half the cores, so
# that two benchmarks run at once, and runs its study with all of them: a benchmark's last
# jobs (its report, its study runs' closing) run one at a time and left the other cores
# idle, a fifth of a benchmark's wall time on 2 cores (measured: 432 CPU s in 272 s); the
# other benchmark fills them. A benchmark run alone still has every core.
for benchmark_name in BENCHMARKS:

    rule:
        name:
            f"benchmark_{benchmark_name.replace('-', '_')}"
        input:
            config=benchmark_config_file(benchmark_name),
        output:
            **benchmark_outputs(benchmark_name),
        params:
            name=benchmark_name,
        log:
            f"results/suite/logs/{benchmark_name}.log",
        threads: max(1, workflow.cores // 2)
        localrule: True
        conda:
            "../envs/suite.yaml"
        script:
            "scripts/run_benchmark.py"


rule suite_report:
    input:
        trials=[path for name in BENCHMARKS for path in benchmark_outputs(name)["trials"]],
    output:
        **SUITE_REPORT,
    params:
        configs={name: PLANS[name].results_config for name in BENCHMARKS},
        trials={
            name: {
                study: in_benchmark(name, trials_table(study))
                for study in PLANS[name].studies
            }
            for name in BENCHMARKS
        },
    log:
        "results/suite/logs/report.log",
    localrule: True
    conda:
        "../envs/suite.yaml"
    script:
        "scripts/suite_report.py"
