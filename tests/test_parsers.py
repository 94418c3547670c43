"""Every reader on the small real excerpt (tests/fixtures/snapshot): facts checked against the published record.

Unit tests: no pipeline run. The ingest's data-quality report is recomputed here from the excerpt rather than read
from the committed metrics/data_quality.json.
"""

from __future__ import annotations

import gzip

import orjson
import pandas as pd
import pytest
from conftest import FIXTURE_SNAPSHOT, fixture_params
from published import published_tallies

from pipeline import billstatus, bulkbills, legislators, usvotes, voteview
from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.ingest import build_tables

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def excerpt_config() -> DataConfig:
    return DataConfig.from_params(fixture_params())


@pytest.fixture(scope="module")
def built(excerpt_config) -> tuple[dict[str, pd.DataFrame], dict]:
    return build_tables(excerpt_config, workers=1)


def test_unitedstates_bundle_rows_and_positions():
    rollcalls, votes = usvotes.read_bundle(FIXTURE_SNAPSHOT / "unitedstates-votes" / "votes-118.jsonl.gz")
    assert len(rollcalls) == 10  # 5 House and 5 Senate roll calls of the 118th in the excerpt
    paul = rollcalls.set_index("rollcall_id").loc["s191-118.2023"]
    assert (paul["published_yea"], paul["published_nay"]) == (16, 83)
    assert set(votes["position"]) <= {"yea", "nay", "present", "not_voting", "candidate"}
    speaker = votes[votes["rollcall_id"] == "h2-118.2023"]
    assert (speaker["position"] == "candidate").sum() == 434  # the Speaker election has no Yea or Nay


def test_unitedstates_record_lacking_a_field_is_named():
    with gzip.open(FIXTURE_SNAPSHOT / "unitedstates-votes" / "votes-118.jsonl.gz", "rt") as f:
        record = orjson.loads(f.readline())
    del record["congress"]
    with pytest.raises(DataError, match=r"here:1: roll-call record lacks field\(s\) congress"):
        usvotes.parse_records([("here:1", record)])


def test_billstatus_of_the_nato_act():
    bill, cosponsors = billstatus.parse_billstatus(FIXTURE_SNAPSHOT / "billstatus" / "BILLSTATUS-119hr6508.xml")
    assert bill["bill_id"] == "119hr6508" and bill["title"] == "NATO Act"
    assert bill["sponsor_bioguide_id"] == "M001184"  # Thomas Massie
    assert bill["introduced"] == pd.Timestamp("2025-12-09")
    assert [c["bioguide_id"] for c in cosponsors] == ["L000596"]  # Anna Paulina Luna, the next day
    assert cosponsors[0]["date"] == pd.Timestamp("2025-12-10") and not cosponsors[0]["original"]


def test_billstatus_that_is_not_xml_names_the_file():
    with pytest.raises(DataError, match="BILLSTATUS-x.xml"):
        billstatus.parse_billstatus("BILLSTATUS-x.xml", b"<billStatus><bill>")


def test_voteview_codes():
    assert voteview.party_letter(pd.Series([100, 200, 328])).tolist() == ["D", "R", "I"]
    assert voteview.cast_position(pd.Series([1, 6, 7, 9])).tolist() == ["yea", "nay", "present", "not_voting"]
    senate = voteview.read(DataConfig.from_params(fixture_params()), "members", "senate", 119)
    paul = senate[senate["bioguide_id"] == "P000603"]
    assert paul["state_abbrev"].tolist() == ["KY"]


def test_crosswalk_and_presidents(excerpt_config, built):
    crosswalk = legislators.read_crosswalk(excerpt_config).set_index("bioguide_id")
    assert crosswalk.loc["L000596", ["state", "type"]].tolist() == ["FL", "rep"]
    assert pd.isna(crosswalk.loc["L000596", "icpsr_id"])  # the crosswalk lacks Luna's ICPSR id ...
    members = built[0]["members"]
    assert members.loc[members["bioguide_id"] == "L000596", "icpsr"].notna().all()  # ... Voteview supplies it
    presidents = legislators.read_presidents(excerpt_config)
    current = presidents[(presidents["office"] == "president") & (presidents["start"] == pd.Timestamp("2025-01-20"))]
    assert current[["name", "party"]].values.tolist() == [["Donald Trump", "R"]]


def test_tables_hold_the_published_tallies(built):
    """Recounted straight from the excerpt's JSON lines, independently of the readers."""
    published = published_tallies(FIXTURE_SNAPSHOT, (118, 119))
    rollcalls = built[0]["rollcalls"].set_index("rollcall_id")
    assert len(published) == len(rollcalls) == 19
    assert dict(
        zip(rollcalls.index, zip(rollcalls["yea_count"], rollcalls["nay_count"], strict=True), strict=True)
    ) == (published)
    assert rollcalls.loc["h33-118.2023", "bill_id"] == "118hr300"
    assert built[1]["vice_president_tiebreak_votes"] == 4


def test_amendment_authors_become_sponsors(built):
    rollcalls = built[0]["rollcalls"].set_index("rollcall_id")
    assert rollcalls.loc["s191-118.2023", "sponsor_bioguide_id"] == "P000603"  # Rand Paul's amendment to S. 2226
    assert rollcalls.loc["s191-118.2023", "bill_id"] == "118s2226"
    votes = built[0]["votes"]
    assert votes.query("rollcall_id == 's191-118.2023' and bioguide_id == 'P000603'")["position"].item() == "yea"


def test_quality_report_of_the_excerpt(built):
    """Recomputed from the excerpt: every vote mapped, none twice, tallies as published, sponsors counted."""
    report = built[1]
    for key in ("unmapped_member_votes", "unitedstates_tally_mismatches", "duplicate_member_votes"):
        assert report[key] == 0, key
    known = report["rollcalls_with_known_sponsor"]
    assert known["118.senate"] == {
        "rollcalls": 5, "with_bill_sponsor": 0, "with_amendment_author": 1, "with_known_sponsor": 1,
    }  # fmt: skip
    assert sum(entry["rollcalls"] for entry in known.values()) == 19
    # Voteview counts the Speaker election as 212-222 (Jeffries vs the rest); the clerk records candidates
    assert [m["rollcall_id"] for m in report["voteview_tally_mismatch_examples"]] == ["h2-118.2023"]


def test_bills_and_cosponsorships(built):
    bills = built[0]["bills"].set_index("bill_id")
    assert sorted(bills.index) == ["119hr6508", "119s2174"]
    assert bills.loc["119s2174", "sponsor_bioguide_id"] == "L000577"  # Mike Lee's Senate companion
    assert bills.loc["119hr6508", "related_bills"] == "119s2174"
    cosponsorships = built[0]["cosponsorships"]
    assert cosponsorships[["bill_id", "bioguide_id", "party", "state"]].values.tolist() == [
        ["119hr6508", "L000596", "R", "FL"]
    ]


def test_current_terms_of_the_excerpt(excerpt_config):
    terms = legislators.read_current_terms(excerpt_config)
    assert set(terms["state"]) == {"CO", "FL", "IA", "KY", "MS", "UT"}  # the states the excerpt keeps
    paul = terms[terms["bioguide_id"] == "P000603"]
    assert set(paul["chamber"]) == {"senate"} and paul["start"].min() == pd.Timestamp("2011-01-05")
    assert (terms["end"] > terms["start"]).all()


def test_current_terms_with_a_member_lacking_terms(small_config):
    path = small_config.snapshot_dir / "congress-legislators" / "legislators-current.yaml"
    path.write_text("- id: {bioguide: X000001}\n  name: {first: No, last: Terms}\n")
    with pytest.raises(DataError, match=r"legislators-current\.yaml: legislator X000001: missing or malformed"):
        legislators.read_current_terms(small_config)


def test_scraper_bill_json():
    """The bulk archive's data.json layout: THOMAS ids become bioguide ids; a committee bill has no sponsor."""
    record = {
        "congress": "110", "bill_type": "hr", "number": "1",
        "short_title": "A title", "introduced_at": "2007-01-05",
        "sponsor": {"thomas_id": "940", "name": "Rahall"},
        "cosponsors": [{"thomas_id": "00001", "sponsored_at": "2007-01-05", "withdrawn_at": "2007-02-01"}],
    }  # fmt: skip
    ids = {"00940": "R000011", "00001": "A000001"}
    bill, cosponsors = bulkbills.parse_scraper_json(orjson.dumps(record), "here", ids)
    assert (bill["bill_id"], bill["sponsor_bioguide_id"], bill["introduced"]) == (
        "110hr1", "R000011", pd.Timestamp("2007-01-05"),
    )  # fmt: skip
    assert cosponsors[0]["bioguide_id"] == "A000001" and cosponsors[0]["original"]
    assert cosponsors[0]["withdrawn"] == pd.Timestamp("2007-02-01")
    committee, _ = bulkbills.parse_scraper_json(orjson.dumps({**record, "sponsor": None}), "here", ids)
    assert committee["sponsor_bioguide_id"] is None
    with pytest.raises(DataError, match=r"here: THOMAS id 00002 \(X\) is not in congress-legislators"):
        bulkbills.parse_scraper_json(orjson.dumps({**record, "sponsor": {"thomas_id": 2, "name": "X"}}), "here", ids)
    with pytest.raises(DataError, match="here: not a bill data.json"):
        bulkbills.parse_scraper_json(b"{}", "here", ids)
