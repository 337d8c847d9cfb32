# Two commands on a fresh machine with Python 3.11:
#   make book   build the executed Jupyter Book against the offline sandbox
#   make test   run the whole test suite (unit, sandbox, notebooks, browser)
# Both create .venv and install into it when needed; running them again is cheap.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test book run bench sandbox browser clean

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

clean:
	rm -rf _build build .pytest_cache test-artifacts
