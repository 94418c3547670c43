"""`natocast`: forecast a registry bill, or a bill described on the command line, as of any date in the data.

    natocast forecast 119hr6508
    natocast forecast 119s2914 --as-of 2025-10-01 --out /tmp/s2914
    natocast describe --bill-id 119hr9999 --chamber house --introduced 2026-01-02 --stance -1 \\
        --sponsor M001184 --cosponsors L000596 --title "To withdraw from NATO"

Every member's record comes from the member state as of the date (features/member_state.py: the pipeline's for
its as_of; any other date computed once from the tables cut at the date, nothing later, and cached), the bill's
own features are computed on top of it, the champion model is read from data/models (or MLflow when those files
are not the champion's), and the report is written like the pipeline's. The same in Python: forecasts/api.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from features.context import PROCEDURES
from forecasts import names, predict, report
from forecasts.api import Forecaster, check_as_of, step, unknown_bill  # noqa: F401 (check_as_of, unknown_bill: API)
from pipeline.config import PROJECT_ROOT, REPORTS_DIR
from pipeline.errors import DataError
from pipeline.ids import origin_chamber, parse_date, split_bill_id

CLI_DIR = REPORTS_DIR / "cli"
PIPELINE_OUTPUTS = ("data", "metrics", "plots", "reports", "models", "mlruns", "notebooks", "docs")


def check_out(out: Path) -> Path:
    """Refuse a report folder inside the pipeline's outputs (or the project itself): writing there would
    overwrite what `dvc repro` made. reports/cli/ is the command line's own."""
    out = out.resolve()
    cli_dir = CLI_DIR.resolve()
    if out == cli_dir or cli_dir in out.parents:
        return out
    root = PROJECT_ROOT.resolve()
    inside = [root / name for name in PIPELINE_OUTPUTS]
    if out == root or any(out == d or d in out.parents for d in inside) or out in root.parents:
        raise DataError(
            f"--out {out} is inside the pipeline's outputs or the project; use a folder under {cli_dir} or elsewhere"
        )
    return out


def run_forecast(
    bill_id: str, as_of: pd.Timestamp | None, additions: list[dict], out: Path, forecaster: Forecaster | None = None
) -> dict:
    """Forecast one bill as of a date; write the report into ``out``; return its whip count, the member
    forecasts and the model that made them."""
    forecaster = forecaster or Forecaster(progress=True)
    count = forecaster.forecast(additions[0] if additions else bill_id, as_of)
    with step(f"writing the report to {out}"):
        out.mkdir(parents=True, exist_ok=True)
        forecasts = count["forecasts"]
        counts = [{k: v for k, v in count.items() if k not in ("forecasts", "model", "as_of")}]
        predict.write_forecasts(forecasts, counts, out)
        meta = report.report_meta(count["model"]) | {"as_of": count["as_of"]}
        report.write_report(forecasts, counts, meta, out)
    return count


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="natocast", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)
    known = commands.add_parser("forecast", help="forecast a bill of the registry by id, e.g. 119hr6508")
    known.add_argument("bill_id")
    new = commands.add_parser("describe", help="forecast a bill that is not in the registry")
    new.add_argument("--bill-id", required=True, help="a new id, e.g. 119hr9999 (not a registry bill's)")
    new.add_argument("--chamber", required=True, choices=["house", "senate"])
    new.add_argument("--introduced", required=True, help="YYYY-MM-DD (may be after --as-of)")
    new.add_argument("--stance", required=True, type=int, choices=[-1, 1], help="1: for the alliance; -1: against it")
    new.add_argument("--sponsor", required=True, help="bioguide id or name, e.g. M001184 or Massie")
    new.add_argument("--cosponsors", default="", help="comma-separated bioguide ids or names")
    new.add_argument("--kind", default=None, choices=["passage", "resolution", "amendment", "treaty"])
    new.add_argument(
        "--procedure",
        default=None,
        choices=list(PROCEDURES),
        help="the vote forecast, e.g. suspension or cloture (default: passage; amendment for an amendment id)",
    )
    new.add_argument("--title", default="")
    for command in (known, new):
        command.add_argument("--as-of", default=None, help="YYYY-MM-DD; default: params.yaml data.as_of")
        command.add_argument("--out", default=None, help="report folder; default reports/cli/<bill>-<date>")
    return main


def describe_entry(args: argparse.Namespace, bill: str, forecaster: Forecaster) -> dict:
    """The registry entry of a described bill, with sponsor and cosponsors resolved from ids or names."""
    members = forecaster.members()
    directory = names.member_directory(members)
    if bill in set(forecaster.full_registry()["bill_id"]):
        raise DataError(
            f"{bill} is already a registry bill ({names.bill_number(bill)}): forecast it with `natocast forecast "
            f"{bill}`, or describe a new bill under an id of its own"
        )
    congress, bill_type, _ = split_bill_id(bill)
    origin = members[(members["congress"] == congress) & (members["chamber"] == origin_chamber(bill_type))]
    among = set(origin["bioguide_id"]) or None  # a name is looked for first among those who sat there
    entry = {
        "bill_id": bill,
        "chamber": args.chamber,
        "introduced": args.introduced,
        "stance": args.stance,
        "stance_reason": "given on the command line",
        "sponsor": names.resolve_member(args.sponsor, directory, "--sponsor", among),
        "cosponsors": [
            names.resolve_member(c, directory, "--cosponsors", among) for c in args.cosponsors.split(",") if c.strip()
        ],
        "title": args.title,
    }
    if args.kind:
        entry["kind"] = args.kind
    if args.procedure:
        entry["procedure"] = args.procedure
    return entry


def print_forecast(count: dict, out: Path) -> None:
    model = count["model"]
    members = count["forecasts"]
    voting = members[members["voting"]]
    verdict = report.verdict(count)
    print(f"{count['label']}")
    stance = report.STANCES.get(count["stance"], ("no side",))[0]
    print(f"  {count['chamber'].capitalize()} bill, {stance}; forecast as of {count['as_of']}")
    print(
        f'  model {model["uri"]}: MLflow version {model["version"]}, run "{model["run_name"]}", '
        f"fingerprint {model['fingerprint']}"
    )
    print(f"  {verdict['text']}")
    print(f"  {verdict['detail']}")
    print(
        f"  {count['bill_id']} ({count['chamber']}): {count['expected_supporters']:.1f} of {count['members']} voting "
        f"members expected to back it, 90% interval {count['interval_90'][0]}-{count['interval_90'][1]}"
    )
    for name, p in count["p_pass"].items():
        print(f"  P({name.replace('_', ' ')}: {count['thresholds'][name]} votes) = {p:.0%}")

    def listing(title: str, rows: pd.DataFrame) -> None:
        print(f"{title} ({len(rows)}):" if len(rows) else f"{title}: none")
        for row in rows.itertuples():
            role = " [sponsor]" if row.is_sponsor == 1 else " [cosponsor]" if row.is_cosponsor == 1 else ""
            flag = " (little history)" if row.low_history else ""
            print(f"  {row.probability:5.0%}  {row.name} ({row.party}-{row.state}){role}{flag}")

    ordered = voting.sort_values("probability", ascending=False)
    committed = (ordered["is_sponsor"] == 1) | (ordered["is_cosponsor"] == 1)
    listing("Committed: sponsor and cosponsors on record (model's P beside)", ordered[committed])
    listing("Likely supporters, most likely first (top 10)", ordered[ordered["probability"] >= 0.5].head(10))
    listing("Likely opponents, least likely first (top 10)", ordered[ordered["probability"] < 0.5].iloc[::-1].head(10))
    swing = ordered[ordered["probability"].between(0.25, 0.75) & ~committed]
    listing("Swing members (25-75%)", swing)
    print(f"report: {out / 'bills' / (count['bill_id'] + '.html')}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        as_of = parse_date(args.as_of, "--as-of") if args.as_of else None
        bill = args.bill_id.lower().replace(".", "").replace(" ", "")
        forecaster = Forecaster(progress=True)
        additions = [describe_entry(args, bill, forecaster)] if args.command == "describe" else []
        label = f"{bill}-{as_of:%Y-%m-%d}" if as_of else bill
        out = check_out(Path(args.out)) if args.out else CLI_DIR / label
        count = run_forecast(bill, as_of, additions, out, forecaster)
    except DataError as exc:
        print(f"natocast: error: {exc}", file=sys.stderr)
        return 2
    print_forecast(count, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
