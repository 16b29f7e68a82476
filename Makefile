# The README's two commands: `make demo` and `make test`. Both set up .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test demo run bench soak clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .  # the dfrouter console script (pyproject.toml)
	touch $(STAMP)

# In a random order (pytest-randomly, named so a missing plugin fails loudly): every test must
# pass alone and after any other. Repeat an order with `make test PYTEST_ARGS=--randomly-seed=N`.
test: $(STAMP)
	$(BIN)/python -m pytest -p randomly $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m demo

# The local loop (README, "Run it yourself"): the router in the dev host with local.settings.dev.json's
# fast settings; prints its URL, its keys and curl lines. Ctrl-C stops it and its lanes.
run: $(STAMP)
	$(BIN)/python -m router run $(RUN_ARGS)

# Not part of `make test`: the demo's lifecycle in a loop for 10 minutes, sampling memory and fds.
soak: $(STAMP)
	$(BIN)/python -m demo.soak $(SOAK_ARGS)

# Not part of `make test` (about 7.5 minutes): installs nginx and wrk from Debian when missing
# (bench/setup.py), then writes bench/results/<timestamp>.json and bench/results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m bench.setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# Lane hosts outlive the router by design: stop them before their state under .devhost goes.
clean:
	test ! -x $(BIN)/python || $(BIN)/python -m provisioning local stop --all
	rm -rf $(VENV) .pytest_cache .hypothesis .devhost .demo
