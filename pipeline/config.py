"""The one place for parameters, paths and ids: every stage reads its settings through here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = PROJECT_ROOT / "params.yaml"
SNAPSHOT_ENV = "NATOCAST_SNAPSHOT_DIR"

TABLES_DIR = PROJECT_ROOT / "data" / "tables"
FEATURES_DIR = PROJECT_ROOT / "data" / "features"
MODELS_DIR = PROJECT_ROOT / "data" / "models"
METRICS_DIR = PROJECT_ROOT / "metrics"
PLOTS_DIR = PROJECT_ROOT / "plots"
REPORTS_DIR = PROJECT_ROOT / "reports"

CHAMBERS = ("house", "senate")
POSITIONS = ("yea", "nay", "present", "not_voting")


class DataError(ValueError):
    """Bad or missing input: the message names the file (or id) and what is wrong with it."""


def load_params(path: Path = PARAMS_FILE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


@dataclass(frozen=True)
class DataConfig:
    """Where the raw data comes from and which slice of it enters the tables."""

    source: str = "auto"
    snapshot_dir: Path = PROJECT_ROOT.parent / "shared" / "data"
    download_dir: Path = PROJECT_ROOT / "data" / "raw"
    first_congress: int = 110
    last_congress: int = 119
    as_of: pd.Timestamp = pd.Timestamp("2025-12-31")
    timeout_s: float = 60.0
    retries: int = 4
    urls: dict = field(default_factory=dict)
    bills: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict | None = None) -> DataConfig:
        data = (params or load_params())["data"]
        snapshot = Path(os.environ.get(SNAPSHOT_ENV) or data["snapshot_dir"])
        if not snapshot.is_absolute():
            snapshot = PROJECT_ROOT / snapshot
        download = Path(data["download_dir"])
        if not download.is_absolute():
            download = PROJECT_ROOT / download
        first, last = data["congresses"]
        if data["source"] not in ("auto", "snapshot", "download"):
            raise DataError(f"params.yaml data.source: {data['source']!r} is not auto, snapshot or download")
        if first > last:
            raise DataError(f"params.yaml data.congresses: first {first} is after last {last}")
        return cls(
            source=data["source"],
            snapshot_dir=snapshot.resolve(),
            download_dir=download,
            first_congress=int(first),
            last_congress=int(last),
            as_of=parse_date(data["as_of"], "params.yaml data.as_of"),
            timeout_s=float(data.get("timeout_s", 60)),
            retries=int(data.get("retries", 4)),
            urls=dict(data["urls"]),
            bills=tuple(data.get("bills", ())),
        )

    @property
    def congresses(self) -> range:
        return range(self.first_congress, self.last_congress + 1)

    @property
    def use_snapshot(self) -> bool:
        if self.source == "snapshot":
            if not self.snapshot_dir.is_dir():
                raise DataError(f"snapshot directory {self.snapshot_dir} does not exist (source: snapshot)")
            return True
        return self.source == "auto" and self.snapshot_dir.is_dir()


def parse_date(value, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc
    if pd.isna(stamp):
        raise DataError(f"{what}: {value!r} is not a date (YYYY-MM-DD)")
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def congress_first_year(congress: int) -> int:
    """The 1st Congress met in 1789; each lasts two years."""
    return 1789 + 2 * (congress - 1)


def congress_of_date(date: pd.Timestamp) -> int:
    """Congress sitting on a date (terms begin on 3 January of odd years)."""
    year = date.year if (date.month, date.day) >= (1, 3) else date.year - 1
    return (year - 1789) // 2 + 1


def rollcall_id(chamber: str, congress: int, session_year: int, number: int) -> str:
    """Stable roll-call id, e.g. ``h44-116.2019``: the unitedstates/congress ``vote_id``."""
    return f"{chamber[0].lower()}{number}-{congress}.{session_year}"


def normalize_bill_id(text: str) -> str:
    """Lower-case alphanumerics only: ``H.R. 6508`` -> ``hr6508``."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


BILL_TYPES = ("hconres", "hjres", "hres", "hr", "sconres", "sjres", "sres", "s")


def bill_id(congress: int, bill_type: str, number: int | str) -> str:
    """Canonical bill id ``{congress}{type}{number}``, e.g. ``119hr6508``."""
    bill_type = normalize_bill_id(bill_type)
    if bill_type not in BILL_TYPES:
        raise DataError(f"bill type {bill_type!r} is not one of {', '.join(BILL_TYPES)}")
    return f"{int(congress)}{bill_type}{int(number)}"


def split_bill_id(text: str) -> tuple[int, str, int]:
    """``119hr6508`` -> (119, 'hr', 6508); raises DataError naming the id when it is not one."""
    raw = normalize_bill_id(text)
    digits = 0
    while digits < len(raw) and raw[digits].isdigit():
        digits += 1
    congress, rest = raw[:digits], raw[digits:]
    for bill_type in BILL_TYPES:  # longest types first, so 'hres' wins over 'hr'
        if rest.startswith(bill_type) and rest[len(bill_type) :].isdigit():
            if congress:
                return int(congress), bill_type, int(rest[len(bill_type) :])
    raise DataError(f"{text!r} is not a bill id like 119hr6508 (congress, type, number)")


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
    import json

    def _write(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    write_atomic(path, _write)


def read_table(name: str, directory: Path = TABLES_DIR) -> pd.DataFrame:
    path = directory / f"{name}.parquet"
    if not path.exists():
        raise DataError(f"table {path} is missing: run `dvc repro` (or the stage that writes it) first")
    return pd.read_parquet(path)
