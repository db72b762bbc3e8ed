#!/usr/bin/env bash
# Build the frozen one-folder app with PyInstaller and run its self-test offscreen.
#
#     bash packaging/build_app.sh            # -> build/frozen/spikeapp/spikeapp
#
# Needs the dev environment (make setup) plus the freeze extra: .venv/bin/pip install -e ".[freeze]"
# Prints the build time, the folder's size and the self-test's output; exits non-zero when the
# build or the self-test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || "$PYTHON" -m pip install --quiet -e ".[freeze]"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN --distpath build/frozen \
    --workpath build/pyinstaller packaging/spikeapp.spec
end=$(date +%s)
echo "built in $((end - start)) s: $(du -sh build/frozen/spikeapp | cut -f1) in build/frozen/spikeapp"
# The frozen app runs in a clean environment: no checkout on its path, no display.
env -i PATH=/usr/bin:/bin HOME="$(mktemp -d)" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    build/frozen/spikeapp/spikeapp --self-test
