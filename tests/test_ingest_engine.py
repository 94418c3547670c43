"""The DuckDB ingest against an independent plain-Python reference reader, row for row, on real data: the small
excerpt (congresses 118-119) and the whole 117th Congress of the snapshot (601,945 member votes, the one
unknown member id of the snapshot, House and Senate Voteview votes).

The reference below reads the same files with the standard library only (gzip, json, csv, xml, yaml) and applies
the ingest's rules as written in the README: House records carry bioguide ids, Senate records LIS ids mapped
through congress-legislators; the Vice President's tie-breaks, Speaker-election candidate votes and ids in
neither the crosswalk nor Voteview are left out; every other voter is a member vote.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import fixture_params

from pipeline import engine, ingest
from pipeline.config import DataConfig
from pipeline.ingest import build_tables
from pipeline.tables import cut_as_of

OPTIONS = {"Yea": "yea", "Aye": "yea", "Guilty": "yea", "Nay": "nay", "No": "nay", "Not Guilty": "nay"}
OPTIONS |= {"Present": "present", "Not Voting": "not_voting"}


def _csv_rows(path: Path) -> list[dict]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


class Reference:
    """The tables' facts computed from the snapshot files of ``config`` with the standard library only."""

    def __init__(self, config: DataConfig):
        root = config.snapshot_dir
        self.lis = {}
        crosswalk = set()
        for name in ("legislators-current.csv", "legislators-historical.csv.gz"):
            for row in _csv_rows(root / "congress-legislators" / name):
                if row["bioguide_id"]:
                    crosswalk.add(row["bioguide_id"])
                    if row["lis_id"]:
                        self.lis.setdefault(row["lis_id"], row["bioguide_id"])
        self.voteview_members = set()
        for congress in config.congresses:
            for letter in "HS":
                for row in _csv_rows(root / "voteview" / f"{letter}{congress}_members.csv"):
                    if row["bioguide_id"] and row["chamber"] in ("House", "Senate"):
                        self.voteview_members.add((row["bioguide_id"], int(row["congress"]), row["chamber"].lower()))
        valid = crosswalk | {bioguide for bioguide, _, _ in self.voteview_members}
        self.rollcalls: dict[str, dict] = {}
        self.votes: list[tuple[str, str, str, str | None]] = []  # in file, record, option and voter order
        self.left_out = Counter()
        self.unknown: dict[int, set[str]] = {}
        for congress in config.congresses:
            with gzip.open(root / "unitedstates-votes" / f"votes-{congress}.jsonl.gz", "rt") as lines:
                for line in lines:
                    if line.strip():
                        self._record(json.loads(line), valid)

    def _record(self, record: dict, valid: set[str]) -> None:
        chamber = "house" if record["chamber"] == "h" else "senate"
        published, kept = Counter(), Counter()
        for option, voters in record["votes"].items():
            position = OPTIONS.get(option, "candidate")
            published[position] += len(voters)
            for voter in voters:
                member = voter["id"] if isinstance(voter, dict) else voter
                bioguide = self.lis.get(member) if chamber == "senate" else member
                if member == "VP":
                    self.left_out["vp"] += 1
                elif bioguide is None or bioguide not in valid:
                    self.unknown.setdefault(int(record["congress"]), set()).add(member)
                elif position == "candidate":
                    self.left_out["candidate"] += 1
                else:
                    kept[position] += 1
                    self.votes.append((record["vote_id"], bioguide, position, voter.get("party")))
        self.rollcalls[record["vote_id"]] = {
            "chamber": chamber,
            "congress": int(record["congress"]),
            "session": int(record["session"]),
            "number": int(record["number"]),
            "date": record["date"][:10],
            "published": tuple(published[p] for p in ("yea", "nay", "present", "not_voting", "candidate")),
            "kept": tuple(kept[p] for p in ("yea", "nay", "present", "not_voting")),
        }


def _compare(config: DataConfig) -> None:
    """Every table of the ingest of ``config`` against the reference, row for row."""
    tables, report = build_tables(config)
    ref = Reference(config)

    votes = tables["votes"]
    assert list(votes.columns) == ["rollcall_id", "bioguide_id", "position", "vote_party"]
    ours = list(
        zip(votes["rollcall_id"], votes["bioguide_id"], votes["position"].astype(str), votes["vote_party"], strict=True)
    )
    theirs = [(r, b, p, party if party is not None else float("nan")) for r, b, p, party in ref.votes]
    assert len(ours) == len(theirs)
    assert [v[:3] for v in ours] == [v[:3] for v in theirs]  # the same rows in the sources' order
    assert [str(v[3]) for v in ours] == [str(v[3]) for v in theirs]

    rollcalls = tables["rollcalls"].set_index("rollcall_id")
    assert set(rollcalls.index) == set(ref.rollcalls)
    for rollcall_id, expected in ref.rollcalls.items():
        row = rollcalls.loc[rollcall_id]
        assert (row["chamber"], row["congress"], row["session"], row["number"]) == (
            expected["chamber"],
            expected["congress"],
            expected["session"],
            expected["number"],
        ), rollcall_id
        assert str(row["date"].date()) == expected["date"], rollcall_id
        published = tuple(row[f"published_{p}"] for p in ("yea", "nay", "present", "not_voting", "candidate"))
        assert published == expected["published"], rollcall_id
        kept = tuple(row[f"{p}_count"] for p in ("yea", "nay", "present", "not_voting"))
        assert kept == expected["kept"], rollcall_id

    members = tables["members"]
    keys = set(zip(members["bioguide_id"], members["congress"], members["chamber"], strict=True))
    assert len(keys) == len(members)  # one row per person, congress and chamber
    voters = {(b, ref.rollcalls[r]["congress"], ref.rollcalls[r]["chamber"]) for r, b, _, _ in ref.votes}
    assert keys == ref.voteview_members | voters
    assert report["members_added_from_vote_records"] == len(voters - ref.voteview_members)

    assert report["vice_president_tiebreak_votes"] == ref.left_out["vp"]
    assert report["speaker_election_candidate_votes"] == ref.left_out["candidate"]
    root = f"{config.snapshot_dir}/"
    assert report["unknown_member_ids_by_file"] == {
        f"unitedstates-votes/votes-{congress}.jsonl.gz".removeprefix(root): sorted(ids)
        for congress, ids in ref.unknown.items()
    }

    _compare_bills_and_terms(config, tables)


def _compare_bills_and_terms(config: DataConfig, tables: dict[str, pd.DataFrame]) -> None:
    """The BILLSTATUS bills of data.bills (sponsor, cosponsors), the current members' terms and the executive."""
    root = config.snapshot_dir
    bills = tables["bills"][tables["bills"]["collection"] == "nato"].set_index("bill_id")
    cosponsors = tables["cosponsorships"]
    for bill in config.bills:
        xml = ET.parse(root / "billstatus" / f"BILLSTATUS-{bill}.xml").getroot().find("bill")
        assert bills.loc[bill, "sponsor_bioguide_id"] == xml.find("sponsors/item/bioguideId").text.strip()
        expected = sorted(item.find("bioguideId").text.strip() for item in xml.findall("cosponsors/item"))
        assert sorted(cosponsors.loc[cosponsors["bill_id"] == bill, "bioguide_id"]) == expected, bill
    people = yaml.safe_load((root / "congress-legislators" / "legislators-current.yaml").read_text())
    as_of = str(config.as_of.date())  # terms begun later are not known yet
    terms = [(p["id"]["bioguide"], t["start"]) for p in people for t in p["terms"] if str(t["start"]) <= as_of]
    ours = tables["terms"]
    assert sorted(zip(ours["bioguide_id"], ours["start"].dt.strftime("%Y-%m-%d"), strict=True)) == sorted(
        (b, str(s)) for b, s in terms
    )
    executive = yaml.safe_load((root / "congress-legislators" / "executive.yaml").read_text())
    starts = sorted(str(t["start"]) for p in executive for t in p["terms"] if str(t["start"]) <= as_of)
    assert sorted(tables["presidents"]["start"].dt.strftime("%Y-%m-%d")) == starts


@pytest.mark.unit
def test_the_excerpt_against_the_reference():
    _compare(DataConfig.from_params(fixture_params()))


def test_the_117th_congress_against_the_reference(config):
    """A whole congress of the real snapshot, with its one unknown id (L000555, Luke Letlow) left out."""
    bills = tuple(b for b in config.bills if b.startswith("117"))
    _compare(replace(config, first_congress=117, last_congress=117, bills=bills))


@pytest.mark.unit
def test_a_repeated_member_vote_keeps_the_first(small_snapshot, small_config):
    """A voter listed twice in one roll call (under Yea and at the end of Nay) is one member vote, the first in the
    record's order; the repeat is counted in the report and the record's published tally still balances."""
    path = small_snapshot / "unitedstates-votes" / "votes-119.jsonl.gz"
    records = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]
    record = next(r for r in records if r["chamber"] == "h" and r["votes"].get("Yea") and "Nay" in r["votes"])
    voter = record["votes"]["Yea"][0]
    record["votes"]["Nay"].append(voter)
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records)))

    tables, report = build_tables(small_config)
    assert report["duplicate_member_votes"] == 1
    assert report["unitedstates_tally_mismatches"] == 0
    votes = tables["votes"]
    theirs = votes[(votes["rollcall_id"] == record["vote_id"]) & (votes["bioguide_id"] == voter["id"])]
    options = list(record["votes"])
    first = "yea" if options.index("Yea") < options.index("Nay") else "nay"
    assert theirs["position"].astype(str).tolist() == [first]
    row = tables["rollcalls"].set_index("rollcall_id").loc[record["vote_id"]]
    repeat = {"yea": 0, "nay": 0, "nay" if first == "yea" else "yea": 1}
    expected = (len(record["votes"]["Yea"]) - repeat["yea"], len(record["votes"]["Nay"]) - repeat["nay"])
    assert (row["yea_count"], row["nay_count"]) == expected


@pytest.mark.unit
def test_the_streamed_votes_table_is_the_frame_cut_at_the_date(tmp_path):
    """The stage streams the votes table from the engine into parquet, cut at the as-of date in the engine. Read
    back it is the frame the in-memory build returns (rows, order, dtypes), and that frame is the full build's
    votes cut by ``cut_as_of`` (the pandas cut every forecast uses); the report counts the votes left out."""
    full = DataConfig.from_params(fixture_params())
    as_of = pd.Timestamp("2024-06-30")  # inside the 118th Congress: the rest of 2024 and all of the 119th go
    config = replace(full, as_of=as_of)
    streamed = tmp_path / "votes.parquet"
    tables, report = build_tables(config, votes_to=streamed)
    assert "votes" not in tables
    in_memory, in_memory_report = build_tables(config)
    everything, _ = build_tables(full)

    read_back = pd.read_parquet(streamed)
    pd.testing.assert_frame_equal(read_back, in_memory["votes"])
    expected = cut_as_of(everything, as_of)["votes"].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_back, expected)
    assert list(read_back["position"].cat.categories) == ["yea", "nay", "present", "not_voting"]
    assert report["rows"]["votes"] == len(read_back) == in_memory_report["rows"]["votes"]
    assert report["rows_dropped_by_as_of"]["votes"] == len(everything["votes"]) - len(read_back) > 0
    assert {**report, "seconds": 0} == {**in_memory_report, "seconds": 0}
    kept = tables["rollcalls"][["yea_count", "nay_count", "present_count", "not_voting_count"]].sum().sum()
    assert kept == len(read_back)  # every published tally is the streamed table's


@pytest.mark.unit
def test_streaming_to_parquet_keeps_rows_groups_and_categories(tmp_path, monkeypatch):
    """``engine.stream_parquet`` writes the file ``to_parquet`` of the same frame would (schema, pandas' metadata,
    values, category order), in row groups of
    ``ROW_GROUP`` rows across the engine's batches (shrunk here so that 5,000 rows make several)."""
    monkeypatch.setattr(engine, "ROW_GROUP", 1000)
    con = engine.connect(1)
    engine.create_enum(con, "side_t", ["yea", "nay", "candidate"])
    relation = con.sql(
        "SELECT 'r' || (i // 7)::VARCHAR AS rollcall_id, CASE WHEN i % 3 = 0 THEN 'nay' ELSE 'yea' END::side_t AS side,"
        " CASE WHEN i % 11 = 0 THEN NULL ELSE 'R' END AS party FROM range(5000) t(i)"
    )
    template = pd.DataFrame(
        {
            "rollcall_id": pd.Series(dtype="str"),
            "side": pd.Categorical([], categories=pd.Index(["yea", "nay"], dtype="str")),
            "party": pd.Series(dtype="str"),
        }
    )
    path = tmp_path / "streamed.parquet"
    assert engine.stream_parquet(relation, path, template) == 5000
    expected = engine.frame(relation).astype({"side": template["side"].dtype})
    expected.to_parquet(tmp_path / "pandas.parquet", index=False)  # what it stands in for
    read_back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(read_back, pd.read_parquet(tmp_path / "pandas.parquet"))
    assert list(read_back["side"].cat.categories) == ["yea", "nay"]  # in the template's order (== ignores it)
    assert pq.read_schema(path).equals(pq.read_schema(tmp_path / "pandas.parquet"), check_metadata=True)
    groups = pq.ParquetFile(path).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [1000] * 5

    outside = con.sql("SELECT 'r1' AS rollcall_id, 'candidate'::side_t AS side, 'R' AS party")
    with pytest.raises(ValueError, match=r"column side: a value outside its categories \['yea', 'nay'\]"):
        engine.stream_parquet(outside, tmp_path / "bad.parquet", template)
    con.close()


@pytest.mark.unit
def test_a_stage_that_fails_after_streaming_the_votes_leaves_nothing_behind(tmp_path, monkeypatch):
    """The votes are streamed to a temporary file beside the table set; when publishing fails, that file is
    removed and no table set appears."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(fixture_params()))

    def broken_publish(*args, **kwargs):
        assert any(tmp_path.glob(".votes.parquet.tmp-*"))  # streamed, not yet moved
        raise OSError("disk full (injected)")

    monkeypatch.setattr(ingest, "publish_table_set", broken_publish)
    argv = ["--params", str(params), "--tables", str(tmp_path / "tables"), "--report", str(tmp_path / "dq.json")]
    assert ingest.main([*argv, "--workers", "1"]) != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
