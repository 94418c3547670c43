"""DVC stage `evaluate`: rolling-origin backtest of the model and the three baselines, metrics and plots for
DVC, the same logged to the train stage's MLflow run, and the champion chosen by pooled log loss.

For each cut year Y, everything is fitted on catalogued votes before 1 January Y and scored on the votes of
year Y. Features are point-in-time already, so the only thing a cut changes is which votes train the model.
"""

from __future__ import annotations

import json
import logging
import time

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
from models.general import GENERAL_DIR  # noqa: E402
from models.metrics import reliability_table, score  # noqa: E402
from pipeline.config import FEATURES_DIR, METRICS_DIR, MODELS_DIR, PLOTS_DIR, DataConfig, load_params  # noqa: E402
from pipeline.tables import write_atomic, write_json  # noqa: E402

log = logging.getLogger("natocast.evaluate")

MODEL = "xgboost"
METHODS = (MODEL, *BASELINES)


def backtest(training: pd.DataFrame, cut_years: list[int], model_params: dict) -> pd.DataFrame:
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
        predictions[f"p_{MODEL}"] = model.predict_yea(test)
        for name, baseline in BASELINES.items():
            predictions[f"p_{name}"] = yea_probability(baseline(train, test, model_params), test["orientation"])
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
    bars["pooled.log_loss_at_most_0.20"] = bool(pooled["log_loss"] <= 0.20)
    bars["pooled.within_party_auc_R_at_least_0.85"] = bool(pooled["within_party_auc_R"] >= 0.85)
    bars["pooled.ece_at_most_0.03"] = bool(pooled["ece"] <= 0.03)
    bars["pooled.party_level_error_at_most_0.10"] = bool(pooled["party_level_error"] <= 0.10)
    bars["all_met"] = all(bars.values())
    return bars


def plot_tables(predictions: pd.DataFrame, table: dict, model: support_model.SupportModel, bins: int) -> dict:
    """The data behind each plot: reliability per method, the model's ROC, feature gain, metrics per cut."""
    reliability = pd.concat(
        [
            reliability_table(predictions[f"p_{m}"].to_numpy(), predictions["voted_yea"].to_numpy(), bins).assign(
                method=m
            )
            for m in METHODS
        ],
        ignore_index=True,
    )
    fpr, tpr, _ = roc_curve(predictions["voted_yea"], predictions[f"p_{MODEL}"])
    gain = model.booster.get_score(importance_type="gain")
    importance = pd.DataFrame({"feature": list(gain), "gain": list(gain.values())}).sort_values("gain", ascending=False)
    by_cut = pd.DataFrame(
        [
            {"cut": int(key.removeprefix("cut_")), "method": m, **{k: v for k, v in entry["all"].items()}}
            for m in METHODS
            for key, entry in table[m].items()
            if key.startswith("cut_")
        ]
    )
    return {
        "reliability": reliability,
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "importance": importance,
        "metric_by_cut": by_cut,
    }


def _figures(tables: dict[str, pd.DataFrame]) -> dict:
    """One matplotlib figure per plot table."""
    figures = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for method, part in tables["reliability"].groupby("method"):
        ax.plot(part["mean_forecast"], part["observed_rate"], marker="o", label=method)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="forecast P(Yea)", ylabel="observed Yea rate", title="Reliability (backtest)")
    ax.legend()
    figures["reliability.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(tables["roc"]["fpr"], tables["roc"]["tpr"])
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, XGBoost (backtest)")
    figures["roc.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 7))
    top = tables["importance"].head(20).iloc[::-1]
    ax.barh(top["feature"], top["gain"])
    ax.set(title="Feature importance (gain), final model")
    fig.tight_layout()
    figures["importance.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, part in tables["metric_by_cut"].groupby("method"):
        ax.plot(part["cut"], part["log_loss"], marker="o", label=method)
    ax.set(xlabel="cut year (scored year)", ylabel="log loss", title="Log loss by cut")
    ax.legend()
    figures["metric_by_cut.png"] = fig
    return figures


def write_plot_data(predictions: pd.DataFrame, table: dict, model: support_model.SupportModel, bins: int) -> dict:
    """CSV files for `dvc plots` and PNG figures for MLflow; returns the PNG paths."""
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    tables = plot_tables(predictions, table, model, bins)
    for name, frame in tables.items():
        write_atomic(PLOTS_DIR / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False))
    paths = {}
    for name, fig in _figures(tables).items():
        path = PLOTS_DIR / name
        write_atomic(path, lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        paths[name] = path
    return paths


def flat_metrics(table: dict) -> dict[str, float]:
    """The metrics table as MLflow metric names (method.scope.metric, method.cut_Y.chamber.metric), finite only."""
    flat = {}
    for method in METHODS:
        for scope, entry in table[method].items():
            items = (
                entry.items()
                if not scope.startswith("cut_")
                else ((f"{scope}.{sub}.{k}", v) for sub, e in entry.items() for k, v in e.items())
            )
            for key, value in items:
                name = f"{method}.{key}" if scope.startswith("cut_") else f"{method}.{scope}.{key}"
                if isinstance(value, int | float) and np.isfinite(value):
                    flat[name] = float(value)
    flat["backtest_log_loss"] = table[MODEL]["pooled"]["log_loss"]
    return flat


def log_to_run(params: dict, table: dict, bars: dict, figures: dict) -> tuple[int, float]:
    """Metrics, bars and figures into the train stage's MLflow run; crowns the champion (version, its loss)."""
    run = json.loads((MODELS_DIR / "run.json").read_text())
    tracking.use_experiment(params["model"]["experiment"])
    with mlflow.start_run(run_id=run["run_id"]):
        mlflow.log_metrics(flat_metrics(table))
        mlflow.set_tags({f"bar.{k}": str(v) for k, v in bars.items()})
        for path in figures.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_artifact(str(METRICS_DIR / "metrics.json"))
    return tracking.crown_champion(params["model"]["name"], "backtest_log_loss", run["experiment_id"])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    training = pd.read_parquet(FEATURES_DIR / "training.parquet")
    training = training[training["date"] <= config.as_of]
    training = with_context(training, pd.read_parquet(GENERAL_DIR / "context_out_of_time.parquet"))
    predictions = backtest(training, params["evaluate"]["cut_years"], params["model"])
    bins = params["evaluate"]["ece_bins"]
    table = metrics_table(predictions, bins)
    bars = check_bars(table)
    model = support_model.load(MODELS_DIR)
    figures = write_plot_data(predictions, table, model, bins)
    predictions.to_parquet(MODELS_DIR / "backtest.parquet", index=False)
    seconds = round(time.perf_counter() - started, 2)
    summary = {
        "bars": bars,
        "seconds": seconds,
        **{m: {k: table[m][k] for k in ("pooled", "house", "senate") if k in table[m]} for m in METHODS},
    }
    write_json(summary, METRICS_DIR / "metrics.json")
    write_json(table, METRICS_DIR / "backtest_by_cut.json")
    version, best = log_to_run(params, table, bars, figures)
    pooled = table[MODEL]["pooled"]
    log.info(
        "%d backtest votes in %s s; xgboost log loss %.4f, within-party AUC R %.3f, ECE %.4f; bars met: %s; "
        "champion: version %s (log loss %.4f)",
        len(predictions), seconds, pooled["log_loss"], pooled["within_party_auc_R"], pooled["ece"],
        bars["all_met"], version, best,
    )  # fmt: skip


if __name__ == "__main__":
    main()
