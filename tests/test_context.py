"""Issue 9's data and features: bulk bills, Presidents, amendment authors, each roll call's sponsor, the
measure context (sponsor, cosponsor on the vote date, procedure) and the general model's agreement table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.context import (
    active_cosponsors,
    caucus_of,
    majority_on,
    president_party_on,
    previous_congress_agreement,
    procedure,
    seat_holders,
)
from pipeline.errors import DataError
from pipeline.ids import congress_first_year
from pipeline.tables import read_table

pytestmark = pytest.mark.pipeline


def test_bulk_bills_join_the_nato_bills(tables):
    bills = tables["bills"].set_index("bill_id")
    assert (bills["collection"] == "nato").sum() == 22
    assert bills.loc["119hr6508", "collection"] == "nato" and bills.loc["119hr6508", "sponsor_bioguide_id"] == "M001184"
    # a scraper data.json record (THOMAS id 00940 -> Rahall) and a BILLSTATUS XML record of the bulk
    assert bills.loc["110hr6", "sponsor_bioguide_id"] == "R000011"
    assert bills.loc["110hr6", "title"] == "Energy Independence and Security Act of 2007"
    assert bills.loc["117hr3684", "sponsor_bioguide_id"] == "D000191"  # DeFazio, infrastructure act
    assert set(bills.loc[bills["collection"] == "bulk", "congress"]) == {110, 111, 112, 113, 115, 117}
    assert not bills.index.duplicated().any()


def test_cosponsorships_keep_dates_and_withdrawals(tables):
    cosponsors = tables["cosponsorships"]
    assert (cosponsors["bill_id"] == "110hr6").sum() == 200
    withdrawn = cosponsors.set_index(["bill_id", "bioguide_id"]).loc[("110hr1108", "P000373")]
    assert withdrawn["date"] == pd.Timestamp("2007-03-01") and withdrawn["withdrawn"] == pd.Timestamp("2008-04-02")
    assert cosponsors["date"].notna().all()


def test_presidents_and_their_parties(tables):
    presidents = tables["presidents"]
    on = pd.Series(pd.to_datetime(["2008-06-01", "2009-06-01", "2021-06-01", "2025-06-01", "1789-01-01"]))
    assert list(president_party_on(on, presidents)) == ["R", "D", "D", "R", None]


def test_amendment_authors_and_sponsors_of_roll_calls(tables):
    rollcalls = tables["rollcalls"].set_index("rollcall_id")
    assert rollcalls.loc["h81-110.2007", "amendment_author_id"] == "E000215"  # "Eshoo (CA) Amendment to Burgess"
    assert rollcalls.loc["s65-118.2023", "amendment_author_id"] == "P000603"  # Paul Amdt No. 2: repeal the 2001 AUMF
    assert rollcalls.loc["s65-118.2023", "sponsor_source"] == "amendment_author"
    assert rollcalls.loc["h44-110.2007", "sponsor_bioguide_id"] == "M000312"  # H.Res. 52, by McGovern
    assert rollcalls.loc["h44-110.2007", "sponsor_source"] == "bill"
    house_amendments = rollcalls[(rollcalls["chamber"] == "house") & rollcalls["amendment_type"].notna()]
    assert house_amendments["amendment_author_id"].notna().mean() > 0.95


def test_known_sponsors_are_counted_per_congress(tables):
    from pipeline.sponsors import sponsor_coverage

    quality = sponsor_coverage(tables["rollcalls"])
    assert sum(entry["rollcalls"] for entry in quality.values()) == len(tables["rollcalls"])
    assert sum(entry["with_known_sponsor"] for entry in quality.values()) > 10000
    assert quality["112.house"]["with_known_sponsor"] > 0.9 * quality["112.house"]["rollcalls"]
    # no BILLSTATUS for the 116th: only amendment authors are known there
    assert quality["116.senate"]["with_bill_sponsor"] == 0 < quality["116.senate"]["with_amendment_author"]


def test_procedures_of_known_roll_calls(tables):
    rollcalls = tables["rollcalls"]
    kinds = procedure(rollcalls).set_axis(rollcalls["rollcall_id"])
    assert kinds["h44-110.2007"] == "suspension"  # On Motion to Suspend the Rules and Agree
    assert kinds["s65-118.2023"] == "amendment"
    assert kinds["h44-116.2019"] == "suspension"  # H.R. 676, NATO Support Act: "On Motion to Suspend the Rules"
    assert kinds["h6-116.2019"] == "rule"  # H.Res. 5, "Providing for consideration of H.Res. 6"
    assert kinds["h15-110.2007"] == "passage"  # On Passage: H.R. 1 (9/11 Commission Recommendations)
    recommit = rollcalls.loc[rollcalls["category"] == "recommit", "rollcall_id"].iloc[0]
    assert kinds[recommit] == "recommit"
    assert set(kinds.unique()) <= set(__import__("features.context", fromlist=["PROCEDURES"]).PROCEDURES)


def test_a_cosponsor_who_joined_after_the_vote_does_not_count(tables):
    """Foxx (F000116) cosponsored H.Res. 799 (110th) on 2008-09-15, after its roll calls of 2007-11-06."""
    measures = pd.DataFrame(
        {"measure_id": ["h1037-110.2007", "later"], "bill_id": ["110hres799"] * 2,
         "date": pd.to_datetime(["2007-11-06", "2008-09-16"])}
    )  # fmt: skip
    active = active_cosponsors(tables["cosponsorships"], measures)
    foxx = active[active["bioguide_id"] == "F000116"]
    assert list(foxx["measure_id"]) == ["later"]


def test_the_party_holding_each_chamber(tables):
    """The published control of the House and Senate, 110th-119th, at each congress's middle roll call, and the
    117th Senate's turn on 2021-01-20. Counting every member who sat gave the 110th Senate to the Republicans
    (replacements counted twice, Sanders apart) and the 117th too (50 R to 48 D + 2 I): seats held on the day,
    independents by caucus and the Vice President's tie-break give the record."""
    from features.history import to_days

    votes = tables["votes"][tables["votes"]["position"].isin(["yea", "nay"])]
    rollcalls = tables["rollcalls"].reset_index(drop=True)
    position = pd.Index(rollcalls["rollcall_id"]).get_indexer(votes["rollcall_id"])
    members = pd.Index(sorted(set(votes["bioguide_id"])))
    holders = seat_holders(
        tables["members"],
        caucus_of(tables["members"]),
        rollcalls["congress"].to_numpy()[position],
        rollcalls["chamber"].to_numpy()[position],
        members.get_indexer(votes["bioguide_id"]),
        to_days(rollcalls["date"])[position],
        members,
    )
    middle = rollcalls.groupby(["congress", "chamber"])["date"].median().reset_index()
    middle["held"] = majority_on(holders, middle, tables["presidents"])
    held = middle.set_index(["congress", "chamber"])["held"].unstack()
    assert "".join(held["house"]) == "DDRRRRDDRR"
    assert "".join(held["senate"]) == "DDDDRRRDDR"
    turn = pd.DataFrame(
        {"congress": 117, "chamber": "senate", "date": pd.to_datetime(["2021-01-02", "2021-01-15", "2021-01-21"])}
    )
    assert list(majority_on(holders, turn, tables["presidents"])) == [None, "R", "D"]  # no roll call yet; Pence
    senate = holders[(holders["congress"] == 117) & (holders["chamber"] == "senate")].set_index("bioguide_id")
    assert senate.loc["L000594", "replaced_day"] == senate.loc["W000790", "first_day"]  # Warnock for Loeffler
    sitting = (senate["first_day"] < to_days(pd.Series(pd.to_datetime(["2021-03-01"])))[0]) & (
        senate["replaced_day"] >= to_days(pd.Series(pd.to_datetime(["2021-03-01"])))[0]
    )
    assert sitting.sum() == 100 and senate.loc[sitting, "caucus"].value_counts().to_dict() == {"D": 50, "R": 50}


def test_no_majority_before_a_chambers_first_roll_call():
    """A forecast as of a congress's first days, before the chamber has voted: who holds it is missing, and so are
    the flags that compare with it (not 0, a value training never saw there)."""
    from features.context import _add_party_flags

    pairs = pd.DataFrame(
        {"measure_id": ["m"] * 2, "bioguide_id": ["A", "B"], "sponsor_bioguide_id": ["A"] * 2,
         "chamber": ["senate"] * 2, "party": ["D", "R"]}
    )  # fmt: skip
    their = {
        "sponsor": pd.Series(["D", "D"]),
        "majority": pd.Series([np.nan, np.nan], dtype=object),
        "president": pd.Series(["R", "R"]),
    }
    no_cosponsors = pd.DataFrame({"measure_id": [], "bioguide_id": []})
    _add_party_flags(pairs, pairs["party"], their, no_cosponsors)
    assert pairs["sponsor_in_majority"].isna().all() and pairs["member_in_majority"].isna().all()
    assert list(pairs["member_in_president_party"]) == [0.0, 1.0]
    their["majority"] = pd.Series(["R", "R"])
    _add_party_flags(pairs, pairs["party"], their, no_cosponsors)
    assert list(pairs["member_in_majority"]) == [0.0, 1.0] and list(pairs["sponsor_in_majority"]) == [0.0, 0.0]


def test_independents_count_with_their_caucus(tables):
    """Sanders and King caucus with the Democrats; Amash left the Republicans in 2019 and sat with no caucus, nearest
    the Republicans; Pierluisi (a Resident Commissioner without a score) stays an independent."""
    caucus = caucus_of(tables["members"])
    assert caucus[("S000033", 117)] == "D" and caucus[("K000383", 117)] == "D" and caucus[("S001191", 118)] == "D"
    assert caucus[("A000367", 116)] == "R" and caucus[("P000596", 111)] == "I"
    assert caucus[("M001184", 119)] == "R" and caucus[("S000148", 117)] == "D"


def test_previous_congress_agreement_is_exact_and_lagged():
    """Two members who always agree and one who always disagrees, over 25 roll calls of the 110th."""
    n = 25
    rollcalls = pd.DataFrame(
        {"rollcall_id": [f"r{i}" for i in range(n)], "congress": 110, "chamber": "house",
         "date": pd.Timestamp(f"{congress_first_year(110)}-02-01")}
    )  # fmt: skip
    votes = pd.DataFrame(
        {
            "rollcall_id": [f"r{i}" for i in range(n)] * 3,
            "bioguide_id": ["A"] * n + ["B"] * n + ["C"] * n,
            "position": ["yea"] * n + ["yea"] * n + ["nay"] * n,
        }
    )
    agreement = _agreement(votes, rollcalls)
    assert agreement[(111, "house", "A", "B")] == 1.0
    assert agreement[(111, "house", "A", "C")] == 0.0
    assert (110, "house", "A", "B") not in agreement.index  # serves the next congress only
    short = _agreement(votes[votes["rollcall_id"].isin(["r0", "r1"])], rollcalls)
    assert short.empty  # fewer than 20 shared votes: no value
    assert _agreement(votes, rollcalls, serving={112}).empty and len(_agreement(votes, rollcalls, serving={111})) == 9
    unknown = votes.assign(bioguide_id=votes["bioguide_id"].replace({"C": "not a member"}))
    assert set(_agreement(unknown, rollcalls, members=["A", "B"]).index.get_level_values("other")) == {"A", "B"}


def _agreement(votes: pd.DataFrame, rollcalls: pd.DataFrame, serving=None, members=None) -> pd.Series:
    """``previous_congress_agreement`` of a votes frame, coded as ``features.build.Context`` codes it."""
    from pipeline.ids import positions_in

    member_ids = pd.Index(sorted(members or votes["bioguide_id"].unique()))
    return previous_congress_agreement(
        positions_in(pd.Index(rollcalls["rollcall_id"]), votes["rollcall_id"]),
        positions_in(member_ids, votes["bioguide_id"]),
        np.where(votes["position"] == "yea", 1, -1).astype(np.int8),
        rollcalls,
        member_ids,
        serving,
    )


def test_previous_congress_agreement_equals_counting_the_shared_votes(tables):
    """On the real 118th House: each pair's share equals counting, by a join of the two members' Yea/Nay votes,
    the roll calls both cast and those they cast alike (Massie with Luna, Jeffries and himself)."""
    rollcalls = tables["rollcalls"]
    votes = tables["votes"]
    house = rollcalls[(rollcalls["congress"] == 118) & (rollcalls["chamber"] == "house")]["rollcall_id"]
    cast = votes[votes["rollcall_id"].isin(house) & votes["position"].isin(["yea", "nay"])]
    agreement = _agreement(cast, rollcalls, serving={119})
    assert set(agreement.index.get_level_values("congress")) == {119}
    massie = cast[cast["bioguide_id"] == "M001184"]
    for other in ("L000596", "J000294", "M001184"):
        both = massie.merge(cast[cast["bioguide_id"] == other], on="rollcall_id")
        expected = (both["position_x"] == both["position_y"]).mean()
        assert len(both) > 500
        assert agreement[(119, "house", "M001184", other)] == pytest.approx(expected, abs=1e-6)


def test_general_rows_keep_sponsors_and_cosponsors():
    from pipeline.config import FEATURES_DIR

    general = pd.read_parquet(FEATURES_DIR / "general.parquet")
    assert general["measure_id"].nunique() > 10000
    sponsors = general[general["is_sponsor"] == 1]
    # the sponsor of a bill votes Yea on its passage under suspension nearly always
    assert sponsors.loc[sponsors["procedure"] == "suspension", "voted_yea"].mean() > 0.97
    assert np.isfinite(general["cosponsors_log"]).all()


def test_cosponsors_log_is_the_same_bits_on_every_cpu():
    """numpy's vectorised log1p rounds the last bit differently with and without AVX-512, which changed the
    features (and dvc.lock) from one machine to the next: the count's log1p is the C library's, bit for bit."""
    import math

    from pipeline.config import FEATURES_DIR

    general = pd.read_parquet(FEATURES_DIR / "general.parquet", columns=["cosponsors_log"])
    logs = general["cosponsors_log"].drop_duplicates()
    counts = np.rint(np.expm1(logs)).astype(int)
    assert counts.max() > 100  # bills with over a hundred cosponsors are in the rows
    assert [math.log1p(n) for n in counts] == logs.tolist()


def test_only_votes_on_the_bill_itself_carry_its_earlier_stage():
    """In the general rows a bill's earlier stage reaches passage, cloture, concurring... of the same bill, never
    an amendment, cloture on one, or a motion to table or recommit (they ask something else)."""
    from features.context import on_the_bill
    from pipeline.config import FEATURES_DIR

    general = pd.read_parquet(FEATURES_DIR / "general.parquet", columns=["measure_id", "prior_stage_party_share"])
    rollcalls = read_table("rollcalls")
    on_bill = pd.Series(on_the_bill(rollcalls), index=rollcalls["rollcall_id"].to_numpy())
    staged = general.loc[general["prior_stage_party_share"].notna(), "measure_id"].unique()
    assert len(staged) > 500 and on_bill.loc[staged].all()
    # cloture on the Baucus amendment to H.R. 2 (the 2007 minimum wage bill) came after the Senate's cloture on
    # the bill itself (s23-110.2007): the amendment's cloture carries no stage
    by_id = rollcalls.set_index("rollcall_id")
    assert by_id.loc["s34-110.2007", "bill_id"] == by_id.loc["s23-110.2007", "bill_id"] == "110hr2"
    assert on_bill.loc["s23-110.2007"] and not on_bill.loc["s34-110.2007"]
    assert by_id.loc["s23-110.2007", "date"] < by_id.loc["s34-110.2007", "date"]
    amendment_cloture = general.loc[general["measure_id"] == "s34-110.2007", "prior_stage_party_share"]
    assert len(amendment_cloture) > 10 and amendment_cloture.isna().all()


def test_registry_rejects_an_unknown_procedure(tables):
    from features.registry import Seats, parse_additions

    entry = {"bill_id": "119hr9999", "chamber": "house", "introduced": "2025-12-01", "sponsor": "M001184",
             "procedure": "filibuster"}  # fmt: skip
    with pytest.raises(DataError, match="procedure 'filibuster'"):
        parse_additions([entry], Seats(tables["members"]), "test")


def test_registry_takes_what_reaches_the_floor(tables):
    """A House bill voted in the Senate (as H.R. 815 was the Senate's vehicle in 2024; its sponsor stays a
    representative), an amendment by its own id with its author as sponsor, and a procedure; a House resolution
    cannot be voted in the Senate."""
    from features.registry import Seats, parse_additions

    known = Seats(tables["members"])
    entries = [
        {"bill_id": "118hr9999", "chamber": "senate", "introduced": "2023-02-06", "sponsor": "M001184",
         "procedure": "cloture"},
        {"bill_id": "119samdt6715", "chamber": "senate", "introduced": "2025-12-01", "sponsor": "P000603"},
    ]  # fmt: skip
    registry, _ = parse_additions(entries, known, "test")
    rows = registry.set_index("bill_id")
    assert rows.loc["118hr9999", "chamber"] == "senate" and rows.loc["118hr9999", "procedure"] == "cloture"
    assert rows.loc["119samdt6715", "kind"] == "amendment" and rows.loc["119samdt6715", "procedure"] == "amendment"
    assert rows.loc["119samdt6715", "sponsor_bioguide_id"] == "P000603"
    wrong = {"bill_id": "119hres135", "chamber": "senate", "introduced": "2025-02-01", "sponsor": "M001184"}
    with pytest.raises(DataError, match="does not fit bill type hres"):
        parse_additions([wrong], known, "test")
    wrong_amendment = {"bill_id": "119samdt1", "chamber": "house", "introduced": "2025-02-01", "sponsor": "M001184"}
    with pytest.raises(DataError, match="does not fit bill type samdt"):
        parse_additions([wrong_amendment], known, "test")


def test_sponsors_and_cosponsors_on_record_back_their_bills():
    """Issue 9: every sponsor at 0.95 or more, every cosponsor on record at 0.90 or more, on the named bills, and
    the top reason names the sponsorship."""
    from pipeline.config import FEATURES_DIR, REPORTS_DIR

    forecasts = pd.read_parquet(REPORTS_DIR / "forecasts.parquet").set_index(["bill_id", "bioguide_id"])
    registry = pd.read_parquet(FEATURES_DIR / "registry.parquet").set_index("bill_id")
    cosponsors = pd.read_parquet(FEATURES_DIR / "forecast.parquet").query("is_cosponsor == 1")
    named = {"119hr6508": ["L000596"], "119s2174": [], "119s3262": ["E000295"], "119s2914": ["S001181"]}
    for bill, expected_cosponsors in named.items():
        sponsor = registry.loc[bill, "sponsor_bioguide_id"]
        assert forecasts.loc[(bill, sponsor), "probability"] >= 0.95, (bill, sponsor)
        assert forecasts.loc[(bill, sponsor), "reasons_for"].split("; ")[0] == "sponsor of this bill"
        on_record = set(cosponsors.loc[cosponsors["measure_id"] == bill, "bioguide_id"])
        assert set(expected_cosponsors) <= on_record
        for member in on_record:
            assert forecasts.loc[(bill, member), "probability"] >= 0.90, (bill, member)
            assert forecasts.loc[(bill, member), "reasons_for"].split("; ")[0] == "cosponsor of this bill"
        assert forecasts.loc[(bill, sponsor), "probability"] < 1 - 1e-4  # confident, not certain


def test_general_model_backtest_beats_party_line_by_sponsor_in_each_chamber():
    """Every vote scored by a model fitted on earlier congresses only; the baseline keyed on the sponsor's party."""
    from sklearn.metrics import log_loss

    from pipeline.config import MODELS_DIR

    scored = pd.read_parquet(MODELS_DIR / "general" / "backtest.parquet")
    assert scored["congress"].min() >= 111  # the 110th has no earlier congress to learn from
    for chamber, part in scored.groupby("chamber"):
        ours = log_loss(part["voted_yea"], part["p_general"])
        theirs = log_loss(part["voted_yea"], part["p_party_line_by_sponsor"])
        assert ours < theirs, chamber
    sponsors = scored[scored["is_sponsor"] == 1]
    assert sponsors["p_general"].mean() > 0.8 and sponsors["voted_yea"].mean() > 0.8


def test_cosine_products_are_the_matrix_product_summed_term_by_term():
    """The similarities are ``vectors @ catalog.T`` to the last bits (summed in the terms' order, not BLAS's,
    which differs by CPU), on the real catalog's descriptions."""
    from features.precedent import catalog_terms, cosine_products, term_vectors
    from pipeline.config import FEATURES_DIR

    catalog = pd.read_parquet(FEATURES_DIR / "catalog.parquet")
    indexed = catalog_terms(catalog)
    vectors = term_vectors(catalog["description"].head(40), indexed.vocabulary)
    products = cosine_products(vectors, indexed.vectors)
    assert products.shape == (40, len(indexed.directed))
    np.testing.assert_allclose(products, vectors @ indexed.vectors.T, rtol=0, atol=1e-15)
    directed_self = cosine_products(indexed.vectors[:5], indexed.vectors)
    assert np.allclose(np.diag(directed_self[:, :5]), 1.0)  # a description is most like itself
