"""Reader for Voteview's per-congress CSVs: members, roll calls and votes (https://voteview.com/data)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import engine
from pipeline.config import CHAMBERS, DataConfig
from pipeline.errors import DataError
from pipeline.fetch import NotFound, locate
from pipeline.rawio import first_line, gzip_is_whole, is_gzip, read_csv_checked

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
# How ``load_votes`` stores the numeric columns in the engine (compact: 11 bytes a vote before compression)
VOTE_TYPES = {"congress": "SMALLINT", "rollnumber": "INTEGER", "icpsr": "INTEGER", "cast_code": "TINYINT"}
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


def locate_optional(config: DataConfig, kind: str, chamber: str, congress: int) -> Path | None:
    """Like locate_file(), but None where the source does not have the file (House votes of most congresses)."""
    try:
        return locate_file(config, kind, chamber, congress)
    except NotFound:
        return None
    except DataError as exc:
        if "is missing" in str(exc) and "snapshot file" in str(exc):
            return None
        raise


def load_votes(con: duckdb.DuckDBPyConnection, config: DataConfig) -> dict[str, int]:
    """Voteview's member votes of the configured congresses, where it publishes them, into the engine's table
    ``vv_votes`` (its ``VOTE_COLUMNS``), read by DuckDB straight from the CSVs: for all of Voteview (25 M votes)
    a pandas frame would hold some 1.3 GiB. ``read`` stays the judge: a file DuckDB cannot take as ``read``
    would (parse error, missing column, a value that is not a number) goes through ``read``, which names the
    fault or, where it accepts the file, gives the rows. Returns the rows read per file (by path).

    All files are read at once when every one of them is sound (12 files, 1.2 M votes: 0.7-0.8 s instead of 1.34 s
    one file at a time, mostly from DuckDB's second thread); otherwise one at a time, so that the faulty one is
    named."""
    typed = ", ".join(["chamber VARCHAR", *(f"{name} {kind}" for name, kind in VOTE_TYPES.items())])
    con.execute(f"CREATE OR REPLACE TABLE vv_votes ({typed})")
    files = {
        path: partial(read, config, "votes", chamber, congress)
        for chamber in CHAMBERS
        for congress in config.congresses
        if (path := locate_optional(config, "votes", chamber, congress)) is not None
    }
    counts = _insert_all_votes(con, list(files)) if files else {}
    if counts is None:  # some file is not sound: each on its own, the faulty one named
        con.execute("DELETE FROM vv_votes")
        counts = {str(path): _insert_votes(con, path, read_file) for path, read_file in files.items()}
    return counts


# pandas' default NA strings (``read_csv``'s ``na_values``), so that DuckDB takes as blank what ``read`` does
PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"]
PANDAS_NA += ["NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _csv_source(paths: list[Path], compression: str, filename: bool = False) -> str:
    """SQL: Voteview vote files as text, in the dialect ``read`` assumes (comma, double quotes, pandas' NA
    strings, ``$na``; no comment lines, no lines skipped before the header), so that a bad value is found, not
    guessed around."""
    return (
        f"read_csv({engine.file_list(paths)}, all_varchar = true, header = true, compression = '{compression}', "
        f"delim = ',', quote = '\"', escape = '\"', nullstr = $na, comment = '', skip = 0, "
        f"filename = {str(filename).lower()})"
    )


# '1_000' is a number to DuckDB, not to pandas: digit separators go to ``read`` too
NOT_NUMBERS = " OR ".join(
    f"({name} IS NOT NULL AND (TRY_CAST({name} AS DOUBLE) IS NULL OR contains({name}, '_')))" for name in VOTE_TYPES
)
NUMERIC = ", ".join(f"CAST(CAST({name} AS DOUBLE) AS {kind})" for name, kind in VOTE_TYPES.items())


def _insert_all_votes(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> dict[str, int] | None:
    """Every vote file into ``vv_votes`` in one pass, in file and row order; the rows per file, or None (nothing
    inserted) unless the files are all sound: whole (a gzip's CRC), of one compression and one header line (DuckDB
    would take a later file's columns by name, in any case), naming the columns exactly, with the numbers
    ``_insert_votes`` asks of each. Read twice, checked then inserted, never held whole as text (25 M votes would
    not fit the engine's memory)."""
    kinds = {"gzip" if is_gzip(path) else "none" for path in paths}
    if len(kinds) > 1 or len({first_line(path) for path in paths}) > 1 or not _sound_header(paths[0]):
        return None
    if kinds == {"gzip"} and not all(map(gzip_is_whole, paths)):  # DuckDB does not check a gzip's CRC and length
        return None
    source = _csv_source(paths, kinds.pop(), filename=True)
    try:
        columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}", {"na": PANDAS_NA}).fetchall()}
        if not set(VOTE_COLUMNS) <= columns:
            return None
        checked = con.execute(
            f"SELECT filename, count(*), count(*) FILTER (WHERE {NOT_NUMBERS}) FROM {source} GROUP BY filename",
            {"na": PANDAS_NA},
        ).fetchall()
        if any(bad for _, _, bad in checked):
            return None
        con.execute(f"INSERT INTO vv_votes SELECT chamber, {NUMERIC} FROM {source}", {"na": PANDAS_NA})
    except duckdb.Error:  # unreadable, ragged, a number out of range: found and named one file at a time
        return None
    engine.compress(con)
    rows = {name: count for name, count, _ in checked}
    return {str(path): rows.get(str(path), 0) for path in paths}


def _sound_header(path: Path) -> bool:
    """The header names every column ``read`` asks for, exactly (DuckDB trims spaces from names)."""
    fields = next(csv.reader([first_line(path).decode("utf-8", errors="replace")]), [])
    return set(VOTE_COLUMNS) <= set(fields)


def _insert_votes(con: duckdb.DuckDBPyConnection, path: Path, read_file: Callable[[], pd.DataFrame]) -> int:
    """One vote file into ``vv_votes``, as ``_insert_all_votes`` reads them. A file that fails there (a ragged
    row too: pandas pads a short one, DuckDB would name extra fields as new columns) goes to ``read_file`` (the
    pandas reader of the same file), which raises its DataError or gives the frame to insert."""
    counts = _insert_all_votes(con, [path])
    if counts is not None:
        return counts[str(path)]
    frame = read_file()[VOTE_COLUMNS]  # raises the DataError that names the fault
    con.register("vv_read", frame)
    try:
        con.execute(f"INSERT INTO vv_votes SELECT chamber, {NUMERIC} FROM vv_read")
    except duckdb.ConversionException as exc:
        raise DataError(f"{path}: a number out of range ({str(exc).strip().splitlines()[0][:300]})") from exc
    finally:
        con.unregister("vv_read")
    engine.compress(con)  # the table stays small however many congresses (some 40 MB per 6 M votes)
    return len(frame)


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
