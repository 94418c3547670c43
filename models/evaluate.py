"""DVC stage `evaluate`: rolling-origin backtest of the model and the baselines, metrics and plots for DVC,
the same logged to the train stage's MLflow run (named by date and parameters), the registered version
described with its backtest headline, and the champion moved to it only by the pipeline's own run on the
committed parameters (`models.tracking.promotion_decision`).

For each cut year Y, everything is fitted on catalogued votes before 1 January Y and scored on the votes of
year Y. Features are point-in-time already, so the only thing a cut changes is which votes train the model.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from models import support_model, tracking  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.dataset import with_context, yea_probability  # noqa: E402
from models.intervals import roll_call_bootstrap  # noqa: E402
from models.metrics import POOLED_BARS, bar_name, meets, reliability_table, score  # noqa: E402
from pipeline.config import DataConfig, load_params, stage_arguments  # noqa: E402
from pipeline.errors import debug_requested, run_stage
from pipeline.tables import log_timing, write_atomic, write_json  # noqa: E402

log = logging.getLogger("natocast.evaluate")
MODEL = "xgboost"
METHODS = (MODEL, *BASELINES)
# NumPy's exp and log take AVX-512 code where the CPU has it, and round the last bit otherwise than the C library:
# the backtest's probabilities are kept to 12 decimal places (scored as kept), so its file is the same on every CPU.
PROBABILITY_DECIMALS = 12


def backtest(
    training: pd.DataFrame, cut_years: list[int], model_params: dict, clip: tuple[float, float]
) -> pd.DataFrame:
    """Out-of-sample P(Yea) of every method for every vote in each cut's following year."""
    scored = []
    for year in cut_years:
        cut = pd.Timestamp(f"{year}-01-01")
        train = training[training["date"] < cut]
        test = training[(training["date"] >= cut) & (training["date"] < pd.Timestamp(f"{year + 1}-01-01"))]
        if test.empty or train.empty:
            continue
        predictions = test[
            ["measure_id", "bioguide_id", "chamber", "party", "date", "orientation", "voted_yea", "new_member"]
        ].copy()
        predictions["cut"] = year
        model = support_model.train(train, model_params)
        predictions[f"p_{MODEL}"] = np.round(model.predict_yea(test), PROBABILITY_DECIMALS)
        for name, baseline in BASELINES.items():
            p_yea = yea_probability(baseline(train, test, clip), test["orientation"])
            predictions[f"p_{name}"] = np.round(p_yea, PROBABILITY_DECIMALS)
        scored.append(predictions)
    if not scored:
        return pd.DataFrame()
    return pd.concat(scored, ignore_index=True)


def metrics_table(predictions: pd.DataFrame, bins: int) -> dict:
    """Metrics per method: pooled, per chamber, per cut and per cut and chamber."""
    result: dict = {}
    for method in METHODS:
        frame = predictions.assign(p_yea=predictions[f"p_{method}"])
        entry = {"pooled": score(frame, bins)}
        for chamber, part in frame.groupby("chamber"):
            entry[chamber] = score(part, bins)
        for cut, part in frame.groupby("cut"):
            entry[f"cut_{cut}"] = {"all": score(part, bins)}
            for chamber, piece in part.groupby("chamber"):
                entry[f"cut_{cut}"][chamber] = score(piece, bins)
        result[method] = entry
    return result


def check_bars(table: dict) -> dict:
    """The bars of issue 9: the support model has the lowest log loss of all methods in each chamber, and
    pooled log loss <= 0.20, Republican within-party AUC >= 0.85, ECE <= 0.03, party-level error <= 0.10."""
    bars = {}
    for chamber in ("house", "senate"):
        ours = table[MODEL].get(chamber, {}).get("log_loss", np.inf)
        theirs = min(table[name].get(chamber, {}).get("log_loss", np.inf) for name in BASELINES)
        bars[f"{chamber}.lowest_log_loss"] = bool(ours < theirs)
    pooled = table[MODEL]["pooled"]
    for metric, (bar, at_most) in POOLED_BARS.items():
        bars[f"pooled.{bar_name(metric, bar, at_most)}"] = bool(meets(pooled[metric], bar, at_most))
    bars["all_met"] = all(bars.values())
    return bars


def methods_of(predictions: pd.DataFrame) -> list[str]:
    """Every method the backtest scored (its ``p_<method>`` columns), the model first."""
    found = [c.removeprefix("p_") for c in predictions.columns if c.startswith("p_")]
    return sorted(found, key=lambda m: (m != MODEL, found.index(m)))


def rounded(value, digits: int = 4):
    """Floats rounded (recursively) so that a rerun writes identical files: the last digits of a sum over
    threads differ from run to run and would otherwise show as changes in git and dvc.lock."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), digits)
    return value


def plot_frames(predictions: pd.DataFrame, table: dict, model: support_model.SupportModel, bins: int) -> dict:
    """The data behind each plot: calibration by scope, reliability (wide: one column per method, so each method
    is its own series in `dvc plots`), the model's ROC, feature gain, log loss per cut (wide)."""
    methods = methods_of(predictions)
    scopes = [("pooled", predictions)] + list(predictions.groupby("chamber"))
    calibration = pd.concat(
        [
            reliability_table(part[f"p_{m}"].to_numpy(), part["voted_yea"].to_numpy(), bins).assign(
                method=m, scope=scope
            )
            for m in methods
            for scope, part in scopes
        ],
        ignore_index=True,
    )
    pooled = calibration[calibration["scope"] == "pooled"]
    reliability = pooled.pivot(index="bin", columns="method", values="observed_rate")[methods].reset_index()
    reliability.insert(1, "forecast_bin_centre", (reliability["bin"] + 0.5) / bins)
    fpr, tpr, _ = roc_curve(predictions["voted_yea"], predictions[f"p_{MODEL}"])
    gain = model.booster.gain(model.features)
    importance = pd.DataFrame({"feature": list(gain), "gain": list(gain.values())}).sort_values("gain", ascending=False)
    by_cut = pd.DataFrame(
        [
            {"cut": int(key.removeprefix("cut_")), "method": m, **{k: v for k, v in entry["all"].items()}}
            for m in methods
            for key, entry in table[m].items()
            if key.startswith("cut_")
        ]
    )
    return {
        "calibration": calibration,
        "reliability": reliability,
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "importance": importance,
        "metric_by_cut": by_cut.pivot(index="cut", columns="method", values="log_loss")[methods].reset_index(),
    }


def draw_figures(frames: dict[str, pd.DataFrame]) -> dict:
    """One PNG figure per plot (they render without a network, unlike DVC's Vega pages)."""
    figures = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    pooled = frames["calibration"][frames["calibration"]["scope"] == "pooled"]
    for method, part in pooled.groupby("method", sort=False):
        ax.plot(part["mean_forecast"], part["observed_rate"], marker="o", label=method)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="forecast P(Yea)", ylabel="observed Yea rate", title="Reliability (backtest)")
    ax.legend()
    figures["reliability.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(frames["roc"]["fpr"], frames["roc"]["tpr"])
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, XGBoost (backtest)")
    figures["roc.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 7))
    top = frames["importance"].head(20).iloc[::-1]
    ax.barh(top["feature"], top["gain"])
    ax.set(title="Feature importance (gain), final model")
    fig.tight_layout()
    figures["importance.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    by_cut = frames["metric_by_cut"]
    for method in by_cut.columns.drop("cut"):
        ax.plot(by_cut["cut"], by_cut[method], marker="o", label=method)
    ax.set(xlabel="cut year (scored year)", ylabel="log loss", title="Log loss by cut")
    ax.legend()
    figures["metric_by_cut.png"] = fig
    return figures


def write_plot_data(
    predictions: pd.DataFrame, table: dict, model: support_model.SupportModel, bins: int, plots: Path
) -> dict:
    """CSVs for `dvc plots` and the reports, PNG figures for `dvc plots` and MLflow; returns the PNG paths."""
    plots.mkdir(parents=True, exist_ok=True)
    frames = plot_frames(predictions, table, model, bins)
    for name, frame in frames.items():
        write_atomic(plots / f"{name}.csv", lambda tmp, f=frame: f.round(6).to_csv(tmp, index=False))
    paths = {}
    for name, fig in draw_figures(frames).items():
        path = plots / name
        # no metadata: the PNG's bytes depend only on the figure, so reruns leave dvc.lock unchanged
        write_atomic(path, lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=110, metadata={"Software": None}))
        plt.close(fig)
        paths[name] = path
    return paths


def headline(table: dict) -> dict:
    """The few numbers `dvc metrics show` prints (a line that fits a terminal): each method's pooled log loss,
    the model's within-party ranking and calibration; the details stay in metrics/metrics.json (with the bars
    and the number of votes) and metrics/backtest_by_cut.json."""
    ours = table[MODEL]["pooled"]
    return rounded(
        {
            "log_loss": {m: table[m]["pooled"]["log_loss"] for m in table},
            MODEL: {k: ours[k] for k in ("within_party_auc_R", "ece") if k in ours},
        }
    )


def write_metrics(predictions: pd.DataFrame, table: dict, bars: dict, spread: dict, metrics: Path) -> list[str]:
    """The headline (declared as DVC metrics), the details, the per-cut table and the bootstrap's intervals,
    rounded; returns the methods."""
    methods = [m for m in methods_of(predictions) if m in table]
    summary = rounded(
        {"bars": bars, **{m: {k: table[m][k] for k in ("pooled", "house", "senate") if k in table[m]} for m in methods}}
    )
    write_json(headline(table), metrics / "headline.json")
    write_json(summary, metrics / "metrics.json")
    write_json(rounded(table), metrics / "backtest_by_cut.json")
    write_json(rounded(spread), metrics / "intervals.json")
    return methods


def flat_metrics(table: dict, methods: list[str], spread: dict) -> dict[str, float]:
    """Every finite metric as an MLflow metric name: ``xgboost.pooled.log_loss``, ``xgboost.cut_2024.house.ece``,
    and the model's bootstrap intervals: ``xgboost.pooled.log_loss.low`` and ``.high``."""
    flat = {}
    for scope, by_metric in spread.get("intervals", {}).get(MODEL, {}).items():
        for metric, bounds in by_metric.items():
            ends = zip(("low", "high"), bounds, strict=True)
            flat |= {f"{MODEL}.{scope}.{metric}.{end}": v for end, v in ends if np.isfinite(v)}
    for method in methods:
        for scope, entry in table[method].items():
            items = (
                entry.items()
                if not scope.startswith("cut_")
                else ((f"{scope}.{sub}.{k}", v) for sub, e in entry.items() for k, v in e.items())
            )
            for key, value in items:
                label = f"{method}.{key}" if scope.startswith("cut_") else f"{method}.{scope}.{key}"
                if isinstance(value, int | float) and np.isfinite(value):
                    flat[label] = float(value)
    flat["backtest_log_loss"] = table[MODEL]["pooled"]["log_loss"]
    return flat


def log_run(
    run: dict, name: str, scored: tuple[dict, dict, list[str]], bars: dict, figures: dict, details: Path
) -> None:
    """The backtest's metrics (``scored``: the table, the bootstrap and the methods), bars and figures, logged to
    the train stage's MLflow run."""
    table, spread, methods = scored
    with mlflow.start_run(run_id=run["run_id"]):
        mlflow.set_tag("mlflow.runName", name)
        mlflow.log_metrics(flat_metrics(table, methods, spread))
        mlflow.set_tags({f"bar.{k}": str(v) for k, v in bars.items()})
        for path in figures.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_artifact(str(details))


def run_of_model_files(run: dict, found: str, registered_name: str) -> dict | None:
    """The MLflow run (and registered version) that logged the model files now in data/models. The train stage
    writes run.json beside them, but when DVC restores the files from its run cache run.json is not restored
    (untracked: its ids are new on every run) and names the last model trained, not this one: then the version
    is looked up by the files' fingerprint. None when no run logged these files."""
    if run.get("fingerprint") == found:
        return run
    return tracking.version_with_fingerprint(registered_name, found)


def describe_and_promote(params: dict, run: dict, name: str, table: dict, methods: list[str], votes: int) -> str:
    """The version's description (its backtest headline), then the champion rule: only the pipeline's own run
    on the committed parameters moves the champion (or the very first version of an empty store), and not when
    the champion's run logged the same model files."""
    pooled = table[MODEL]["pooled"]
    others = ", ".join(f"{m} {table[m]['pooled']['log_loss']:.3f}" for m in methods if m != MODEL)
    version = str(run["registered_version"])
    cuts = params["evaluate"]["cut_years"]
    tracking.describe_version(
        params["model"]["name"],
        version,
        f"{name}. Backtest {min(cuts)}-{max(cuts)}, {votes} out-of-sample votes: log loss {pooled['log_loss']:.3f} "
        f"(baselines: {others}), within-party AUC among Republicans {pooled['within_party_auc_R']:.3f}, "
        f"calibration error {pooled['ece']:.3f}.",
    )
    allowed, why = tracking.promotion_decision(params["model"])
    first = not tracking.has_champion(params["model"]["name"]) and not tracking.in_experiment()
    if allowed and tracking.champion_fingerprint(params["model"]["name"]) == run["fingerprint"]:
        # the same model files retrained (a code change that changed no output): moving the champion to the new
        # version would leave the predict stage, which DVC then skips, naming the old one in its record and reports
        return f"champion unchanged: it already holds these model files ({run['fingerprint']})"
    if allowed or first:
        tracking.promote(params["model"]["name"], version)
        return f"version {version} is the champion ({why if allowed else 'the first version'})"
    return f"champion unchanged: {why}"


def main(argv: list[str] | None = None) -> None:
    """DVC stage `evaluate`: the rolling backtest of the model and the baselines, metrics, plots, the champion."""
    args = stage_arguments("backtest the support model", "features", "models", "metrics", "plots", argv=argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    training = pd.read_parquet(args.features / "training.parquet")
    training = training[training["date"] <= config.as_of]
    training = with_context(training, pd.read_parquet(args.models / "general" / "context_out_of_time.parquet"))
    evaluation = params["evaluate"]
    predictions = backtest(
        training, evaluation["cut_years"], support_model.model_settings(params), tuple(evaluation["baseline_clip"])
    )
    bins = params["evaluate"]["ece_bins"]
    table = metrics_table(predictions, bins)
    bars = check_bars(table)
    spread = roll_call_bootstrap(predictions, methods_of(predictions), params["evaluate"]["bootstrap"])
    figures = write_plot_data(predictions, table, support_model.load(args.models), bins, args.plots)
    predictions.to_parquet(args.models / "backtest.parquet", index=False)
    methods = write_metrics(predictions, table, bars, spread, args.metrics)
    seconds = round(time.perf_counter() - started, 2)
    log_timing("evaluate", seconds)
    tracking.use_experiment(params["model"]["experiment"])
    found = support_model.fingerprint(args.models)
    recorded = args.models / "run.json"  # absent when DVC restored train's outputs into a new workspace
    run = json.loads(recorded.read_text()) if recorded.exists() else {}
    run = run_of_model_files(run, found, params["model"]["name"])
    if run is None:
        crowned = f"champion unchanged: no MLflow run logged the model files in {args.models} ({found})"
    else:
        name = tracking.run_name(f"{config.as_of:%Y-%m-%d}", params["model"])
        log_run(run, name, (table, spread, methods), bars, figures, args.metrics / "metrics.json")
        crowned = describe_and_promote(params, run, name, table, methods, len(predictions))
    pooled = table[MODEL]["pooled"]
    log.info(
        "%d backtest votes in %s s; xgboost log loss %.4f, within-party AUC R %.3f, ECE %.4f; bars met: %s; %s",
        len(predictions), seconds, pooled["log_loss"], pooled["within_party_auc_R"], pooled["ece"],
        bars["all_met"], crowned,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_stage("evaluate", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
