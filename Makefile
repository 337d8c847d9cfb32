# Two commands on a fresh machine with Python 3.11:
#   make book   build the executed Jupyter Book against the offline sandbox
#   make test   run the whole test suite (unit, sandbox, notebooks, browser)
# Both create .venv and install into it when needed; running them again is cheap.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test book run bench sandbox browser clean lint typecheck

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,docs,dev]'
	touch $(STAMP)

venv: $(STAMP)

# Headless Chromium for the browser test, from Debian's packages, only when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || { echo "could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

test: venv browser
	$(BIN)/python -m pytest

book: venv
	$(BIN)/python book/build.py

run: venv
	$(BIN)/roman-helpers run --all

bench: venv
	$(BIN)/python bench/run.py

sandbox: venv
	$(BIN)/roman-helpers sandbox up

# Code habits, configured in pyproject.toml. `lint`: ruff's checks and its formatter (in check
# mode) over every Python file and notebook, and the notebooks committed without outputs; every
# check runs, and the target fails if any one did. `typecheck`: mypy over the kit.
lint: venv
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb || status=1; \
	exit $$status

typecheck: venv
	$(BIN)/mypy roman_helpers

clean:
	rm -rf _build build .pytest_cache test-artifacts
