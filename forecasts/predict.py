"""DVC stage `predict`: every registry bill x every member sitting in its chamber on ``as_of``: P(support),
a low-history flag, the reasons, sponsors and cosponsors on record, and each bill's whip count over the
chamber's voting members, from the champion model in the MLflow registry; and the track record of past
registry bills (the backtest's forecast before their vote beside the actual result).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from forecasts import names, precedents, whip
from forecasts.reasons import sponsor_label, top_reasons
from models import support_model
from pipeline.config import MODELS_DIR, DataConfig, load_params, stage_arguments
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.ids import NON_VOTING_STATES, other_chamber
from pipeline.tables import log_timing, read_table, write_atomic, write_json, write_parquet

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
    "is_sponsor",
    "is_cosponsor",
    "voting",
]


CHAMPION_RECORD = MODELS_DIR / "champion.json"  # who the champion was when the predict stage last ran
# A forecast's predictions are milliseconds of work per call: one thread each (models/booster.py, use_threads)
FORECAST_THREADS = 1


def load_champion(model_params: dict) -> tuple[support_model.SupportModel, dict]:
    """The champion's model files from the registry (read as JSON, not unpickled) and who it is: MLflow
    version, run, run name and content fingerprint."""
    from models import tracking  # MLflow takes seconds to import: only where the registry is asked

    tracking.use_experiment(model_params["experiment"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = tracking.download_champion(model_params["name"], tmp)
        model = support_model.load(folder, FORECAST_THREADS)
        info = tracking.champion_info(model_params["name"]) | {"fingerprint": support_model.fingerprint(folder)}
    return model, info


def record_champion(info: dict, name: str, path: Path = CHAMPION_RECORD) -> None:
    """Note the champion (MLflow version, run, fingerprint) beside the model files in data/models, so that callers
    can load those files directly when they are the champion's. Not tracked by DVC: versions are per store."""
    write_json(info | {"name": name}, path)


def check_procedure(bill_id: str, bill: pd.Series, seen: dict[str, set[str]] | None) -> None:
    """A DataError when the bill's procedure is one the general model met only in the other chamber (cloture in
    the House, a suspension in the Senate): its forecast would stand on nothing. ``seen``: the procedures of each
    chamber's roll calls the model learned from (None: not known, nothing checked)."""
    chamber, procedure = str(bill["chamber"]), str(bill["procedure"])
    other = other_chamber(chamber)
    if seen is None or procedure in seen[chamber] or procedure not in seen[other]:
        return
    raise DataError(
        f"{bill_id}: no {chamber.capitalize()} roll call the model learned from is a {procedure} vote (only "
        f"{other.capitalize()} ones are): a {chamber.capitalize()} vote is one of {', '.join(sorted(seen[chamber]))}"
    )


def check_registry_procedures(registry: pd.DataFrame, model: support_model.SupportModel) -> None:
    """``check_procedure`` for every registry bill that takes a side (a registry_additions.yaml entry's too)."""
    seen = model.context.procedures_by_chamber() if model.context is not None else None
    for _, bill in registry[registry["stance"] != 0].iterrows():
        check_procedure(bill["bill_id"], bill, seen)


def load_model(model_params: dict) -> tuple[support_model.SupportModel, dict, str | None]:
    """(model, info, note): the model files in data/models when their fingerprint is the champion's recorded by
    the predict stage (no MLflow import, no download), else the champion from MLflow with a note saying why."""
    if CHAMPION_RECORD.exists():
        record = json.loads(CHAMPION_RECORD.read_text())
        found = support_model.fingerprint(MODELS_DIR)
        if record.get("name") == model_params["name"] and record.get("fingerprint") == found:
            model = support_model.load(MODELS_DIR, FORECAST_THREADS)
            return model, {k: v for k, v in record.items() if k != "name"}, None
        note = (
            f"data/models holds model {found}, not the champion {record.get('fingerprint')} recorded by the predict "
            "stage (e.g. after `dvc exp run`): the champion is loaded from MLflow"
        )
    else:
        note = f"no champion recorded in {CHAMPION_RECORD} (run `dvc repro`): the champion is loaded from MLflow"
    model, info = load_champion(model_params)
    return model, info, note


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


def named_sponsor_chambers(features: pd.DataFrame, named: dict[str, str]) -> dict[str, str]:
    """The chamber each named member of the fight ('massie': 'M001184') sits in, as found in the features."""
    seats = features[["bioguide_id", "chamber"]].drop_duplicates("bioguide_id").set_index("bioguide_id")["chamber"]
    return {key: seats[bioguide] for key, bioguide in named.items() if bioguide in seats.index}


def named_sponsor_sides(features: pd.DataFrame, named: dict[str, str]) -> dict[str, int]:
    """The side each named member takes on the record (+1: the alliance side on most catalogued votes)."""
    share = features[["bioguide_id", "catalog_share"]].drop_duplicates("bioguide_id")
    share = share.set_index("bioguide_id")["catalog_share"]
    return {
        key: 1 if share[bioguide] >= 0.5 else -1
        for key, bioguide in named.items()
        if bioguide in share.index and pd.notna(share[bioguide])
    }


def sponsorship(features: pd.DataFrame) -> pd.DataFrame:
    """is_sponsor / is_cosponsor (0/1) on record: the feature table's own columns when it has them, else the
    registry's sponsor and ``backs_this_bill`` (which counts sponsors and cosponsors alike)."""
    if "is_sponsor" in features:
        sponsor = features["is_sponsor"].fillna(0).astype(int)
    else:
        sponsor = (features["bioguide_id"] == features["sponsor_bioguide_id"]).astype(int)
    if "is_cosponsor" in features:
        cosponsor = features["is_cosponsor"].fillna(0).astype(int)
    elif "backs_this_bill" in features:
        cosponsor = ((features["backs_this_bill"].fillna(0) == 1) & (sponsor == 0)).astype(int)
    else:
        cosponsor = pd.Series(0, index=features.index)
    return pd.DataFrame({"is_sponsor": sponsor, "is_cosponsor": cosponsor}, index=features.index)


def with_general_model(model: support_model.SupportModel, features: pd.DataFrame) -> pd.DataFrame:
    """The features with the general model's P(Yea) (computed once: every later call of the model reads the
    column) and its log-odds (for the reasons)."""
    features = features.assign(context_p_yea=model.context_p_yea(features))
    return features.assign(context_logit=model.context_logit(features))


def member_forecasts(
    model: support_model.SupportModel, features: pd.DataFrame, chambers: dict[str, str]
) -> pd.DataFrame:
    """Per member and bill, everything but the reasons: P(support) = P(Yea on the bill), low-history flag,
    sponsorship, whether the member votes, agreement with the named members. ``features``: ``with_general_model``."""
    columns = ["measure_id", "bioguide_id", "name", "party", "state", "chamber", "nominate_dim1", "orientation"]
    result = features[columns].rename(columns={"measure_id": "bill_id"})
    result["probability"] = model.predict_yea(features)
    result["low_history"] = features["new_member"].astype(bool)
    result = result.join(sponsorship(features))
    result["backs_this_bill"] = (
        features["backs_this_bill"].fillna(0).astype(int)
        if "backs_this_bill" in features
        else (result["is_sponsor"] | result["is_cosponsor"])
    )
    result["voting"] = ~features["state"].isin(NON_VOTING_STATES) | (features["chamber"] == "senate")
    result["agreement_with_named_sponsors"] = agreement_text(features, chambers)
    return result


def reason_words(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    result: pd.DataFrame,
    named: dict[str, str],
    chambers: dict[str, str],
) -> pd.DataFrame:
    """The reasons in words from the model's per-feature contributions (``SupportModel.contributions``)."""
    with_flags = features.assign(is_sponsor=result["is_sponsor"], is_cosponsor=result["is_cosponsor"])
    sides = named_sponsor_sides(features, named) if "catalog_share" in features else {}
    return top_reasons(contributions, with_flags, features["orientation"], chambers, sides)


NO_REASONS = {"reasons_for": "", "reasons_against": ""}


def forecast(
    model: support_model.SupportModel,
    features: pd.DataFrame,
    named: dict[str, str] | None = None,
    reasons: bool = True,
) -> pd.DataFrame:
    """Per member and bill: P(support) = P(Yea on the bill), low-history flag, sponsorship and reasons (left
    empty when ``reasons`` is false: the model's per-feature contributions are most of a forecast's time)."""
    features, chambers, result = _member_table(model, features, named or {})
    contributions = model.contributions(features) if reasons else None
    return result.join(_reasons(contributions, features, result, named or {}, chambers))


def _member_table(
    model: support_model.SupportModel, features: pd.DataFrame, named: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """(features with the general model's columns, the named sponsors' chambers, ``member_forecasts``)."""
    features = with_general_model(model, features)
    chambers = named_sponsor_chambers(features, named)
    return features, chambers, member_forecasts(model, features, chambers)


def _reasons(
    contributions: pd.DataFrame | None,
    features: pd.DataFrame,
    result: pd.DataFrame,
    named: dict[str, str],
    chambers: dict[str, str],
) -> pd.DataFrame:
    """``reason_words``, or the reasons columns left empty when no contributions were computed."""
    if contributions is None:
        return pd.DataFrame(NO_REASONS, index=features.index)
    return reason_words(contributions, features, result, named, chambers)


def agreement_text(features: pd.DataFrame, chambers: dict[str, str]) -> pd.Series:
    """'Massie 49%, Luna 52%': how often each member votes with the named members of the fight who sit in
    their own chamber (agreement across chambers is not measured on shared roll calls)."""
    columns = [c for c in features.columns if c.startswith("agree_") and c.removeprefix("agree_") in chambers]
    label = {c: sponsor_label(c.removeprefix("agree_")) for c in columns}
    seat = {c: chambers[c.removeprefix("agree_")] for c in columns}
    member_chamber = features["chamber"].tolist()
    parts: list[list[str]] = [[] for _ in member_chamber]
    for c in columns:  # column by column, in the frame's order: each member's list in that order
        for part, chamber, value in zip(parts, member_chamber, features[c].tolist(), strict=True):
            if seat[c] == chamber and pd.notna(value):
                part.append(f"{label[c]} {value:.0%}")
    return pd.Series([", ".join(part) for part in parts], index=features.index)


def forecast_bills(
    model: support_model.SupportModel,
    features: pd.DataFrame,
    votes: pd.DataFrame,
    catalog: pd.DataFrame,
    registry: pd.DataFrame,
    scale: float,
    members: pd.DataFrame,
    named: dict[str, str] | None = None,
    reasons: bool = True,
    draws: int = 20000,
    memo: dict | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Member forecasts (with reasons and last alliance vote) and the whip count of every bill in ``features``:
    what the predict stage and the command line both produce. ``memo``: a dict the caller keeps for one set of
    ``votes``, ``catalog`` and ``members`` (one member state), to reuse what depends on them alone (each
    member's last alliance vote before a date, the member directory of a congress) in its next calls."""
    memo = {} if memo is None else memo
    features, chambers, forecasts = _member_table(model, features, named or {})
    # The contributions (TreeSHAP in XGBoost's C++, which releases the GIL) run in a thread while the count is
    # simulated and the last votes looked up; nothing else calls the model meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(model.contributions, features) if reasons else None
        key = ("last alliance votes", features["date"].max())
        last_votes = _remembered(memo, key, lambda: last_alliance_votes(features, votes, catalog))
        last = forecasts["bioguide_id"].map(last_votes)
        counts = whip_counts(forecasts, registry, scale, members, draws, memo)
        words = _reasons(pending.result() if pending else None, features, forecasts, named or {}, chambers)
    return forecasts.join(words).assign(last_alliance_vote=last), counts


def _remembered(memo: dict, key: tuple, compute: Callable[[], object]):
    """``memo[key]``, computed the first time it is asked for."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def whip_counts(
    forecasts: pd.DataFrame,
    registry: pd.DataFrame,
    scale: float,
    members: pd.DataFrame,
    draws: int = 20000,
    memo: dict | None = None,
) -> list[dict]:
    """Each bill's count over its chamber's voting members, sponsors and cosponsors counted as committed.
    ``memo``: as ``forecast_bills``'s (the member directories by congress)."""
    memo = {} if memo is None else memo
    titles = registry.set_index("bill_id")
    counts = []
    for bill, group in forecasts.groupby("bill_id"):
        congress = names.congress_of(bill)
        directory = _remembered(memo, ("directory", congress), partial(names.member_directory, members, congress))
        voting = group[group["voting"]]
        committed = (voting["is_sponsor"] == 1) | (voting["is_cosponsor"] == 1)
        entry = whip.whip_count(
            voting["probability"].to_numpy(),
            group["chamber"].iloc[0],
            scale,
            committed.to_numpy(),
            draws=draws,
            seed=zlib.crc32(bill.encode()),  # the same draws for a bill in the pipeline and the CLI
        )
        sponsor = titles.loc[bill, "sponsor_bioguide_id"]
        title = str(titles.loc[bill, "title"])
        counts.append(
            {
                "bill_id": bill,
                "number": names.bill_number(bill),
                "congress": names.congress_of(bill),
                "title": title,
                "label": names.bill_label(bill, title, sponsor, directory),
                "stance": int(titles.loc[bill, "stance"]),
                "procedure": str(titles.loc[bill].get("procedure", "passage")),  # which threshold decides it
                "chamber": group["chamber"].iloc[0],
                "sponsor": sponsor,
                "sponsor_name": names.member_label(sponsor, directory) if isinstance(sponsor, str) else "",
                "delegates": int((~group["voting"]).sum()),
                **entry,
            }
        )
    return counts


def track_record(
    registry: pd.DataFrame,
    rollcalls: pd.DataFrame,
    backtest: pd.DataFrame,
    scale: float,
    as_of: pd.Timestamp,
    draws: int = 20000,
) -> list[dict]:
    """Registry bills that came to a recorded vote before ``as_of``: the actual result beside the backtest's
    out-of-sample forecast of that roll call (a model fitted on earlier years, features as of the day before
    the vote), over the members who voted Yea or Nay."""
    voted = rollcalls[rollcalls["bill_id"].isin(registry["bill_id"]) & (rollcalls["date"] < as_of)]
    record = []
    for number, (bill, group) in enumerate(voted.sort_values("date").groupby("bill_id")):
        last = group.iloc[-1]  # the final recorded vote on the bill
        entry = {
            "bill_id": bill,
            "rollcall_id": last["rollcall_id"],
            "date": f"{last['date']:%Y-%m-%d}",
            "question": names.short_title(str(last["question"]), 90),
            "result": str(last["result"]),
            "yea": int(last["yea_count"]),
            "nay": int(last["nay_count"]),
            "forecast": None,
        }
        scored = backtest[backtest["measure_id"] == last["rollcall_id"]]
        if not scored.empty:
            p = scored["p_xgboost"].to_numpy()
            low, high = np.percentile(whip.simulate_supporters(p, scale, draws, seed=number), [5, 95])
            entry["forecast"] = {
                "expected_yea": round(float(p.sum()), 1),
                "interval_90": [int(low), int(high)],
                "voters": int(len(p)),
                "actual_yea_of_voters": int(scored["voted_yea"].sum()),
                "model_fitted_before": f"{int(scored['cut'].iloc[0])}-01-01",
            }
        record.append(entry)
    return record


def write_forecasts(forecasts: pd.DataFrame, counts: list[dict], directory) -> None:
    forecasts = forecasts.assign(probability=forecasts["probability"].round(6))
    write_parquet(forecasts[FORECAST_COLUMNS], directory / "forecasts.parquet")
    write_atomic(directory / "forecasts.csv", lambda tmp: forecasts[FORECAST_COLUMNS].to_csv(tmp, index=False))
    write_json(counts, directory / "whip_counts.json")


def main(argv: list[str] | None = None) -> None:
    """DVC stage `predict`: the champion's forecasts and whip counts for every registry bill."""
    args = stage_arguments(
        "forecast the registry bills", "tables", "features", "models", "metrics", "reports", argv=argv
    )
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    model, info = load_champion(params["model"])
    registry = pd.read_parquet(args.features / "registry.parquet")
    check_registry_procedures(registry, model)  # before anything is written
    record_champion(info, params["model"]["name"], args.models / CHAMPION_RECORD.name)
    features = pd.read_parquet(args.features / "forecast.parquet")
    catalog = pd.read_parquet(args.features / "catalog.parquet")
    backtest = pd.read_parquet(args.models / "backtest.parquet")
    scale = whip.fit_shock_scale(backtest)
    members = read_table("members", args.tables)
    named = params["features"].get("named_sponsors", {})
    votes = read_table("votes", args.tables, rollcalls=catalog["rollcall_id"])  # all last_alliance_votes reads
    draws = params["whip"]["draws"]
    forecasts, counts = forecast_bills(model, features, votes, catalog, registry, scale, members, named, True, draws)
    # the earlier roll calls each forecast read as most like its bill, found as the features stage found them
    source = precedents.TableSource(params["features"], catalog, registry, votes)
    counts = precedents.with_precedents(counts, precedents.precedent_records(source, features))
    write_forecasts(forecasts, counts, args.reports)
    record = track_record(registry, read_table("rollcalls", args.tables), backtest, scale, config.as_of, draws)
    write_json(record, args.reports / "track_record.json")
    coverage = whip.interval_coverage(backtest, draws=params["whip"]["coverage_draws"])
    by_cut = coverage.pop("shock_scale_by_held_out_cut")
    # Only what a rerun of the same model reproduces exactly: no timings, no MLflow version or run id.
    whip_record = {"as_of": str(config.as_of.date()), "shock_scale": round(scale, 4), **coverage}
    write_json(whip_record | {"bills": len(counts), "rows": len(forecasts)}, args.metrics / "whip.json")
    # the model in use, named the same on every machine (MLflow's version numbers are not)
    write_json(
        {"fingerprint": info["fingerprint"], "run_name": info["run_name"], "shock_scale_by_held_out_cut": by_cut},
        args.reports / "model.json",
    )
    log_timing("predict", round(time.perf_counter() - started, 2))
    uri = f"{info['uri']} (version {info['version']}, fingerprint {info['fingerprint']})"
    print(
        f"predict: {len(forecasts)} member forecasts for {len(counts)} bills from {uri}; shock scale "
        f"{scale:.2f}, 90% interval coverage {coverage['coverage_90_shared_shock']:.0%} "
        f"(independent: {coverage['coverage_90_independent']:.0%})"
    )
    for count in counts:
        if count["bill_id"] in {"119hr6508", "119s2174", "119s3262", "119s2914", "119hr5793"}:
            print(
                f"  {count['label']}: {count['expected_supporters']:.1f} of {count['members']} expected "
                f"(90%: {count['interval_90']}), P(majority) {count['p_pass']['simple_majority']:.2f}"
            )


if __name__ == "__main__":
    sys.exit(run_stage("predict", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
