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
import io
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.context import PROCEDURES
from forecasts import names, precedent_text, predict, report
from forecasts.api import Forecaster, as_of_date, check_as_of, step, unknown_bill  # noqa: F401 (the last two: API)
from pipeline.config import PROJECT_ROOT, REPORTS_DIR
from pipeline.errors import (
    DEBUG_ENV,
    EXIT_DATA_ERROR,
    EXIT_INTERNAL_ERROR,
    DataError,
    Terminated,
    debug_requested,
    failure_status,
    one_line,
    show_traceback,
    sigterm_raises,
)
from pipeline.ids import normalize_bill_id, origin_chamber, split_bill_id

CLI_DIR = REPORTS_DIR / "cli"
PIPELINE_OUTPUTS = ("data", "metrics", "plots", "reports", "models", "mlruns", "notebooks", "docs")
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: what a shell reports for a tool stopped by a closed pipe


def check_out(out: Path) -> Path:
    """Refuse a report folder inside the pipeline's outputs (or the project itself): writing there would
    overwrite what `dvc repro` made. reports/cli/ is the command line's own. Then ``check_writable``."""
    out = out.resolve()
    cli_dir = CLI_DIR.resolve()
    if out == cli_dir or cli_dir in out.parents:
        return check_writable(out)
    root = PROJECT_ROOT.resolve()
    inside = [root / name for name in PIPELINE_OUTPUTS]
    if out == root or any(out == d or d in out.parents for d in inside) or out in root.parents:
        raise DataError(
            f"--out {out} is inside the pipeline's outputs or the project; use a folder under {cli_dir} or elsewhere"
        )
    return check_writable(out)


def check_writable(out: Path) -> Path:
    """A report folder must be a folder, or one that can be made: said before the forecast's seconds are spent,
    not as a traceback after them."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        where = f"--out {out}" if existing == out else f"--out {out}: {existing}"
        raise DataError(f"{where} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"--out {out}: cannot write into {existing} (permission denied)")
    return out


def publish(out: Path, write: Callable[[Path], None]) -> None:
    """Write a report into a staging folder and move it into place, so that an error, Ctrl-C or a full disk
    midway leaves no half-written report. A new folder is staged beside ``out`` and renamed; into an existing one
    (an earlier report, or the user's own folder) the files are staged inside it, on its file system, and move
    one by one: what else is there stays."""
    existing = out.is_dir()
    if not existing:
        out.parent.mkdir(parents=True, exist_ok=True)
    staging = out / f".natocast-tmp-{os.getpid()}" if existing else out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write(staging)
        if not existing:
            staging.rename(out)
            return
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = out / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_forecast(
    bill_id: str, as_of: pd.Timestamp | None, additions: list[dict], out: Path, forecaster: Forecaster | None = None
) -> dict:
    """Forecast one bill as of a date; write the report into ``out``; return its whip count, the member
    forecasts and the model that made them."""
    forecaster = forecaster or Forecaster(progress=True)
    count = forecaster.forecast(additions[0] if additions else bill_id, as_of)
    forecasts = count["forecasts"]
    counts = [{k: v for k, v in count.items() if k not in ("forecasts", "model", "as_of")}]
    meta = report.report_meta(count["model"]) | {"as_of": count["as_of"]}

    def write(folder: Path) -> None:
        predict.write_forecasts(forecasts, counts, folder)
        report.write_report(forecasts, counts, meta, folder)

    with step(f"writing the report to {out}"):
        try:
            publish(out, write)
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk, a read-only file system: named, not a traceback
            raise DataError(f"--out {out}: cannot write the report there ({exc.strerror or exc})") from exc
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
    new.add_argument(
        "--title",
        default="",
        help="the bill's title; not only a label: it is matched against earlier roll calls to find the party's "
        "stand on similar votes, so it moves the forecast (give the real one)",
    )
    for command in (known, new):
        command.add_argument("--as-of", default=None, help="YYYY-MM-DD; default: params.yaml data.as_of")
        command.add_argument("--out", default=None, help="report folder; default reports/cli/<bill>[-<as-of>]")
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
        "sponsor": names.resolve_member(args.sponsor, directory, "--sponsor", among),
        "cosponsors": [
            names.resolve_member(c, directory, "--cosponsors", among) for c in names.split_members(args.cosponsors)
        ],
        "title": args.title,
    }
    if args.kind:
        entry["kind"] = args.kind
    if args.procedure:
        entry["procedure"] = args.procedure
    return entry


def print_forecast(count: dict, out: Path) -> None:
    """The forecast on stdout: the bill, the model, the verdict and count, then the members worth a look."""
    model = count["model"]
    members = count["forecasts"]
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
    if count.get("delegates"):
        print(f"  {count['delegates']} non-voting delegates not counted (their forecasts are in the report)")
    for name, p in count["p_pass"].items():
        print(f"  P({name.replace('_', ' ')}: {count['thresholds'][name]} votes) = {p:.0%}")
    print_precedents(count)
    print_members(members)
    print(f"report: {out / 'bills' / (count['bill_id'] + '.html')}")


def print_precedents(count: dict) -> None:
    """The earlier roll calls the forecast reads as most like the bill (one line each): the title's words pick
    them, and the parties' and members' records on them move the forecast, so a reader can judge them."""
    found = count.get("precedents") or []
    if not found:
        reason = precedent_text.none_matched(count.get("precedent_search"))
        print(f"Earlier votes this forecast reads as most like it: none. {reason}")
        return
    words = precedent_text.matched_words(count.get("precedent_search"))
    print(f"Earlier votes this forecast reads as most like it ({len(found)}), picked by the words {words}:")
    for precedent in found:
        print(f"  {precedent_text.precedent_line(precedent)}")


def print_members(members: pd.DataFrame, shown: int = 10) -> None:
    """The committed (a delegate who sponsors is listed, marked as not counted), the likeliest supporters and
    opponents among the voting members (how many there are in all, not only the ten shown) and every swing
    member."""

    def listing(title: str, rows: pd.DataFrame, total: int | None = None) -> None:
        size = f"{len(rows)}" if total is None or total == len(rows) else f"the first {len(rows)} of {total}"
        print(f"{title} ({size}):" if len(rows) else f"{title}: none")
        for row in rows.itertuples():
            role = " [sponsor]" if row.is_sponsor == 1 else " [cosponsor]" if row.is_cosponsor == 1 else ""
            flag = " (little history)" if row.low_history else ""
            flag += "" if row.voting else " (non-voting delegate: not counted)"
            print(f"  {row.probability:5.0%}  {row.name} ({row.party}-{row.state}){role}{flag}")

    everyone = report.most_likely_first(members)
    listing("Committed: sponsor and cosponsors on record (model's P beside)", everyone[_committed(everyone)])
    ordered = everyone[everyone["voting"]]
    supporters = ordered[ordered["probability"] >= 0.5]
    opponents = ordered[ordered["probability"] < 0.5].iloc[::-1]
    listing("Likely supporters (50% or more), most likely first", supporters.head(shown), len(supporters))
    listing("Likely opponents (under 50%), least likely first", opponents.head(shown), len(opponents))
    swing = ordered["probability"].between(0.25, 0.75) & ~_committed(ordered)
    listing("Swing members (25-75%)", ordered[swing])


def _committed(members: pd.DataFrame) -> pd.Series:
    return (members["is_sponsor"] == 1) | (members["is_cosponsor"] == 1)


def output_folder(value: str | None, label: str) -> Path:
    """``--out`` checked (an empty value is a mistake, e.g. an unset shell variable, not the default), or the
    command line's own folder for the bill."""
    if value is None:
        return CLI_DIR / label
    if not value.strip():
        raise DataError("--out is empty: give a folder, or leave --out out for reports/cli/<bill>")
    return check_out(Path(value))


def run(argv: list[str] | None = None) -> int:
    """Parse, forecast, write the report, print the forecast; bad input is one line on stderr, status 2."""
    args = parser().parse_args(argv)
    try:
        as_of = as_of_date(args.as_of) if args.as_of is not None else None
        bill = normalize_bill_id(args.bill_id)
        out = output_folder(args.out, f"{bill}-{as_of:%Y-%m-%d}" if as_of else bill)
        forecaster = Forecaster(progress=True)
        additions = [describe_entry(args, bill, forecaster)] if args.command == "describe" else []
        count = run_forecast(bill, as_of, additions, out, forecaster)
    except DataError as exc:
        print(f"natocast: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA_ERROR
    print_forecast(count, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``run``; a reader that stops early (`natocast forecast 119hr6508 | head`) ends it quietly, as Python's docs
    advise (signal, "Note on SIGPIPE"): the rest of the output goes to devnull, status 141 as for any tool a
    closed pipe stops, no traceback. The report was written whole before anything was printed. Ctrl-C and
    SIGTERM (`timeout`, a job scheduler) unwind, so that the report's staging folder is removed; they and any
    other fault are said in one line, as the stages say them (``pipeline.errors.failure_status``)."""
    if isinstance(sys.stdout, io.TextIOWrapper):  # an ASCII-only terminal shows '?' for '–' or 'á', not a crash
        sys.stdout.reconfigure(errors="replace")
    try:
        with sigterm_raises():
            code = run(argv)
            sys.stdout.flush()  # a pipe closed on the last lines breaks here, not at exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for descriptor in (1, 2):  # stdout, and stderr should it share the pipe (`2>&1 | head`)
            os.dup2(devnull, descriptor)
        return EXIT_BROKEN_PIPE
    except (Terminated, KeyboardInterrupt, Exception) as exc:
        debug = debug_requested(argv)
        if isinstance(exc, FileNotFoundError) and exc.filename:  # a pipeline output the forecast reads, not made yet
            show_traceback(debug)
            print(f"natocast: error: {exc.filename} is missing: run `dvc repro` first", file=sys.stderr)
            return EXIT_INTERNAL_ERROR
        return failure_status("natocast", exc, debug, "a report is written whole or not at all", f"{DEBUG_ENV}=1")


if __name__ == "__main__":
    sys.exit(main())
