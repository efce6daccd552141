# MLflow: the DB is created once (init_tracking) before any trial is logged; each trial is
# logged as soon as it is scored; a study's parent run is closed once the report exists.


rule init_tracking:
    output:
        TRACKING,
    params:
        experiment=STUDY.config["experiment"],
        strategies=STUDY.strategies,
        config_hash=STUDY.hash,
        tracking_uri=TRACKING_URI_REDACTED,
    conda:
        "../../envs/tracking.yaml"
    log:
        "results/logs/init_tracking.log",
    script:
        "../scripts/init_tracking.py"


rule log_trial:
    input:
        unpack(log_trial_inputs),
    output:
        logged_file("{strategy}", "{trial}"),
    params:
        round=lambda w: STUDY.round_of(w.strategy, int(w.trial)),
        tracking_uri=TRACKING_URI_REDACTED,
    conda:
        "../../envs/tracking.yaml"
    log:
        "results/logs/{strategy}/log_trial_{trial}.log",
    script:
        "../scripts/log_trial.py"


rule finish_study:
    input:
        tracking=TRACKING,
        trials="results/{strategy}/trials.csv",
        logged=lambda w: [logged_file(w.strategy, t) for t in STUDY.trials(w.strategy)],
        report=["results/report/index.html", "results/report/comparison.csv"],
        figures="results/report/figures",
        test="results/{strategy}/test.json",
    output:
        "results/{strategy}/mlflow_study.json",
    params:
        tracking_uri=TRACKING_URI_REDACTED,
    conda:
        "../../envs/tracking.yaml"
    log:
        "results/logs/{strategy}/finish_study.log",
    script:
        "../scripts/finish_study.py"
