# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLE ?= data/sample/gifts.toml

.PHONY: install demo test test-fast lint format sample clean-sample chromium
.DEFAULT_GOAL := demo

# torch goes in first, pinned, so pip takes the CPU build on disk instead of a multi-GB CUDA one.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# Only OpenVINO's analytics use this package, and OpenVINO runs without it (pipeline/offline.py).
	$(PY) -m pip uninstall --quiet -y openvino-telemetry
	# Export the verified model to ONNX (+ int8) for the fast embedding backends, once (under models/exports/).
	$(PY) -m pipeline.backends
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/gifts --config $(SAMPLE) run

lint: install
	$(VENV)/bin/ruff format --check pipeline tests scripts benchmarks notebooks
	$(VENV)/bin/ruff check pipeline tests scripts benchmarks notebooks
	$(VENV)/bin/mypy

# The report's browser test drives Debian's Chromium (CI starts as root on a fresh machine).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# GIFTS_REQUIRE_BROWSER: here a missing browser fails the browser test instead of skipping it.
test: lint chromium
	GIFTS_REQUIRE_BROWSER=1 $(VENV)/bin/pytest -q

# Everything but the slow tests (Ray, training, notebooks, browser, SIGKILL trials): the inner loop.
test-fast: lint
	$(VENV)/bin/pytest -q -m "not slow" --durations=15

format: install
	$(VENV)/bin/ruff format pipeline tests scripts benchmarks notebooks
	$(VENV)/bin/ruff check --fix pipeline tests scripts benchmarks notebooks

# Rebuild the sample's raw archive, inbox and OPML from data/sample/articles (deterministic).
sample: install
	$(PY) scripts/build_sample.py

# Forget the sample's derived state (store and reports); the committed archive stays.
clean-sample:
	rm -rf data/sample/data/interim data/sample/data/processed
