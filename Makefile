# Two commands on a fresh machine with Python 3.11:
#   make book   build the executed Jupyter Book against the offline sandbox
#   make test   lint and type-check, then run the whole test suite (unit, sandbox, notebooks,
#               browser, docstring examples), then the kit's tests on the lowest declared versions
# Both create .venv and install into it when needed; running them again is cheap.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test book run bench bench-publish bench-many bench-survey bench-survey-publish bench-manifest sandbox browser clean lint typecheck

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

# The linters and the type check first (quick, and they fail early), then the suite with the
# docstring examples and, alongside it, the kit's tests once more on the lowest declared versions:
# their venv installs in the background while the suite runs (pip waits on the network, the suite
# on the processor), and their tests then run on the second processor, which the suite leaves
# idle (logs in .venv-oldest.log and .venv-oldest-tests.log, printed at the end).
# The suite's sandboxes (its own and the book's, built alongside) share one cache of the files
# they make; the tutorials alone read more than the default 4 GB, so the suite keeps up to
# TEST_CACHE_BUDGET rather than remaking what the book's build made.
PYTEST_ARGS ?=
TEST_CACHE_BUDGET ?= 12G
test: venv browser lint typecheck
	@( $(MAKE) --no-print-directory $(OLDEST_STAMP) > $(OLDEST).log 2>&1 || { echo "installing $(OLDEST) failed:"; tail -50 $(OLDEST).log; exit 2; }; \
	   $(MAKE) --no-print-directory test-oldest > $(OLDEST)-tests.log 2>&1 ) & oldest=$$!; \
	ROMAN_HELPERS_SANDBOX_CACHE_BUDGET=$${ROMAN_HELPERS_SANDBOX_CACHE_BUDGET:-$(TEST_CACHE_BUDGET)} \
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	wait $$oldest; oldest_status=$$?; \
	echo "--- the kit's tests on the lowest declared versions ($(OLDEST)-tests.log):"; \
	if [ -f $(OLDEST)-tests.log ]; then \
	  if [ $$oldest_status -eq 0 ]; then tail -3 $(OLDEST)-tests.log; else tail -150 $(OLDEST)-tests.log; fi; fi; \
	if [ $$status -ne 0 ]; then exit $$status; fi; \
	exit $$oldest_status

book: venv
	$(BIN)/python book/build.py

run: venv
	$(BIN)/roman-helpers run --all

# `make bench` runs the benchmarks, one file at a time, survey scale, many targets and the survey
# manifests, and writes build/bench/ (results.json, table.md, performance.png; survey/; many/;
# manifest/) and nothing tracked. `make bench-publish` copies the last full runs into the book's
# performance page, figures and JSON copies.
bench: venv
	$(BIN)/python bench/run.py
	$(BIN)/python bench/survey.py
	$(BIN)/python bench/many.py
	$(BIN)/python bench/manifest.py

# The many-target run (200 targets x 100 full-size epochs, .fits.gz and ASDF) alone. Writes build/bench/many/.
bench-many: venv
	$(BIN)/python bench/many.py

# The Core Community Survey manifests (156,078 rows): find by exact footprint against the
# manifest's centre-distance search, against the sky model's truth. Writes build/bench/manifest/.
bench-manifest: venv
	$(BIN)/python bench/manifest.py

# Survey scale: index the 40 full-size OpenUniverse TDS images of tutorial 4's supernova nearest its
# peak and cut its light curve out of them (the sandbox's cache in bench/.cache). Writes build/bench/survey/.
bench-survey: venv
	$(BIN)/python bench/survey.py

bench-publish: venv
	$(BIN)/python bench/run.py --publish
	$(BIN)/python bench/survey.py --publish
	$(BIN)/python bench/many.py --publish

# `make bench-survey-publish` puts the last full survey run (build/bench/survey/, never a --quick
# one) into the book: the "Survey scale" section of book/performance.md, book/images/survey-*.png
# and book/survey-results.json. `bench-survey` and `bench-survey-publish` run and publish the
# survey benchmark alone (a quarter of an hour or more on two cores), without the other.
bench-survey-publish: venv
	$(BIN)/python bench/survey.py --publish

sandbox: venv
	$(BIN)/roman-helpers sandbox up

# Code habits, configured in pyproject.toml. `lint`: ruff's checks and its formatter (in check
# mode) over every Python file and notebook, the notebooks committed without outputs, and the
# GitHub Actions workflows (which cannot run here) with actionlint and zizmor (offline: no
# GitHub API); every check runs, and the target fails if any one did. `typecheck`: mypy over the kit.
lint: venv
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb || status=1; \
	$(BIN)/actionlint -no-color .github/workflows/*.yml || status=1; \
	$(BIN)/zizmor --offline --no-progress --quiet .github/workflows/ || status=1; \
	exit $$status

typecheck: venv
	$(BIN)/mypy roman_helpers

clean:
	rm -rf _build build .pytest_cache test-artifacts

# The kit at the lower bounds pyproject.toml declares, for kernels (such as the Roman Research
# Nexus's) that are not on the newest releases: its own venv on Python 3.11, every dependency
# pinned to its minimum by tools/lower_bounds.py, and the tests that need no notebooks, book or
# browser (with the sandbox extra, whose services several of them use). pytest, pytest-timeout and
# moto (the tests' S3 server) are named here, unpinned, because no lean test extra exists.
PYTHON311    ?= $(shell command -v python3.11)
OLDEST       := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed
OLDEST_TESTS := tests/test_stream.py tests/test_stream_errors.py tests/test_download.py \
                tests/test_uris.py tests/test_transfer.py tests/test_query.py tests/test_s3.py \
                tests/test_config_datasets_smoke.py tests/test_cli.py tests/test_faults.py \
                tests/test_credentials.py tests/test_mast_faults.py tests/test_sandbox_hst.py \
                tests/test_sandbox_s3_ranges.py

$(OLDEST_STAMP): pyproject.toml tools/lower_bounds.py Makefile
	@test -n "$(PYTHON311)" || { echo "make test-oldest needs python3.11 on PATH (or PYTHON311=...)"; exit 1; }
	rm -rf $(OLDEST)
	$(PYTHON311) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip packaging
	$(OLDEST)/bin/python tools/lower_bounds.py --extra sandbox -o $(OLDEST)/constraints.txt
	$(OLDEST)/bin/python -m pip install -q -c $(OLDEST)/constraints.txt -e '.[sandbox,notebooks]' pytest pytest-timeout 'moto[s3,server]>=5.1.2'
	touch $@

.PHONY: test-oldest
# The sandbox's data cache is keyed by the asdf and roman_datamodels versions: keep this one apart
# so the two venvs do not evict each other's generated files.
test-oldest: $(OLDEST_STAMP)
	@echo "pinned:"; sed 's/^/  /' $(OLDEST)/constraints.txt
	ROMAN_HELPERS_SANDBOX_CACHE=$(CURDIR)/$(OLDEST)/sandbox-cache $(OLDEST)/bin/python -m pytest $(OLDEST_TESTS)
