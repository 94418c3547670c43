"""`natocast`: forecast a registry bill, or a bill described on the command line, as of any date in the data.

    natocast forecast 119hr6508
    natocast forecast 119s2914 --as-of 2025-10-01 --out /tmp/s2914
    natocast describe --bill-id 119hr9999 --chamber house --introduced 2026-01-02 --stance -1 \\
        --sponsor M001184 --cosponsors L000596 --title "To withdraw from NATO"

Features are recomputed from the canonical tables cut at the date (nothing later is used), the champion model
comes from the MLflow registry, and the report is written like the pipeline's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from features.build import (
    Context,
    build_features,
    forecast_measures,
    forecast_pairs,
    president_party_by_congress,
)
from features.registry import build_registry, load_additions
from forecasts import predict, report
from pipeline.config import FEATURES_DIR, METRICS_DIR, REPORTS_DIR, DataConfig, load_params
from pipeline.errors import DataError
from pipeline.ids import parse_date
from pipeline.tables import cut_as_of, read_table

TABLES = ("members", "rollcalls", "votes", "bills", "cosponsorships", "terms")


def check_as_of(as_of: pd.Timestamp, rollcalls: pd.DataFrame, data_end: pd.Timestamp) -> None:
    """The tables run from the first roll call to the pipeline's as_of: a forecast date must fall inside."""
    first = rollcalls["date"].min()
    if not first < as_of <= data_end:
        raise DataError(f"--as-of {as_of:%Y-%m-%d} is outside the data ({first:%Y-%m-%d} to {data_end:%Y-%m-%d})")


def run_forecast(bill_id: str, as_of: pd.Timestamp | None, additions: list[dict], out: Path) -> dict:
    """Forecast one bill as of a date; write the report into ``out``; return its whip count."""
    params = load_params()
    config = DataConfig.from_params(params)
    as_of = as_of or config.as_of
    tables = {name: read_table(name) for name in TABLES}
    check_as_of(as_of, tables["rollcalls"], config.as_of)
    cut = cut_as_of(tables, as_of)
    user_bills = load_additions() + additions
    registry, cosponsorships = build_registry(
        cut["bills"], cut["cosponsorships"], tables["members"], user_bills, "the bill description"
    )
    known = set(registry["bill_id"])
    if bill_id not in known:
        raise DataError(
            f"unknown bill {bill_id!r} as of {as_of:%Y-%m-%d}: known bills are {', '.join(sorted(known))}"
            " (describe a new one with `natocast describe`)"
        )
    chosen = registry[registry["bill_id"] == bill_id]
    if int(chosen["stance"].iloc[0]) == 0:
        raise DataError(
            f"{bill_id} takes no side toward the alliance ({chosen['stance_reason'].iloc[0]}): "
            "give it a stance with `natocast describe --stance`"
        )
    catalog = pd.read_parquet(FEATURES_DIR / "catalog.parquet")
    catalog = catalog[catalog["date"] <= as_of]
    ctx = Context(cut, registry, cosponsorships, catalog, params["features"])
    pairs = forecast_pairs(ctx, forecast_measures(chosen, as_of), cut["terms"])
    features = build_features(ctx, pairs, president_party_by_congress(config))
    model, uri = predict.load_champion(params["model"])
    scale = json.loads((METRICS_DIR / "whip.json").read_text())["shock_scale"]  # fitted by the predict stage
    forecasts, counts = predict.forecast_bills(model, features, cut["votes"], catalog, registry, scale)
    out.mkdir(parents=True, exist_ok=True)
    predict.write_forecasts(forecasts, counts, out)
    meta = report.report_meta() | {"as_of": f"{as_of:%Y-%m-%d}", "model": uri}
    report.write_report(forecasts, counts, meta, out)
    return counts[0] | {"forecasts": forecasts}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="natocast", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)
    known = commands.add_parser("forecast", help="forecast a bill of the registry by id, e.g. 119hr6508")
    known.add_argument("bill_id")
    new = commands.add_parser("describe", help="forecast a bill that is not in the registry")
    new.add_argument("--bill-id", required=True, help="e.g. 119hr9999")
    new.add_argument("--chamber", required=True, choices=["house", "senate"])
    new.add_argument("--introduced", required=True, help="YYYY-MM-DD (may be after --as-of)")
    new.add_argument("--stance", required=True, type=int, choices=[-1, 0, 1], help="+1 for the alliance, -1 against it")
    new.add_argument("--sponsor", required=True, help="bioguide id")
    new.add_argument("--cosponsors", default="", help="comma-separated bioguide ids")
    new.add_argument("--kind", default=None, choices=["passage", "resolution", "amendment", "treaty"])
    new.add_argument("--title", default="")
    for command in (known, new):
        command.add_argument("--as-of", default=None, help="YYYY-MM-DD; default: params.yaml data.as_of")
        command.add_argument("--out", default=None, help="report folder; default reports/cli/<bill>-<date>")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        as_of = parse_date(args.as_of, "--as-of") if args.as_of else None
        additions = []
        if args.command == "describe":
            entry = {
                "bill_id": args.bill_id,
                "chamber": args.chamber,
                "introduced": args.introduced,
                "stance": args.stance,
                "stance_reason": "given on the command line",
                "sponsor": args.sponsor,
                "cosponsors": [c.strip() for c in args.cosponsors.split(",") if c.strip()],
                "title": args.title,
            }
            if args.kind:
                entry["kind"] = args.kind
            additions.append(entry)
        bill = args.bill_id.lower().replace(".", "").replace(" ", "")
        label = f"{bill}-{as_of:%Y-%m-%d}" if as_of else bill
        out = Path(args.out) if args.out else REPORTS_DIR / "cli" / label
        count = run_forecast(bill, as_of, additions, out)
    except DataError as exc:
        print(f"natocast: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{count['bill_id']} ({count['chamber']}): {count['expected_supporters']:.1f} of {count['members']} "
        f"expected to back it, 90% interval {count['interval_90'][0]}-{count['interval_90'][1]}"
    )
    for name, p in count["p_pass"].items():
        print(f"  P({name.replace('_', ' ')}: {count['thresholds'][name]} votes) = {p:.0%}")
    top = count["forecasts"].sort_values("probability", ascending=False).head(10)
    for row in top.itertuples():
        flag = " (little history)" if row.low_history else ""
        print(f"  {row.probability:5.0%}  {row.name} ({row.party}-{row.state}){flag}")
    print(f"report: {out / 'bills' / (count['bill_id'] + '.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
