"""DVC stage `predict`: every registry bill x every member sitting in its chamber on ``as_of``: P(support),
a low-history flag, the reasons, and each bill's whip count, from the champion model in the MLflow registry.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd

from forecasts import whip
from forecasts.reasons import SPONSOR_NAMES, top_reasons
from models import support_model, tracking
from pipeline.config import FEATURES_DIR, METRICS_DIR, MODELS_DIR, REPORTS_DIR, DataConfig, load_params
from pipeline.tables import read_table, write_atomic, write_json, write_parquet

FORECAST_COLUMNS = [
    "bill_id",
    "bioguide_id",
    "name",
    "party",
    "state",
    "chamber",
    "probability",
    "low_history",
    "reasons_for",
    "reasons_against",
    "last_alliance_vote",
    "agreement_with_named_sponsors",
    "nominate_dim1",
    "backs_this_bill",
]


def load_champion(model_params: dict) -> tuple[support_model.SupportModel, str]:
    """The champion's model files from the registry (read as JSON, not unpickled)."""
    tracking.use_experiment(model_params["experiment"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = tracking.download_champion(model_params["name"], tmp)
        return support_model.load(folder), tracking.champion_uri(model_params["name"])


def last_alliance_votes(features: pd.DataFrame, votes: pd.DataFrame, catalog: pd.DataFrame) -> pd.Series:
    """Each member's latest vote on the alliance itself before the forecast date, in words."""
    alliance = catalog[(catalog["domain"] == "alliance") & (catalog["orientation"] != 0)]
    votes = votes[votes["rollcall_id"].isin(alliance["rollcall_id"]) & votes["position"].isin(["yea", "nay"])]
    votes = votes.merge(alliance[["rollcall_id", "date", "orientation", "description"]], on="rollcall_id")
    date = features["date"].max()
    latest = votes[votes["date"] < date].sort_values("date").drop_duplicates("bioguide_id", keep="last")
    side = np.where(
        (latest["position"] == "yea") == (latest["orientation"] == 1), "the alliance side", "against the alliance side"
    )
    text = [
        f"voted {p.capitalize()} ({s}) on {_label(d)}, {t:%Y-%m-%d}"
        for p, s, d, t in zip(latest["position"], side, latest["description"], latest["date"], strict=True)
    ]
    return pd.Series(text, index=latest["bioguide_id"].to_numpy())


def _label(description: str) -> str:
    """The most telling part of a roll call's description (the measure's title, not the question)."""
    parts = [p.strip() for p in str(description).split("|") if p.strip()]
    titled = [p for p in parts if not p.lower().startswith(("on ", "motion to"))] or parts
    label = max(titled, key=len)
    return label if len(label) <= 110 else label[:107] + "..."


def forecast(model: support_model.SupportModel, features: pd.DataFrame) -> pd.DataFrame:
    """Per member and bill: P(support) = P(Yea on the bill), low-history flag and reasons."""
    features = features.assign(context_logit=model.context_logit(features))
    result = features[
        [
            "measure_id",
            "bioguide_id",
            "name",
            "party",
            "state",
            "chamber",
            "nominate_dim1",
            "backs_this_bill",
            "orientation",
        ]
    ].rename(columns={"measure_id": "bill_id"})
    result["probability"] = model.predict_yea(features)
    result["low_history"] = features["new_member"].astype(bool)
    reasons = top_reasons(model.contributions(features), features, features["orientation"])
    result["agreement_with_named_sponsors"] = agreement_text(features)
    return result.join(reasons)


def agreement_text(features: pd.DataFrame) -> pd.Series:
    """'agrees with Massie on 49%, Luna on 52%': the named sponsors each member shares enough votes with."""
    columns = [c for c in features.columns if c.startswith("agree_") and c != "agree_sponsor"]
    names = {c: SPONSOR_NAMES.get(c.removeprefix("agree_"), c) for c in columns}
    return pd.Series(
        [
            ", ".join(f"{names[c]} {row[c]:.0%}" for c in columns if pd.notna(row[c]))
            for _, row in features[columns].iterrows()
        ],
        index=features.index,
    )


def forecast_bills(
    model: support_model.SupportModel,
    features: pd.DataFrame,
    votes: pd.DataFrame,
    catalog: pd.DataFrame,
    registry: pd.DataFrame,
    scale: float,
) -> tuple[pd.DataFrame, list[dict]]:
    """Member forecasts (with reasons and last alliance vote) and the whip count of every bill in ``features``:
    what the predict stage and the command line both produce."""
    forecasts = forecast(model, features)
    forecasts["last_alliance_vote"] = forecasts["bioguide_id"].map(last_alliance_votes(features, votes, catalog))
    return forecasts, whip_counts(forecasts, registry, scale)


def whip_counts(forecasts: pd.DataFrame, registry: pd.DataFrame, scale: float) -> list[dict]:
    titles = registry.set_index("bill_id")
    counts = []
    for number, (bill, group) in enumerate(forecasts.groupby("bill_id")):
        entry = whip.whip_count(group["probability"].to_numpy(), group["chamber"].iloc[0], scale, seed=number)
        counts.append(
            {
                "bill_id": bill,
                "title": titles.loc[bill, "title"],
                "stance": int(titles.loc[bill, "stance"]),
                "chamber": group["chamber"].iloc[0],
                "sponsor": titles.loc[bill, "sponsor_bioguide_id"],
                **entry,
            }
        )
    return counts


def write_forecasts(forecasts: pd.DataFrame, counts: list[dict], directory) -> None:
    write_parquet(forecasts[FORECAST_COLUMNS], directory / "forecasts.parquet")
    write_atomic(directory / "forecasts.csv", lambda tmp: forecasts[FORECAST_COLUMNS].to_csv(tmp, index=False))
    write_json(counts, directory / "whip_counts.json")


def main() -> None:
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    model, uri = load_champion(params["model"])
    features = pd.read_parquet(FEATURES_DIR / "forecast.parquet")
    registry = pd.read_parquet(FEATURES_DIR / "registry.parquet")
    catalog = pd.read_parquet(FEATURES_DIR / "catalog.parquet")
    backtest = pd.read_parquet(MODELS_DIR / "backtest.parquet")
    scale = whip.fit_shock_scale(backtest)
    forecasts, counts = forecast_bills(model, features, read_table("votes"), catalog, registry, scale)
    write_forecasts(forecasts, counts, REPORTS_DIR)
    coverage = whip.interval_coverage(backtest)
    write_json(
        {
            "as_of": str(config.as_of.date()),
            "model": uri,
            "shock_scale": scale,
            **coverage,
            "bills": len(counts),
            "rows": len(forecasts),
            "seconds": round(time.perf_counter() - started, 2),
        },
        METRICS_DIR / "whip.json",
    )
    print(
        f"predict: {len(forecasts)} member forecasts for {len(counts)} bills from {uri}; shock scale "
        f"{scale:.2f}, 90% interval coverage {coverage['coverage_90_shared_shock']:.0%} "
        f"(independent: {coverage['coverage_90_independent']:.0%})"
    )
    for count in counts:
        if count["bill_id"] in {"119hr6508", "119s2174", "119s3262", "119s2914", "119hr5793"}:
            print(
                f"  {count['bill_id']}: {count['expected_supporters']:.1f} of {count['members']} expected "
                f"(90%: {count['interval_90']}), P(majority) {count['p_pass']['simple_majority']:.2f}"
            )


if __name__ == "__main__":
    main()
