# convolab: `make run` trains the default model on MNIST; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-all bench install data clean serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(BIN)/convolab data fetch mnist

run: data
	$(BIN)/convolab train

test: data
	$(BIN)/python -m pytest -q

# The page and the API for the newest finished run under runs/ (`make run` makes one).
serve: $(STAMP)
	@latest=$$(ls -td runs/*/metrics.json 2>/dev/null | head -1); \
	if [ -z "$$latest" ]; then echo "no finished run under runs/: run 'make run' first"; exit 2; fi; \
	$(BIN)/convolab serve "$$(dirname "$$latest")"

# The performance benchmarks (about an hour; run nothing else meanwhile). PyTorch contenders
# are included when torch is installed in .venv (the CPU build: see the README).
bench: data
	$(BIN)/python benchmarks/time_to_accuracy.py --contenders keras-io convolab-fast convolab-fast-99.5 torch-fast torch-examples
	rm -rf runs/bench-fast
	$(BIN)/convolab train --preset fast --out runs/bench-fast --quiet
	$(BIN)/python benchmarks/inference.py runs/bench-fast

test-all: data
	$(BIN)/python -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) runs
