#!/usr/bin/env sh
# Put torch into the environment of PYTHON (make demo and make test call this first):
# - a torch that is already installed is kept (the CUDA build you chose, say);
# - with an NVIDIA GPU (nvidia-smi lists one), the pinned version from PyPI: the CUDA build;
# - otherwise the CPU build, from PyTorch's CPU wheel index (a few hundred MB instead of
#   several GB of CUDA libraries), falling back to the pin from the usual index when that one
#   cannot be reached (on a machine whose package cache holds a CPU build, that is it).
set -eu
PYTHON="$1"
PIN="torch==2.13.0"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
if "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "torch: keeping $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "torch: an NVIDIA GPU is present: $PIN (CUDA build)"
    exec "$PYTHON" -m pip install --quiet "$PIN"
fi
echo "torch: no NVIDIA GPU: $PIN, CPU build"
"$PYTHON" -m pip install --quiet --retries 0 --timeout 15 --extra-index-url "$CPU_INDEX" \
    "$PIN" 2>/dev/null || "$PYTHON" -m pip install --quiet "$PIN"
