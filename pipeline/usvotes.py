"""Reader for roll calls in the unitedstates/congress vote format (House Clerk and Senate LIS records).

Two layouts hold the same records: the snapshot's ``votes-{congress}.jsonl.gz`` bundles (one ``data.json``
object per line) and the scraper's tree ``{congress}/votes/{session}/{h|s}{number}/data.json``. Both go
through ``parse_records``, which turns records into a roll-call frame and a member-vote frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.fetch import NotFound, fetch
from pipeline.ids import congress_first_year
from pipeline.rawio import iter_lines, read_bytes

OPTION_POSITIONS = {
    "Yea": "yea",
    "Aye": "yea",
    "Guilty": "yea",
    "Nay": "nay",
    "No": "nay",
    "Not Guilty": "nay",
    "Present": "present",
    "Not Voting": "not_voting",
}
REQUIRED_FIELDS = ("vote_id", "chamber", "congress", "session", "number", "date", "votes")


def parse_records(records: Iterable[tuple[str, dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(where, record) pairs -> (rollcalls, member_votes).

    member_votes keeps the source's member id (bioguide in the House, LIS in the Senate) in ``member_id``;
    votes for a candidate (Speaker elections) get position ``candidate``, the Vice President's ``VP``.
    """
    rollcalls: list[dict] = []
    columns = _VoteColumns()
    seen: dict[str, str] = {}
    for where, record in records:
        vote_id, options, numbers = _validate(where, record, seen)
        counts = {"yea": 0, "nay": 0, "present": 0, "not_voting": 0, "candidate": 0}
        for option, voters in options.items():
            position = OPTION_POSITIONS.get(option, "candidate")
            counts[position] += len(voters)
            columns.add(where, vote_id, option, position, voters)
        rollcalls.append(_rollcall_row(record, vote_id, numbers, counts))
    return pd.DataFrame(rollcalls), columns.frame()


class _VoteColumns:
    """The member-vote columns, grown record by record as plain lists (far faster than frames per record)."""

    def __init__(self) -> None:
        self.vote_ids: list[str] = []
        self.member_ids: list[str] = []
        self.positions: list[str] = []
        self.parties: list[str | None] = []
        self.states: list[str | None] = []

    def add(self, where: str, vote_id: str, option: str, position: str, voters: list) -> None:
        """The voters under one option; a voter without a string id, or neither a member nor 'VP', is an error."""
        n = len(voters)
        self.vote_ids.extend([vote_id] * n)
        self.positions.extend([position] * n)
        if all(isinstance(voter, dict) for voter in voters):
            ids = [voter.get("id") for voter in voters]
            if not all(isinstance(member, str) and member for member in ids):
                raise DataError(f"{where}: roll call {vote_id}: a voter under {option!r} has no string 'id'")
            self.member_ids.extend(ids)
            self.parties.extend([voter.get("party") for voter in voters])
            self.states.extend([voter.get("state") for voter in voters])
            return
        for voter in voters:  # the Vice President breaking a tie is published as the bare string "VP"
            is_member = isinstance(voter, dict)
            if not is_member and voter != "VP":
                raise DataError(
                    f"{where}: roll call {vote_id}: voter {str(voter)[:40]!r} under {option!r} "
                    "is neither a member object nor 'VP'"
                )
            if is_member and not (isinstance(voter.get("id"), str) and voter["id"]):
                raise DataError(f"{where}: roll call {vote_id}: a voter under {option!r} has no string 'id'")
            self.member_ids.append(voter["id"] if is_member else "VP")
            self.parties.append(voter.get("party") if is_member else None)
            self.states.append(voter.get("state") if is_member else None)

    def frame(self) -> pd.DataFrame:
        # object arrays, not pandas' default Arrow strings: 6 million short ids convert far faster this way
        return pd.DataFrame(
            {
                "rollcall_id": pd.Categorical(self.vote_ids),
                "member_id": np.array(self.member_ids, dtype=object),
                "position": pd.Categorical(
                    self.positions, categories=["yea", "nay", "present", "not_voting", "candidate"]
                ),
                "vote_party": pd.Categorical(self.parties),
                "vote_state": pd.Categorical(self.states),
            }
        )


def _rollcall_row(record: dict, vote_id: str, numbers: dict, counts: dict) -> dict:
    """One validated record's roll-call fields, with the tallies its voter lists publish."""
    bill = record.get("bill") or {}
    amendment = record.get("amendment") or {}
    return {
        "rollcall_id": vote_id,
        "chamber": "house" if record["chamber"] == "h" else "senate",
        **numbers,
        "datetime": record["date"],
        "question": record.get("question"),
        "type": record.get("type"),
        "category": record.get("category"),
        "requires": record.get("requires"),
        "result": record.get("result"),
        "subject": record.get("subject"),
        "bill_type": bill.get("type"),
        "bill_number": bill.get("number"),
        "bill_congress": bill.get("congress"),
        "amendment_type": amendment.get("type"),
        "amendment_number": amendment.get("number"),
        "amendment_author": amendment.get("author"),
        "amendment_purpose": amendment.get("purpose"),
        "treaty": (record.get("treaty") or {}).get("title"),
        "nomination": (record.get("nomination") or {}).get("title"),
        "source_url": record.get("source_url"),
        **{f"published_{key}": value for key, value in counts.items()},
    }


VOTE_ID = re.compile(r"[hs][0-9]{1,4}-[0-9]{1,3}\.[0-9]{4}", re.ASCII)


def _validate(where: str, record, seen: dict[str, str]) -> tuple[str, dict, dict]:
    """Types and shapes of one record; a DataError names the file and line (or file), the roll call and the fault."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a roll-call object, found {type(record).__name__}")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise DataError(f"{where}: roll-call record lacks field(s) {', '.join(missing)}")
    vote_id = record["vote_id"]
    if not isinstance(vote_id, str) or not VOTE_ID.fullmatch(vote_id):
        raise DataError(f"{where}: vote_id {str(vote_id)[:40]!r} is not like h44-116.2019")
    if vote_id in seen:
        raise DataError(f"{where}: roll call {vote_id} appears again (first at {seen[vote_id]})")
    seen[vote_id] = where
    if record["chamber"] not in ("h", "s"):
        raise DataError(f"{where}: roll call {vote_id}: chamber {str(record['chamber'])[:20]!r} is not 'h' or 's'")
    numbers = {}
    for name in ("congress", "session", "number"):
        value = record[name]
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit())
        ):
            raise DataError(f"{where}: roll call {vote_id}: {name} {str(value)[:40]!r} is not a whole number")
        numbers[name] = int(value)
    if not isinstance(record["date"], str):
        raise DataError(f"{where}: roll call {vote_id}: date {record['date']!r} is not a text date")
    try:
        date.fromisoformat(record["date"][:10])
    except ValueError as exc:
        raise DataError(f"{where}: roll call {vote_id}: date {record['date'][:40]!r} is not YYYY-MM-DD...") from exc
    options = record["votes"]
    if not isinstance(options, dict):
        raise DataError(f"{where}: roll call {vote_id}: 'votes' is not an object of options")
    for option, voters in options.items():
        if not isinstance(voters, list):
            raise DataError(
                f"{where}: roll call {vote_id}: voters under {option!r} are {type(voters).__name__}, not a list"
            )
    for name in ("bill", "amendment", "treaty", "nomination"):
        if record.get(name) is not None and not isinstance(record[name], dict):
            raise DataError(f"{where}: roll call {vote_id}: {name!r} is not an object")
    return vote_id, options, numbers


def _bundle_records(path: Path) -> Iterator[tuple[str, dict]]:
    for number, line in iter_lines(path):
        try:
            yield f"{path}:{number}", orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number} is not valid JSON ({exc})") from exc


def read_bundle(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``votes-{congress}.jsonl.gz`` bundle."""
    return parse_records(_bundle_records(path))


def _tree_records(root: Path, congress: int) -> Iterator[tuple[str, dict]]:
    files = sorted(
        (root / str(congress) / "votes").glob("*/*/data.json"),
        key=lambda p: (p.parent.name[0], p.parent.parent.name, int(p.parent.name[1:])),
    )  # as the bundles
    for path in files:
        try:
            yield str(path), orjson.loads(read_bytes(path))
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from exc


def read_tree(root: Path, congress: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scraper's directory tree ``{root}/{congress}/votes/{session}/{h|s}{number}/data.json``."""
    return parse_records(_tree_records(root, congress))


def download_tree(config: DataConfig, congress: int, max_gap: int = 3) -> Path:
    """Mirror one congress's tree from the public URL: each chamber and year, numbers 1.. until ``max_gap``
    consecutive 404s. Files already downloaded are kept (the download is resumable); a congress that had
    ended when it was mirrored is marked complete and not probed again."""
    root = config.download_dir / "unitedstates-votes"
    first = congress_first_year(congress)
    complete = root / str(congress) / ".complete"
    if complete.exists():
        return root
    for year in (first, first + 1, first + 2):  # a session may run into 3 January of the next year
        for chamber in ("h", "s"):
            number, gap = 1, 0
            while gap < max_gap:
                dest = root / str(congress) / "votes" / str(year) / f"{chamber}{number}" / "data.json"
                url = config.urls["unitedstates_votes"].format(
                    congress=congress, session=year, chamber=chamber, number=number
                )
                try:
                    fetch(config, url, dest)
                    gap = 0
                except NotFound:
                    gap += 1
                number += 1
    if date.today() >= date(first + 2, 1, 4):
        complete.write_text(date.today().isoformat() + "\n")
    return root


def read_congress(config: DataConfig, congress: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All roll calls of one congress, from the snapshot bundle or a downloaded tree."""
    if config.use_snapshot:
        path = config.snapshot_dir / "unitedstates-votes" / f"votes-{congress}.jsonl.gz"
        if not path.exists():
            raise DataError(f"snapshot file {path} is missing")
        return read_bundle(path)
    return read_tree(download_tree(config, congress), congress)
