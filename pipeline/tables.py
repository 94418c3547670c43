"""The canonical tables on disk: atomic writes (a failure never leaves a partial file), reads that say what
to run when a table is missing, and the point-in-time cut that every as-of forecast starts from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from pipeline.config import TABLES_DIR
from pipeline.errors import DataError
from pipeline.ids import congress_of_date


def write_atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename into place, so a failure never leaves a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_json(obj, path: Path) -> None:
    def _write(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    write_atomic(path, _write)


def read_table(name: str, directory: Path = TABLES_DIR) -> pd.DataFrame:
    path = directory / f"{name}.parquet"
    if not path.exists():
        raise DataError(f"table {path} is missing: run `dvc repro` (or the stage that writes it) first")
    return pd.read_parquet(path)


def nato_bills(bills: pd.DataFrame) -> pd.DataFrame:
    """The NATO-related BILLSTATUS bills (the registry's), without the bulk bills kept for sponsorship signals."""
    return bills[bills["collection"] == "nato"] if "collection" in bills else bills


def cut_as_of(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Drop everything dated after ``as_of``: roll calls and their votes, bills introduced later,
    cosponsorships added later, terms begun later; withdrawals after it did not happen yet."""
    rollcalls = tables["rollcalls"][tables["rollcalls"]["date"] <= as_of]
    votes = tables["votes"][tables["votes"]["rollcall_id"].isin(rollcalls["rollcall_id"])]
    members = tables["members"][tables["members"]["congress"] <= congress_of_date(as_of)]
    bills = tables["bills"][tables["bills"]["introduced"] <= as_of]
    cosponsorships = tables["cosponsorships"]
    cosponsorships = cosponsorships[
        (cosponsorships["date"] <= as_of) & cosponsorships["bill_id"].isin(bills["bill_id"])
    ].copy()
    cosponsorships.loc[cosponsorships["withdrawn"] > as_of, "withdrawn"] = pd.NaT
    cut = {
        "members": members,
        "rollcalls": rollcalls,
        "votes": votes,
        "bills": bills,
        "cosponsorships": cosponsorships,
    }
    if "presidents" in tables:  # terms begun by as_of
        cut["presidents"] = tables["presidents"][tables["presidents"]["start"] <= as_of]
    if "terms" in tables:  # terms begun by as_of (their scheduled end dates are known when they begin)
        cut["terms"] = tables["terms"][tables["terms"]["start"] <= as_of]
    return cut
