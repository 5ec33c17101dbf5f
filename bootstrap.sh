#!/usr/bin/env bash
# Create ./.venv with every pinned dependency of braintune (and the test extra).
# Idempotent: rerunning only installs what is missing. Caches stay inside the checkout.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build. On a machine without a
# local CPU wheel, add --index-url https://download.pytorch.org/whl/cpu for the CPU build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
echo "braintune installed in $(pwd)/.venv"
