rule report:
    input:
        trials=expand("results/{strategy}/trials.csv", strategy=STUDY.strategies),
    output:
        html="results/report/index.html",
        table="results/report/comparison.csv",
        figure="results/report/best_so_far.png",
    params:
        experiment=STUDY.config["experiment"],
        strategies=STUDY.strategies,
    conda:
        "../../envs/report.yaml"
    log:
        "results/logs/report.log",
    script:
        "../scripts/report.py"
