# The two commands of the README. Both set up .venv on their own (CPU torch first: it installs
# from the local cache; a plain `pip install torch` would pull several GB of CUDA libraries).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup

$(BIN)/spikeapp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/spikeapp

setup: $(BIN)/spikeapp

demo: setup
	$(BIN)/spikeapp --demo

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
