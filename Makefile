# The kit's commands. On a fresh clone you need only two:  make hunt  and  make test.
# Every target builds .venv/ first when it is missing or pyproject.toml has changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= sample_data
REPORTS := reports
KUSTO  := tests/kusto/node_modules/.installed
BROWSER := $(VENV)/.chromium

.PHONY: setup hunt report lab test bench evaluate recordings sample clean

setup: $(STAMP)

# Re-installs only when pyproject.toml is newer than the last install, so a second
# `make setup` returns in well under a second.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

hunt: $(STAMP)
	@mkdir -p $(REPORTS)
	$(PY) -m hunting_lib hunt --data-dir $(DATA) --output $(REPORTS)/findings.json
	$(PY) -m hunting_lib report --data-dir $(DATA) --output $(REPORTS)/rare_scheduled_tasks.html

# The HTML report alone; code cells are left out unless SHOW_CODE=1.
report: $(STAMP)
	$(PY) -m hunting_lib report --data-dir $(DATA) --output $(REPORTS)/rare_scheduled_tasks.html $(if $(SHOW_CODE),--show-code)

# JupyterLab on the hunt notebook (the `jupyter` extra: JupyterLab and bokeh's extension; ipywidgets
# is a dependency). Root needs --allow-root, which Jupyter otherwise refuses.
LAB_STAMP := $(VENV)/.lab
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[jupyter]"
	@touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab notebooks/rare_scheduled_tasks_hunt.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP) $(KUSTO) $(BROWSER)
	$(PY) -m pytest -q

# Debian's chromium for tests/test_browser.py (playwright drives it; it downloads no browser).
# Installed with apt-get when missing and we are root; otherwise the browser test skips,
# except under CI=true, where it fails.
$(BROWSER): $(STAMP)
	@if command -v chromium >/dev/null; then touch $(BROWSER); \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "apt-get install chromium"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && \
	  touch $(BROWSER); \
	else echo "chromium not found and apt-get not usable: the browser test will skip"; fi

# Microsoft's Kusto parser (npm) for tests/test_kusto_parser.py; re-installed when the lock changes.
# Without npm the install is skipped and those tests skip, except under CI=true, where they fail.
$(KUSTO): tests/kusto/package-lock.json
	@if command -v npm >/dev/null || [ "$$CI" = true ]; then \
	  echo "npm ci --prefix tests/kusto"; npm ci --prefix tests/kusto --no-audit --no-fund && touch $(KUSTO); \
	else echo "npm not found: skipping the Kusto parser install"; fi

# Issue 8's benchmark: `hunt` against duckdb-kql running the published query on the same
# parquet files, about 1M and 10M events (generated once into bench_data/). REPEATS alternating
# runs each; the table goes to stdout and reports/bench.md. Bytecode is compiled first, as a
# regular pip install does (an editable install with PYTHONDONTWRITEBYTECODE=1 never caches it).
# SIZE picks the sizes (1M,10M by default; `make bench SIZE=100M` writes the 100M data set by
# day, about 3.5 GB, and compares on that folder of parts). Then the report (sample vs 10M)
# and the remote hunt's queries per run on a fake Defender service with a 50k-device fleet.
REPEATS ?= 7
SIZE ?= 1M,10M
bench: $(STAMP)
	@mkdir -p $(REPORTS)
	$(PY) -m compileall -q hunting_lib
	$(PY) benchmarks/run.py --sizes $(SIZE) --repeats $(REPEATS) --markdown $(REPORTS)/bench.md
	$(PY) benchmarks/report_bench.py --repeats 3 --markdown $(REPORTS)/report_bench.md
	$(PY) benchmarks/remote_queries.py --devices 50000 --days 7 --markdown $(REPORTS)/bench_remote.md
	$(PY) benchmarks/task_definitions_bench.py | tee $(REPORTS)/bench_task_definitions.txt
	$(PY) benchmarks/redact_bench.py | tee $(REPORTS)/bench_redact.txt

# Issue 12's evaluation on real recordings: every set of evaluation/sets.yaml that is present
# (OTRF and the sample always; the public attack recordings after `make recordings`), the table to
# stdout and reports/evaluation.md. A report, not a test: it exits 0.
evaluate: $(STAMP)
	@mkdir -p $(REPORTS)
	$(PY) evaluation/run.py --markdown $(REPORTS)/evaluation.md

# Fetch the pinned public recordings into evaluation/data/ (git-ignored) and convert them; needs
# internet (or MIRROR=DIR, a folder of local git mirrors) and the evtx reader.
recordings: $(STAMP)
	$(PY) -m pip install --quiet -e ".[evaluate]"
	$(PY) evaluation/get_recordings.py $(if $(MIRROR),--mirror-root $(MIRROR))

# Regenerate sample_data/ from the generator (the committed copy must stay identical).
sample: $(STAMP)
	$(PY) -m hunting_lib sample --output sample_data

clean:
	rm -rf $(REPORTS) .pytest_cache .hypothesis
