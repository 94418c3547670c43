"""DVC stage `evaluate`: rolling-origin backtest of the model and the baselines, metrics and plots for DVC,
the same logged to the train stage's MLflow run (named by date and parameters), the registered version
described with its backtest headline, and the champion moved to it only by the pipeline's own run on the
committed parameters (`models.tracking.promotion_decision`).

For each cut year Y, everything is fitted on catalogued votes before 1 January Y and scored on the votes of
year Y. Features are point-in-time already, so the only thing a cut changes is which votes train the model.
"""

from __future__ import annotations

import json
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
from pipeline.tables import log_timing, write_atomic, write_json  # noqa: E402

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


def write_plot_data(predictions: pd.DataFrame, table: dict, model: support_model.SupportModel, bins: int) -> dict:
    """Data for `dvc plots` (wide CSVs: one column per method, so each method is its own series), the
    calibration by chamber the reports draw, and PNG figures (declared for `dvc plots` too, as they render
    without a network, and logged to MLflow); returns the PNG paths."""
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
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
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    gain = model.booster.get_score(importance_type="gain")
    importance = pd.DataFrame({"feature": list(gain), "gain": list(gain.values())}).sort_values("gain", ascending=False)
    by_cut = pd.DataFrame(
        [
            {"cut": int(key.removeprefix("cut_")), "method": m, **{k: v for k, v in entry["all"].items()}}
            for m in methods
            for key, entry in table[m].items()
            if key.startswith("cut_")
        ]
    )
    log_loss_by_cut = by_cut.pivot(index="cut", columns="method", values="log_loss")[methods].reset_index()
    for name, frame in (
        ("calibration", calibration),
        ("reliability", reliability),
        ("roc", roc),
        ("importance", importance),
        ("metric_by_cut", log_loss_by_cut),
    ):
        write_atomic(PLOTS_DIR / f"{name}.csv", lambda tmp, f=frame: f.round(6).to_csv(tmp, index=False))

    figures = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for method, part in pooled.groupby("method", sort=False):
        ax.plot(part["mean_forecast"], part["observed_rate"], marker="o", label=method)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="forecast P(Yea)", ylabel="observed Yea rate", title="Reliability (backtest)")
    ax.legend()
    figures["reliability.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, XGBoost (backtest)")
    figures["roc.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 7))
    top = importance.head(20).iloc[::-1]
    ax.barh(top["feature"], top["gain"])
    ax.set(title="Feature importance (gain), final model")
    fig.tight_layout()
    figures["importance.png"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in methods:
        ax.plot(log_loss_by_cut["cut"], log_loss_by_cut[method], marker="o", label=method)
    ax.set(xlabel="cut year (scored year)", ylabel="log loss", title="Log loss by cut")
    ax.legend()
    figures["metric_by_cut.png"] = fig
    paths = {}
    for name, fig in figures.items():
        path = PLOTS_DIR / name
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


def main() -> None:
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
    methods = [m for m in methods_of(predictions) if m in table]
    summary = rounded(
        {"bars": bars, **{m: {k: table[m][k] for k in ("pooled", "house", "senate") if k in table[m]} for m in methods}}
    )
    write_json(headline(table), METRICS_DIR / "headline.json")
    write_json(summary, METRICS_DIR / "metrics.json")
    write_json(rounded(table), METRICS_DIR / "backtest_by_cut.json")
    log_timing("evaluate", seconds)

    run = json.loads((MODELS_DIR / "run.json").read_text())
    tracking.use_experiment(params["model"]["experiment"])
    name = tracking.run_name(f"{config.as_of:%Y-%m-%d}", params["model"])
    with mlflow.start_run(run_id=run["run_id"]):
        mlflow.set_tag("mlflow.runName", name)
        flat = {}
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
        mlflow.log_metrics(flat)
        mlflow.set_tags({f"bar.{k}": str(v) for k, v in bars.items()})
        for path in figures.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_artifact(str(METRICS_DIR / "metrics.json"))
    pooled = table[MODEL]["pooled"]
    others = ", ".join(f"{m} {table[m]['pooled']['log_loss']:.3f}" for m in methods if m != MODEL)
    version = str(run["registered_version"])
    tracking.describe_version(
        params["model"]["name"],
        version,
        f"{name}. Backtest {min(params['evaluate']['cut_years'])}-{max(params['evaluate']['cut_years'])}, "
        f"{len(predictions)} out-of-sample votes: log loss {pooled['log_loss']:.3f} (baselines: {others}), "
        f"within-party AUC among Republicans {pooled['within_party_auc_R']:.3f}, calibration error "
        f"{pooled['ece']:.3f}.",
    )
    allowed, why = tracking.promotion_decision(params["model"])
    first = not tracking.has_champion(params["model"]["name"]) and not tracking.in_experiment()
    if allowed or first:
        tracking.promote(params["model"]["name"], version)
        crowned = f"version {version} is the champion ({why if allowed else 'the first version'})"
    else:
        crowned = f"champion unchanged: {why}"
    print(
        f"evaluate: {len(predictions)} backtest votes in {seconds} s; xgboost log loss {pooled['log_loss']:.4f}, "
        f"within-party AUC R {pooled['within_party_auc_R']:.3f}, ECE {pooled['ece']:.4f}; bars met: "
        f"{bars['all_met']}; {crowned}"
    )


if __name__ == "__main__":
    main()
