"""Mask the bulk archive's sponsorship record of the backtest's bill roll calls (the ablation of notes/prereg22.md).

Why: on the NATO backtest, roll calls with a known sponsor score far better than those without, but they are other
years and other roll calls (selection, not cause). To estimate what a bill's sponsorship record is worth where it is
known, this removes it from a copy of the canonical tables, as if the BILLSTATUS bulk archive lacked those bills,
and the stages from ``catalog`` on are rerun on the result with the same parameters and seeds.

Masked: each backtest roll call (``rollcalls.rollcall_id`` = the backtest's ``measure_id``) whose sponsor comes
from its bill (``sponsor_source == 'bill'``) and whose bill is a bulk bill (``bills.collection == 'bulk'``). Those
bills' rows leave ``bills`` and ``cosponsorships``, and every roll call on them whose sponsor came from the bill
loses ``sponsor_bioguide_id`` and ``sponsor_source``. Amendment authors and the NATO bills (collection 'nato',
the registry's, which the catalog reads) are untouched.

The three tables are rewritten in place (each atomically: temp file + rename; same columns and dtypes) and the table
set's ``_manifest.json`` is brought up to date (rows, bytes, sha256, plus an ``ablation`` entry naming the masked
bills) so the set stays verifiable. Run it only in a scratch clone, never on main's tables, then e.g.

    python scripts/ablate_bill_sponsors.py --tables data/tables --backtest data/models/backtest.parquet
    dvc repro -s catalog && dvc repro -s features && ... && dvc repro -s evaluate

Running it twice masks nothing more (the masked roll calls no longer have a bill sponsor).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import DataError
from pipeline.tables import SET_MANIFEST, file_sha256, read_table, write_json, write_parquet

TABLES = ("rollcalls", "bills", "cosponsorships")
REQUIRED = {
    "rollcalls": ("rollcall_id", "chamber", "bill_id", "sponsor_bioguide_id", "sponsor_source"),
    "bills": ("bill_id", "collection"),
    "cosponsorships": ("bill_id",),
}
SPONSOR_COLUMNS = ("sponsor_bioguide_id", "sponsor_source")


@dataclass
class Masked:
    """The masked tables and what was masked."""

    rollcalls: pd.DataFrame
    bills: pd.DataFrame
    cosponsorships: pd.DataFrame
    measures: pd.DataFrame  # the backtest roll calls that selected the bills: rollcall_id, chamber, bill_id
    bill_ids: list[str]
    rollcalls_masked: int  # every roll call whose bill sponsor was removed (backtest or not)
    cosponsorships_dropped: int


def check_columns(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise DataError(f"table {name} lacks column(s) {', '.join(missing)}")


def mask_bill_sponsors(
    rollcalls: pd.DataFrame, bills: pd.DataFrame, cosponsorships: pd.DataFrame, measure_ids: pd.Series
) -> Masked:
    """The tables without the sponsorship record of the bulk bills of the roll calls ``measure_ids`` whose
    sponsor comes from their bill; other rows, columns and dtypes unchanged."""
    for frame, name in [(rollcalls, "rollcalls"), (bills, "bills"), (cosponsorships, "cosponsorships")]:
        check_columns(frame, name)
    unknown = pd.Index(measure_ids.unique()).difference(rollcalls["rollcall_id"])
    if len(unknown):
        raise DataError(f"{len(unknown)} backtest measure(s) not in rollcalls, e.g. {unknown[0]}: another table set?")
    bulk = set(bills.loc[bills["collection"] == "bulk", "bill_id"])
    from_bill = rollcalls["sponsor_source"] == "bill"
    chosen = rollcalls["rollcall_id"].isin(measure_ids) & from_bill & rollcalls["bill_id"].isin(bulk)
    measures = rollcalls.loc[chosen, ["rollcall_id", "chamber", "bill_id"]].reset_index(drop=True)
    bill_ids = sorted(measures["bill_id"].unique())

    masked_rollcalls = from_bill & rollcalls["bill_id"].isin(bill_ids)
    rollcalls = rollcalls.copy()
    for column in SPONSOR_COLUMNS:
        rollcalls.loc[masked_rollcalls, column] = None  # a missing value of the column's own dtype
    dropped_cosponsorships = cosponsorships["bill_id"].isin(bill_ids)
    return Masked(
        rollcalls=rollcalls,
        bills=bills[~bills["bill_id"].isin(bill_ids)].reset_index(drop=True),
        cosponsorships=cosponsorships[~dropped_cosponsorships].reset_index(drop=True),
        measures=measures,
        bill_ids=bill_ids,
        rollcalls_masked=int(masked_rollcalls.sum()),
        cosponsorships_dropped=int(dropped_cosponsorships.sum()),
    )


def updated_manifest(manifest: dict, tables_dir: Path, masked: Masked) -> dict:
    """The set's manifest with the rewritten tables' rows, bytes and sha256, and what the ablation removed."""
    manifest = json.loads(json.dumps(manifest))  # a copy
    for name in TABLES:
        path = tables_dir / f"{name}.parquet"
        rows = len(getattr(masked, name))
        manifest["tables"][name] = {"rows": rows, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
    previous = manifest.get("ablation", {}).get("masked_bills", [])
    manifest["ablation"] = {
        "script": "scripts/ablate_bill_sponsors.py",
        "masked_bills": sorted(set(previous) | set(masked.bill_ids)),
    }
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, default=Path("data/tables"), help="table set to mask in place")
    parser.add_argument(
        "--backtest", type=Path, default=Path("data/models/backtest.parquet"), help="the baseline's backtest"
    )
    args = parser.parse_args(argv)
    try:
        if not args.backtest.exists():
            raise DataError(f"{args.backtest} is missing: run the baseline (`dvc repro`) first")
        manifest_path = args.tables / SET_MANIFEST
        if not manifest_path.exists():
            raise DataError(f"{manifest_path} is missing: {args.tables} is not a complete table set")
        manifest = json.loads(manifest_path.read_text())
        measure_ids = pd.read_parquet(args.backtest, columns=["measure_id"])["measure_id"]
        tables = {name: read_table(name, args.tables) for name in TABLES}
        masked = mask_bill_sponsors(tables["rollcalls"], tables["bills"], tables["cosponsorships"], measure_ids)
        for name in TABLES:
            write_parquet(getattr(masked, name), args.tables / f"{name}.parquet")
        write_json(updated_manifest(manifest, args.tables, masked), manifest_path)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    by_chamber = masked.measures["chamber"].value_counts().sort_index().to_dict()
    print(f"backtest roll calls masked: {len(masked.measures)} of {measure_ids.nunique()} {by_chamber}")
    print(f"bulk bills dropped: {len(masked.bill_ids)} ({len(tables['bills'])} -> {len(masked.bills)} bills)")
    print(
        f"cosponsorships dropped: {masked.cosponsorships_dropped} "
        f"({len(tables['cosponsorships'])} -> {len(masked.cosponsorships)})"
    )
    print(f"roll calls whose bill sponsor was nulled (backtest or not): {masked.rollcalls_masked}")
    print("bills: " + " ".join(masked.bill_ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
