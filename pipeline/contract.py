"""The snapshot contract: what the ingest expects to read, checked before anything is written, and the sanity
bounds a built table set must meet before it is published.

Each source is declared once in ``DECLARATIONS`` (path pattern, format, required columns, minimum records,
optional or not); a new source or table is one more entry. Missing, empty, unreadable or short required inputs are
errors naming the file and what was expected; absent optional inputs are listed. After the build, ``check_bounds``
compares every congress and chamber with ``data.bounds`` so that a silently shrunken source (an empty bundle, a
header-only member file) fails the run instead of replacing good tables with smaller ones.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.config import PROJECT_ROOT, DataConfig
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.ids import congress_first_year
from pipeline.rawio import read_bytes
from pipeline.tables import file_sha256, write_json

MinRecords = int | Callable[[DataConfig, "Input"], int]


@dataclass(frozen=True)
class Declaration:
    """One kind of input file. ``pattern`` may use {congress}, {letter} (H/S), {chamber} and {bill}; the
    file is expected once per congress, chamber or bill accordingly. ``min_records`` is a number or a function
    of (config, chamber); a pattern naming one chamber (``S{congress}``) counts as the Senate's."""

    source: str
    pattern: str
    format: str  # csv | jsonl | xml | yaml-list | yaml | tar
    what: str
    columns: tuple[str, ...] = ()
    min_records: MinRecords = 1
    optional: bool = False


@dataclass(frozen=True)
class Input:
    declaration: Declaration
    relpath: str
    chamber: str | None = None
    congress: int | None = None

    @property
    def optional(self) -> bool:
        return self.declaration.optional


def elapsed_share(config: DataConfig, congress: int | None) -> float:
    """How much of a congress had passed by ``data.as_of`` (1 for a finished one): roll-call bounds scale by it,
    so that an as-of date inside a congress does not read as shrinkage."""
    if congress is None:
        return 1.0
    start = pd.Timestamp(congress_first_year(congress), 1, 3)
    return float(min(1.0, max(0.0, (config.as_of - start).days / 730)))


def _bound(name: str, share: float = 1.0, prorate: bool = False) -> Callable[[DataConfig, Input], int]:
    """Minimum records of a file from the per-chamber bound ``data.bounds[name]`` (times ``share``)."""

    def minimum(config: DataConfig, item: Input) -> int:
        scale = share * (elapsed_share(config, item.congress) if prorate else 1.0)
        return max(1, int(config.bounds[name][item.chamber] * scale))

    return minimum


def _both_chambers(config: DataConfig, item: Input) -> int:
    return max(1, int(sum(config.bounds["rollcalls"].values()) * elapsed_share(config, item.congress)))


VOTEVIEW_MEMBERS = ("congress", "chamber", "icpsr", "state_abbrev", "district_code", "party_code", "bioname")
VOTEVIEW_MEMBERS += ("bioguide_id", "nominate_dim1", "nominate_dim2")
VOTEVIEW_ROLLCALLS = ("congress", "chamber", "rollnumber", "date", "session", "clerk_rollnumber", "yea_count")
VOTEVIEW_ROLLCALLS += ("nay_count", "bill_number", "vote_result", "vote_desc", "vote_question", "dtl_desc")
VOTEVIEW_VOTES = ("congress", "chamber", "rollnumber", "icpsr", "cast_code")
LEGISLATOR_IDS = ("bioguide_id", "lis_id", "icpsr_id", "govtrack_id", "first_name", "last_name", "full_name")
LEGISLATOR_IDS += ("birthday", "party", "state", "type", "senate_class")

# Voteview's copies lag the clerks (119th: to 2025-11-21), so its roll-call files need only half the bound.
DECLARATIONS: list[Declaration] = [
    Declaration(
        "unitedstates-votes",
        "unitedstates-votes/votes-{congress}.jsonl.gz",
        "jsonl",
        "House and Senate roll calls, one record per line",
        min_records=_both_chambers,
    ),
    Declaration(
        "voteview",
        "voteview/{letter}{congress}_members.csv",
        "csv",
        "Voteview members",
        VOTEVIEW_MEMBERS,
        _bound("members_with_scores"),
    ),
    Declaration(
        "voteview",
        "voteview/{letter}{congress}_rollcalls.csv",
        "csv",
        "Voteview roll calls",
        VOTEVIEW_ROLLCALLS,
        _bound("rollcalls", 0.5, prorate=True),
    ),
    Declaration(
        "voteview",
        "voteview/S{congress}_votes.csv.gz",
        "csv",
        "Voteview member votes of the Senate (published for every congress)",
        VOTEVIEW_VOTES,
        _bound("rollcalls", 0.5, prorate=True),
    ),
    Declaration(
        "voteview",
        "voteview/H{congress}_votes.csv.gz",
        "csv",
        "Voteview member votes of the House (published for some congresses)",
        VOTEVIEW_VOTES,
        optional=True,
    ),
    Declaration(
        "congress-legislators",
        "congress-legislators/legislators-current.csv",
        "csv",
        "id crosswalk of current members",
        LEGISLATOR_IDS,
        100,
    ),
    Declaration(
        "congress-legislators",
        "congress-legislators/legislators-historical.csv.gz",
        "csv",
        "id crosswalk of former members",
        LEGISLATOR_IDS,
        1,
    ),
    Declaration(
        "congress-legislators",
        "congress-legislators/legislators-current.yaml",
        "yaml-list",
        "terms of current members",
        min_records=1,
    ),
    Declaration(
        "congress-legislators",
        "congress-legislators/executive.yaml",
        "yaml-list",
        "Presidents and Vice Presidents (the presidents table)",
        min_records=40,
    ),
    Declaration("billstatus", "billstatus/BILLSTATUS-{bill}.xml", "xml", "BILLSTATUS of a bill in data.bills"),
    Declaration(
        "billstatus-bulk",
        "billstatus-bulk/bills-{congress}.tar.gz",
        "tar",
        "bulk bill status of the congress's voted bills",
        optional=True,
    ),
]


def expected_inputs(config: DataConfig, declarations: list[Declaration] | None = None) -> list[Input]:
    """Every file the ingest of ``config`` expects, in declaration order."""
    inputs = []
    for declaration in declarations or DECLARATIONS:
        pattern = declaration.pattern
        if "{bill}" in pattern:
            inputs.extend(Input(declaration, pattern.format(bill=bill)) for bill in config.bills)
        elif "{congress}" in pattern:
            for congress in config.congresses:
                if "{letter}" in pattern:
                    for chamber in ("house", "senate"):
                        relpath = pattern.format(congress=congress, letter=chamber[0].upper(), chamber=chamber)
                        inputs.append(Input(declaration, relpath, chamber, congress))
                else:
                    chamber = {"H": "house", "S": "senate"}.get(Path(pattern).name[:1])
                    inputs.append(Input(declaration, pattern.format(congress=congress), chamber, congress))
        else:
            inputs.append(Input(declaration, pattern))
    return inputs


@dataclass
class ContractReport:
    checked: dict[str, dict]  # relative path -> {"records": found, "sha256": of the file as stored}
    absent_optional: list[str]
    deferred: dict[str, tuple[Path, Input]] = field(default_factory=dict)  # records counted by the reader

    def settle(self, counts: dict[str, int], config: DataConfig) -> None:
        """The record counts of the deferred inputs, as the reader found them (relative path -> records), checked
        against their minimum like any other input's (the same error)."""
        for relpath, (path, item) in self.deferred.items():
            self.checked[relpath]["records"] = counts.get(relpath, 0)
            _check_minimum(path, item, config, self.checked[relpath]["records"])
        self.deferred = {}

    def summary(self) -> str:
        text = f"snapshot contract: {len(self.checked)} input(s) checked"
        if self.absent_optional:
            text += f"; optional input(s) absent: {', '.join(self.absent_optional)}"
        return text


def check_snapshot(
    config: DataConfig, declarations: list[Declaration] | None = None, deferred: tuple[str, ...] = ()
) -> ContractReport:
    """Check every expected input of the snapshot; raise one DataError naming the first bad file. Inputs of a
    source in ``deferred`` are only checked to exist and be non-empty here: their reader opens them anyway
    (DuckDB reads the vote bundles straight from the gzip), checks their columns, counts their records and hands
    the counts to ``settle``, so the 433 MiB of JSON and the Voteview CSVs are not decompressed twice."""
    checked, absent, later = {}, [], {}
    for item in expected_inputs(config, declarations):
        path = config.snapshot_dir / item.relpath
        if not path.exists():
            if item.optional:
                absent.append(item.relpath)
                continue
            raise DataError(f"snapshot file {path} is missing (expected: {item.declaration.what})")
        checked[item.relpath] = check_file(path, item, config, count=item.declaration.source not in deferred)
        if item.declaration.source in deferred:
            later[item.relpath] = (path, item)
    return ContractReport(checked, absent, later)


def _check_minimum(path: Path, item: Input, config: DataConfig, records: int) -> None:
    minimum = item.declaration.min_records
    minimum = minimum(config, item) if callable(minimum) else minimum
    if records < minimum:
        raise DataError(f"{path}: {records} record(s), at least {minimum} expected ({item.declaration.what})")


def check_file(path: Path, item: Input, config: DataConfig, count: bool = True) -> dict:
    """Records and sha256 of one input file, after checking it is non-empty, opens in its format and has the
    required columns and records (``count=False``: only non-empty; records are counted by the reader)."""
    declaration = item.declaration
    sha256 = file_sha256(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes; expected: {declaration.what})")
    if not count:
        return {"records": None, "sha256": sha256}
    if declaration.format == "tar":
        try:
            with tarfile.open(path, "r:*") as archive:
                records = sum(1 for member in archive if member.isfile())
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{path}: corrupt or truncated archive ({exc})") from exc
    else:
        data = read_bytes(path)
        records = count_records(path, data, declaration)
    _check_minimum(path, item, config, records)
    return {"records": records, "sha256": sha256}


def count_records(path: Path, data: bytes, declaration: Declaration) -> int:
    if declaration.format == "csv":
        text = data.decode("utf-8", errors="replace")
        first_line = text.split("\n", 1)[0]
        header = next(csv.reader(io.StringIO(first_line)), [])
        if not header or not text.strip():
            raise DataError(f"{path}: no CSV header (expected: {declaration.what})")
        missing = [column for column in declaration.columns if column not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        return max(0, sum(1 for line in text.split("\n")[1:] if line.strip()))
    if declaration.format == "jsonl":
        return sum(1 for line in data.split(b"\n") if line.strip())
    if declaration.format == "xml":
        try:
            ET.fromstring(data)
        except ET.ParseError as exc:
            raise DataError(f"{path}: malformed XML ({exc})") from exc
        return 1
    if declaration.format == "yaml-list":  # top-level entries "- ..." (parsed in full by the reader)
        return sum(1 for line in data.split(b"\n") if line.startswith(b"- "))
    return 1 if data.strip() else 0


# --- after the build ---------------------------------------------------------------------------------------


def check_bounds(tables: dict[str, pd.DataFrame], config: DataConfig, per_rollcall: pd.Series) -> list[str]:
    """Per congress and chamber: roll calls (the bound prorated for a congress in progress at ``as_of``), median
    member votes per roll call and members with scores, each against ``data.bounds``. Returns the violations
    (empty when the table set may be published). ``per_rollcall``: the votes table's rows per roll call id (the
    ingest's tallies; the votes table itself stays in the engine)."""
    bounds = config.bounds
    rollcalls, members = tables["rollcalls"], tables["members"]
    counted = rollcalls.assign(n_votes=rollcalls["rollcall_id"].map(per_rollcall).fillna(0))
    scored = members.dropna(subset=["nominate_dim1"])
    problems = []
    for congress in config.congresses:
        share = elapsed_share(config, congress)
        if share <= 0:  # begins after as_of: nothing of it may be in the tables
            continue
        for chamber in ("house", "senate"):
            these = counted[(counted["congress"] == congress) & (counted["chamber"] == chamber)]
            n_scored = int(((scored["congress"] == congress) & (scored["chamber"] == chamber)).sum())
            median_votes = float(these["n_votes"].median()) if len(these) else 0.0
            where = f"congress {congress} {chamber}"
            least = int(bounds["rollcalls"][chamber] * share)
            if len(these) < least:
                problems.append(f"{where}: {len(these)} roll calls (at least {least} by {config.as_of.date()})")
            if median_votes < bounds["member_votes_per_rollcall"][chamber]:
                problems.append(
                    f"{where}: median {median_votes:g} member votes per roll call "
                    f"(at least {bounds['member_votes_per_rollcall'][chamber]})"
                )
            if n_scored < bounds["members_with_scores"][chamber]:
                problems.append(
                    f"{where}: {n_scored} members with DW-NOMINATE scores "
                    f"(at least {bounds['members_with_scores'][chamber]})"
                )
    return problems


# --- what DVC sees ----------------------------------------------------------------------------------------

FINGERPRINT = PROJECT_ROOT / "data" / "snapshot_inputs.json"


def fingerprint(config: DataConfig) -> dict:
    """sha256 of every input the ingest of ``config`` would read (absent ones listed): the `snapshot` stage writes
    it on every `dvc repro` and the ingest depends on it, so a changed file, a changed ``data.snapshot_dir`` or a
    ``NATOCAST_SNAPSHOT_DIR`` pointing elsewhere reruns the ingest (DVC cannot see environment variables)."""
    if not config.use_snapshot:
        return {"source": "download", "urls": config.urls, "bills": list(config.bills)}
    files, absent = {}, []
    for item in expected_inputs(config):
        path = config.snapshot_dir / item.relpath
        if path.exists():
            files[item.relpath] = file_sha256(path)
        else:
            absent.append(item.relpath)
    # Relative to the project, so the same checkout beside the same snapshot gives the same fingerprint on every
    # machine (an absolute path would put the clone's location into dvc.lock).
    where = os.path.relpath(config.snapshot_dir, PROJECT_ROOT)
    return {"source": "snapshot", "snapshot_dir": where, "files": files, "absent": absent}


def main(argv: list[str] | None = None) -> int:
    """DVC stage `snapshot` (always run): write the fingerprint of the ingest's inputs."""

    def body() -> None:
        config = DataConfig.from_params()
        prints = fingerprint(config)
        write_json(prints, FINGERPRINT)
        print(f"snapshot: {len(prints.get('files', {}))} input file(s) fingerprinted in {config.snapshot_dir}")

    args = sys.argv[1:] if argv is None else argv
    return run_stage("snapshot", body, debug_requested(args))


if __name__ == "__main__":
    sys.exit(main())
