# Two commands do everything: `make run` (set up + the study) and `make test` (set up + tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is a copy of the lock it was installed from: a changed lock makes it stale.
STAMP := $(VENV)/installed.lock
CORES ?= 8

.PHONY: run suite status test test-e2e test-all lint ui bench bench-cluster docs-reference lock venv clean

venv: $(STAMP)

# pip compiles the installed files to bytecode one at a time (about half of an install here);
# compileall does it on every core. The bytecode is needed: with PYTHONDONTWRITEBYTECODE
# set, as on these machines, nothing else would ever write it and every import of
# TensorFlow would compile it again (measured: 24 s instead of 8).
$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --require-hashes --no-deps \
		-r requirements.lock
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	cp requirements.lock $(STAMP)

# Starts or resumes the study. A killed run leaves Snakemake's directory lock behind; this
# target holds an flock while it runs (the kernel drops it when the process dies), so when it
# gets the flock no other `make run` is active here and a leftover lock is stale: it is
# cleared, and Snakemake (profiles/default: --rerun-incomplete) remakes what was cut off.
run: $(STAMP)
	@mkdir -p .snakemake
	@flock --nonblock --conflict-exit-code 75 .snakemake/make-run.flock sh -c '\
		if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ]; then \
			echo "make run: clearing the lock a killed run left behind"; \
			$(BIN)/snakemake --unlock --quiet; \
		fi; \
		$(BIN)/snakemake --cores $(CORES)' \
	|| { status=$$?; [ $$status -ne 75 ] \
		|| echo "make run: another 'make run' is running in this directory" >&2; \
		exit $$status; }

# The benchmark suite (docs/benchmarking.md): 7 strategies x 24 benchmarks (test functions,
# published tables, a surrogate of the CNN, multi-fidelity functions) x 10 seeds, a report in
# results/suite/report/. SUITE=config/benchmark_suite_quick.yaml: CI's small one.
SUITE ?= config/benchmark_suite.yaml
suite: $(STAMP)
	$(BIN)/snakemake --snakefile workflow/suite.smk --cores $(CORES) \
		--configfile $(SUITE) --replace-workflow-config

# Progress at a glance: one line per study (trials done, best, failed, fit CPU, time left).
# It reads results/ only, so it runs beside `make run`: no $(STAMP) prerequisite (no venv
# update under a running study), no Snakemake lock. CONFIG=F: the study `snakemake
# --configfile F` runs (F merged over config.yaml; REPLACE_CONFIG=1 for a run with
# --replace-workflow-config). The time left is estimated on this machine's CPUs, or on
# CORES=N when given here (a cluster's).
status:
	@PYTHONPATH=workflow $(BIN)/python -m hpstudy.progress $(if $(CONFIG),--configfile $(CONFIG)) \
		$(if $(REPLACE_CONFIG),--replace-workflow-config) \
		$(if $(filter file,$(origin CORES)),,--cores $(CORES))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

# Test tiers (README, Testing). `make test`, the unit tier: lint and the in-process tests,
# no workflow, server, make or browser (tests/helpers/tiers.py refuses them there); budget
# 10 min here. `make test-e2e`: the end-to-end, slow and cluster tests (root: they install and
# start SLURM and PostgreSQL) in one session, so the session studies of tests/conftest.py are
# run once; budget 25 min. Each writes its durations and a JUnit XML to results/tests/.
# A per-test --timeout keeps a hung test from eating CI's whole budget.
TEST_REPORTS := results/tests
PYTEST_REPORT = -ra --durations=30 --junitxml=$(TEST_REPORTS)/$(1).xml
# Both tiers run on pytest-xdist workers, a file's tests on one worker, so that its module
# fixtures are built once. The end-to-end tier's session studies are built once for all
# workers (tests.helpers.studies.shared_study), but server_study, whose server lives in one
# process, once per worker that asks. (--dist=loadgroup would keep chosen files together,
# but pytest-xdist 3.8 cannot mark its groups on pytest 9's test ids: it splits a group's
# tests.)
test: $(STAMP) lint
	$(BIN)/pytest $(call PYTEST_REPORT,unit) -m "not e2e and not slow and not cluster" \
		--timeout=300 --numprocesses=auto --dist=loadfile

# The end-to-end tier runs more workers than cores: about a fifth of its time its tests wait
# (SLURM's status polls, servers starting, runs waiting to be killed, a full disk's
# failures), which a third worker fills on two cores. Its longest files start first
# (tests/helpers/tiers.py, LONGEST_FIRST; --no-loadscope-reorder keeps that order).
E2E_WORKERS ?= $(shell echo $$(( $$(nproc) * 3 / 2 )))
test-e2e: $(STAMP)
	$(BIN)/pytest $(call PYTEST_REPORT,e2e) -m "e2e or slow or cluster" --timeout=900 \
		--numprocesses=$(E2E_WORKERS) --dist=loadfile --no-loadscope-reorder

test-all: $(STAMP) lint
	$(BIN)/pytest $(call PYTEST_REPORT,all) --timeout=900

# STORE=results/suite/mlflow.db: the benchmark suite's runs (one experiment per benchmark).
STORE ?= results/mlflow.db
# MLflow 3's UI opens an experiment on its GenAI overview unless the URL asks for the run
# table (workflowType=machine_learning): print the address that does (init_tracking writes it).
# Without MLflow's job consumers (seven processes for its GenAI features, none for runs).
ui: $(STAMP)
	@test ! -f results/tracking/experiment.json || echo "make ui: open http://127.0.0.1:5000/$$($(BIN)/python -c 'import json; print(json.load(open("results/tracking/experiment.json")).get("ui_path", ""))')"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///$(STORE)

# Benchmarks (docs/performance.md): one script per item writes results/bench/<item>.csv
# (--quick: tiny sizes into results/bench-quick/); the table at the end lists every item and
# exits non-zero if an item failed (a missed target is a result, not a failure). Items run on
# after one fails (the leading -), so the table shows everything that could be measured.
# memory.py reads quickstart's job table: keep the order.
bench: $(STAMP)
	-$(BIN)/python bench/quickstart.py --cores $(CORES)
	-$(BIN)/python bench/pipeline.py
	-$(BIN)/python bench/classic_fold.py
	-$(BIN)/python bench/function_study.py --cores $(CORES)
	-$(BIN)/python bench/job_overhead.py
	-$(BIN)/python bench/dag.py 100 1000
	-$(BIN)/python bench/dag.py --cluster 2 7 20
	-$(BIN)/python bench/proposals.py
	-$(BIN)/python bench/adaptivity.py
	-$(BIN)/python bench/tracking.py
	-$(BIN)/python bench/memory.py
	-$(BIN)/python bench/multi_fidelity.py --cores $(CORES)
	-$(BIN)/python bench/suite.py --cores $(CORES)
	$(BIN)/python bench/summary.py

# Local run vs SLURM (one-node cluster on loopback; root): results/bench/cluster.csv.
RUNS ?= 1
bench-cluster: $(STAMP)
	$(BIN)/python bench/cluster.py --runs $(RUNS)

# The configuration reference, generated from workflow/schemas/config.schema.yaml: run it after
# editing the schema (tests/test_docs.py fails while docs/config-reference.md is stale).
docs-reference: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python -m hpstudy.config_reference > docs/config-reference.md.tmp
	mv docs/config-reference.md.tmp docs/config-reference.md

# Regenerate the hashed lock from pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-header --no-annotate -o requirements.lock

clean:
	rm -rf results/* .snakemake
