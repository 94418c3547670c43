"""The one place for parameters and paths: every stage reads its settings through here."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from pipeline.errors import DataError
from pipeline.ids import parse_date

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = PROJECT_ROOT / "params.yaml"
SNAPSHOT_ENV = "NATOCAST_SNAPSHOT_DIR"


def _project_paths() -> dict[str, Path]:
    """params.yaml ``paths``: the one place the stages' directories are named (dvc.yaml interpolates them)."""
    with open(PARAMS_FILE) as f:
        paths = yaml.safe_load(f)["paths"]
    return {name: PROJECT_ROOT / value for name, value in paths.items()}


PATHS = _project_paths()
TABLES_DIR = PATHS["tables"]
FEATURES_DIR = PATHS["features"]
MODELS_DIR = PATHS["models"]
METRICS_DIR = PATHS["metrics"]
PLOTS_DIR = PATHS["plots"]
REPORTS_DIR = PATHS["reports"]
TIMINGS_LOG = PROJECT_ROOT / "data" / "benchmark.log"  # wall times of stage runs: not metrics, which must not move

CHAMBERS = ("house", "senate")
POSITIONS = ("yea", "nay", "present", "not_voting")


# Per congress and chamber, what a complete table set has at least (params.yaml data.bounds overrides).
DEFAULT_BOUNDS = {
    "rollcalls": {"house": 300, "senate": 300},
    "member_votes_per_rollcall": {"house": 400, "senate": 95},
    "members_with_scores": {"house": 430, "senate": 99},
}


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
    bounds: dict = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    max_unknown_member_ids: int = 0
    not_found_expiry_days: float = 7.0
    backoff_s: float = 0.5
    workers: int = 2
    duckdb_memory: str = "1536MB"
    download_threads: int = 4
    billstatus_first_congress: int = 113

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
            snapshot_dir=Path(os.path.normpath(snapshot)),  # not resolve(): a symlinked ../shared stays ../shared
            download_dir=download,
            first_congress=int(first),
            last_congress=int(last),
            as_of=parse_date(data["as_of"], "params.yaml data.as_of"),
            timeout_s=float(data.get("timeout_s", 60)),
            retries=int(data.get("retries", 4)),
            urls=dict(data["urls"]),
            bills=tuple(data.get("bills", ())),
            bounds=_bounds(data.get("bounds") or {}),
            max_unknown_member_ids=int(data.get("max_unknown_member_ids", 0)),
            not_found_expiry_days=float(data.get("not_found_expiry_days", 7)),
            backoff_s=float(data.get("backoff_s", 0.5)),
            workers=int(data.get("workers", 2)),
            duckdb_memory=str(data.get("duckdb_memory", "1536MB")),
            download_threads=int(data.get("download_threads", 4)),
            billstatus_first_congress=int(data.get("billstatus_first_congress", 113)),
        )

    @property
    def congresses(self) -> range:
        return range(self.first_congress, self.last_congress + 1)

    @property
    def use_snapshot(self) -> bool:
        """Snapshot unless ``download`` is chosen; a snapshot path that does not exist is an error either way
        (a mistyped path must not silently switch to downloading)."""
        if self.source == "download":
            return False
        if not self.snapshot_dir.is_dir():
            raise DataError(
                f"snapshot directory {self.snapshot_dir} does not exist (data.source: {self.source}; "
                "set data.source: download to fetch the files instead)"
            )
        return True


def _bounds(overrides: dict) -> dict:
    bounds = {name: dict(values) for name, values in DEFAULT_BOUNDS.items()}
    for name, values in overrides.items():
        if name not in bounds or not isinstance(values, dict) or set(values) - set(CHAMBERS):
            raise DataError(f"params.yaml data.bounds.{name}: expected one of {', '.join(bounds)} with house/senate")
        bounds[name].update({chamber: int(value) for chamber, value in values.items()})
    return bounds


def stage_arguments(description: str, *directories: str, argv: list[str] | None = None) -> argparse.Namespace:
    """A stage's directories as dvc.yaml passes them (``--tables data/tables``), each defaulting to params.yaml
    ``paths`` for a run by hand; ``--debug`` keeps the traceback of bad input."""
    parser = argparse.ArgumentParser(description=description)
    for name in directories:
        parser.add_argument(f"--{name}", type=Path, default=PATHS[name], help=f"default {PATHS[name]}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    return parser.parse_args(argv)
