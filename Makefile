# convolab: `make run` trains the default model on MNIST; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-all bench install data clean serve system-packages examples

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

# Every example in examples/, in order, at the full budget (up to 2 minutes each, about 7 in all;
# examples/README.md lists what each reaches; 09 uses Fashion-MNIST). Outputs go to
# runs/examples/.
examples: data
	$(BIN)/convolab data fetch fashion_mnist
	@for script in examples/[0-9]*.py; do \
		echo "== $$script"; \
		CONVOLAB_EXAMPLE_BUDGET=full $(BIN)/python $$script || exit 1; \
	done

test: data system-packages
	$(BIN)/python -m pytest -q

# Real parts some tests start themselves, from Debian's packages: a PostgreSQL server (the
# tuning tests) and Chromium (the web page's browser test). Installed when missing and
# apt-get can run; otherwise those tests skip and say why (in CI they fail).
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "installing$$missing (Debian packages) for the tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$missing >/dev/null; \
		else \
			echo "not installed:$$missing (the tests that need them will skip)"; \
		fi; \
	fi

# The page and the API for the newest finished run under runs/ (`make run` makes one).
serve: $(STAMP)
	@latest=$$(ls -td runs/*/metrics.json 2>/dev/null | head -1); \
	if [ -z "$$latest" ]; then echo "no finished run under runs/: run 'make run' first"; exit 2; fi; \
	$(BIN)/convolab serve "$$(dirname "$$latest")"

# The performance benchmarks (about an hour; run nothing else meanwhile). PyTorch contenders
# are included when torch is installed in .venv (the CPU build: see docs/performance.md).
bench: data
	$(BIN)/python benchmarks/time_to_accuracy.py --contenders keras-io convolab-fast convolab-fast-99.5 torch-fast torch-examples
	rm -rf runs/bench-fast
	$(BIN)/convolab train --preset fast --out runs/bench-fast --quiet
	$(BIN)/python benchmarks/inference.py runs/bench-fast

test-all: data system-packages
	$(BIN)/python -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) runs
