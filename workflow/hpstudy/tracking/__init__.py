"""MLflow: a run per study and per trial, logged from the results' files.

- runs: the jobs' calls (init_tracking, start_study, log_trial_here in the job that scores a
  trial, log_round, log_studies, finish_studies with its catch-up of pending trials)
- client: MLflow's client (where it writes, retries, runs by key, batched writes, the
  sqlite store)
- notes: what MLflow's UI shows beyond the numbers (the experiment's kind, its description)

Only the standard library at import time: the Snakefile imports client and notes; MLflow is
imported inside the calls that log.
"""
