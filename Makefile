# Each target sets itself up in a local venv (.venv) on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench notebooks clean skmultiflow example-solar_flare example-image_segments \
	example-digits

# `make demo EXAMPLE=<name>` runs a worked example of configs/examples/<name>/ instead of the
# insurance demo; everything it builds goes into runs/examples/<name>/ (git-ignored).
EXAMPLE ?=
EXAMPLES := $(notdir $(wildcard configs/examples/*))

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, pinned: a range would pull a multi-GB CUDA build
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

ifeq ($(EXAMPLE),)
demo: $(STAMP)
	test -f artifacts/model.pt || $(BIN)/driftline train --config configs/train.yaml
	$(BIN)/driftline run --config configs/demo.yaml
else ifneq ($(filter $(EXAMPLE),$(EXAMPLES)),)
demo: example-$(EXAMPLE)
else
demo:
	@echo "unknown EXAMPLE=$(EXAMPLE); the examples are: $(EXAMPLES)" >&2; exit 2
endif

# Categorical features, model served elsewhere (kind none): the replay stands in for the
# forecast service, whose model is trained here, and logs its forecasts in the events.
example-solar_flare: $(STAMP)
	$(BIN)/driftline profile --schema configs/examples/solar_flare/service/schema.yaml \
	    --reference configs/examples/solar_flare/data/reference.csv.gz \
	    --output-dir runs/examples/solar_flare/service --unknown-columns ignore
	$(BIN)/driftline train-classifier --config configs/examples/solar_flare/service/model.yaml \
	    --reference configs/examples/solar_flare/data/reference.csv.gz --hidden-sizes 16 --epochs 40
	$(BIN)/driftline replay --replay-config configs/examples/solar_flare/run.yaml \
	    --file configs/examples/solar_flare/data/reference.csv.gz --order file --no-drift \
	    --output runs/examples/solar_flare/reference-events.jsonl
	$(BIN)/driftline profile --schema configs/examples/solar_flare/schema.yaml \
	    --reference runs/examples/solar_flare/reference-events.jsonl \
	    --output-dir runs/examples/solar_flare/artifacts
	$(BIN)/driftline run --config configs/examples/solar_flare/run.yaml

# Numeric features, a TorchScript model trained here and served by driftline.
example-image_segments: $(STAMP)
	$(BIN)/driftline profile --schema configs/examples/image_segments/schema.yaml \
	    --reference configs/examples/image_segments/data/reference.csv.gz \
	    --output-dir runs/examples/image_segments/artifacts
	$(BIN)/driftline train-classifier --config configs/examples/image_segments/run.yaml \
	    --reference configs/examples/image_segments/data/reference.csv.gz
	$(BIN)/driftline check-model --config configs/examples/image_segments/run.yaml \
	    --reference configs/examples/image_segments/data/stream.csv.gz
	$(BIN)/driftline run --config configs/examples/image_segments/run.yaml

# Images: a small CNN trained here on scikit-learn's bundled digits (TorchScript, served by
# driftline), PCA and BBSD reducers fitted on the reference images; the replay adds large
# Gaussian noise from event 1,500 (configs/examples/digits/README.md).
example-digits: $(STAMP)
	$(BIN)/driftline train-digits --output-dir runs/examples/digits/artifacts
	$(BIN)/driftline profile --schema configs/examples/digits/schema.yaml \
	    --reference runs/examples/digits/artifacts/digits_reference.jsonl \
	    --output-dir runs/examples/digits/artifacts --reducer pca:16 --reducer bbsd
	$(BIN)/driftline run --config configs/examples/digits/run.yaml

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
