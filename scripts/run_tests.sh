#!/usr/bin/env bash
# Quick start 2: set up (Python packages, and Chromium for the page tests), bring the pipeline's outputs up to
# date (the tests check them), run lint and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_chromium.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro
ruff check .
pytest "$@"
