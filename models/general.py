"""DVC stage `general`: the general vote model over every roll call with a known sponsor.

Fits one model per congress on the congresses before it (the backtest and the NATO model's out-of-time
context), scores it by year and chamber against a party-line baseline keyed on the sponsor's party, checks that
cosponsors get the Yea rate they show, and fits the final model on everything up to ``as_of``.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd

from features.context import CONTEXT_FEATURES
from models import context_model
from models.metrics import headline_score
from pipeline.config import MODELS_DIR, DataConfig, load_params, stage_arguments
from pipeline.errors import debug_requested, run_stage
from pipeline.tables import kept_rows, write_json, write_parquet

log = logging.getLogger("natocast.general")
GENERAL_DIR = MODELS_DIR / "general"


def party_line_by_sponsor(general: pd.DataFrame, congresses: list[int], clip: tuple[float, float]) -> np.ndarray:
    """Baseline: the Yea rate of the member's party on earlier roll calls sponsored by each party, per chamber
    and procedure (falling back to party and sponsor's party, then to the overall rate), before each congress."""
    result = np.full(len(general), np.nan)
    keys = [
        ["chamber", "party", "sponsor_is_republican", "procedure"],
        ["chamber", "party", "sponsor_is_republican"],
    ]
    columns = list(dict.fromkeys([*keys[0], *keys[1], "voted_yea"]))  # the columns read: not whole rows copied
    for congress in congresses:
        earlier = general.loc[(general["date"] < context_model.congress_start(congress)).to_numpy(), columns]
        rows = (general["congress"] == congress).to_numpy()
        if earlier.empty or not rows.any():
            continue
        guess = np.full(int(rows.sum()), earlier["voted_yea"].mean())
        for key in reversed(keys):  # the finest key that has history wins
            rates = earlier.groupby(key, dropna=False)["voted_yea"].mean()
            found = rates.reindex(pd.MultiIndex.from_frame(general.loc[rows, key])).to_numpy()
            guess = np.where(np.isnan(found), guess, found)
        result[rows] = guess
    return np.clip(result, *clip)


def general_backtest(
    general: pd.DataFrame, models: dict, congresses: list[int], clip: tuple[float, float]
) -> pd.DataFrame:
    """Out-of-time P(Yea) of the model and the baseline for every general row a model exists for."""
    scored = general[["measure_id", "bioguide_id", "date", "congress", "chamber", "party", "voted_yea"]].copy()
    scored["is_cosponsor"] = general["is_cosponsor"].to_numpy()
    scored["is_sponsor"] = general["is_sponsor"].to_numpy()
    scored["p_general"] = context_model.out_of_time_yea(general, models)
    scored["p_party_line_by_sponsor"] = party_line_by_sponsor(general, congresses, clip)
    scored = scored.dropna(subset=["p_general", "p_party_line_by_sponsor"])
    scored["year"] = scored["date"].dt.year
    return scored


def backtest_metrics(scored: pd.DataFrame, bins: int) -> dict:
    """Log loss and friends of both methods, pooled, by chamber and by year; sponsors' and cosponsors' mean
    P(Yea) against the rate they voted Yea."""
    table: dict = {}
    for method in ("general", "party_line_by_sponsor"):
        frame = scored.assign(p_yea=scored[f"p_{method}"])
        entry = {"pooled": headline_score(frame, bins)}
        for chamber, part in frame.groupby("chamber"):
            entry[chamber] = headline_score(part, bins)
        for year, part in frame.groupby("year"):
            entry[f"year_{year}"] = headline_score(part, bins)
        table[method] = entry
    for role in ("is_cosponsor", "is_sponsor"):
        chosen = scored[scored[role] == 1]
        table[role.removeprefix("is_") + "s"] = {
            "votes": int(len(chosen)),
            "mean_p_yea": round(float(chosen["p_general"].mean()), 4),
            "observed_yea_rate": round(float(chosen["voted_yea"].mean()), 4),
        }
    return table


def main(argv: list[str] | None = None) -> None:
    """DVC stage `general`: the general vote model, fitted per congress (out of time) and on everything."""
    args = stage_arguments("fit the general vote model", "features", "models", "metrics", argv=argv)
    general_dir = args.models / "general"
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    params = load_params()
    config = DataConfig.from_params(params)
    settings = params["general_model"]
    general = pd.read_parquet(args.features / "general.parquet")
    general = kept_rows(general, general["date"] <= config.as_of)
    training = pd.read_parquet(args.features / "training.parquet")
    congresses = sorted(set(general["congress"]) | set(training["congress"]))
    models = context_model.fit_by_congress(general, congresses, CONTEXT_FEATURES, settings)
    log.info("fitted %d models by congress (%s)", len(models), ", ".join(map(str, models)))
    scored = general_backtest(general, models, congresses, tuple(params["evaluate"]["baseline_clip"]))
    metrics = backtest_metrics(scored, params["evaluate"]["ece_bins"])
    context = training[["measure_id", "bioguide_id"]].assign(
        context_p_yea=context_model.out_of_time_yea(training, models)
    )
    write_parquet(context, general_dir / "context_out_of_time.parquet")
    write_parquet(scored, general_dir / "backtest.parquet")
    final = context_model.fit(general, CONTEXT_FEATURES, settings)
    final.save(general_dir / "context_booster.json")
    metrics["rows"] = {
        "general": len(general),
        "backtest": len(scored),
        "final_fit": min(len(general), settings["max_rows"]),
    }
    write_json(_rounded(metrics), args.metrics / "general.json")
    pooled, baseline = metrics["general"]["pooled"], metrics["party_line_by_sponsor"]["pooled"]
    log.info(
        "backtest over %d votes: log loss %.4f (party line by sponsor %.4f); cosponsors mean P(Yea) %.3f vs %.3f",
        pooled["votes"], pooled["log_loss"], baseline["log_loss"],
        metrics["cosponsors"]["mean_p_yea"], metrics["cosponsors"]["observed_yea_rate"],
    )  # fmt: skip


def _rounded(value, digits: int = 4):
    """Metrics rounded so that a rerun of the same inputs writes the same file."""
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, digits)
    return value


if __name__ == "__main__":
    sys.exit(run_stage("general", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
