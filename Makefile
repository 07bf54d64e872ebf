# One command per job. Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# mod_wsgi (pyproject.toml's extra `apache`) compiles only where Apache's apxs is (Debian's
# apache2-dev, from `make system-deps`): there the venv holds it too. The stamp says which,
# so that the first make after apache2-dev arrives adds mod_wsgi.
APXS := $(shell command -v apxs 2>/dev/null || command -v apxs2 2>/dev/null)
EXTRAS := --extra dev$(if $(APXS), --extra apache)
STAMP := $(VENV)/.installed$(if $(APXS),-apache)
SCENARIO ?= scenarios/default.toml
RUN ?= latest
CLAIMS ?= scenarios/claims.toml
CLAIMS_ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers for make test: the tests that hold the CPUs run one after another
# on one of them (tests/conftest.py), the rest beside them.
TEST_WORKERS ?= 2
UPGRADE ?=

.PHONY: install lock test lint bench claims report notebooks verify list system-deps clean

install: $(STAMP)

# The virtual environment is rebuilt whenever the lock changes: uv.lock, made from
# pyproject.toml by `make lock`, is the one file that says what is installed. `uv sync`
# makes .venv hold exactly that (and the suite itself, editable, with its `pywebbench`).
$(STAMP): uv.lock pyproject.toml
	bash .ci/preflight $(PYTHON)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q --disable-pip-version-check "uv==0.13.8"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv sync -q --frozen $(EXTRAS) --python $(PY)
	rm -f $(VENV)/.installed $(VENV)/.installed-apache
	touch $(STAMP)

# uv.lock from pyproject.toml, keeping the versions it already pins unless they no longer
# fit (`make lock UPGRADE=--upgrade` moves everything to the newest that fits).
lock: $(PY)
	$(VENV)/bin/uv lock --python 3.11 $(UPGRADE)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "uv==0.13.8"

# The Debian packages the tests use come first (only the missing ones; see .ci/system-deps),
# then the venv, which gains mod_wsgi once apache2-dev is there.
test:
	bash .ci/system-deps
	$(MAKE) --no-print-directory install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check apps harness tests benchmarks scenarios
	$(VENV)/bin/ruff format --check apps harness tests benchmarks scenarios
	$(VENV)/bin/mypy apps harness

list: install
	$(PY) -m harness list

verify: install
	$(PY) -m harness verify

# Runs the scenario, then builds its report (the run's directory is printed by both).
bench: install
	$(PY) -m harness run $(SCENARIO)
	$(PY) -m harness report latest

# Every claim of scenarios/claims.toml as an experiment with a verdict, within its time
# budget (30 min here); writes claims.md and report.html. CLAIMS_ARGS="--quick" for a
# first look, "--only ID ..." for some claims, "--budget S" to change the budget.
claims: install
	$(PY) -m harness claims $(CLAIMS) $(CLAIMS_ARGS)

report: install
	$(PY) -m harness report $(RUN)

# Executes the notebooks against a run and saves their outputs (committed: RUN=reference).
notebooks: install
	$(PY) -m harness.report.notebook $(RUN)

# Debian packages for the heavier scenarios and the browser test (only the missing ones).
system-deps:
	bash .ci/system-deps

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
