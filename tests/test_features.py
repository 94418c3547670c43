"""Point-in-time features: real values, no look-ahead (proven by recomputation), full rows for new members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import Context, build_features, training_measures, training_pairs
from features.catalog import build_catalog, load_overrides
from features.history import EventHistory
from features.precedent import similar_rollcalls
from features.registry import build_registry
from features.seats import sitting_members
from pipeline.config import load_params
from pipeline.tables import cut_as_of

pytestmark = pytest.mark.pipeline  # reads data/tables and the catalog (`dvc repro`); one unit test below


def _context(tables) -> Context:
    registry, cosponsorships = build_registry(tables["bills"], tables["cosponsorships"], tables["members"], [])
    catalog = build_catalog(tables["rollcalls"], tables["bills"], load_overrides())
    return Context(tables, registry, cosponsorships, catalog, load_params()["features"])


@pytest.fixture(scope="module")
def context(tables):
    return _context(tables)


def _features_of(ctx: Context, rollcall_id: str) -> pd.DataFrame:
    measures = training_measures(ctx.catalog, ctx.registry, ctx.rollcalls)
    pairs = training_pairs(ctx, measures[measures["measure_id"] == rollcall_id])
    return build_features(ctx, pairs).sort_values("bioguide_id").reset_index(drop=True)


@pytest.mark.unit
def test_event_history_matches_brute_force():
    rng = np.random.default_rng(7)
    n = 2000
    codes = rng.integers(-1, 30, n)
    days = rng.integers(0, 3000, n)
    values = rng.random(n)
    history = EventHistory(codes, days, {"v": values})
    query_codes, query_days = rng.integers(0, 30, 300), rng.integers(0, 3200, 300)
    got_all = history.sums_before(query_codes, query_days)["v"].to_numpy()
    got_window = history.sums_before(query_codes, query_days, window_days=365)["v"].to_numpy()
    for i, (code, day) in enumerate(zip(query_codes, query_days, strict=True)):
        mine = codes == code
        assert got_all[i] == pytest.approx(values[mine & (days < day)].sum())
        assert got_window[i] == pytest.approx(values[mine & (days < day) & (days >= day - 365)].sum())


def test_features_of_a_measure_equal_those_from_tables_cut_before_it(tables, context):
    """H.R. 676 was passed on 2019-01-22: tables cut at 2019-01-21 must give the very same features."""
    full = _features_of(context, "h44-116.2019")
    cut_tables = cut_as_of(tables, pd.Timestamp("2019-01-21"))
    cut_tables["votes"] = pd.concat([cut_tables["votes"], tables["votes"].query("rollcall_id == 'h44-116.2019'")])
    cut_tables["rollcalls"] = pd.concat(
        [cut_tables["rollcalls"], tables["rollcalls"].query("rollcall_id == 'h44-116.2019'")]
    )
    cut = _features_of(_context(cut_tables), "h44-116.2019")
    assert len(full) == 379  # 357 yeas + 22 nays
    # every feature, the measure context and the party precedent included
    assert {
        "is_sponsor",
        "is_cosponsor",
        "party_domain_recent",
        "party_similar_share",
        "member_similar_share",
        "agree_sponsor_prev",
    } <= set(full)
    pd.testing.assert_frame_equal(full, cut, check_dtype=False)


def test_adding_later_votes_changes_nothing_before(tables, context):
    """Copy every vote of 2024 to a made-up roll call dated 2019-01-23, the day after H.R. 676: no change."""
    later = (
        tables["rollcalls"]
        .query("rollcall_id == 'h151-118.2024'")
        .assign(
            rollcall_id="h999-116.2019",
            date=pd.Timestamp("2019-01-23"),
            congress=116,
            session=2019,
            number=999,
        )
    )
    votes = tables["votes"].query("rollcall_id == 'h151-118.2024'").assign(rollcall_id="h999-116.2019")
    catalog = context.catalog
    extra = catalog[catalog["rollcall_id"] == "h151-118.2024"].assign(
        rollcall_id="h999-116.2019", date=pd.Timestamp("2019-01-23")
    )
    padded = dict(
        tables,
        rollcalls=pd.concat([tables["rollcalls"], later], ignore_index=True),
        votes=pd.concat([tables["votes"], votes], ignore_index=True),
    )
    ctx = Context(padded, context.registry, context.cosponsorships, pd.concat([catalog, extra]), context.params)
    before = _features_of(context, "h44-116.2019")
    after = _features_of(ctx, "h44-116.2019")
    pd.testing.assert_frame_equal(before, after, check_dtype=False)
    # ... while a measure after the made-up date does see it
    assert not _features_of(ctx, "h643-116.2019")["tied_votes"].equals(
        _features_of(context, "h643-116.2019")["tied_votes"]
    )


def test_known_values_on_hr676(context):
    features = _features_of(context, "h44-116.2019").set_index("bioguide_id")
    massie = features.loc["M001184"]
    assert massie["voted_yea"] == 0 and massie["party"] == "R" and massie["agree_massie"] == 1.0
    assert massie["congresses_served"] == 4  # elected Nov 2012: congresses 112-115 before the 116th
    hoyer = features.loc["H000874"]  # the Speaker (Pelosi) did not vote
    assert hoyer["voted_yea"] == 1 and hoyer["backs_this_bill"] == 0
    assert hoyer["agree_massie"] < 0.5 < massie["agree_massie"]
    panetta = features.loc["P000613"]
    assert panetta["backs_this_bill"] == 1 and panetta["agree_sponsor"] == 1.0  # the sponsor himself
    # 10 of its 19 cosponsors (5 D, 5 R) had signed on before the vote on 2019-01-22
    assert np.expm1(features["cosponsors_log"]).round().eq(10).all()
    assert (features["cosponsors_bipartisan_share"] == 0.5).all()
    # the Senate's Lee never shares a roll call with a House member: missing, not zero
    assert features["agree_lee"].isna().all()


def test_member_similar_share_on_hr676_is_the_members_own_votes_on_the_most_similar_roll_calls(tables, context):
    """Recomputed from the votes table: each member's alliance-side share on the five earlier House roll calls
    most like H.R. 676, weighted by similarity. Massie voted against the alliance on them, Hoyer with it."""
    features = _features_of(context, "h44-116.2019").set_index("bioguide_id")
    measure = context.catalog.set_index("rollcall_id").loc["h44-116.2019"]
    texts = pd.DataFrame({"measure_id": ["h44-116.2019"], "text": [measure["description"]], "date": [measure["date"]]})
    params = context.params["precedent"]
    similar = similar_rollcalls(
        texts.assign(chamber="house"), context.catalog, params["similar_k"], params["min_similarity"]
    )
    assert len(similar) == params["similar_k"]
    directed = context.catalog.set_index("rollcall_id").loc[similar["rollcall_id"]]
    assert (directed["date"] < pd.Timestamp("2019-01-22")).all() and (directed["chamber"] == "house").all()
    votes = tables["votes"][tables["votes"]["rollcall_id"].isin(similar["rollcall_id"])]
    for member in ("M001184", "H000874", "P000613"):
        cast = votes[(votes["bioguide_id"] == member) & votes["position"].isin(["yea", "nay"])]
        cast = cast.merge(similar, on="rollcall_id").merge(directed["orientation"].reset_index(), on="rollcall_id")
        aligned = ((cast["position"] == "yea") == (cast["orientation"] == 1)).astype(float)
        expected = (aligned * cast["similarity"]).sum() / cast["similarity"].sum()
        assert features.loc[member, "member_similar_share"] == pytest.approx(expected)
    assert features.loc["M001184", "member_similar_share"] == 0.0
    assert features.loc["H000874", "member_similar_share"] == 1.0


def test_sitting_members_early_in_a_congress_are_those_of_that_congress(tables, context):
    """On 2019-01-21 the trailing 90 days reach back into the 115th Congress: its departed members (Speaker Ryan,
    Crowley, defeated in the primary) and Blackburn, a senator from 2019-01-03, do not sit in the House."""
    house = set(sitting_members(context.seats, "house", pd.Timestamp("2019-01-21"), tables["terms"]))
    assert {"R000570", "C001038", "B001243"}.isdisjoint(house)
    assert {"P000613", "M001184", "O000172"} <= house  # Panetta, Massie, and Ocasio-Cortez, new in the 116th
    assert 430 <= len(house) <= 441  # 435 seats and 6 delegates, some seats vacant
    assert "B001243" in set(sitting_members(context.seats, "senate", pd.Timestamp("2019-01-21"), tables["terms"]))
    # before the House's first roll call of the 116th (2019-01-03) the 115th's members stand in (Steil's term, in
    # Ryan's seat, begins that day)
    before = set(sitting_members(context.seats, "house", pd.Timestamp("2019-01-03"), tables["terms"]))
    assert "R000570" in before and "O000172" not in before


def test_members_who_left_within_a_congress_no_longer_sit(tables, context):
    """Vance (Vice President from 2025-01-20) and Rubio (Secretary of State from 2025-01-21) voted in the Senate in
    January 2025 and Sherrill (resigned 2025-11-20, Governor of New Jersey) in the House until November: the
    window's votes kept them sitting (none has a term on record: former members). The chambers' roll calls stopped
    listing them."""
    senate = set(sitting_members(context.seats, "senate", pd.Timestamp("2025-02-01"), tables["terms"]))
    assert {"V000137", "R000595"}.isdisjoint(senate) and "H001104" in senate  # Husted, Vance's successor
    assert len(senate) == 100
    date = pd.Timestamp("2025-12-31")
    house = set(sitting_members(context.seats, "house", date, tables["terms"]))
    assert "S001207" not in house and "M001184" in house
    # the members are exactly those the House's last roll call of 2025 lists (433 and the 6 delegates: two seats
    # vacant, TX-18 and NJ-11)
    rollcalls = tables["rollcalls"]
    held = rollcalls[(rollcalls["chamber"] == "house") & (rollcalls["date"] < date)]
    latest = held.loc[held["date"] == held["date"].max(), "rollcall_id"]
    listed = set(tables["votes"].loc[tables["votes"]["rollcall_id"].isin(latest), "bioguide_id"])
    assert house == listed and len(listed - context.seats.delegates) == 433


def test_a_member_absent_for_months_still_sits_while_the_roll_calls_list_him(tables, context):
    """Grijalva, ill, missed every House vote from March 2024 (the Clerk listed him as Not Voting) and the
    crosswalk keeps only his last term (2025): neither a term nor a vote counted him on 2024-06-01; the roll calls
    that list him do."""
    assert tables["terms"].query("bioguide_id == 'G000551' and start < '2024-06-01'").empty
    house = set(sitting_members(context.seats, "house", pd.Timestamp("2024-06-01"), tables["terms"]))
    assert "G000551" in house
    # and its voting members are those the House's last roll call before the date lists (delegates, listed on some
    # Committee of the Whole votes of the 118th, are not judged by the listing)
    rollcalls = tables["rollcalls"]
    held = rollcalls[(rollcalls["chamber"] == "house") & (rollcalls["date"] < "2024-06-01")]
    latest = held.loc[held["date"] == held["date"].max(), "rollcall_id"]
    listed = set(tables["votes"].loc[tables["votes"]["rollcall_id"].isin(latest), "bioguide_id"])
    assert house - context.seats.delegates == listed - context.seats.delegates


def test_new_members_get_full_rows_with_missing_values(context):
    """On 2019-01-17 (H.J.Res. 30, the first catalogued vote of the 116th) the class of 2018 had no record."""
    features = _features_of(context, "h42-116.2019")
    freshmen = features[features["congresses_served"] == 0]
    assert len(freshmen) > 50
    assert (freshmen["new_member"] == 1).all()
    assert (freshmen["alliance_votes"] + freshmen["tied_votes"] == 0).all()
    assert freshmen["catalog_share"].isna().all() and freshmen["alliance_recent_share"].isna().all()
    assert freshmen["nominate_dim1"].isna().all()  # no earlier congress: no score that saw the future
    assert freshmen["shrunk_catalog_share"].notna().all()  # the party's share stands in for the member's
    assert freshmen["party"].notna().all()
    veterans = features[features["congresses_served"] > 0]
    assert veterans["catalog_share"].notna().mean() > 0.9


def test_general_rows_are_the_sample_of_every_vote_on_a_sponsored_roll_call(context):
    """The general rows are drawn on integer codes; they are the rows the plain way gives: every Yea/Nay vote on
    a roll call with a known sponsor as strings (``training_pairs``), sponsor and active cosponsors marked by
    id, then ``sample_votes``. Checked on the 117th Congress (a tenth of the data)."""
    from features.build import _committed_votes, general_measures
    from features.context import active_cosponsors, sample_votes

    measures = general_measures(context.rollcalls)
    measures = measures[measures["congress"] == 117]
    plain = training_pairs(context, measures)
    plain["is_sponsor"] = (plain["bioguide_id"] == plain["sponsor_bioguide_id"]).astype(np.int8)
    cosponsors = pd.MultiIndex.from_frame(active_cosponsors(context.cosponsorships, measures))
    plain["is_cosponsor"] = pd.MultiIndex.from_frame(plain[["measure_id", "bioguide_id"]]).isin(cosponsors)
    coded = _committed_votes(context, measures)
    assert len(coded) == len(plain) > 100_000 and coded["is_cosponsor"].sum() > 10_000
    assert coded["is_sponsor"].sum() == plain["is_sponsor"].sum() > 500
    plain, coded = sample_votes(plain, 0.3, 7), sample_votes(coded, 0.3, 7)
    assert context.rollcall_index[coded["rollcall"]].tolist() == plain["measure_id"].tolist()
    assert context.member_index[coded["member"]].tolist() == plain["bioguide_id"].tolist()
    for column in ("voted_yea", "is_sponsor", "is_cosponsor"):
        assert coded[column].tolist() == plain[column].tolist()


def test_general_rows_in_blocks_are_the_rows_built_at_once(context):
    """Built a block of whole roll calls at a time (memory for one block), the general rows of the 117th
    Congress are those built in one piece: every feature depends on its member and measure alone."""
    from features.build import general_measures, general_pairs

    measures = general_measures(context.rollcalls)
    measures = measures[measures["congress"] == 117]
    whole = list(general_pairs(context, measures, 0.3, 7, block=10**9))
    blocks = list(general_pairs(context, measures, 0.3, 7, block=20_000))
    assert len(whole) == 1 and len(blocks) > 5
    assert all(not set(a["measure_id"]) & set(b["measure_id"]) for a, b in zip(blocks, blocks[1:], strict=False))
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole[0])


def _senate_sjres2(tables, context, extra_date: str | None = None) -> pd.DataFrame:
    """The features of the cloture vote on S.J.Res. 2 (2019-01-16; lifting the Deripaska sanctions), with the
    motion to proceed of the day before (s5-116.2019) copied, every Yea and Nay swapped, to a made-up roll call
    dated ``extra_date``."""
    if extra_date is None:
        return _features_of(context, "s6-116.2019")
    swapped = {"yea": "nay", "nay": "yea"}
    copy = (
        tables["rollcalls"]
        .query("rollcall_id == 's5-116.2019'")
        .assign(rollcall_id="s999-116.2019", number=999, date=pd.Timestamp(extra_date))
    )
    votes = tables["votes"].query("rollcall_id == 's5-116.2019'").assign(rollcall_id="s999-116.2019")
    votes["position"] = votes["position"].astype(str).map(swapped).fillna(votes["position"].astype(str))
    padded = dict(
        tables,
        rollcalls=pd.concat([tables["rollcalls"], copy], ignore_index=True),
        votes=pd.concat([tables["votes"], votes], ignore_index=True),
    )
    ctx = Context(padded, context.registry, context.cosponsorships, context.catalog, context.params)
    return _features_of(ctx, "s6-116.2019")


def test_the_bills_earlier_stage_gives_each_member_and_party_their_vote(tables, context):
    """Cloture on S.J.Res. 2 (2019-01-16) follows the motion to proceed of 2019-01-15, which 11 of the 53
    Republicans voted for: each senator's own vote there and their party's share are features of the cloture."""
    features = _senate_sjres2(tables, context).set_index("bioguide_id")
    earlier = tables["votes"].query("rollcall_id == 's5-116.2019'").set_index("bioguide_id")["position"].astype(str)
    expected = earlier.map({"yea": 1.0, "nay": 0.0}).reindex(features.index)
    np.testing.assert_array_equal(features["prior_stage_yea"].to_numpy(), expected.to_numpy())
    republicans = features[features["party"] == "R"]
    assert (republicans["prior_stage_party_share"] == 11 / 53).all()
    assert (republicans["prior_stage_yea"] == 1).sum() == 11
    assert (features.loc[features["party"] == "D", "prior_stage_party_share"] == 1.0).all()  # 46 of 46 (with I)


def test_an_earlier_stage_of_the_same_day_or_later_is_not_used(tables, context):
    """A stage of the measure's own day is not known before it (the date is all the records give)."""
    plain = _senate_sjres2(tables, context)
    pd.testing.assert_frame_equal(plain, _senate_sjres2(tables, context, "2019-01-16"), check_dtype=False)
    pd.testing.assert_frame_equal(plain, _senate_sjres2(tables, context, "2019-02-01"), check_dtype=False)
    swapped = _senate_sjres2(tables, context, "2019-01-15")  # the same day as the real one, later in its order
    republicans = swapped[swapped["party"] == "R"]
    assert (republicans["prior_stage_party_share"] == 42 / 53).all()


def test_the_earlier_stage_from_tables_cut_before_the_measure_is_the_same(tables, context):
    cut_tables = cut_as_of(tables, pd.Timestamp("2019-01-15"))
    for name in ("rollcalls", "votes"):
        cut_tables[name] = pd.concat([cut_tables[name], tables[name].query("rollcall_id == 's6-116.2019'")])
    cut = _features_of(_context(cut_tables), "s6-116.2019")
    full = _senate_sjres2(tables, context)
    assert full["prior_stage_yea"].notna().sum() == 98  # the cloture's 99 voters but one who missed the first vote
    pd.testing.assert_frame_equal(full, cut, check_dtype=False)


def test_sitting_members_from_tables_cut_before_the_date_are_those_the_full_tables_give(tables, context):
    """A forecast sees tables cut before its date (``features.member_state``), where the latest roll call is the
    last one there is. The Speaker, listed only when he votes, still sits: Johnson last voted on 2025-07-18 before
    the August recess, the House's last roll call was on 2025-07-23. And while the House elected its Speaker in
    January 2023, the ballots of 2023-01-07 listed 6 members (the candidates' votes are left out): the House's
    members still sit."""
    cut = _context(cut_as_of(tables, pd.Timestamp("2025-07-31")))
    house = set(sitting_members(cut.seats, "house", pd.Timestamp("2025-08-01"), tables["terms"]))
    assert "J000299" in house
    assert house == set(sitting_members(context.seats, "house", pd.Timestamp("2025-08-01"), tables["terms"]))
    cut_tables = cut_as_of(tables, pd.Timestamp("2023-01-07"))
    catalog = context.catalog[context.catalog["rollcall_id"].isin(cut_tables["rollcalls"]["rollcall_id"])]
    cut = Context(cut_tables, context.registry, context.cosponsorships, catalog, context.params)
    house = set(sitting_members(cut.seats, "house", pd.Timestamp("2023-01-08"), tables["terms"]))
    assert 430 <= len(house - cut.seats.delegates) <= 435 and "M001165" in house  # McCarthy, elected that night
    assert house == set(sitting_members(context.seats, "house", pd.Timestamp("2023-01-08"), tables["terms"]))
