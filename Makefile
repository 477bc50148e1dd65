# Each target sets itself up in a local venv (.venv) on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench notebooks clean skmultiflow

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, pinned: a range would pull a multi-GB CUDA build
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	test -f artifacts/model.pt || $(BIN)/driftline train --config configs/train.yaml
	$(BIN)/driftline run --config configs/demo.yaml

# scikit-multiflow, a reference library of `driftline evaluate`, does not pip install on Python
# 3.11: this builds it from its sdist with build-time fixes (docs/skmultiflow.md); ~1 min, and a
# no-op when it already imports. The tests build it so that its comparison tests run.
skmultiflow: $(STAMP)
	$(BIN)/python -m driftline.evaluation.install_skmultiflow

test: $(STAMP) skmultiflow
	bash ops/scripts/install-prometheus.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Executes the notebooks in place on their committed configurations (configs/evaluate_notebooks.yaml
# and configs/evaluate_failing_loudly_notebook.yaml, about two minutes); tests/notebooks fails
# while a committed notebook is out of date.
notebooks: $(STAMP)
	$(BIN)/python -m driftline.evaluation.notebooks notebooks/*.ipynb

bench: $(STAMP)
	$(BIN)/python -m driftline.evaluation.bench_detectors

clean:
	rm -rf $(VENV) artifacts .pytest_cache
