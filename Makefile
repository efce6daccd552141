# Two commands do everything: `make run` (set up + the study) and `make test` (set up + tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is a copy of the lock it was installed from: a changed lock makes it stale.
STAMP := $(VENV)/installed.lock
CORES ?= 8

.PHONY: run test lint ui bench lock venv clean

venv: $(STAMP)

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	cp requirements.lock $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

test: $(STAMP) lint
	$(BIN)/pytest -ra

ui: $(STAMP)
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///results/mlflow.db

# Benchmarks: proposal latency (TPE, GP) and DAG build time; CSVs under results/bench/.
bench: $(STAMP)
	$(BIN)/python bench/proposals.py
	$(BIN)/python bench/dag.py 100 1000

# Regenerate the hashed lock from pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-header --no-annotate -o requirements.lock

clean:
	rm -rf results/* .snakemake
