"""The feature functions on frames small enough to check by hand (unit tests: no pipeline run)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features import nominate
from features.build import measure_texts
from features.context import StageVotes, active_cosponsors, latest_stages, on_the_bill, president_party_on, procedure
from features.history import EventHistory, recency_weights, to_days
from features.precedent import (
    STOP_WORDS,
    add_member_similar_share,
    add_party_domain_recent,
    add_party_similar_share,
    aligned_votes,
    party_alignment,
    similar_rollcalls,
    term_vectors,
    text_terms,
)
from features.registry import USER_STANCE

pytestmark = pytest.mark.unit


def test_to_days_counts_from_2000():
    assert to_days(pd.Series(pd.to_datetime(["2000-01-01", "2000-03-01", "2024-01-01"]))).tolist() == [0, 60, 8766]


def test_event_history_window_and_strictly_before():
    # member 0: events on days 10 (value 1), 20 (2), 30 (4); member 1: day 15 (8); an unknown member (-1): ignored
    history = EventHistory(
        np.array([0, 0, 0, 1, -1]), np.array([10, 20, 30, 15, 5]), {"v": np.array([1.0, 2.0, 4.0, 8.0, 100.0])}
    )
    codes, days = np.array([0, 0, 0, 1, 1, -1]), np.array([20, 31, 31, 15, 16, 40])
    assert history.sums_before(codes, days)["v"].tolist() == [1.0, 7.0, 7.0, 0.0, 8.0, 0.0]
    windowed = history.sums_before(codes, days, window_days=10)["v"].tolist()
    assert windowed == [1.0, 4.0, 4.0, 0.0, 8.0, 0.0]  # [day - 10, day): day 31 sees day 30, not 20


def test_event_history_keeps_one_total_per_member_and_day_and_sums_as_every_event():
    """Several events a day are kept as the day's last running total; every query's sums equal the running
    totals over all events (the same additions in the same order: equal to the bit, float weights too) and a
    plain sum of the events strictly before the day (to rounding)."""
    rng = np.random.default_rng(3)
    codes, days = rng.integers(-1, 30, 5000), rng.integers(0, 400, 5000)
    values = {"flag": rng.random(5000) < 0.6, "weight": recency_weights(days, 90.0) * rng.random(5000)}
    history = EventHistory(codes, days, values)
    known = codes >= 0
    assert len(history.keys) == len(np.unique(codes[known] * 1000 + days[known])) < known.sum()
    queries, on = rng.integers(-1, 31, 3000), rng.integers(-5, 420, 3000)
    for window in (None, 60):
        sums = history.sums_before(queries, on, window)
        for code, day, row in zip(queries[:300], on[:300], range(300), strict=True):
            before = known & (codes == code) & (days < day) & (days >= (day - window if window else -(10**9)))
            assert sums["flag"][row] == values["flag"][before].sum()
            assert sums["weight"][row] == pytest.approx(values["weight"][before].sum(), rel=1e-9, abs=1e-9)
    order = np.lexsort((days[known], codes[known]))  # the running totals over every event, at each query
    running = np.cumsum(values["weight"][known][order])
    keys = codes[known][order].astype(np.int64) * (1 << 20) + days[known][order]
    position = np.searchsorted(keys, queries.astype(np.int64) * (1 << 20) + on) - 1
    first = np.searchsorted(keys, queries.astype(np.int64) * (1 << 20) - (1 << 19)) - 1
    has = (position >= 0) & (queries >= 0)
    has[has] = codes[known][order][position[has]] == queries[has]
    exact = np.where(has, running[np.maximum(position, 0)] - np.where(first >= 0, running[np.maximum(first, 0)], 0), 0)
    assert np.array_equal(history.sums_before(queries, on)["weight"].to_numpy(), exact)


def test_event_history_reads_members_back_from_keys_before_2000_too():
    """A member's events before 2000 (negative days: Voteview goes back to 1789) are that member's, not the
    previous code's: the member is read back from each (member, day) key."""
    rng = np.random.default_rng(5)
    codes, days = rng.integers(0, 40, 4000), rng.integers(-80_000, 9_000, 4000)  # 1781 to 2024
    history = EventHistory(codes, days, {"n": np.ones(4000)})
    assert np.array_equal(np.unique(history.codes), np.unique(codes))
    queries, on = rng.integers(0, 41, 500), rng.integers(-81_000, 10_000, 500)
    sums = history.sums_before(queries, on, window_days=20_000)["n"].to_numpy()
    expected = [((codes == q) & (days < d) & (days >= d - 20_000)).sum() for q, d in zip(queries, on, strict=True)]
    assert np.array_equal(sums, expected)


def test_recency_weights_halve_every_half_life():
    weights = recency_weights(np.array([0, 30, 60]), half_life_days=30)
    np.testing.assert_allclose(weights[1:] / weights[:-1], [2.0, 2.0])


def _catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rollcall_id": ["a", "b", "c", "x"],
            "orientation": [1, -1, 1, 0],  # x is undirected: never counted
            "date": pd.to_datetime(["2020-01-01", "2020-01-31", "2020-03-01", "2020-01-15"]),
            "chamber": "house",
            "domain": "nato",
            "description": [
                "support the North Atlantic Treaty Organization",
                "withdraw from the North Atlantic Treaty Organization",
                "appropriations for highways",
                "support the North Atlantic Treaty Organization",
            ],
        }
    )


def _votes() -> pd.DataFrame:
    rows = [
        ("a", "R1", "yea", "R"), ("a", "R2", "nay", "R"), ("a", "D1", "yea", "D"), ("a", "D2", "not_voting", "D"),
        ("b", "R1", "yea", "R"), ("b", "R2", "yea", "R"), ("b", "D1", "nay", "D"),
        ("x", "R1", "yea", "R"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["rollcall_id", "bioguide_id", "position", "vote_party"])


def test_party_alignment_counts_alliance_side_votes_per_roll_call():
    table = party_alignment(_votes(), _catalog()).set_index(["rollcall_id", "party"])
    assert table.loc[("a", "R"), "votes"] == 2 and table.loc[("a", "R"), "aligned_share"] == 0.5
    assert table.loc[("a", "D"), "votes"] == 1 and table.loc[("a", "D"), "aligned_share"] == 1.0  # absent: not cast
    assert table.loc[("b", "R"), "aligned_share"] == 0.0  # Yea on a hostile measure is against the alliance
    assert table.loc[("b", "D"), "aligned_share"] == 1.0
    assert "x" not in table.index.get_level_values("rollcall_id")


def test_party_domain_recent_weights_by_age_and_sees_only_the_past():
    alignment = party_alignment(_votes(), _catalog())
    pairs = pd.DataFrame(
        {
            "party": ["R", "R", "R", "D"],
            "chamber": "house",
            "domain": "nato",
            "date": pd.to_datetime(["2020-01-01", "2020-01-31", "2020-03-01", "2020-03-01"]),
        }
    )
    result = add_party_domain_recent(pairs, alignment, half_life_days=30)["party_domain_recent"].to_numpy()
    assert np.isnan(result[0])  # nothing strictly before the first roll call
    assert result[1] == pytest.approx(0.5)  # only "a" (same-day "b" not yet known)
    # on 1 March: "a" is 60 days old (weight 1/4), "b" 30 days (weight 1/2); R shares 0.5 and 0.0
    assert result[2] == pytest.approx((0.25 * 0.5 + 0.5 * 0.0) / 0.75)
    assert result[3] == pytest.approx(1.0)


def test_similar_rollcalls_are_earlier_in_the_same_chamber():
    catalog = _catalog()
    measures = pd.DataFrame(
        {
            "measure_id": ["m1", "m2", "m3"],
            "text": ["North Atlantic Treaty Organization"] * 3,
            "date": pd.to_datetime(["2020-02-15", "2020-01-01", "2020-02-15"]),
            "chamber": ["house", "house", "senate"],
        }
    )
    similar = similar_rollcalls(measures, catalog, k=5, min_similarity=0.1)
    assert sorted(similar.loc[similar["measure_id"] == "m1", "rollcall_id"]) == ["a", "b"]  # not c: no shared word
    assert set(similar["measure_id"]) == {"m1"}  # m2 precedes them all, m3 is in the other chamber
    assert (similar["similarity"] > 0.1).all() and (similar["similarity"] <= 1 + 1e-9).all()


def test_text_terms_and_vectors_are_scikit_learns():
    """The words, pairs and unit-length sublinear term vectors of ``similar_rollcalls`` are scikit-learn's
    TfidfVectorizer(use_idf=False, sublinear_tf=True, stop_words="english", ngram_range=(1, 2)), which a forecast
    no longer imports: on descriptions like the catalog's, with repeats, stop words, digits and punctuation."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    assert STOP_WORDS == ENGLISH_STOP_WORDS
    texts = pd.Series(
        [
            "On the Amendment S.Amdt. 429 to S. 2226 | Kaine Amdt. No. 429 | To require the advice and consent of "
            "the Senate to withdraw the United States from the North Atlantic Treaty",
            "NATO NATO nato: the North Atlantic Treaty Organization's Article 5, and the Treaty again (Article 5)",
            "A bill to impose sanctions with respect to the Nord Stream 2 pipeline; sanctions, sanctions!",
            "the of and a",  # stop words only: a zero vector
            "Ukraine’s sovereignty — café résumé 2024-02-13",
        ]
    )
    vectorizer = TfidfVectorizer(use_idf=False, sublinear_tf=True, stop_words="english", ngram_range=(1, 2))
    expected = vectorizer.fit_transform(texts).toarray()
    analyzer = vectorizer.build_analyzer()
    assert [text_terms(text) for text in texts] == [analyzer(text) for text in texts]
    terms = dict.fromkeys(term for text in texts for term in text_terms(text))
    vocabulary = {term: column for column, term in enumerate(terms)}
    columns = [vocabulary[term] for term in vectorizer.get_feature_names_out()]
    np.testing.assert_allclose(term_vectors(texts, vocabulary)[:, columns], expected, rtol=0, atol=1e-15)
    assert not term_vectors(texts, vocabulary)[3].any()
    assert text_terms("") == [] and not term_vectors(pd.Series([None, ""]), vocabulary).any()


def test_no_similar_rollcalls_without_shared_words():
    """A catalog with no word in common with the measure (here: only stop words) gives no similar roll call,
    where scikit-learn stopped on an empty vocabulary."""
    catalog = _catalog().assign(description="the of and")
    measures = pd.DataFrame(
        {"measure_id": ["m1"], "text": ["North Atlantic"], "date": pd.to_datetime(["2021-01-01"]), "chamber": ["house"]}
    )
    assert similar_rollcalls(measures, catalog, k=5, min_similarity=0.1).empty


def test_party_similar_share_is_similarity_weighted():
    alignment = party_alignment(_votes(), _catalog())
    similar = pd.DataFrame({"measure_id": ["m", "m"], "rollcall_id": ["a", "b"], "similarity": [0.6, 0.2]})
    pairs = pd.DataFrame({"measure_id": ["m", "m", "m"], "party": ["R", "D", "I"]})
    shares = add_party_similar_share(pairs, similar, alignment)["party_similar_share"].to_numpy()
    assert shares[0] == pytest.approx((0.6 * 0.5 + 0.2 * 0.0) / 0.8)
    assert shares[1] == pytest.approx(1.0)
    assert np.isnan(shares[2])  # the party cast no votes on either


def test_member_similar_share_is_the_members_own_similarity_weighted_record():
    member_votes = aligned_votes(_votes(), _catalog())
    # a (roll call "a", orientation +1): R1 Yea (aligned), R2 Nay, D1 Yea, D2 absent; b (orientation -1): R1 and
    # R2 Yea (against the alliance), D1 Nay (aligned); x is not directed
    assert set(member_votes["rollcall_id"]) == {"a", "b"} and "D2" not in set(member_votes["bioguide_id"])
    similar = pd.DataFrame({"measure_id": ["m", "m"], "rollcall_id": ["a", "b"], "similarity": [0.6, 0.2]})
    pairs = pd.DataFrame({"measure_id": ["m", "m", "m", "m", "n"], "bioguide_id": ["R1", "R2", "D1", "D2", "R1"]})
    shares = add_member_similar_share(pairs, similar, member_votes)["member_similar_share"].to_numpy()
    assert shares[0] == pytest.approx(0.6 / 0.8)  # aligned on a, not on b
    assert shares[1] == pytest.approx(0.0)
    assert shares[2] == pytest.approx(1.0)
    assert np.isnan(shares[3])  # cast no Yea/Nay vote on either
    assert np.isnan(shares[4])  # a measure with no similar roll call


def test_a_users_note_that_they_set_the_stance_is_not_matched_against_earlier_roll_calls():
    """A described bill is matched by its title (and the user's own stance reason, or a rule's), never by the note
    that a user set its stance: those words said nothing of the bill yet moved its forecast."""
    registry = pd.DataFrame(
        {
            "bill_id": ["119hr9999", "119hr9998", "119hr6508"],
            "title": ["NATO Act", "NATO Act", "NATO Act"],
            "stance_reason": [USER_STANCE, "user: it withdraws from NATO", "rule: withdraws from NATO"],
        }
    )
    ctx = SimpleNamespace(catalog=_catalog(), registry=registry)
    measures = pd.DataFrame({"measure_id": ["a", "119hr9999", "119hr9998", "119hr6508"]}).assign(
        bill_id=lambda frame: frame["measure_id"]
    )
    texts = measure_texts(ctx, measures)["text"].tolist()
    assert texts[0] == _catalog()["description"][0]  # a catalogued roll call keeps its description
    assert texts[1:] == [
        "NATO Act | ",
        "NATO Act | user: it withdraws from NATO",
        "NATO Act | rule: withdraws from NATO",
    ]


def test_procedure_first_matching_rule_wins():
    rows = pd.DataFrame(
        {
            "category": [
                "passage-suspension",
                "procedural",
                "procedural",
                "amendment",
                "passage",
                "passage",
                "cloture",
            ],
            "question": [
                "On Motion to Suspend the Rules and Pass",
                "On Motion to Table the Amendment",
                "On Ordering the Previous Question",
                "On the Amendment",
                "On Passage",
                "On Agreeing to the Resolution",
                "On the Cloture Motion",
            ],
            "type": None,
            "description": None,
            "bill_type_raw": [None, None, None, None, "hr", "hres", "s"],
        }
    )
    assert procedure(rows).tolist() == [
        "suspension", "table_amendment", "previous_question", "amendment", "passage", "resolution", "cloture",
    ]  # fmt: skip


def test_president_party_on_a_date():
    presidents = pd.DataFrame(
        {
            "office": ["president", "vice_president", "president"],
            "party": ["D", "R", "R"],
            "start": pd.to_datetime(["2021-01-20", "2021-01-20", "2025-01-20"]),
        }
    )
    dates = pd.Series(pd.to_datetime(["2020-06-01", "2021-01-20", "2025-01-19", "2025-01-20"]))
    assert president_party_on(dates, presidents).tolist() == [None, "D", "D", "R"]
    assert np.isnan(president_party_on(dates, presidents.iloc[:0]).astype(float)).all()


def test_active_cosponsors_joined_before_and_not_withdrawn():
    cosponsorships = pd.DataFrame(
        {
            "bill_id": ["b", "b", "b", "b"],
            "bioguide_id": ["early", "same_day", "withdrew", "withdrew_later"],
            "date": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-01-01", "2025-01-01"]),
            "withdrawn": pd.to_datetime([None, None, "2025-02-01", "2025-04-01"]),
        }
    )
    measures = pd.DataFrame(
        {"measure_id": ["m", "n"], "bill_id": ["b", None], "date": pd.to_datetime(["2025-03-01"] * 2)}
    )
    active = active_cosponsors(cosponsorships, measures)
    assert sorted(active["bioguide_id"]) == ["early", "withdrew_later"]
    assert set(active["measure_id"]) == {"m"}


def test_a_few_dw_nominate_lookups_equal_the_as_of_join(tables, monkeypatch):
    """``lagged_scores`` answers a few distinct (member, congress) questions one by one (a forecast asks about one
    sponsor for every member) and many with an as-of join: both give the same scores on the real members table.
    Massie (scored from the 112th) and Luna (from the 118th) in the 119th, Luna in her first congress (nothing
    before it), Paul in the 115th, Sanders in the 110th (the table's first), an unknown and a missing id."""
    scored = nominate.scored_congresses(tables["members"])
    ids = pd.Series(["M001184", "L000596", "L000596", "P000603", "S000033", "ZZZ0000", None])
    congresses = pd.Series([119, 119, 118, 115, 110, 119, 119])
    few = nominate.lagged_scores(scored, ids, congresses)
    monkeypatch.setattr(nominate, "FEW_QUERIES", 0)
    joined = nominate.lagged_scores(scored, ids, congresses)
    pd.testing.assert_frame_equal(few, joined)
    assert few["nominate_dim1"].round(3).tolist()[:2] + [few["nominate_dim1"].round(3)[3]] == [0.665, 0.569, 0.891]
    assert few.loc[[2, 4, 5, 6]].isna().all().all()


@pytest.mark.parametrize("dtype", ["str", object, "category", "string[pyarrow]"])
def test_positions_in_is_get_indexer(dtype):
    """Arrow's lookup gives pandas' positions for every kind of string column, -1 for absent and missing ids."""
    from pipeline.ids import positions_in

    index = pd.Index(["M001184", "L000596", "J000294"])
    values = pd.Series(["J000294", "nobody", None, "M001184", "J000294"], dtype=dtype)
    found = positions_in(index, values)
    assert found.dtype == np.int32
    assert found.tolist() == index.get_indexer(values).tolist() == [2, -1, -1, 0, 2]
    assert positions_in(index, values.iloc[:0]).tolist() == []
    assert positions_in(index.delete([0, 1, 2]), values).tolist() == [-1] * 5
    with_missing = pd.Index(["M001184", None, "J000294"])  # a missing value never matches a missing entry
    assert positions_in(with_missing, values).tolist() == [2, -1, -1, 0, 2]


def test_positions_in_reads_chunks_with_their_own_dictionaries():
    """A categorical read from parquet arrives as chunks, each with its own dictionary (row groups)."""
    import pyarrow as pa

    from pipeline.ids import positions_in

    chunks = pa.chunked_array(
        [
            pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1], type=pa.int32()), pa.array(["b", "x"])),
            pa.DictionaryArray.from_arrays(pa.array([1, 0], type=pa.int32()), pa.array(["a", "b"])),
        ]
    )
    assert positions_in(pd.Index(["a", "b", "c"]), chunks).tolist() == [1, -1, -1, -1, 1, 0]


def _stage_rollcalls() -> pd.DataFrame:
    """Roll calls of two bills: codes 0-5 in roll-call order, then motions about a bill's handling (6-9)."""
    return pd.DataFrame(
        {
            "category": ["passage", "cloture", "amendment", "cloture", "passage", "passage-suspension"]
            + ["unknown", "unknown", "unknown", "impeachment"],
            "question": ["On Passage", "On Cloture", "On the Amendment", "Cloture on Amdt", "On Passage", "Suspend"]
            + [
                "Recommit Conference Report with Instructions: H R 1",
                "On Motion to Table: H RES 9",
                "On Closing Portions of the Conference: H R 1",
                "Article I: H RES 9 Impeaching a judge",
            ],
            "type": [""] * 10,
            "description": [""] * 10,
            "bill_type_raw": ["hr"] * 6 + ["hr", "hres", "hr", "hres"],
            "bill_id": ["1hr1", "1hr1", "1hr1", "1hr1", "1hr1", None, "1hr1", "1hres9", "1hr1", "1hres9"],
            "amendment_number": [None, None, 7, 7, None, None, None, None, None, None],
            "chamber": ["house", "senate", "senate", "senate", "senate", "house", "house", "house", "house", "house"],
            "congress": 1,
            "day": [10, 20, 21, 21, 22, 22, 23, 23, 23, 23],
        }
    )


def test_on_the_bill_keeps_votes_on_the_bill_itself():
    # an amendment, cloture on an amendment, a roll call of no bill, recommitting a conference report, tabling,
    # closing a conference and an impeachment ask something else
    assert on_the_bill(_stage_rollcalls()).tolist() == [True, True, False, False, True] + [False] * 5


def test_latest_stage_is_the_last_earlier_one_of_the_chamber_and_congress_else_the_other_chamber():
    rollcalls = _stage_rollcalls()
    stage = np.flatnonzero(on_the_bill(rollcalls))
    stages = rollcalls.iloc[stage][["bill_id", "chamber", "congress", "day"]].assign(stage=stage)
    measures = pd.DataFrame(
        {
            "measure_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "bill_id": ["1hr1", "1hr1", "1hr1", "1hr1", "1hr1", "1hr2", None, "1hr1"],
            "chamber": ["senate", "senate", "senate", "house", "house", "house", "house", "house"],
            "congress": [1, 1, 1, 1, 1, 1, 1, 4],
            "day": [22, 20, 10, 30, 10, 30, 30, 2000],
            "on_bill": True,
        }
    )
    # a: the Senate's cloture (day 20), not the passage of its own day; b: none in the Senate before day 20, so the
    # House's passage; c: nothing before day 10; d: the House's own passage (day 10), not the Senate's later
    # ones nor the motions about the bill of day 23; e: nothing before; f: another bill; g: no bill; h: a later
    # congress (the bill died with its own)
    assert latest_stages(measures, stages).tolist() == [1, 0, -1, 0, -1, -1, -1, -1]
    amendment = measures.iloc[[0]].assign(on_bill=False)  # asks something else than the bill
    assert latest_stages(amendment, stages).tolist() == [-1]


def test_stage_votes_by_member_and_party():
    # stage 4: members 0 and 1 (party 0) Yea and Nay, member 2 (party 1) Yea; stage 1: member 0 Nay
    votes = StageVotes(
        rollcall=np.array([4, 4, 4, 1]),
        member=np.array([0, 1, 2, 0]),
        sign=np.array([1, -1, 1, -1]),
        party=np.array([0, 0, 1, 0]),
        shape=(3, 2),
    )
    stage, member = np.array([4, 4, 4, 1, 1, -1, 4]), np.array([0, 1, 2, 0, 2, 0, -1])
    np.testing.assert_array_equal(votes.member_yea(stage, member), [1, 0, 1, 0, np.nan, np.nan, np.nan])
    party = np.array([0, 0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(votes.party_share(stage, party), [0.5, 0.5, 1, 0, np.nan, np.nan, 0.5])
    empty = StageVotes(*(np.array([], dtype=np.int64),) * 4, shape=(3, 2))
    assert np.isnan(empty.member_yea(stage, member)).all()


def test_votes_without_a_party_are_coded_as_question_mark(tables):
    """A Yea/Nay vote with no party on record codes as the party "?" (as a literal "?" does), whether the ids come
    as categoricals or as strings; the others keep their party. The real table has no such vote, so some are
    blanked here."""
    from features.build import Context
    from pipeline.tables import as_strings

    votes = tables["votes"][tables["votes"]["rollcall_id"] == "h42-116.2019"].reset_index(drop=True)
    votes = votes.astype({"vote_party": "str"})
    votes.loc[[0, 1], "vote_party"] = None
    votes.loc[2, "vote_party"] = "?"
    coded = {}
    for kind, frame in (("strings", as_strings(votes)), ("categories", votes.astype({"vote_party": "category"}))):
        ctx = Context.__new__(Context)  # only what coding the votes reads
        ctx.members, ctx.rollcalls = tables["members"], tables["rollcalls"].reset_index(drop=True)
        ctx.params = {"sitting_window_days": 90}  # the seats are coded with the votes
        ctx._code_votes(frame)
        coded[kind] = ctx.parties[ctx.vote_party].tolist()
    cast = votes[votes["position"].isin(["yea", "nay"])]
    expected = cast["vote_party"].fillna("?").tolist()
    assert coded["strings"] == coded["categories"] == expected
    assert expected[:3] == ["?", "?", "?"] and {"R", "D"} <= set(expected[3:])


RECENCY_WEIGHTS_IN_A_CHILD = """
import sys
import numpy as np
from features.history import recency_weights
days = np.arange(-3000, 12000)
np.save(sys.argv[1], np.concatenate([recency_weights(days, 365.0), recency_weights(days, 730.0)]))
"""


def test_recency_weights_are_the_same_bits_without_numpys_avx512_code(tmp_path):
    """NumPy's AVX-512 exp rounds the last bit otherwise than its code without (about 1 in 20 days from 1992 to
    2032): the features' recency-weighted shares, training.parquet and the model with them, depended on the CPU."""
    import os
    import subprocess
    import sys

    runs = []
    for disabled in ("", "X86_V4 AVX512_ICL AVX512_SPR"):
        environment = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        child = [sys.executable, "-c", RECENCY_WEIGHTS_IN_A_CHILD, str(tmp_path / f"{len(runs)}.npy")]
        subprocess.run(child, env=environment, check=True, capture_output=True, timeout=120)
        runs.append(np.load(tmp_path / f"{len(runs)}.npy"))
    assert np.array_equal(runs[0], runs[1])
    days = np.array([3000, 3000, 0, 7300])
    np.testing.assert_allclose(recency_weights(days, 730.0), np.exp(days * np.log(2) / 730.0), rtol=1e-15)
