# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CUTOVER_EMULATOR_URL ?= http://127.0.0.1:4566

.PHONY: setup browser emulator emulator-stop demo test unit pytest molecule lint sanity sanity-test bench clean

setup: $(STAMP)

# --no-compile: pip would byte-compile all ~24,000 .py files of the venv (the ansible package's collections are
# ~15,000 of them, ~15 s of CPU here); Python compiles the few thousand a run imports on first use instead.
$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt
	touch $(STAMP)

emulator: setup
	$(BIN)/python -m rehearsal.emulator start

emulator-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m rehearsal.emulator stop; $(BIN)/python -m rehearsal.notify_recorder stop; else echo "no venv, no emulator"; fi

demo: setup
	$(BIN)/python -m rehearsal.demo

# Three stages, each failing the target: the venv and chromium side by side (pip and apt-get wait mostly on
# downloads and disks), pytest (two workers), then two lanes of about one core each: molecule's rollback
# scenario (about 2.5 minutes) beside lint, ansible-test sanity (sanity-test) and the default scenario, one after
# the other (-j2 starts the goals in this order as a lane frees). Each one's output is printed whole when it ends
# (--output-sync). TEST_MOLECULE: every scenario but the bench-only ones, the longest first.
TEST_MOLECULE := rollback $(filter-out rollback,$(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
TEST_MOLECULE := $(filter-out $(notdir $(patsubst %/bench-only,%,$(wildcard molecule/*/bench-only))),$(TEST_MOLECULE))
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target setup browser
	$(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory -j2 --output-sync=target $(addprefix molecule-,$(firstword $(TEST_MOLECULE))) \
	  lint sanity-test $(addprefix molecule-,$(wordlist 2,99,$(TEST_MOLECULE)))

# Headless Chromium for the status page test (tests/test_status_page_browser.py): Debian's
# `chromium`, installed only when missing and only as root with apt-get; otherwise that test skips
# and says why. A second run only prints the version.
browser:
	@if command -v chromium >/dev/null; then echo "browser: $$(chromium --version 2>/dev/null | head -1)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "browser: installing Debian's chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	    && chromium --version; \
	else echo "browser: chromium missing and no root/apt-get here: the browser test will be skipped"; fi

pytest: setup
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

# ansible-test sanity on library/ + module_utils/ staged as a collection: `make sanity` prints its findings,
# `make sanity-test` is the test of them (tests/sanity, marked lint_lane: plain `pytest` leaves it to this
# target, which make test runs beside molecule, after lint).
sanity: setup
	$(BIN)/python -m tests.sanity.stage

sanity-test: setup
	$(BIN)/python -m pytest -n 0 -m lint_lane tests/sanity

# Each scenario gets its own emulator on a free loopback port (never the operator's 4566) and its own
# ephemeral directory in this checkout (.cache/molecule/<scenario>): molecule's default one is keyed by the
# checkout's base name only, so two checkouts named alike (a clone of main called main) would share it and
# one run's destroy would prune the other's rehearsal state. Scenarios with a file `bench-only`
# (molecule/cutover: the whole epic) run in `make bench`, not here. When a scenario fails, the tail of its
# kept logs (reports/molecule/<scenario>/: the rehearsal follower's) is printed.
molecule: setup
	@set -e; for s in $$(ls molecule 2>/dev/null); do \
	  [ -f molecule/$$s/molecule.yml ] || continue; \
	  if [ -f molecule/$$s/bench-only ]; then echo "== molecule scenario $$s: in make bench"; continue; fi; \
	  $(MAKE) --no-print-directory molecule-$$s; done

# One scenario: `make molecule-rollback`.
molecule-%: setup
	@set -e; s=$*; [ -f molecule/$$s/molecule.yml ] || { echo "no molecule scenario $$s"; exit 1; }; \
	  ports=$$($(BIN)/python -c 'import socket; a=socket.socket(); b=socket.socket(); a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0)); print(a.getsockname()[1], b.getsockname()[1])'); \
	  port=$${ports% *}; notify=$${ports#* }; \
	  echo "== molecule scenario $$s (emulator on 127.0.0.1:$$port, recorder on 127.0.0.1:$$notify)"; \
	  MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/.cache/molecule/$$s \
	  CUTOVER_MOLECULE_URL=http://127.0.0.1:$$port CUTOVER_MOLECULE_NOTIFY_URL=http://127.0.0.1:$$notify \
	    $(BIN)/molecule test -s $$s || { \
	    echo "!! molecule scenario $$s failed; its kept logs: $$(ls -d reports/molecule/$$s/*.log 2>/dev/null | xargs)"; \
	    if [ -f reports/molecule/$$s/follow.log ]; then \
	      echo "!! the rehearsal follower's last lines:"; tail -n 40 reports/molecule/$$s/follow.log; fi; \
	    exit 1; }

# ansible.cfg fails runs without an inventory (unparsed_is_failed); syntax checks need none.
lint: setup
	ANSIBLE_INVENTORY_UNPARSED_FAILED=false $(BIN)/ansible-lint --offline playbooks roles molecule
	$(BIN)/yamllint --strict .
	$(BIN)/python -m compileall -q $$(ls -d library module_utils rehearsal callback_plugins 2>/dev/null)

bench: setup
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean: emulator-stop
	rm -rf $(VENV) .state reports .pytest_cache
