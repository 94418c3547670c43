"""Reader for roll calls in the unitedstates/congress vote format (House Clerk and Senate LIS records).

Two layouts hold the same records: the snapshot's ``votes-{congress}.jsonl.gz`` bundles (one ``data.json``
object per line) and the scraper's tree ``{congress}/votes/{session}/{h|s}{number}/data.json`` (gathered into
one JSON-lines file first). DuckDB reads the records straight from the files (``load``) into two tables: roll
calls and one row per voter. Bad records are found by SQL over the whole load; only then is the faulty file
read again record by record (``diagnose``) to name the file, line, roll call and fault in one DataError.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import orjson
import pandas as pd

from pipeline import engine
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
POSITION_CATEGORIES = ["yea", "nay", "present", "not_voting", "candidate"]

# How DuckDB reads a record: fields whose type must be checked stay JSON; the options map each name to its voters.
RECORD_COLUMNS = {
    "vote_id": "JSON",
    "chamber": "JSON",
    "congress": "JSON",
    "session": "JSON",
    "number": "JSON",
    "date": "JSON",
    "votes": "MAP(VARCHAR, JSON[])",
    "question": "VARCHAR",
    "type": "VARCHAR",
    "category": "VARCHAR",
    "requires": "VARCHAR",
    "result": "VARCHAR",
    "subject": "VARCHAR",
    "bill": "JSON",
    "amendment": "JSON",
    "treaty": "JSON",
    "nomination": "JSON",
    "source_url": "VARCHAR",
}


def _whole(column: str) -> str:
    """SQL: the JSON value is a whole number or a text of ASCII digits (as ``_validate`` accepts)."""
    return (
        f"(json_type({column}) IN ('UBIGINT', 'BIGINT') OR "
        f"(json_type({column}) = 'VARCHAR' AND regexp_full_match({column}->>'$', '[0-9]+')))"
    )


def _object_or_null(column: str) -> str:
    return f"coalesce(json_type({column}), 'NULL') IN ('OBJECT', 'NULL')"


# A record of ``us_records`` breaks a rule of ``_validate`` (the SQL is at least as strict; the Python names the
# fault). Missing or null options and voter lists become a voter without id in ``us_voters``, found there.
BAD_RECORD = " OR ".join(
    [f"{name} IS NULL" for name in REQUIRED_FIELDS if name != "votes"]
    + [
        "json_type(vote_id) <> 'VARCHAR'",
        r"NOT regexp_full_match(vote_id->>'$', '[hs][0-9]{1,4}-[0-9]{1,3}\.[0-9]{4}')",
        "json_type(chamber) <> 'VARCHAR'",
        "chamber->>'$' NOT IN ('h', 's')",
        f"NOT ({_whole('congress')} AND {_whole('session')} AND {_whole('number')})",
        "json_type(date) <> 'VARCHAR'",
        "try_strptime(left(date->>'$', 10), '%Y-%m-%d') IS NULL",
        *(_object_or_null(name) + " IS NOT TRUE" for name in ("bill", "amendment", "treaty", "nomination")),
    ]
)
VOTES = {"votes": RECORD_COLUMNS["votes"]}
POSITION_SQL = (
    "CASE option "
    + " ".join(f"WHEN '{option}' THEN '{position}'" for option, position in OPTION_POSITIONS.items())
    + " ELSE 'candidate' END"
)


def load(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    names: list[str] | None = None,
    senate_ids: dict[str, str] | None = None,
) -> None:
    """Read the record files ``paths`` (JSON lines, gzipped or not) into the tables ``us_records`` (one row per
    roll call, in file and line order, with the index of its file) and ``us_voters`` (one row per voter, in
    record, option and list order: roll call, the source's member id, its bioguide id, position, party and
    state). House records carry bioguide ids; a Senate record's LIS id is looked up in ``senate_ids`` (LIS id ->
    bioguide id; NULL where absent), in the same pass, so six million voters are not copied again. Any bad input
    is a DataError naming the file (``names``: how to name each file, e.g. the tree a gathered file came from).

    Two scans: the roll-call fields, then the voters unnested straight from the options, so the raw JSON of six
    million voters is never held in memory; the voters are read a few files at a time, each batch compressed
    (``engine.compress``) before the next."""
    names = names or [str(path) for path in paths]
    files = engine.file_list(paths)
    engine.create_enum(con, "position_t", POSITION_CATEGORIES)
    engine.create_enum(con, "chamber_t", ["house", "senate"])
    fields = {name: kind for name, kind in RECORD_COLUMNS.items() if name != "votes"}
    try:
        con.execute(
            f"""CREATE OR REPLACE TABLE us_records AS
            SELECT list_position({files}, filename) - 1 AS file, * EXCLUDE (filename)
            FROM {_read(files, fields)}"""
        )
        bad = con.execute(
            f"SELECT file FROM us_records WHERE {BAD_RECORD} "
            "UNION ALL (SELECT any_value(file) FROM us_records GROUP BY vote_id HAVING count(*) > 1) LIMIT 1"
        ).fetchall()
        if not bad:
            bioguide, lookup = _bioguide_sql(con, senate_ids or {})
            batch = engine.threads(con)  # files read at once (one thread each: a gzipped file is not split)
            for first in range(0, len(paths), batch):
                into = "CREATE OR REPLACE TABLE us_voters AS" if first == 0 else "INSERT INTO us_voters"
                part = engine.file_list(paths[first : first + batch])
                con.execute(f"{into} {_voters_sql(part, bioguide, first)}", lookup)
                engine.compress(con)  # memory holds one batch of voters uncompressed, however many congresses
            bad = con.execute("SELECT file FROM us_voters WHERE member_id IS NULL OR member_id = '' LIMIT 1").fetchall()
    except (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException) as exc:  # unreadable
        for path, name in zip(paths, names, strict=True):
            diagnose(path, name)
        raise DataError(f"{', '.join(names)}: cannot be read as roll-call records ({_first_line(exc)})") from exc
    if bad:
        file = bad[0][0]
        diagnose(paths[file], names[file])
        raise DataError(f"{names[file]}: a roll-call record breaks the format (found by SQL, not located)")


def _bioguide_sql(con: duckdb.DuckDBPyConnection, senate_ids: dict[str, str]) -> tuple[str, dict]:
    """SQL of a voter's bioguide id, and its parameters: a LIS id's position in the ENUM ``lis_t`` (a hash lookup
    per row that keeps the rows in source order, unlike a join) indexes the list of bioguide ids."""
    if not senate_ids:
        return "CASE WHEN chamber = 'senate' THEN NULL ELSE member_id END", {}
    engine.create_enum(con, "lis_t", list(senate_ids), replace=True)
    sql = "CASE WHEN chamber = 'senate' THEN $bioguide[enum_code(TRY_CAST(member_id AS lis_t)) + 1] ELSE member_id END"
    return sql, {"bioguide": list(senate_ids.values())}


def _voters_sql(files: str, bioguide: str = "NULL", first: int = 0) -> str:
    """SQL: one row per voter of the record files (``first``: the index of the first of them), unnested from each
    record's options in order; ``bioguide``: the SQL of its bioguide id (over ``chamber`` and ``member_id``)."""
    return f"""
        WITH options AS (
            SELECT {first} + list_position({files}, filename) - 1 AS file, vote_id->>'$' AS rollcall_id,
                   CAST(CASE chamber->>'$' WHEN 'h' THEN 'house' ELSE 'senate' END AS chamber_t) AS chamber,
                   TRY_CAST(congress->>'$' AS SMALLINT) AS congress,
                   unnest(coalesce(map_entries(votes), [{{'key': NULL, 'value': NULL}}])) AS entry
            FROM {_read(files, {"vote_id": "JSON", "chamber": "JSON", "congress": "JSON", **VOTES})}),
        voters AS (
            SELECT file, rollcall_id, chamber, congress, entry.key AS option,
                   unnest(coalesce(entry.value, ['null'::JSON])) AS voter
            FROM options),
        fields AS (
            SELECT file, rollcall_id, chamber, congress, option, voter::VARCHAR = '"VP"' AS is_vp,
                   json_extract_string(voter, ['$.id', '$.party', '$.state']) AS f
            FROM voters),
        voter_rows AS (
            SELECT file, rollcall_id, chamber, congress, CAST({POSITION_SQL} AS position_t) AS position,
                   CASE WHEN is_vp THEN 'VP' ELSE f[1] END AS member_id, f[2] AS vote_party, f[3] AS vote_state
            FROM fields)
        SELECT file, rollcall_id, chamber, congress, position, member_id, {bioguide} AS bioguide_id, vote_party,
               vote_state
        FROM voter_rows"""


def _read(files: str, columns: dict[str, str]) -> str:
    """SQL: read_json over ``files`` with only ``columns`` (typed as given), file name included."""
    typed = "{" + ", ".join(f"{name}: '{kind}'" for name, kind in columns.items()) + "}"
    return f"read_json({files}, format = 'newline_delimited', filename = true, columns = {typed})"


def records_per_file(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    """How many roll-call records ``load`` read from each file (by its index in ``paths``)."""
    return dict(con.execute("SELECT file, count(*) FROM us_records GROUP BY file").fetchall())


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def rollcall_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``us_records`` as roll-call rows (file and line order), with the tallies their voter lists publish. A text
    field no record has is an object column of None (as pandas makes it from records)."""
    rollcalls = engine.frame(
        con.sql(
            """WITH published AS (
                SELECT rollcall_id, count(*) FILTER (position = 'yea') AS yea,
                       count(*) FILTER (position = 'nay') AS nay,
                       count(*) FILTER (position = 'present') AS present,
                       count(*) FILTER (position = 'not_voting') AS not_voting,
                       count(*) FILTER (position = 'candidate') AS candidate
                FROM us_voters GROUP BY rollcall_id)
            SELECT vote_id->>'$' AS rollcall_id,
                   CASE chamber->>'$' WHEN 'h' THEN 'house' ELSE 'senate' END AS chamber,
                   CAST(congress->>'$' AS BIGINT) AS congress, CAST(session->>'$' AS BIGINT) AS session,
                   CAST(number->>'$' AS BIGINT) AS number, date->>'$' AS datetime,
                   question, type, category, requires, result, subject,
                   bill->>'type' AS bill_type, bill->>'number' AS bill_number, bill->>'congress' AS bill_congress,
                   amendment->>'type' AS amendment_type, TRY_CAST(amendment->>'number' AS BIGINT) AS amendment_number,
                   amendment->>'author' AS amendment_author, amendment->>'purpose' AS amendment_purpose,
                   treaty->>'title' AS treaty, nomination->>'title' AS nomination, source_url,
                   coalesce(p.yea, 0) AS published_yea, coalesce(p.nay, 0) AS published_nay,
                   coalesce(p.present, 0) AS published_present, coalesce(p.not_voting, 0) AS published_not_voting,
                   coalesce(p.candidate, 0) AS published_candidate
            FROM us_records r LEFT JOIN published p ON p.rollcall_id = r.vote_id->>'$'
            ORDER BY r.rowid"""
        )
    )
    empty = [name for name in rollcalls if rollcalls[name].dtype == "str" and rollcalls[name].isna().all()]
    return rollcalls.astype({name: object for name in empty})


def member_vote_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``us_voters`` as pandas (tests and small inputs; the ingest keeps the voters in DuckDB)."""
    votes = engine.frame(con.sql("SELECT rollcall_id, member_id, position, vote_party, vote_state FROM us_voters"))
    return votes


def diagnose(path: Path, name: str | None = None) -> None:
    """Read one record file record by record and raise the DataError of its first fault (file, line, roll call
    and what is wrong); return when every record is sound. Only run once SQL has found a fault."""
    name = name or str(path)
    seen: dict[str, str] = {}
    try:
        lines = iter_lines(path)
        for number, line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{name}: line {number} is not valid JSON ({exc})") from exc
            validate_record(f"{name}:{number}", record, seen)
    except DataError as exc:
        raise DataError(str(exc).replace(str(path), name, 1)) from exc


def validate_record(where: str, record, seen: dict[str, str]) -> None:
    """Every rule a record must meet: its fields (``_validate``) and each voter (a member object with a string
    id, or the Vice President's bare "VP")."""
    vote_id, options, _ = _validate(where, record, seen)
    for option, voters in options.items():
        for voter in voters:
            is_member = isinstance(voter, dict)
            if not is_member and voter != "VP":
                raise DataError(
                    f"{where}: roll call {vote_id}: voter {str(voter)[:40]!r} under {option!r} "
                    "is neither a member object nor 'VP'"
                )
            if is_member and not (isinstance(voter.get("id"), str) and voter["id"]):
                raise DataError(f"{where}: roll call {vote_id}: a voter under {option!r} has no string 'id'")


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


def gather(records: Iterable[tuple[str, dict]], out: Path) -> Path:
    """(where, record) pairs, each checked by ``validate_record``, written as one JSON-lines file for ``load``
    (the downloaded tree holds one file per roll call; its faults are named by file here)."""
    seen: dict[str, str] = {}
    with open(out, "wb") as f:
        for where, record in records:
            validate_record(where, record, seen)
            f.write(orjson.dumps(record) + b"\n")
    return out


def read_files(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rollcalls, member_votes) of record files, through the engine (tests and single files)."""
    con = engine.connect()
    try:
        load(con, paths)
        return rollcall_frame(con), member_vote_frame(con)
    finally:
        con.close()


def read_bundle(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``votes-{congress}.jsonl.gz`` bundle: (rollcalls, member_votes)."""
    return read_files([path])


def parse_records(records: Iterable[tuple[str, dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(where, record) pairs -> (rollcalls, member_votes), as ``read_bundle`` gives them."""
    with tempfile.TemporaryDirectory(prefix="natocast-records-") as tmp:
        return read_files([gather(records, Path(tmp) / "records.jsonl")])


def record_files(config: DataConfig, scratch: Path) -> tuple[list[Path], list[str]]:
    """The record file of every configured congress and how errors name it: the snapshot's bundles, or each
    downloaded tree gathered into one file under ``scratch``."""
    paths, names = [], []
    for congress in config.congresses:
        if config.use_snapshot:
            path = config.snapshot_dir / "unitedstates-votes" / f"votes-{congress}.jsonl.gz"
            if not path.exists():
                raise DataError(f"snapshot file {path} is missing")
            paths.append(path)
            names.append(str(path))
        else:
            root = download_tree(config, congress)
            paths.append(gather(_tree_records(root, congress), scratch / f"votes-{congress}.jsonl"))
            names.append(str(root / str(congress)))
    return paths, names


def read_congress(config: DataConfig, congress: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All roll calls of one congress, from the snapshot bundle or a downloaded tree: (rollcalls, member_votes)."""
    one = replace(config, first_congress=congress, last_congress=congress)
    with tempfile.TemporaryDirectory(prefix="natocast-records-") as tmp:
        paths, names = record_files(one, Path(tmp))
        con = engine.connect(config.workers, config.duckdb_memory)
        try:
            load(con, paths, names)
            return rollcall_frame(con), member_vote_frame(con)
        finally:
            con.close()
