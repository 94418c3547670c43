"""DVC stage `ingest`: raw sources -> canonical tables in data/tables/ and a data-quality report.

Roll calls and member votes come from the unitedstates/congress records (complete for congresses 110-119);
Voteview adds its continuous roll numbers, its descriptions where it has them (its copies here leave House
amendments blank: the report counts them), its own published tally (checked against ours) and the members'
DW-NOMINATE scores. Every member vote is mapped to a
bioguide id; what cannot be mapped is counted in the report, never silently dropped.

The six million member votes never pass through Python one by one: DuckDB (``pipeline.engine``) reads the vote
records and Voteview's member votes straight from their gzipped files, and the id mapping, the votes left out, the
tallies and the comparison with Voteview's member votes are SQL over its tables; the votes table is streamed from
it into parquet. pandas handles the tables of thousands of rows (members, roll calls, bills). The bills' XML and
JSON, the YAML and Voteview's member and roll-call CSVs are read in a second process meanwhile
(``read_beside``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline import billstatus, bulkbills, engine, legislators, sponsors, usvotes, voteview
from pipeline.config import (
    CHAMBERS,
    METRICS_DIR,
    PARAMS_FILE,
    POSITIONS,
    TABLES_DIR,
    TIMINGS_LOG,
    DataConfig,
    load_params,
)
from pipeline.contract import ContractReport, check_bounds, check_snapshot
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.ids import bill_id, congress_first_year, rollcall_id
from pipeline.stop import sigint_ignored, worker_signals
from pipeline.tables import clean_stale, cut_as_of, log_timing, publish_table_set, write_json

MEMBER_COLUMNS = [
    "bioguide_id",
    "congress",
    "chamber",
    "icpsr",
    "lis_id",
    "name",
    "party",
    "state",
    "district",
    "senate_class",
    "nominate_dim1",
    "nominate_dim2",
    "party_switch",
]


def read_voteview(config: DataConfig) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Voteview's member and roll-call files of every configured congress, stacked per kind (the House's
    congresses, then the Senate's), and the records read from each file (by path). Its member votes go straight
    into the engine (``voteview.load_votes``)."""
    stacked, counts = {}, {}
    for kind in ("members", "rollcalls"):
        parts = []
        for chamber in CHAMBERS:
            for congress in config.congresses:
                parts.append(voteview.read(config, kind, chamber, congress))
                counts[str(voteview.locate_file(config, kind, chamber, congress))] = len(parts[-1])
        stacked[f"vv_{kind}"] = pd.concat(parts, ignore_index=True)
    return stacked, counts


# --- members -----------------------------------------------------------------------------------------------


def build_members(vv_members: pd.DataFrame, crosswalk: pd.DataFrame) -> pd.DataFrame:
    """One row per person, congress and chamber from Voteview's member files, with LIS ids, clean names and a
    senator's class (congress-legislators': of the current term, or of a former member's last).

    A member who switched party appears twice in Voteview (a new icpsr each time): kept once, with the party
    of the icpsr that cast more votes and ``party_switch`` set.
    """
    members = vv_members[vv_members["chamber"].isin(["House", "Senate"])].copy()
    members = members.dropna(subset=["bioguide_id"])
    members["chamber"] = members["chamber"].str.lower()
    members["party"] = voteview.party_letter(members["party_code"])
    votes_cast = members["nominate_number_of_votes"] if "nominate_number_of_votes" in members else 0
    members = members.assign(_votes=votes_cast).sort_values("_votes", ascending=False, na_position="last")
    parties = members.groupby(["bioguide_id", "congress", "chamber"])["party"].nunique()
    members = members.drop_duplicates(["bioguide_id", "congress", "chamber"], keep="first")
    members = members.merge(parties.rename("n_parties").reset_index(), on=["bioguide_id", "congress", "chamber"])
    members["party_switch"] = members["n_parties"] > 1
    ids = crosswalk[["bioguide_id", "lis_id", "full_name", "first_name", "last_name", "senate_class"]]
    members = members.merge(ids, on="bioguide_id", how="left")
    members["senate_class"] = members["senate_class"].where(members["chamber"] == "senate").astype("Int64")
    readable = members["full_name"].fillna(members["first_name"] + " " + members["last_name"])
    members["name"] = readable.fillna(members["bioname"])
    members = members.rename(columns={"state_abbrev": "state", "district_code": "district"})
    members["icpsr"] = members["icpsr"].astype("Int64")
    members["district"] = members["district"].astype("Int64")
    return members[MEMBER_COLUMNS].sort_values(["congress", "chamber", "bioguide_id"]).reset_index(drop=True)


def add_members_seen_only_in_votes(
    members: pd.DataFrame, seen: pd.DataFrame, crosswalk: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Members who cast votes but are not in Voteview's file for that congress (e.g. sworn in after its
    last update) get a row from the vote records and the crosswalk, without NOMINATE scores. ``seen``: one row
    per voter, congress and chamber with the party and state of their last vote (``voters_seen``)."""
    known = members.set_index(["bioguide_id", "congress", "chamber"]).index
    extra = seen[~seen.set_index(["bioguide_id", "congress", "chamber"]).index.isin(known)]
    if extra.empty:
        return members, 0
    extra = extra.merge(
        crosswalk[["bioguide_id", "lis_id", "icpsr_id", "full_name", "senate_class"]], on="bioguide_id", how="left"
    )
    known_names = members.drop_duplicates("bioguide_id", keep="last").set_index("bioguide_id")["name"]
    extra["full_name"] = extra["full_name"].fillna(extra["bioguide_id"].map(known_names))
    rows = pd.DataFrame(
        {
            "bioguide_id": extra["bioguide_id"],
            "congress": extra["congress"],
            "chamber": extra["chamber"],
            "icpsr": extra["icpsr_id"].astype("Int64"),
            "lis_id": extra["lis_id"],
            "name": extra["full_name"],
            "party": extra["vote_party"],
            "state": extra["vote_state"],
            "district": pd.array([pd.NA] * len(extra), dtype="Int64"),
            "senate_class": extra["senate_class"].where(extra["chamber"] == "senate").astype("Int64"),
            "nominate_dim1": np.nan,
            "nominate_dim2": np.nan,
            "party_switch": False,
        }
    )
    combined = pd.concat([members, rows], ignore_index=True)
    return combined.sort_values(["congress", "chamber", "bioguide_id"]).reset_index(drop=True), len(rows)


# --- votes -------------------------------------------------------------------------------------------------


def build_votes(
    con: duckdb.DuckDBPyConnection,
    valid_bioguide: set[str],
    max_unknown_ids: int = 0,
    source_of: Callable[[int], str] = str,
) -> tuple[pd.DataFrame, dict]:
    """Member votes (the engine's ``us_voters``) under bioguide ids, left in the engine's table ``mapped`` with a
    status per voter (0: kept; ``KEPT_VOTES`` selects the votes table); the rows left out, counted per roll call
    and position; and a summary of why they were left out. ``us_voters`` is renamed to ``mapped``, so
    ``usvotes.rollcall_frame`` must run before.

    House records carry bioguide ids, Senate records LIS ids (mapped through the crosswalk as ``usvotes.load``
    reads them). A member id found in neither the crosswalk nor Voteview is never made into a member: its votes
    are dropped and listed per source file (``source_of(congress)``), and more than ``max_unknown_ids`` distinct
    such ids in one file fail the ingest (a wrong crosswalk or a corrupt file, not a stray record). The Vice
    President's tie-breaks and Speaker-election candidate votes are counted and left out; a repeated (roll call,
    member) keeps its first."""
    _map_member_ids(con, valid_bioguide)
    left_out = _left_out(con, max_unknown_ids, source_of)
    left_out["duplicate_member_votes"] = _mark_duplicates(con)
    dropped = engine.frame(
        con.sql(
            "SELECT rollcall_id, position::VARCHAR AS position, count(*) AS n FROM mapped "
            "WHERE status <> 0 GROUP BY ALL"
        )
    )
    dropped = dropped.pivot(index="rollcall_id", columns="position", values="n").fillna(0).astype(int)
    return dropped, left_out


# The votes table: every kept vote, in the order of the records; its columns and dtypes as published.
KEPT_VOTES = "SELECT rollcall_id, bioguide_id, position, vote_party FROM mapped WHERE status = 0"
VOTES_TEMPLATE = pd.DataFrame(
    {
        "rollcall_id": pd.Series(dtype="str"),
        "bioguide_id": pd.Series(dtype="str"),
        "position": pd.Categorical([], categories=pd.Index(POSITIONS, dtype="str")),
        "vote_party": pd.Series(dtype="str"),
    }
)


def votes_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The votes table as pandas (tests and callers of ``build_tables`` that keep the set in memory)."""
    votes = engine.frame(con.sql(KEPT_VOTES))
    return votes.astype({"position": VOTES_TEMPLATE["position"].dtype})


def leave_out_votes_after(con: duckdb.DuckDBPyConnection, rollcall_ids: list[str]) -> int:
    """Kept votes on roll calls the as-of cut dropped get status 5 (left out of the votes table); how many.
    An update in place: the votes keep their order, as a join might not."""
    if not rollcall_ids:
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE after_as_of AS SELECT unnest($ids::VARCHAR[]) AS rollcall_id",
        {"ids": rollcall_ids},
    )
    con.execute(
        "UPDATE mapped SET status = 5 WHERE status = 0 AND rollcall_id IN (SELECT rollcall_id FROM after_as_of)"
    )
    return con.execute("SELECT count(*) FROM mapped WHERE status = 5").fetchall()[0][0]


def _map_member_ids(con: duckdb.DuckDBPyConnection, valid_bioguide: set[str]) -> None:
    """``us_voters`` (bioguide ids looked up as the load read them) -> ``mapped``, renamed in place, with a status
    per voter; the ENUM ``member_t`` of the kept voters' bioguide ids numbers them (see ``_mark_duplicates``).

    The rules run once per distinct id (a few thousand) in Python; the six million rows are not copied: only the
    few left out are updated."""
    present = {row[0] for row in con.execute("SELECT DISTINCT bioguide_id FROM us_voters").fetchall()}
    con.execute("ALTER TABLE us_voters RENAME TO mapped")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE unknown_ids AS SELECT unnest($ids::VARCHAR[]) AS bioguide_id",
        {"ids": sorted(present - valid_bioguide - {None})},
    )
    engine.create_enum(con, "member_t", sorted(present & valid_bioguide) or [""], replace=True)
    # status: 0 kept, 1 the Vice President, 2 a Speaker-election candidate vote, 3 an unknown member id (later:
    # 4 a repeated vote, ``_mark_duplicates``; 5 a roll call after the as-of date, ``leave_out_votes_after``)
    con.execute("ALTER TABLE mapped ADD COLUMN status TINYINT DEFAULT 0")
    unknown = "(bioguide_id IS NULL OR bioguide_id IN (SELECT bioguide_id FROM unknown_ids))"
    con.execute(
        f"""UPDATE mapped SET status = CASE WHEN member_id = 'VP' THEN 1 WHEN {unknown} THEN 3 ELSE 2 END
        WHERE member_id = 'VP' OR position = 'candidate' OR {unknown}"""
    )


def senate_ids(crosswalk: pd.DataFrame) -> dict[str, str]:
    """LIS id -> bioguide id (the first person listed with that LIS id)."""
    lis = crosswalk.dropna(subset=["lis_id"]).drop_duplicates("lis_id")
    return dict(zip(lis["lis_id"], lis["bioguide_id"], strict=True))


def _left_out(con: duckdb.DuckDBPyConnection, max_unknown_ids: int, source_of: Callable[[int], str]) -> dict:
    """Counts of the votes left out and why; more than ``max_unknown_ids`` unknown ids in one file: DataError."""
    counts = con.execute(
        """SELECT count(*) FILTER (status = 1), count(*) FILTER (status = 2),
                  count(*) FILTER (bioguide_id IS NULL AND status <> 1), count(*) FILTER (status = 3)
           FROM mapped"""
    ).fetchall()[0]
    unmapped_ids = con.execute(
        "SELECT DISTINCT member_id FROM mapped WHERE bioguide_id IS NULL AND status <> 1"
    ).fetchall()
    unknown = con.execute(
        "SELECT congress, list_sort(list(DISTINCT member_id)) FROM mapped WHERE status = 3 GROUP BY congress"
    ).fetchall()
    unknown_by_file = {source_of(int(congress)): ids for congress, ids in sorted(unknown)}
    for source, ids in unknown_by_file.items():
        if len(ids) > max_unknown_ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise DataError(
                f"{source}: {len(ids)} member id(s) in neither the crosswalk nor Voteview ({shown}); at most "
                f"{max_unknown_ids} allowed (params.yaml data.max_unknown_member_ids)"
            )
    return {
        "vice_president_tiebreak_votes": counts[0],
        "speaker_election_candidate_votes": counts[1],
        "unmapped_member_votes": counts[2],
        "unmapped_member_ids": sorted(row[0] for row in unmapped_ids),
        "unknown_member_votes": counts[3],
        "unknown_member_ids_by_file": unknown_by_file,
    }


def _mark_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """A second kept vote of a member on one roll call (status 4: left out, the first is kept); how many.

    The test is one bit per member number and roll call (``bitstring_agg``): a roll call has a repeat exactly when
    it has fewer bits set than kept votes; far cheaper than grouping six million (roll call, member) pairs."""
    most = con.execute("SELECT len(enum_range(NULL::member_t)) - 1").fetchall()[0][0]
    member = "enum_code(CAST(bioguide_id AS member_t))"  # a kept voter's id is one of the ENUM's (never fails)
    repeated = con.execute(
        f"""SELECT count(*) FROM (
            SELECT count(*) AS n, bitstring_agg({member}, 0, {int(most)}) AS seen
            FROM mapped WHERE status = 0 GROUP BY rollcall_id)
        WHERE bit_count(seen) <> n"""
    ).fetchall()[0][0]
    if not repeated:
        return 0
    con.execute(
        """UPDATE mapped SET status = 4 WHERE rowid IN (
            SELECT rowid FROM (
                SELECT rowid, row_number() OVER (PARTITION BY rollcall_id, bioguide_id ORDER BY rowid) AS nth
                FROM mapped WHERE status = 0)
            WHERE nth > 1)"""
    )
    return con.execute("SELECT count(*) FROM mapped WHERE status = 4").fetchall()[0][0]


def voters_seen(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every voter of the kept votes per congress and chamber, with the party and state of their last vote."""
    return engine.frame(
        con.sql(
            """SELECT bioguide_id, congress, chamber, arg_max_null(vote_party, rowid) AS vote_party,
                      arg_max_null(vote_state, rowid) AS vote_state
               FROM mapped WHERE status = 0 GROUP BY ALL"""
        )
    )


def tallies(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Yea, nay, present and not-voting counts of the kept votes per roll call."""
    counts = ", ".join(f"count(*) FILTER (position = '{p}') AS {p}_count" for p in POSITIONS)
    return engine.frame(
        con.sql(f"SELECT rollcall_id, {counts} FROM mapped WHERE status = 0 GROUP BY rollcall_id")
    ).set_index("rollcall_id")


# --- roll calls --------------------------------------------------------------------------------------------


VOTEVIEW_NAMES = {
    "clerk_rollnumber": "number",
    "session": "session_index",
    "yea_count": "voteview_yea",
    "nay_count": "voteview_nay",
    "bill_number": "voteview_bill",
    "vote_result": "voteview_result",
    "vote_question": "voteview_question",
    "date": "voteview_date",
}
VOTEVIEW_COLUMNS = [
    "chamber",
    "congress",
    "session_index",
    "number",
    "rollnumber",
    "voteview_yea",
    "voteview_nay",
    "voteview_bill",
    "voteview_result",
    "voteview_question",
    "vote_desc",
    "dtl_desc",
    "voteview_date",
    "nominate_mid_1",
    "nominate_spread_1",
]
JOIN_KEYS = ["chamber", "congress", "session_index", "number"]


def build_rollcalls(us_rollcalls: pd.DataFrame, vv_rollcalls: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """One row per roll call: the unitedstates record joined to Voteview's on (chamber, congress, session,
    per-session number). Voteview roll calls missing from the unitedstates records are added."""
    rollcalls = us_rollcalls.copy()
    rollcalls["date"] = pd.to_datetime(rollcalls["datetime"].str[:10])
    first_year = rollcalls["congress"].map(congress_first_year)
    rollcalls["session_index"] = rollcalls["session"] - first_year + 1
    vv = vv_rollcalls.rename(columns=VOTEVIEW_NAMES)
    vv["chamber"] = vv["chamber"].str.lower()
    joined = rollcalls.merge(vv[VOTEVIEW_COLUMNS], on=JOIN_KEYS, how="outer", indicator=True)
    only_voteview = joined["_merge"] == "right_only"
    if only_voteview.any():
        _fill_from_voteview(joined, only_voteview)
    joined["source"] = (
        joined["_merge"]
        .map({"both": "unitedstates+voteview", "left_only": "unitedstates", "right_only": "voteview"})
        .astype(str)
    )
    joined["bill_id"] = [
        _bill_of(r, c, t, n)
        for r, c, t, n in zip(
            joined["rollcall_id"], joined["bill_congress"], joined["bill_type"], joined["bill_number"], strict=True
        )
    ]
    joined["description"] = _describe(joined)
    joined["session"] = joined["session"].astype(int)
    joined["rollnumber"] = joined["rollnumber"].astype("Int64")
    report = {
        "rollcalls_unitedstates": int((joined["_merge"] != "right_only").sum()),
        "rollcalls_matched_to_voteview": int((joined["_merge"] == "both").sum()),
        "rollcalls_only_in_voteview": int(only_voteview.sum()),
    }
    joined = joined.drop(
        columns=["_merge", "datetime", "session_index", "voteview_date", "bill_congress", "bill_number"]
    )
    joined = joined.rename(columns={"bill_type": "bill_type_raw"})
    return joined.sort_values(["date", "chamber", "session", "number"]).reset_index(drop=True), report


def _fill_from_voteview(joined: pd.DataFrame, only_voteview: pd.Series) -> None:
    """Session year, date, question, result and id of the roll calls only Voteview has (in place)."""
    extra = joined.loc[only_voteview]
    session_year = extra["congress"].map(congress_first_year) + extra["session_index"] - 1
    joined.loc[only_voteview, "session"] = session_year
    joined.loc[only_voteview, "date"] = pd.to_datetime(extra["voteview_date"])
    joined.loc[only_voteview, "question"] = extra["voteview_question"]
    joined.loc[only_voteview, "result"] = extra["voteview_result"]
    joined.loc[only_voteview, "rollcall_id"] = [
        rollcall_id(c, int(g), int(s), int(n))
        for c, g, s, n in zip(extra["chamber"], extra["congress"], session_year, extra["number"], strict=True)
    ]


def _bill_of(rollcall: str, congress, bill_type, number) -> str | None:
    if not (isinstance(bill_type, str) and pd.notna(number) and pd.notna(congress)):
        return None
    try:
        return bill_id(congress, bill_type, number)
    except DataError as exc:
        raise DataError(f"roll call {rollcall}: {exc}") from exc


def _describe(rollcalls: pd.DataFrame) -> pd.Series:
    """The richest text about a roll call: every distinct description any source gives, joined."""
    parts = [
        "question",
        "subject",
        "amendment_purpose",
        "voteview_question",
        "vote_desc",
        "dtl_desc",
        "treaty",
        "nomination",
    ]
    texts = rollcalls[parts].astype(object).where(rollcalls[parts].notna(), None).to_numpy()

    def join(row) -> str:
        seen: list[str] = []
        for text in row:
            if text and str(text).strip() and str(text).strip() not in seen:
                seen.append(str(text).strip())
        return " | ".join(seen)

    return pd.Series([join(row) for row in texts], index=rollcalls.index)


def amendment_text_coverage(rollcalls: pd.DataFrame) -> dict:
    """House amendment roll calls whose purpose no source states (the clerk names only the author and
    Voteview's copies leave vote_desc empty for them): the catalog's overrides must cover those."""
    house = rollcalls[(rollcalls["chamber"] == "house") & rollcalls["amendment_type"].notna()]
    no_text = house[["amendment_purpose", "vote_desc", "dtl_desc"]].isna().all(axis=1)
    return {"house_amendment_rollcalls": int(len(house)), "house_amendments_without_purpose_text": int(no_text.sum())}


def add_tallies(rollcalls: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """The roll calls with the tallies of the votes table (0 where a roll call kept no votes)."""
    merged = rollcalls.drop(columns=[c for c in counts.columns if c in rollcalls]).merge(
        counts, left_on="rollcall_id", right_index=True, how="left"
    )
    for column in counts.columns:
        merged[column] = merged[column].fillna(0).astype(int)
    return merged


def check_tallies(rollcalls: pd.DataFrame, dropped_per_rollcall: pd.DataFrame) -> dict:
    """Compare the votes table's tally with each source's published tally.

    ``unitedstates``: the record's own lists (exact, once dropped VP/unmapped rows are added back).
    ``voteview``: Voteview's yea_count/nay_count, an independent tally (differences are reported).
    """
    us = rollcalls[rollcalls["source"] != "voteview"].set_index("rollcall_id")
    dropped = dropped_per_rollcall.reindex(us.index, fill_value=0)
    mismatched = []
    for position in POSITIONS:
        ours = us[f"{position}_count"] + dropped.get(position, 0)
        bad = ours != us[f"published_{position}"]
        mismatched.extend(us.index[bad].tolist())
    vv = rollcalls.dropna(subset=["voteview_yea"])
    vv_bad = vv[(vv["yea_count"] != vv["voteview_yea"]) | (vv["nay_count"] != vv["voteview_nay"])]
    return {
        "unitedstates_tally_mismatches": len(set(mismatched)),
        "unitedstates_tally_mismatch_ids": sorted(set(mismatched))[:50],
        "voteview_compared": len(vv),
        "voteview_tally_mismatches": len(vv_bad),
        "voteview_tally_mismatch_examples": [
            {
                "rollcall_id": r.rollcall_id,
                "yea": int(r.yea_count),
                "nay": int(r.nay_count),
                "voteview_yea": int(r.voteview_yea),
                "voteview_nay": int(r.voteview_nay),
            }
            for r in vv_bad.head(20).itertuples()
        ],
    }


def compare_voteview_positions(con: duckdb.DuckDBPyConnection, members: pd.DataFrame) -> dict:
    """Where Voteview has member votes (the engine's ``vv_votes``), how often its cast code agrees with the clerk's
    record (the engine's kept votes in ``mapped``, the roll calls in ``rollcall_numbers``). One congress and
    chamber at a time, so the join's hash table holds one congress's votes however many there are."""
    pairs = con.execute("SELECT DISTINCT lower(chamber), congress FROM vv_votes ORDER BY ALL").fetchall()
    if not pairs:
        return {"voteview_member_votes_compared": 0}
    icpsr = members.dropna(subset=["icpsr"]).drop_duplicates(["icpsr", "congress", "chamber"])
    con.register("icpsr_ids", icpsr[["icpsr", "congress", "chamber", "bioguide_id"]].astype({"icpsr": "int64"}))
    casts = " ".join(f"WHEN {code} THEN '{position}'" for code, position in voteview.CAST_POSITIONS.items())
    # positions compared as the engine's ENUM (the clerk's rows are not cast to text)
    compare = f"""WITH vv AS (
                SELECT v.congress, lower(v.chamber) AS chamber, v.rollnumber, i.bioguide_id,
                       CAST(CASE CAST(v.cast_code AS INTEGER) {casts} END AS position_t) AS position
                FROM vv_votes v
                LEFT JOIN icpsr_ids i ON i.icpsr = v.icpsr AND i.congress = v.congress
                    AND i.chamber = lower(v.chamber)
                WHERE lower(v.chamber) = $chamber AND v.congress = $congress),
            matched AS (
                SELECT r.rollcall_id, vv.bioguide_id, vv.position
                FROM vv JOIN rollcall_numbers r USING (chamber, congress, rollnumber)
                WHERE vv.position IS NOT NULL),
            clerk AS (
                SELECT rollcall_id, bioguide_id, position FROM mapped
                WHERE status = 0 AND chamber = $chamber AND congress = $congress)
            SELECT count(c.position), count(c.position) FILTER (c.position <> m.position), count(*) - count(c.position)
            FROM matched m LEFT JOIN clerk c ON c.rollcall_id = m.rollcall_id AND c.bioguide_id = m.bioguide_id"""
    counts = [
        con.execute(compare, {"chamber": chamber, "congress": congress}).fetchall()[0] for chamber, congress in pairs
    ]
    compared, disagreeing, without = (sum(column) for column in zip(*counts, strict=True))
    return {
        "voteview_member_votes_compared": compared,
        "voteview_member_votes_disagreeing": disagreeing,
        "voteview_member_votes_without_clerk_row": without,
    }


# --- the stage ---------------------------------------------------------------------------------------------


def votes_source(config: DataConfig) -> Callable[[int], str]:
    """Where the vote records of a congress come from, as named in errors and the report."""
    if config.use_snapshot:
        return lambda congress: str(config.snapshot_dir / "unitedstates-votes" / f"votes-{congress}.jsonl.gz")
    return lambda congress: str(config.download_dir / "unitedstates-votes" / str(congress))


def combine_bills(
    nato: pd.DataFrame, nato_cosponsors: pd.DataFrame, bulk: pd.DataFrame, bulk_cosponsors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The NATO-related BILLSTATUS bills (collection ``nato``: the registry's) and the bulk bills that reached a
    roll call (collection ``bulk``: sponsorship signals); a bill in both keeps its newer NATO record."""
    nato = nato.assign(collection="nato")
    if bulk.empty:
        return nato, nato_cosponsors
    bulk = bulk[~bulk["bill_id"].isin(nato["bill_id"])].assign(collection="bulk")
    bulk_cosponsors = bulk_cosponsors[bulk_cosponsors["bill_id"].isin(bulk["bill_id"])]
    return (
        pd.concat([nato, bulk], ignore_index=True),
        pd.concat([nato_cosponsors, bulk_cosponsors], ignore_index=True),
    )


def with_rollcall_bills(
    config: DataConfig, rollcalls: pd.DataFrame, bills: pd.DataFrame, cosponsorships: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Download mode: ``bills`` (the NATO ones) and the BILLSTATUS of every other bill that reached a roll call,
    from ``data.billstatus_first_congress`` on, as the bulk bills: the sponsorship signals the snapshot's archives
    give. With the report of what was wanted, found and left out (by GovInfo's 404 or for want of a sponsor).
    Snapshot mode: the bills as they are (the archives are already in them), and no report. Only roll calls up to
    ``data.as_of`` choose bills: a bill first voted on later is not fetched (the cut would drop its votes)."""
    if config.use_snapshot:
        return bills, cosponsorships, {}
    voted = rollcalls[rollcalls["date"] <= config.as_of]
    wanted = billstatus.rollcall_bills(voted, config.billstatus_first_congress, bills["bill_id"])
    fetched, fetched_cosponsors, left_out = billstatus.download_bills(config, wanted)
    nato = bills.drop(columns="collection")
    combined, combined_cosponsors = combine_bills(nato, cosponsorships, fetched, fetched_cosponsors)
    return (
        combined,
        combined_cosponsors,
        {"billstatus_downloads": {"wanted": len(wanted), "found": len(fetched), **left_out}},
    )


def read_beside(config: DataConfig) -> tuple[tuple, tuple, dict[str, int], tuple, tuple]:
    """The work of Python objects that does not need the engine: the NATO BILLSTATUS frames, the bulk archives'
    frames and the records read from each archive (with their own crosswalk), the YAML of terms and Presidents and
    Voteview's member and roll-call CSVs. Run in a second process while the engine reads the votes (some 100 MB of
    bill XML and JSON, 1 MB of YAML and 10 MB of CSV are Python's and pandas' work); frames, not records, come back
    (pickled frames load ten times faster than the records' dicts)."""
    voteview_read = read_voteview(config)
    archives = bulkbills.read_archives(config, legislators.read_crosswalk(config))
    bulk_counts = {path: len(bills) for path, bills, _ in archives}
    executive = (legislators.read_current_terms(config), legislators.read_presidents(config))
    return billstatus.read_bills(config), bulkbills.bulk_frames(archives), bulk_counts, executive, voteview_read


def build_tables(
    config: DataConfig, workers: int = engine.THREADS, votes_to: Path | None = None
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every canonical table of ``config``'s congresses and the data-quality report. Raises DataError (and so
    publishes nothing) when an input breaks the snapshot contract or the tables fall below ``data.bounds``.
    ``votes_to``: stream the votes table into this parquet file instead of returning it as a frame (the stage
    does: memory then holds one row group of it, not six million rows). ``workers``: DuckDB's threads (and,
    above 1, ``read_beside`` runs in one more process meanwhile: spawned, not forked, since a fork can inherit a
    lock another thread holds and hang; a script calling this needs the usual ``if __name__ == "__main__"``
    guard). Ctrl-C or SIGTERM stops both: the second process ignores Ctrl-C and is terminated by this one, and
    unwinds on SIGTERM (``worker_signals``)."""
    started = time.perf_counter()
    with sigint_ignored():
        beside = multiprocessing.get_context("spawn").Pool(1, worker_signals) if workers > 1 else None

    def beside_read() -> tuple[tuple, tuple, dict[str, int], tuple, tuple]:
        if beside is None:
            return read_beside(config)
        read = result.get()
        beside.terminate()  # its memory is returned before the votes are mapped
        return read

    try:
        result = beside.apply_async(read_beside, (config,)) if beside else None
        return _build_tables(config, workers, started, beside_read, votes_to)
    finally:
        if beside:
            beside.terminate()


def _build_tables(
    config: DataConfig, workers: int, started: float, beside_read: Callable[[], tuple], votes_to: Path | None
) -> tuple[dict[str, pd.DataFrame], dict]:
    deferred = ("unitedstates-votes", "voteview", "billstatus-bulk")
    contract = check_snapshot(config, deferred=deferred) if config.use_snapshot else None
    with (
        tempfile.TemporaryDirectory(prefix="natocast-ingest-") as scratch,
        engine.connect(workers, config.duckdb_memory) as con,
    ):
        sources, crosswalk, bills, cosponsorships, executive = _read_sources(
            config, con, Path(scratch), contract, beside_read
        )
        rollcalls, rollcall_report = build_rollcalls(usvotes.rollcall_frame(con), sources["vv_rollcalls"])
        if rollcalls.empty:
            raise DataError(f"no roll calls for congresses {config.first_congress}-{config.last_congress}")
        members, rollcalls, dropped, left_out = _link_members_and_votes(config, con, sources, rollcalls, crosswalk)
        bills, cosponsorships, downloads = with_rollcall_bills(config, rollcalls, bills, cosponsorships)
        rollcalls = rollcalls.join(sponsors.rollcall_sponsors(rollcalls, bills))
        tables = {
            "members": members,
            "rollcalls": rollcalls,
            "bills": bills,
            "cosponsorships": cosponsorships,
            "terms": executive[0],
            "presidents": executive[1],
        }
        before = {name: len(frame) for name, frame in tables.items()}
        tables, votes_after = _cut_and_check(con, config, tables)
        con.register("rollcall_numbers", tables["rollcalls"][["rollcall_id", "chamber", "congress", "rollnumber"]])
        quality = _quality_of(con, tables, dropped)
        if votes_to is None:
            tables["votes"] = votes_frame(con)
            votes = len(tables["votes"])
        else:
            votes = engine.stream_parquet(con.sql(KEPT_VOTES), votes_to, VOTES_TEMPLATE)
    rows = {name: len(frame) for name, frame in tables.items()} | {"votes": votes}
    report = {
        "as_of": str(config.as_of.date()),
        "congresses": [config.first_congress, config.last_congress],
        "rows": rows,
        "rows_dropped_by_as_of": {name: before[name] - rows[name] for name in before} | {"votes": votes_after},
        **rollcall_report,
        **left_out,
        **downloads,
        **quality,
        "inputs": contract.checked if contract else {},
        "optional_inputs_absent": contract.absent_optional if contract else [],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return tables, report


def _cut_and_check(
    con: duckdb.DuckDBPyConnection, config: DataConfig, tables: dict[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], int]:
    """The tables cut at the as-of date (the votes in the engine: how many left out), after checking them
    against ``data.bounds``."""
    cut = cut_as_of(tables, config.as_of)
    after = set(tables["rollcalls"]["rollcall_id"]).difference(cut["rollcalls"]["rollcall_id"])
    votes_after = leave_out_votes_after(con, sorted(after))
    kept = cut["rollcalls"][[f"{position}_count" for position in POSITIONS]].sum(axis=1)
    problems = check_bounds(cut, config, kept.set_axis(cut["rollcalls"]["rollcall_id"]))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DataError(f"table set below params.yaml data.bounds, not published: {'; '.join(problems[:3])}{more}")
    return cut, votes_after


def _read_sources(
    config: DataConfig,
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    contract: ContractReport | None,
    beside_read: Callable[[], tuple],
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame, tuple]:
    """Every source read (the vote records into the engine), and the contract's deferred record counts settled:
    (Voteview frames, crosswalk, bills, cosponsorships, (terms, presidents))."""
    paths, names = usvotes.record_files(config, scratch)
    crosswalk = legislators.read_crosswalk(config)
    usvotes.load(con, paths, names, senate_ids(crosswalk))
    voteview_votes = voteview.load_votes(con, config)
    nato, bulk, bulk_counts, executive, (sources, counts) = beside_read()
    counts |= voteview_votes | {str(paths[i]): n for i, n in usvotes.records_per_file(con).items()}
    bills, cosponsorships = combine_bills(*nato, *bulk)
    if contract:
        counts |= bulk_counts
        contract.settle({str(Path(p).relative_to(config.snapshot_dir)): n for p, n in counts.items()}, config)
    return sources, crosswalk, bills, cosponsorships, executive


def _link_members_and_votes(
    config: DataConfig,
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, pd.DataFrame],
    rollcalls: pd.DataFrame,
    crosswalk: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Members, roll calls with tallies and amendment authors, the rows left out per roll call and the report of
    why (the votes, under bioguide ids, stay in the engine)."""
    members = build_members(sources["vv_members"], crosswalk)
    valid = set(members["bioguide_id"]) | set(crosswalk["bioguide_id"])
    dropped, left_out = build_votes(con, valid, config.max_unknown_member_ids, votes_source(config))
    root = f"{config.snapshot_dir if config.use_snapshot else config.download_dir}/"
    left_out["unknown_member_ids_by_file"] = {  # relative: the committed report stays the same on every machine
        name.removeprefix(root): ids for name, ids in left_out["unknown_member_ids_by_file"].items()
    }
    members, left_out["members_added_from_vote_records"] = add_members_seen_only_in_votes(
        members, voters_seen(con), crosswalk
    )
    rollcalls = add_tallies(rollcalls, tallies(con))
    rollcalls["amendment_author_id"] = sponsors.match_authors(rollcalls, members, crosswalk)
    return members, rollcalls, dropped, left_out


def _quality_of(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame], dropped: pd.DataFrame) -> dict:
    """The checks of the published tables: coverage of sponsors, amendment text and ids, and both tallies."""
    return {
        "rollcalls_with_known_sponsor": sponsors.sponsor_coverage(tables["rollcalls"]),
        **amendment_text_coverage(tables["rollcalls"]),
        "members_without_nominate": int(tables["members"]["nominate_dim1"].isna().sum()),
        "members_without_icpsr": int(tables["members"]["icpsr"].isna().sum()),
        **check_tallies(tables["rollcalls"], dropped),
        **compare_voteview_positions(con, tables["members"]),
        "cosponsors_not_in_members": sorted(
            set(tables["cosponsorships"]["bioguide_id"]) - set(tables["members"]["bioguide_id"])
        ),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest", description="raw sources -> canonical tables")
    parser.add_argument("--params", type=Path, default=PARAMS_FILE, help="parameters file (default params.yaml)")
    parser.add_argument("--tables", type=Path, default=TABLES_DIR, help="table set directory (default data/tables)")
    parser.add_argument("--report", type=Path, default=METRICS_DIR / "data_quality.json", help="data-quality report")
    parser.add_argument("--workers", type=int, default=None, help="DuckDB threads (default params data.workers)")
    parser.add_argument("--debug", action="store_true", help="print tracebacks (also NATOCAST_DEBUG=1)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """Check, build, then publish: stale leftovers go first; the table set is swapped in whole, then the report."""
    clean_stale(args.tables)
    config = DataConfig.from_params(load_params(args.params))
    args.tables.parent.mkdir(parents=True, exist_ok=True)
    votes = args.tables.parent / f".votes.parquet.tmp-{os.getpid()}"  # streamed here, moved into the set
    try:
        tables, report = build_tables(config, args.workers or config.workers, votes)
        _publish(args, tables, report, votes)
    finally:
        votes.unlink(missing_ok=True)


def _publish(args: argparse.Namespace, tables: dict[str, pd.DataFrame], report: dict, votes: Path) -> None:
    """The table set (with the streamed ``votes`` file), then the report and the timing."""
    if report["optional_inputs_absent"]:
        absent = report["optional_inputs_absent"]
        shown = ", ".join(absent[:8]) + (" ..." if len(absent) > 8 else "")
        print(f"ingest: {len(absent)} optional input(s) absent: {shown}")
    inputs = report.pop("inputs")  # their sha256 go into the set's manifest, the counts into the metrics
    report["inputs_checked"] = len(inputs)
    report["input_records"] = sum(entry["records"] for entry in inputs.values())
    publish_table_set(tables, args.tables, {"as_of": report["as_of"], "inputs": inputs}, {"votes": votes})
    seconds = report.pop("seconds")
    write_json(report, args.report)
    log_timing("ingest", seconds, args.tables.parent / TIMINGS_LOG.name)  # beside the table set it wrote
    print(
        f"ingest: {report['rows']} in {seconds} s; "
        f"unknown member ids {sum(map(len, report['unknown_member_ids_by_file'].values()))}, "
        f"tally mismatches {report['unitedstates_tally_mismatches']} (unitedstates), "
        f"{report['voteview_tally_mismatches']} (voteview)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_stage("ingest", lambda: run(args), debug_requested(["--debug"] if args.debug else []))


if __name__ == "__main__":
    sys.exit(main())
