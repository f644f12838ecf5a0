# berth: `make serve` runs the registry, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DATA ?= ./data
# pytest-xdist workers (test files are spread over them whole); 0 runs everything in one process
TEST_JOBS ?= 2

.PHONY: install install-test test-tools ui-assets serve test lint bench clean

install: $(VENV)/.installed ui-assets

# the web UI's htmx and Pico CSS, from npm into src/berth/ui/static/vendor/ (pinned in the script)
ui-assets:
	scripts/install-ui-assets

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

install-test: $(VENV)/.installed-test ui-assets

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

test-tools:
	scripts/install-test-tools

serve: install
	$(BIN)/berth serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

lint: install-test
	$(BIN)/ruff check -q src tests bench

# berth's own bytecode, written once: this environment sets PYTHONDONTWRITEBYTECODE, and each of the
# suite's server starts and CLI runs compiled every module of src/ again (about 1 s a start)
test: install-test test-tools lint
	$(BIN)/python -m compileall -q src >/dev/null
	scripts/with-postgres $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

bench: install-test
	scripts/install-test-tools --bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools data .pytest_cache src/berth/ui/static/vendor
