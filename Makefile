# The two commands of the README. Both set up .venv on their own, torch first
# (packaging/install_torch.sh: kept when installed, the CUDA build with an NVIDIA GPU, else the
# CPU build; a plain `pip install torch` on Linux pulls several GB of CUDA libraries).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup

$(BIN)/spikeapp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	sh packaging/install_torch.sh $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/spikeapp

setup: $(BIN)/spikeapp

demo: setup
	$(BIN)/spikeapp --demo

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
