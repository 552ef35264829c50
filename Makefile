# The two set-up commands: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-core
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?=
# torch must be the pinned CPU build (pip takes it from the local wheel where one lies on disk);
# an unpinned torch pulls a multi-GB CUDA build. Override with PIP_CONSTRAINT=... if needed.
PIP_CONSTRAINT ?= $(CURDIR)/.ci/constraints.txt
export PIP_CONSTRAINT

.PHONY: demo test bench bench-benchopt install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[torch,dev]"
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[torch,dev,bench]"
	touch $@

install: $(STAMP)

# Two settings: the digits MLP (a ReLU chain: only the product of the per-layer δ is identified)
# and fine-tuning a pretrained backbone whose features transfer (prior mean = the pretrained weights:
# every δ identified, and the L2-SP split pays).
# Two workers with one torch thread each: two cores, never more threads than cores.
DEMO_WORKERS ?= 2
demo: $(STAMP)
	$(BIN)/lamina nn --task digits --workers $(DEMO_WORKERS) --threads 1 --out out/demo/digits --resume
	$(BIN)/lamina nn --task digits-finetune --workers $(DEMO_WORKERS) --threads 1 --out out/demo/digits-finetune --resume

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py

# benchopt's own Lasso benchmark, on a checkout named by BENCHOPT_LASSO (nothing is fetched).
bench-benchopt: $(BENCH_STAMP)
	BENCHOPT_LASSO=$(BENCHOPT_LASSO) $(BIN)/python benchmarks/bench_benchopt.py

clean:
	rm -rf $(VENV) out .pytest_cache
