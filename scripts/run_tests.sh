#!/usr/bin/env bash
# Quick start 2: set up, bring the pipeline's outputs up to date (the tests check them), run lint and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro
ruff check .
pytest "$@"
