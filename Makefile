# Two entry points for a fresh machine:
#   make demo   install everything, then run the offline demo on the built-in synthetic benchmark
#   make test   install everything, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo lint test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU wheel of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/xstilts demo

# One torch thread per test process and one process per core: faster than threads for tiny models.
# loadgroup: tests marked xdist_group (the torchrun launches) share one worker.
test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist loadgroup

# Lint and type-check with zero findings (configured in pyproject.toml). The formatter (ruff format)
# is configured for editors but not enforced: the tree is not formatted with it.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache
