"""Known facts of the real snapshot, as the canonical tables must show them."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from published import published_tallies

from pipeline.config import POSITIONS
from pipeline.ingest import build_tables
from pipeline.tables import cut_as_of

pytestmark = pytest.mark.pipeline  # the tables of `dvc repro` on the real snapshot (built in memory when absent)


def _vote(tables, rollcall_id: str, bioguide_id: str) -> str:
    votes = tables["votes"]
    row = votes[(votes["rollcall_id"] == rollcall_id) & (votes["bioguide_id"] == bioguide_id)]
    assert len(row) == 1, f"{bioguide_id} on {rollcall_id}: {len(row)} rows"
    return str(row["position"].iloc[0])


def test_nato_support_act_passed_357_22_with_massie_against(tables):
    rollcalls = tables["rollcalls"]
    passage = rollcalls[(rollcalls["bill_id"] == "116hr676") & (rollcalls["date"] == "2019-01-22")]
    assert len(passage) == 1
    row = passage.iloc[0]
    assert row["rollcall_id"] == "h44-116.2019"
    assert (row["yea_count"], row["nay_count"]) == (357, 22)
    assert row["chamber"] == "house" and row["session"] == 2019 and row["number"] == 44
    assert _vote(tables, "h44-116.2019", "M001184") == "nay"


def test_montenegro_accession_97_2_with_lee_and_paul_against(tables):
    rollcalls = tables["rollcalls"]
    senate = rollcalls[(rollcalls["chamber"] == "senate") & (rollcalls["date"] == "2017-03-28")]
    accession = senate[senate["description"].str.contains("Montenegro")]
    assert len(accession) == 1
    row = accession.iloc[0]
    assert (row["yea_count"], row["nay_count"]) == (97, 2)
    nays = tables["votes"].query("rollcall_id == @row.rollcall_id and position == 'nay'")
    assert set(nays["bioguide_id"]) == {"L000577", "P000603"}  # Mike Lee, Rand Paul


def test_luna_maps_to_voteview_icpsr(tables):
    luna = tables["members"].query("bioguide_id == 'L000596'")
    assert set(luna["congress"]) == {118, 119}
    assert set(luna["icpsr"]) == {22343}
    assert set(luna["party"]) == {"R"} and set(luna["state"]) == {"FL"}


def test_senators_keep_their_lis_ids(tables):
    lee = tables["members"].query("bioguide_id == 'L000577' and congress == 119")
    assert lee["lis_id"].tolist() == ["S346"] and lee["chamber"].tolist() == ["senate"]


def test_nato_act_sponsored_by_massie_with_luna(tables):
    bills = tables["bills"].set_index("bill_id")
    assert bills.loc["119hr6508", "sponsor_bioguide_id"] == "M001184"
    assert bills.loc["119hr6508", "introduced"] == pd.Timestamp("2025-12-09")
    assert bills.loc["119s2174", "sponsor_bioguide_id"] == "L000577"
    cosponsors = tables["cosponsorships"].query("bill_id == '119hr6508'")
    assert cosponsors["bioguide_id"].tolist() == ["L000596"]
    assert cosponsors["date"].tolist() == [pd.Timestamp("2025-12-10")]
    assert not cosponsors["original"].iloc[0]


def test_both_billstatus_schemas_parse(tables):
    bills = tables["bills"].set_index("bill_id")
    assert bills.loc["116hr676", "schema"] == "1.0.0" and bills.loc["119hr6508", "schema"] == "3.0.0"
    assert len(tables["cosponsorships"].query("bill_id == '116hr676'")) == 19
    assert "Alliances" in bills.loc["116hr676", "subjects"]
    assert (bills["collection"] == "nato").sum() == 22  # data.bills; the rest come from billstatus-bulk


def test_every_vote_has_a_bioguide_id_and_a_known_position(tables):
    votes = tables["votes"]
    assert votes["bioguide_id"].notna().all()
    assert set(votes["position"].astype(str).unique()) <= set(POSITIONS)
    assert not votes.duplicated(["rollcall_id", "bioguide_id"]).any()
    assert len(votes) > 6_000_000


def test_each_roll_call_appears_once(tables):
    rollcalls = tables["rollcalls"]
    assert rollcalls["rollcall_id"].is_unique
    assert not rollcalls.duplicated(["chamber", "congress", "session", "number"]).any()
    assert not rollcalls.dropna(subset=["rollnumber"]).duplicated(["chamber", "congress", "rollnumber"]).any()
    assert len(rollcalls) == 19047  # the snapshot's SOURCE.md: 2533 + 2351 + ... + 1021 records


def test_roll_numbers_restart_each_session_but_voteview_runs_on(tables):
    house_116 = tables["rollcalls"].query("chamber == 'house' and congress == 116")
    session_2020 = house_116.query("session == 2020").sort_values("number")
    assert session_2020["number"].iloc[0] == 1
    first_in_voteview = session_2020.dropna(subset=["rollnumber"]).iloc[0]  # Voteview skips some quorum calls
    assert first_in_voteview["number"] <= 5
    assert first_in_voteview["rollnumber"] > 700  # Voteview keeps counting through the congress


def test_tallies_equal_the_published_counts_for_every_roll_call(tables, config):
    """Recount straight from the source files, independently of the ingest code."""
    published = published_tallies(config.snapshot_dir, config.congresses)
    rollcalls = tables["rollcalls"].set_index("rollcall_id")
    ours = dict(zip(rollcalls.index, zip(rollcalls["yea_count"], rollcalls["nay_count"], strict=True), strict=True))
    assert ours == published
    recount = tables["votes"].groupby(["rollcall_id", "position"], observed=True).size().unstack(fill_value=0)
    assert (recount["yea"].reindex(rollcalls.index, fill_value=0) == rollcalls["yea_count"]).all()


def test_descriptions_join_voteview_text(tables):
    rollcalls = tables["rollcalls"]
    house = rollcalls[rollcalls["chamber"] == "house"]
    with_text = house.dropna(subset=["vote_desc"])
    assert len(with_text) > 0.5 * len(house)
    assert all(v in d for v, d in zip(with_text["vote_desc"], with_text["description"], strict=True))
    # the Crimea Annexation Non-recognition Act: its title comes from both sources, kept once
    crimea = rollcalls[rollcalls["rollcall_id"] == "h122-116.2019"].iloc[0]
    assert crimea["description"].count("Crimea Annexation Non-recognition Act") == 2  # question + subject/desc


def test_house_amendments_without_any_text_are_counted(tables):
    """The House clerk names only the author of many amendments; Voteview often leaves their text empty too."""
    rollcalls = tables["rollcalls"]
    house = rollcalls[(rollcalls["chamber"] == "house") & rollcalls["amendment_type"].notna()]
    no_text = house[["amendment_purpose", "vote_desc", "dtl_desc"]].isna().all(axis=1)
    assert len(house) > 1000
    assert 0 < no_text.sum() < len(house)


def test_party_switchers_are_one_row_per_congress(tables):
    members = tables["members"]
    assert not members.duplicated(["bioguide_id", "congress", "chamber"]).any()
    specter = members.query("bioguide_id == 'S000709' and congress == 111")  # R -> D in April 2009
    assert len(specter) == 1 and bool(specter["party_switch"].iloc[0])


def test_as_of_cut_drops_everything_later(tables):
    cut = cut_as_of(tables, pd.Timestamp("2019-01-21"))
    assert cut["rollcalls"]["date"].max() <= pd.Timestamp("2019-01-21")
    assert "h44-116.2019" not in set(cut["votes"]["rollcall_id"])
    assert cut["bills"]["introduced"].max() <= pd.Timestamp("2019-01-21")
    assert "119hr6508" not in set(cut["bills"]["bill_id"])
    assert (cut["cosponsorships"]["date"] <= pd.Timestamp("2019-01-21")).all()
    assert cut["members"]["congress"].max() == 116


def test_as_of_before_a_cosponsorship_hides_it_and_later_withdrawals():
    cosponsorships = pd.DataFrame(
        {
            "bill_id": ["1hr1", "1hr1"],
            "bioguide_id": ["A", "B"],
            "date": pd.to_datetime(["2020-01-01", "2020-03-01"]),
            "original": [True, False],
            "withdrawn": pd.to_datetime(["2020-02-15", None]),
        }
    )
    empty = pd.DataFrame({"rollcall_id": [], "date": pd.to_datetime([]), "congress": []})
    tables = {
        "rollcalls": empty,
        "votes": pd.DataFrame({"rollcall_id": []}),
        "members": pd.DataFrame({"congress": [116]}),
        "bills": pd.DataFrame({"bill_id": ["1hr1"], "introduced": pd.to_datetime(["2019-12-01"])}),
        "cosponsorships": cosponsorships,
    }
    cut = cut_as_of(tables, pd.Timestamp("2020-02-01"))["cosponsorships"]
    assert cut["bioguide_id"].tolist() == ["A"] and cut["withdrawn"].isna().all()


def test_as_of_in_the_stage_cuts_one_congress(config):
    small = replace(config, first_congress=116, last_congress=116, as_of=pd.Timestamp("2019-06-30"))
    tables, report = build_tables(small, workers=1)
    assert tables["rollcalls"]["date"].max() <= pd.Timestamp("2019-06-30")
    assert report["rows_dropped_by_as_of"]["rollcalls"] > 0
    assert report["unitedstates_tally_mismatches"] == 0
    assert set(tables["rollcalls"]["congress"]) == {116}


def test_no_member_votes_twice_on_a_roll_call(tables):
    """Recomputed from the tables in place (the excerpt's quality report is checked in test_parsers)."""
    assert not tables["votes"].duplicated(["rollcall_id", "bioguide_id"]).any()


def test_reading_the_votes_of_some_roll_calls_gives_their_rows_of_the_whole_table(tables):
    """``read_table(..., rollcalls=)`` filters while reading: the same rows, order and types as cutting the whole
    table (the NATO Support Act's passage and Montenegro's accession); none asked, none read; a missing id is
    no row."""
    from pipeline.config import TABLES_DIR
    from pipeline.tables import read_table

    if not (TABLES_DIR / "votes.parquet").exists():
        pytest.skip("reads the published votes file (`dvc repro` writes it)")
    wanted = ["h44-116.2019", "s65-115.2017", "not a roll call"]
    read = read_table("votes", rollcalls=wanted)
    whole = tables["votes"]
    pd.testing.assert_frame_equal(read, whole[whole["rollcall_id"].isin(wanted)].reset_index(drop=True))
    counts = tables["rollcalls"].set_index("rollcall_id").loc[wanted[:2], [f"{p}_count" for p in POSITIONS]]
    assert read["rollcall_id"].value_counts().to_dict() == counts.sum(axis=1).to_dict()  # 357 + 22 + ..., 97 + 2 + 1
    assert read_table("votes", rollcalls=[]).empty and list(read_table("votes", rollcalls=[])) == list(whole)


def test_votes_read_with_categorical_ids_are_the_same_rows(tables):
    """``read_table(..., categories=VOTE_IDS)`` (how the feature stages read six million votes) holds the same
    values: ``as_strings`` gives back the frame read whole, and leaves a frame of strings as it is."""
    from pipeline.config import TABLES_DIR
    from pipeline.tables import VOTE_IDS, as_strings, read_table

    if not (TABLES_DIR / "votes.parquet").exists():
        pytest.skip("reads the published votes file (`dvc repro` writes it)")
    coded = read_table("votes", categories=VOTE_IDS)
    assert all(isinstance(coded[column].dtype, pd.CategoricalDtype) for column in VOTE_IDS)
    assert coded.memory_usage(deep=True).sum() < tables["votes"].memory_usage(deep=True).sum() / 4
    pd.testing.assert_frame_equal(as_strings(coded), tables["votes"])
    assert as_strings(tables["votes"]) is tables["votes"]
