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
# included). xgboost imports scikit-learn (and with it scipy.stats) whenever scikit-learn is installed.
IMPORT_FLOOR = ("sys", "pandas", "pyarrow.parquet", "xgboost", "sklearn", "scipy.stats", "forecasts.cli")


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


C_API = """
import ctypes, importlib.util, json, sys, time
started = time.perf_counter()
import numpy as np, pandas as pd
folder = importlib.util.find_spec("xgboost").submodule_search_locations[0]  # finds, does not import, the package
lib = ctypes.cdll.LoadLibrary(next(__import__("pathlib").Path(folder, "lib").glob("libxgboost*")).as_posix())
lib.XGBGetLastError.restype = ctypes.c_char_p

def check(code):
    if code:
        raise RuntimeError(lib.XGBGetLastError().decode())

def interface(array):
    return json.dumps({{"data": [array.ctypes.data, True], "shape": list(array.shape), "typestr": "<f4", "version": 3}})

def load(path):
    booster = ctypes.c_void_p()
    check(lib.XGBoosterCreate(None, ctypes.c_uint64(0), ctypes.byref(booster)))
    check(lib.XGBoosterLoadModel(booster, str(path).encode()))
    return booster

def predict(booster, x, contribs):
    matrix = ctypes.c_void_p()
    options = b'{{"missing": NaN, "nthread": 0}}'
    check(lib.XGDMatrixCreateFromDense(interface(x).encode(), options, ctypes.byref(matrix)))
    config = json.dumps({{"type": 2 if contribs else 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                         "strict_shape": False}}).encode()
    shape, dim, out = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_uint64(), ctypes.POINTER(ctypes.c_float)()
    check(lib.XGBoosterPredictFromDMatrix(booster, matrix, config, ctypes.byref(shape), ctypes.byref(dim),
                                          ctypes.byref(out)))
    dims = [shape[i] for i in range(dim.value)]
    result = np.ctypeslib.as_array(out, shape=(int(np.prod(dims)),)).reshape(dims).copy()
    lib.XGDMatrixFree(matrix)
    return result

path = {root!r} + "/data/models/context_booster.json"
booster = load(path)
loaded = time.perf_counter() - started  # the floor: Python, numpy, pandas, the library and the model
frame = pd.read_parquet({root!r} + "/data/features/forecast.parquet")
features = json.loads(json.loads(open(path).read())["learner"]["attributes"]["features"])
x = np.ascontiguousarray(frame[frame["measure_id"] == "119hr6508"][features].to_numpy(np.float32))
p, contributions = predict(booster, x, False), predict(booster, x, True)
heavy = [name for name in ("xgboost", "sklearn", "scipy") if name in sys.modules]
import xgboost as xgb
reference = xgb.Booster()
reference.load_model(path)
matrix = xgb.DMatrix(pd.DataFrame(x, columns=features), missing=np.nan)
same = bool(np.array_equal(p, reference.predict(matrix)))
same_contributions = bool(np.array_equal(contributions, reference.predict(matrix, pred_contribs=True)))
print(json.dumps({{"seconds": loaded, "heavy_imports": heavy, "same": same, "same_contributions": same_contributions}}))
"""


def c_api_floor(runs: int) -> dict:
    """An evaluated alternative, not the product's path: XGBoost's documented C API through ctypes needs neither
    the xgboost package nor, through it, scikit-learn and scipy. Seconds from a new process's start to pandas
    imported and the general model loaded through the library (in-process, so Python's own start is not in it);
    whether its predictions and TreeSHAP contributions for 119hr6508 equal the xgboost package's bit for bit."""
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", C_API.format(root=str(ROOT))], cwd=ROOT, check=True, capture_output=True, text=True
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]) | {"wall": time.perf_counter() - started})
    return {
        "c_api_imports_and_model_s": round(statistics.median(r["seconds"] for r in results), 3),
        "c_api_heavy_imports": results[0]["heavy_imports"],
        "c_api_predictions_identical": all(r["same"] for r in results),
        "c_api_contributions_identical": all(r["same_contributions"] for r in results),
    }


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
    parser.add_argument("--c-api", action="store_true", help="only the C API alternative (c_api_floor)")
    args = parser.parse_args()
    print(json.dumps(c_api_floor(args.runs) if args.c_api else measure(args.runs), indent=2))


if __name__ == "__main__":
    main()
