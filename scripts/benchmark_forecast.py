"""Benchmark the forecast path (issue 12, item 5): the command line cold (a new process, wall time) and the Python
API warm (a second call in the same process), for a registry bill and a described bill.

    .venv/bin/python scripts/benchmark_forecast.py            # 3 runs of each, the median printed
    .venv/bin/python scripts/benchmark_forecast.py --runs 5

The API's warm figures with reasons include the TreeSHAP contributions (all members); ``_no_reasons`` figures
are the same probabilities and count without them. The command line always computes the reasons.

``measure(runs)`` returns the figures as a dict, for scripts/benchmark.py. Reports go to a temporary folder.
Nothing is written into the pipeline's outputs; the member state of the pipeline's date must exist (`dvc repro`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NATOCAST = [str(Path(sys.executable).parent / "natocast")]  # the installed command, as a user runs it
FORECAST = ["forecast", "119hr6508"]
DESCRIBE = [
    "describe",
    "--bill-id",
    "119hr9999",
    "--chamber",
    "house",
    "--introduced",
    "2025-12-20",
    "--stance",
    "-1",
    "--sponsor",
    "Massie",
    "--cosponsors",
    "Luna",
    "--title",
    "To withdraw the United States from NATO",
]
DESCRIBED = {
    "bill_id": "119hr9999",
    "chamber": "house",
    "introduced": "2025-12-20",
    "stance": -1,
    "stance_reason": "given on the command line",
    "sponsor": "M001184",
    "cosponsors": ["L000596"],
    "title": "To withdraw the United States from NATO",
}


def cold(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of the command in a new process each time (report into a temporary folder)."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run([*NATOCAST, *argv, "--out", out], cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return times


def import_seconds(runs: int, module: str = "forecasts.cli") -> list[float]:
    """Wall seconds of a new Python process that only imports ``module`` (the command line's: the floor of a
    cold call)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return times


# What the command line's imports cost, piece by piece: a new process importing only each (Python's start
# included). The forecast runs the models through XGBoost's library (models/booster.py), so neither the xgboost
# package (which imports scikit-learn and scipy.stats) nor scikit-learn is among them; they are timed for scale.
IMPORT_FLOOR = ("sys", "pandas", "pyarrow.parquet", "xgboost", "sklearn", "forecasts.cli")


WARM = """
import json, sys, time
sys.path.insert(0, {root!r})
from forecasts.api import Forecaster
forecaster, times = Forecaster(), {{}}
for name, bill, reasons in (
    ("registry", "119hr6508", True),
    ("described", {described!r}, True),
    ("registry_no_reasons", "119hr6508", False),
    ("described_no_reasons", {described!r}, False),
):
    runs = []
    for _ in range({runs} + 1):
        started = time.perf_counter()
        forecaster.forecast(bill, reasons=reasons)
        runs.append(time.perf_counter() - started)
    times[name] = runs
print(json.dumps(times))
"""


def warm(runs: int) -> dict[str, list[float]]:
    """Seconds per API call in one process: the first call (loads state and model) then ``runs`` more."""
    code = WARM.format(root=str(ROOT), described=DESCRIBED, runs=runs)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 3) -> dict:
    """Medians of ``runs`` runs; the machine's load average before and after (other users share its cores)."""
    median = lambda values: round(statistics.median(values), 3)  # noqa: E731
    load_before = os.getloadavg()[0]
    warm_times = warm(runs)
    return {
        "load_average_1min_before": round(load_before, 2),
        **{f"import_{name.replace('.', '_')}_s": median(import_seconds(runs, name)) for name in IMPORT_FLOOR},
        "cli_forecast_119hr6508_cold_s": median(cold(FORECAST, runs)),
        "cli_describe_cold_s": median(cold(DESCRIBE, runs)),
        "api_registry_first_call_s": round(warm_times["registry"][0], 3),
        "api_registry_warm_s": median(warm_times["registry"][1:]),
        "api_described_warm_s": median(warm_times["described"][1:]),
        "api_registry_warm_no_reasons_s": median(warm_times["registry_no_reasons"][1:]),
        "api_described_warm_no_reasons_s": median(warm_times["described_no_reasons"][1:]),
        "runs": runs,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.runs), indent=2))


if __name__ == "__main__":
    main()
