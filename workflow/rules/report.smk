from hpstudy.config import config_hash

# The config the results depend on, for the report's setup section (Plan.results_config).
RESULTS_CONFIG = PLAN.results_config


rule evaluate_test:
    input:
        unpack(test_inputs),
    output:
        test_result("{study}"),
    params:
        **job_params(
            objective=PLAN.objective_name,
            settings=PLAN.objective_settings,
            seed=PLAN.seed,
        ),
    threads: job_threads("test")
    resources:
        **job_resources("test"),
    conda:
        "../../envs/train.yaml"
    log:
        "results/logs/{study}/evaluate_test.log",
    shell:
        launch("evaluate_test")


# A few seconds of pandas and matplotlib: not worth a cluster job.
localrules:
    report,


rule report:
    input:
        trials=[trials_table(strategy) for strategy in PLAN.strategies],
        timings=[timings_table(strategy) for strategy in PLAN.strategies],
        tests=[test_result(strategy) for strategy in PLAN.strategies],
        repeats=[path for paths in repeat_trials().values() for path in paths],
        # The setup section: the data's checksum, and the compute of every study.
        data=DATA["metadata"] if PLAN.needs_data else [],
        all_trials=[trials_table(study) for study in PLAN.studies],
        all_timings=[timings_table(study) for study in PLAN.studies],
    output:
        html=report(
            REPORT["html"],
            caption="../report/index.rst",
            category="Report",
        ),
        table=report(
            REPORT["table"],
            caption="../report/comparison.rst",
            category="Report",
        ),
        training_time=report(
            REPORT["training_time"],
            caption="../report/training_time.rst",
            category="Report",
        ),
        repeats=report(
            REPORT["repeats"],
            caption="../report/repeats.rst",
            category="Report",
        ),
        verdict=report(
            REPORT["verdict"],
            caption="../report/verdict.rst",
            category="Report",
        ),
        importance=report(
            REPORT["importance"],
            caption="../report/importance.rst",
            category="Report",
        ),
        resource=report(
            REPORT["resource"],
            caption="../report/resource.rst",
            category="Report",
        ),
        figures=report(
            directory(REPORT["figures"]),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    params:
        **job_params(
            experiment=PLAN.config["experiment"],
            strategies=PLAN.strategies,
            space=PLAN.config["space"],
            margin=PLAN.config["report"]["margin"],
            figures=PLAN.config["report"]["figures"],
            repeats=repeat_trials(),
            fold_metric=PLAN.fold_metric,
            config=RESULTS_CONFIG,
            config_hash=config_hash(RESULTS_CONFIG),
            seed=PLAN.seed,
            budgets={strategy: PLAN.budget(strategy) for strategy in PLAN.strategies},
        ),
    conda:
        "../../envs/report.yaml"
    log:
        "results/logs/report.log",
    shell:
        launch("report")
