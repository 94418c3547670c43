#!/usr/bin/env bash
# Quick start 1: set up and run the whole pipeline (ingest -> report) on the snapshot in ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro "$@"
