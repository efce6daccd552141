rule propose:
    input:
        unpack(propose_inputs),
    output:
        round_file("{study}", "{round}"),
    params:
        strategy=lambda w: STUDY.strategy_of(w.study),
        space=STUDY.config["space"],
        settings=lambda w: STUDY.settings(w.study),
        seed=lambda w: STUDY.study_seed(w.study),
        trial_ids=lambda w: STUDY.rounds(w.study)[int(w.round)],
    conda:
        "../../envs/search.yaml"
    resources:
        **job_resources("propose"),
    group:
        ROUND_GROUP
    log:
        "results/logs/{study}/propose_round_{round}.log",
    script:
        "../scripts/propose.py"


# Fold training, at the granularity `execution.fold_jobs` asks for. Each job starts a fresh
# interpreter and TensorFlow costs ~7-10 s to import, so "per_trial" (one job trains all of a
# trial's folds, one import) is several times cheaper on a small machine; "per_fold" (one job
# per fold) spreads a trial's folds over more cores or cluster nodes. Same files either way.
if STUDY.fold_jobs == "per_trial":

    rule train_trial:
        input:
            unpack(fold_inputs),
        output:
            folds=[fold_file("{study}", "{trial}", k) for k in range(STUDY.folds)],
            timings=[timing_file("{study}", "{trial}", k) for k in range(STUDY.folds)],
        params:
            objective=STUDY.objective_name,
            settings=STUDY.objective_settings,
            folds=list(range(STUDY.folds)),
        threads: job_threads("train")
        resources:
            **job_resources("train"),
        group:
            TRIAL_GROUP
        benchmark:
            "results/benchmarks/{study}/trial_{trial}.tsv"
        conda:
            "../../envs/train.yaml"
        log:
            "results/logs/{study}/trial_{trial}_folds.log",
        script:
            "../scripts/train_folds.py"

else:

    rule train_fold:
        input:
            unpack(fold_inputs),
        output:
            folds=[fold_file("{study}", "{trial}", "{fold}")],
            timings=[timing_file("{study}", "{trial}", "{fold}")],
        params:
            objective=STUDY.objective_name,
            settings=STUDY.objective_settings,
            folds=lambda w: [int(w.fold)],
        threads: job_threads("train")
        resources:
            **job_resources("train"),
        group:
            TRIAL_GROUP
        benchmark:
            "results/benchmarks/{study}/trial_{trial}_fold_{fold}.tsv"
        conda:
            "../../envs/train.yaml"
        log:
            "results/logs/{study}/trial_{trial}_fold_{fold}.log",
        script:
            "../scripts/train_folds.py"


# Summaries are cheap; so is scoring, which joins its trial's cluster job when there are
# groups (execution.group) and otherwise runs beside Snakemake instead of as a tiny job.
localrules:
    summarize_study,


if STUDY.group == "none":

    localrules:
        score_trial,


rule score_trial:
    input:
        folds=score_inputs,
    output:
        score_file("{study}", "{trial}"),
    params:
        objective=STUDY.objective_name,
        settings=STUDY.objective_settings,
    resources:
        **job_resources("light"),
    group:
        TRIAL_GROUP
    conda:
        "../../envs/report.yaml"
    log:
        "results/logs/{study}/score_trial_{trial}.log",
    script:
        "../scripts/score_trial.py"


rule summarize_study:
    input:
        unpack(summary_inputs),
    output:
        trials="results/{study}/trials.csv",
        timings="results/{study}/timings.csv",
    params:
        names=STUDY.space.names,
    conda:
        "../../envs/report.yaml"
    log:
        "results/logs/{study}/summarize_study.log",
    script:
        "../scripts/summarize_study.py"
