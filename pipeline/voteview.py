"""Reader for Voteview's per-congress CSVs: members, roll calls and votes (https://voteview.com/data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.fetch import NotFound, locate
from pipeline.rawio import read_csv_checked

MEMBER_COLUMNS = [
    "congress",
    "chamber",
    "icpsr",
    "state_abbrev",
    "district_code",
    "party_code",
    "bioname",
    "bioguide_id",
    "nominate_dim1",
    "nominate_dim2",
]
ROLLCALL_COLUMNS = [
    "congress",
    "chamber",
    "rollnumber",
    "date",
    "session",
    "clerk_rollnumber",
    "yea_count",
    "nay_count",
    "bill_number",
    "vote_result",
    "vote_desc",
    "vote_question",
    "dtl_desc",
]
VOTE_COLUMNS = ["congress", "chamber", "rollnumber", "icpsr", "cast_code"]
PARTY_CODES = {100: "D", 200: "R", 328: "I"}
KIND_COLUMNS = {"members": MEMBER_COLUMNS, "rollcalls": ROLLCALL_COLUMNS, "votes": VOTE_COLUMNS}
KIND_NUMERIC = {
    "members": ("congress", "icpsr", "district_code", "party_code", "nominate_dim1", "nominate_dim2"),
    "rollcalls": ("congress", "rollnumber", "session", "clerk_rollnumber", "yea_count", "nay_count"),
    "votes": ("congress", "rollnumber", "icpsr", "cast_code"),
}


def locate_file(config: DataConfig, kind: str, chamber: str, congress: int) -> Path:
    letter = chamber[0].upper()
    snapshot_name = f"{letter}{congress:03d}_{kind}.csv" + (".gz" if kind == "votes" else "")
    url = config.urls["voteview"].format(kind=kind, chamber=letter, congress=congress)
    download_name = f"voteview/{url.rsplit('/', 1)[-1]}"
    return locate(config, f"voteview/{snapshot_name}", url, download_name, tuple(KIND_COLUMNS[kind]))


def read(config: DataConfig, kind: str, chamber: str, congress: int) -> pd.DataFrame:
    """One Voteview file as published (columns checked), e.g. ``read(cfg, 'rollcalls', 'house', 116)``."""
    path = locate_file(config, kind, chamber, congress)
    return read_csv_checked(path, KIND_COLUMNS[kind], KIND_NUMERIC[kind])


def read_optional(config: DataConfig, kind: str, chamber: str, congress: int) -> pd.DataFrame | None:
    """Like read(), but None where the source does not have the file (House votes of most congresses)."""
    try:
        return read(config, kind, chamber, congress)
    except NotFound:
        return None
    except DataError as exc:
        if "is missing" in str(exc) and "snapshot file" in str(exc):
            return None
        raise


def party_letter(code: pd.Series) -> pd.Series:
    """Voteview party codes -> D / R / I (other minor parties keep their code as text)."""
    return code.map(lambda c: PARTY_CODES.get(int(c), str(int(c))) if pd.notna(c) else None)


# Voteview cast codes: 1-3 yea, 4-6 nay, 7-8 present, 9 not voting (0, not a member, has no position)
CAST_POSITIONS = {
    1: "yea",
    2: "yea",
    3: "yea",
    4: "nay",
    5: "nay",
    6: "nay",
    7: "present",
    8: "present",
    9: "not_voting",
}


def cast_position(cast_code: pd.Series) -> pd.Series:
    """Voteview cast codes -> yea / nay / present / not_voting (None for 0, not a member)."""
    return cast_code.map(CAST_POSITIONS)


def read_all_members(config: DataConfig) -> pd.DataFrame:
    """Voteview's HSall members file (every congress; it alone has the President's rows)."""
    url = config.urls["voteview"].format(kind="members", chamber="HS", congress=0).replace("HS000", "HSall")
    path = locate(config, "voteview/HSall_members.csv.gz", url, "voteview/HSall_members.csv")
    return read_csv_checked(path, ["congress", "chamber", "party_code", "bioname"])
