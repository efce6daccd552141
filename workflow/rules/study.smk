# The rules of a study, by config (docs/architecture.md, What runs). `propose` (a job per
# round) writes rounds/round_<r>.json and `summarize_study` (a job per study) trials.csv and
# timings.csv (paths under results/<study>/), but with per_study, whose one job does all
# three. The rules that train, score and log the trials (log_*: tracking.smk) follow
# execution.fold_jobs:
#
#   fold_jobs           rule (a job per)         writes
#   per_fold (default)  train_fold (trial, fold) trials/<t>/fold_<k>.json, fold_<k>_timing.json
#                       score_trial (trial)      trials/<t>/score.json, mlflow.json (logged)
#   per_trial           train_trial (trial)      trials/<t>/: every fold's two files,
#                                                score.json, mlflow.json (logged)
#   per_round           evaluate_round (round)   rounds/round_<r>_results.json (the round's
#                                                fold records and scores), round_<r>_timings.json
#                       log_round (round)        rounds/round_<r>_mlflow.json
#   per_study           evaluate_study_<strategy> (study): per_round's files of every round
#                       (its propose and evaluate_round in one job), trials.csv, timings.csv
#                       log_studies_<strategy> (strategy: its studies and repeats): each
#                       study's round_<r>_mlflow.json and study run (start_study's
#                       tracking/<study>.json)
#
# A multi-fidelity strategy's studies (sha, hyperband, bohb) train with train_rung_fold or
# train_rung_trial instead, which also write each fold's model, trials/<t>/fold_<k>.keras
# (temporary), and continue a promoted trial from the rung below's; per_round and per_study
# refuse them (pre-flight). Both training rules of a mode always exist, each matching only its
# studies. per_fold and per_trial log a trial to MLflow in the job that scores it (its marker
# says logged, or pending for finish_studies to log: hpstudy.tracking.runs.log_trial_here).
# execution.group (cluster jobs only): none, every job its own and score_trial beside
# Snakemake (localrules); trial, a trial's train_* and score_trial as one (per_round: no
# groups); round, a round's propose with its trials' train_* and score_trial, or with its
# evaluate_round, as one.


# per_study proposes inside its study's job (evaluate_study_<strategy>).
if not PER_STUDY:

    rule propose:
        input:
            unpack(propose_inputs),
        output:
            round_file("{study}", "{round}"),
        params:
            **job_params(
                strategy=lambda w: PLAN.strategy_of(w.study),
                space=PLAN.config["space"],
                settings=lambda w: PLAN.settings(w.study),
                seed=lambda w: PLAN.study_seed(w.study),
                trial_ids=lambda w: PLAN.rounds(w.study)[int(w.round)],
            ),
        conda:
            "../../envs/search.yaml"
        resources:
            **job_resources("propose"),
        group:
            ROUND_GROUP
        log:
            "results/logs/{study}/propose_round_{round}.log",
        shell:
            launch("propose")


from hpstudy.jobs import ATTEMPT_ENV, ATTEMPTS_ENV

# Training jobs are retried: one that ran out of memory, or was killed (the kernel's OOM
# killer, a cluster's limits), may pass when fewer jobs share the machine. A fold still out of
# memory on the last attempt is recorded `failed` and the study goes on
# (hpstudy.outcome.fold_or_failure); a job killed on every attempt can record nothing and
# fails. Other errors are retried too (Snakemake cannot tell them apart) and, being bugs or
# missing files, fail the same way each time: the job fails.
TRAIN_RETRIES = 2


# execution.resources.train, plus Snakemake's attempt at the job, for TRAIN_ATTEMPT.
TRAIN_RESOURCES = {
    **job_resources("train"),
    "attempt": known_signature(lambda wildcards, attempt: attempt),
}
# Before a training job's command: its attempt and how many it gets (hpstudy.jobs.job_attempt),
# by its environment, as Snakemake computes a job's params once and keeps them for its retries
# while it computes resources again for each attempt.
TRAIN_ATTEMPT = f"{ATTEMPT_ENV}={{resources.attempt}} {ATTEMPTS_ENV}={TRAIN_RETRIES + 1} "


# Fold training, at the granularity `execution.fold_jobs` asks for (the table above): per_fold
# spreads a trial's folds over more cores or cluster nodes, per_trial gives Snakemake fewer
# jobs to schedule, per_round fewer still, for objectives whose trials cost microseconds, and
# per_study fewest. Same fold records and scores each way.
if PER_STUDY:
    # A rule per strategy: a study's outputs are its rounds' files, and how many rounds
    # there are is the strategy's (its repeats share it).
    for strategy_name in PLAN.strategies:
        study_rounds = range(len(PLAN.rounds(strategy_name)))

        rule:
            name:
                f"evaluate_study_{strategy_name}"
            wildcard_constraints:
                study=strategy_studies(strategy_name),
            input:
                unpack(study_inputs),
            output:
                rounds=[round_file("{study}", r) for r in study_rounds],
                results=[round_results("{study}", r) for r in study_rounds],
                timings=[round_timings("{study}", r) for r in study_rounds],
                # summarize_study's tables too: a job fewer per study.
                trials=trials_table("{study}"),
                timings_table=timings_table("{study}"),
            params:
                **job_params(
                    names=PLAN.space.names,
                    strategy=strategy_name,
                    space=PLAN.config["space"],
                    settings=lambda w: PLAN.settings(w.study),
                    seed=lambda w: PLAN.study_seed(w.study),
                    rounds=PLAN.rounds(strategy_name),
                    round_parents=[
                        PLAN.round_parent(strategy_name, r) for r in study_rounds
                    ],
                    objective=PLAN.objective_name,
                    objective_settings=PLAN.objective_settings,
                    folds=list(range(PLAN.folds)),
                ),
            threads: job_threads("train")
            retries: TRAIN_RETRIES
            resources:
                **TRAIN_RESOURCES,
            conda:
                "../../envs/study.yaml"
            log:
                "results/logs/{study}/evaluate_study.log",
            shell:
                TRAIN_ATTEMPT + launch("evaluate_study")

elif PER_ROUND:

    rule evaluate_round:
        input:
            unpack(round_inputs),
        output:
            results=round_results("{study}", "{round}"),
            timings=round_timings("{study}", "{round}"),
        params:
            **job_params(
                objective=PLAN.objective_name,
                settings=PLAN.objective_settings,
                folds=list(range(PLAN.folds)),
            ),
        threads: job_threads("train")
        retries: TRAIN_RETRIES
        resources:
            **TRAIN_RESOURCES,
        group:
            ROUND_GROUP
        conda:
            "../../envs/train.yaml"
        log:
            "results/logs/{study}/evaluate_round_{round}.log",
        shell:
            TRAIN_ATTEMPT + launch("evaluate_round")

elif PLAN.fold_jobs == "per_trial":
    # Two rules of one shape: a multi-fidelity study's trials also save each fold's model
    # (temporary: for the promoted trials of the next rung) and continue from the rung below
    # (Plan.checkpoints: not on a test function, whose promoted trials start anew).
    for checkpoints, rule_name in ((False, "train_trial"), (True, "train_rung_trial")):

        rule:
            name:
                rule_name
            wildcard_constraints:
                study=studies_pattern(checkpoints),
            input:
                unpack(train_trial_inputs),
            output:
                folds=[fold_file("{study}", "{trial}", k) for k in range(PLAN.folds)],
                timings=[timing_file("{study}", "{trial}", k) for k in range(PLAN.folds)],
                score=score_file("{study}", "{trial}"),
                logged=logged_file("{study}", "{trial}"),
                **checkpoint_outputs(checkpoints, range(PLAN.folds)),
            params:
                **job_params(
                    objective=PLAN.objective_name,
                    settings=PLAN.objective_settings,
                    folds=list(range(PLAN.folds)),
                    **trial_log_params(),
                ),
            threads: job_threads("train")
            retries: TRAIN_RETRIES
            resources:
                **TRAIN_RESOURCES,
            group:
                TRIAL_GROUP
            conda:
                "../../envs/train.yaml"
            log:
                "results/logs/{study}/trial_{trial}_folds.log",
            shell:
                TRAIN_ATTEMPT + launch("train_folds")

else:
    for checkpoints, rule_name in ((False, "train_fold"), (True, "train_rung_fold")):

        rule:
            name:
                rule_name
            wildcard_constraints:
                study=studies_pattern(checkpoints),
            input:
                unpack(fold_inputs),
            output:
                folds=[fold_file("{study}", "{trial}", "{fold}")],
                timings=[timing_file("{study}", "{trial}", "{fold}")],
                **checkpoint_outputs(checkpoints, ["{fold}"]),
            params:
                **job_params(
                    objective=PLAN.objective_name,
                    settings=PLAN.objective_settings,
                    folds=lambda w: [int(w.fold)],
                ),
            threads: job_threads("train")
            retries: TRAIN_RETRIES
            resources:
                **TRAIN_RESOURCES,
            group:
                TRIAL_GROUP
            conda:
                "../../envs/train.yaml"
            log:
                "results/logs/{study}/trial_{trial}_fold_{fold}.log",
            shell:
                TRAIN_ATTEMPT + launch("train_folds")

    # Scoring joins its trial's cluster job when there are groups (execution.group) and
    # otherwise runs beside Snakemake instead of as a tiny cluster job.
    if PLAN.group == "none":

        localrules:
            score_trial,

    rule score_trial:
        input:
            unpack(score_trial_inputs),
        output:
            score=score_file("{study}", "{trial}"),
            logged=logged_file("{study}", "{trial}"),
        params:
            **job_params(
                objective=PLAN.objective_name,
                settings=PLAN.objective_settings,
                **trial_log_params(),
            ),
        resources:
            **job_resources("light"),
        group:
            TRIAL_GROUP
        conda:
            "../../envs/tracking.yaml"
        log:
            "results/logs/{study}/score_trial_{trial}.log",
        shell:
            launch("score_trial")


# Summaries are cheap: beside Snakemake, not as cluster jobs. (per_study:
# evaluate_study_<strategy> writes them.)
if not PER_STUDY:

    rule summarize_study:
        localrule: True
        input:
            unpack(summary_inputs),
        output:
            trials=trials_table("{study}"),
            timings=timings_table("{study}"),
        params:
            **job_params(names=PLAN.space.names),
        conda:
            "../../envs/report.yaml"
        log:
            "results/logs/{study}/summarize_study.log",
        shell:
            launch("summarize_study")
