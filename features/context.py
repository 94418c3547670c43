"""Measure context: what a member's vote on any roll call with a known sponsor depends on beyond the member.

Who sponsors the question and whether the member is that sponsor or a cosponsor of the bill; whether the
sponsor is of the member's party and of the chamber's majority and the President's; how bipartisan the
cosponsors are; the procedure (a suspension vote, a rule, a motion to recommit cut differently from a passage
vote). The same function computes these for the general vote model's roll calls (every roll call with a known
sponsor) and for the NATO measures and forecasts, always from data dated before the measure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator

import numpy as np
import pandas as pd

from features import nominate
from features.history import to_days
from pipeline.ids import NON_VOTING_STATES

PROCEDURES = (
    "passage",
    "suspension",
    "rule",
    "previous_question",
    "recommit",
    "amendment",
    "table_amendment",
    "waive",
    "cloture",
    "motion_to_proceed",
    "conference",
    "concur",
    "discharge",
    "veto_override",
    "treaty",
    "resolution",
    "other_procedural",
)
CONTEXT_FEATURES = [
    "is_senate",
    "is_republican",
    "is_democrat",
    "nominate_dim1",
    "nominate_dim2",
    "is_sponsor",
    "is_cosponsor",
    "same_party_as_sponsor",
    "same_party_as_bill_sponsor",
    "sponsor_with_bill_sponsor",
    "sponsor_is_republican",
    "sponsor_in_majority",
    "member_in_majority",
    "member_in_president_party",
    "sponsor_in_president_party",
    "cosponsors_log",
    "cosponsors_same_party_share",
    "cosponsors_bipartisan_share",
    "sponsor_distance",
    "agree_sponsor_prev",
    "sponsor_party_loyalty",
    "sponsor_followed_by_party",
    "sponsor_dim1",
    "sponsor_dim2",
    *[f"procedure_{name}" for name in PROCEDURES],
    "prior_stage_yea",
    "prior_stage_party_share",
]
# votes on a bill itself, where a Yea is for the bill: a bill's earlier such vote foretells its next one
ON_THE_BILL = (
    "passage",
    "suspension",
    "cloture",
    "motion_to_proceed",
    "concur",
    "conference",
    "veto_override",
    "resolution",
)
EXCLUDED_CATEGORIES = ("nomination", "quorum", "leadership", "impeachment", "conviction")


def procedure(rollcalls: pd.DataFrame) -> pd.Series:
    """What kind of vote each roll call is, from the record's category and question."""
    category = rollcalls["category"].fillna("")
    question = rollcalls["question"].fillna("") + " " + rollcalls["type"].fillna("")
    text = question + " " + rollcalls["description"].fillna("")
    is_resolution = rollcalls["bill_type_raw"].fillna("").str.lower().isin(["hres", "sres", "hconres", "sconres"])
    rules = [
        (category == "passage-suspension", "suspension"),
        (category == "recommit", "recommit"),
        (category == "cloture", "cloture"),
        (category == "veto-override", "veto_override"),
        (category == "treaty", "treaty"),
        (question.str.contains("discharge", case=False), "discharge"),
        (question.str.contains("previous question", case=False), "previous_question"),
        (text.str.contains(r"providing for (?:the )?consideration", case=False), "rule"),
        ((category == "procedural") & question.str.contains(r"\btable\b", case=False), "table_amendment"),
        ((category == "procedural") & question.str.contains("waive", case=False), "waive"),
        (question.str.contains("motion to proceed", case=False), "motion_to_proceed"),
        (category == "procedural", "other_procedural"),
        (category == "amendment", "amendment"),
        (question.str.contains("conference report", case=False), "conference"),
        (question.str.contains(r"concur", case=False), "concur"),
        (is_resolution, "resolution"),
    ]
    kind = pd.Series("passage", index=rollcalls.index, dtype=object)
    for condition, name in reversed(rules):  # the first rule that holds wins
        kind[condition.to_numpy()] = name
    return kind


# motions about a bill's handling that the procedure's categories leave as passage, conference or resolution: a
# Yea on them is not for the bill (tabling, committing, the chair's rulings, portions of a divided question)
NOT_ON_THE_BILL = re.compile(
    r"^(?:on )?(?:the )?(?:motion to )?table\b|\bmotion to table\b|\brecommit|\bmotion to commit\b"
    r"|closing portions|divided question|amendment to the title|\bon postponing\b|postpone indefinitely"
    r"|ruling of the chair",
    re.IGNORECASE,
)


def on_the_bill(rollcalls: pd.DataFrame) -> np.ndarray:
    """Whether each roll call asks about a bill itself (passage, cloture, concurring, ...: Yea is for the bill),
    not about an amendment to it (cloture on an amendment included), a motion about its handling
    (``NOT_ON_THE_BILL``) or an impeachment."""
    question = rollcalls["question"].fillna("") + " " + rollcalls["type"].fillna("")
    return (
        procedure(rollcalls).isin(ON_THE_BILL)
        & rollcalls["bill_id"].notna()
        & rollcalls["amendment_number"].isna()
        & ~rollcalls["category"].isin(EXCLUDED_CATEGORIES)
        & ~question.str.contains(NOT_ON_THE_BILL)
    ).to_numpy()


def latest_stages(measures: pd.DataFrame, stages: pd.DataFrame) -> np.ndarray:
    """Per measure (measure_id, bill_id, chamber, congress, day, on_bill), the roll-call code of its bill's latest
    earlier stage (``stages``: stage, bill_id, chamber, congress, day of the roll calls ``on_the_bill``): of the
    measure's own chamber where there is one, else of the other (the House's passage before the Senate's), and of
    the measure's congress (a bill dies with its congress). Strictly before the measure's day, so nothing of its
    own day; -1 where there is none or the measure is not on the bill itself (``on_bill`` false)."""
    found = np.full(len(measures), -1, dtype=np.int64)
    asked = measures.assign(row=np.arange(len(measures)))
    asked = asked[asked["bill_id"].notna() & asked["on_bill"].astype(bool)].sort_values("day")
    earlier = stages[stages["bill_id"].isin(asked["bill_id"])]  # a forecast's bill: a few stages, not thousands
    if earlier.empty:
        return found
    earlier = earlier.sort_values(["day", "stage"])  # the last of a day is its latest roll call
    for by in (["bill_id", "congress", "chamber"], ["bill_id", "congress"]):  # its own chamber first
        matched = pd.merge_asof(
            asked[["row", "day", *by]].astype({"day": np.int64, "congress": np.int64}),
            earlier[["stage", "day", *by]].astype({"day": np.int64, "congress": np.int64}),
            on="day",
            by=by,
            allow_exact_matches=False,
            direction="backward",
        ).dropna(subset=["stage"])
        rows = matched["row"].to_numpy()
        open_rows = found[rows] < 0
        found[rows[open_rows]] = matched["stage"].to_numpy(dtype=np.int64)[open_rows]
    return found


class StageVotes:
    """The Yea/Nay votes on bill stages (integer codes), answered by (stage, member) and by (stage, party)."""

    def __init__(
        self, rollcall: np.ndarray, member: np.ndarray, sign: np.ndarray, party: np.ndarray, shape: tuple[int, int]
    ):
        """``shape``: how many members and how many parties the codes count (the keys' widths)."""
        self.members, self.parties = np.int64(shape[0]), np.int64(shape[1])
        yea = (sign == 1).astype(float)
        keys = rollcall.astype(np.int64) * self.members + member
        order = np.argsort(keys, kind="stable")
        self.member_keys, self.member_yea_values = keys[order], yea[order]
        party_keys = rollcall.astype(np.int64) * self.parties + party
        self.party_keys, inverse = np.unique(party_keys, return_inverse=True)
        self.party_shares = np.bincount(inverse, weights=yea) / np.bincount(inverse)

    def member_yea(self, stage: np.ndarray, member: np.ndarray) -> np.ndarray:
        """1 Yea, 0 Nay, NaN where the member cast neither on the stage (or there is no stage)."""
        return _sorted_lookup(self.member_keys, self.member_yea_values, stage, member, self.members)

    def party_share(self, stage: np.ndarray, party: np.ndarray) -> np.ndarray:
        """The share of the party's Yea/Nay votes on the stage that were Yea; NaN where the party cast none."""
        return _sorted_lookup(self.party_keys, self.party_shares, stage, party, self.parties)


def _sorted_lookup(keys: np.ndarray, values: np.ndarray, first: np.ndarray, second: np.ndarray, width) -> np.ndarray:
    """``values`` at the key first * width + second in the sorted ``keys``; NaN where either code is -1 or absent."""
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    query = np.where((first >= 0) & (second >= 0), first * width + second, -1)
    if len(keys) == 0:
        return np.full(len(query), np.nan)
    position = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[position] == query, values[position], np.nan)


def general_measures(rollcalls: pd.DataFrame) -> pd.DataFrame:
    """Every roll call whose sponsor is known and on which members took sides: the general model's measures."""
    chosen = rollcalls[
        rollcalls["sponsor_bioguide_id"].notna()
        & ~rollcalls["category"].isin(EXCLUDED_CATEGORIES)
        & (rollcalls["yea_count"] > 0)
        & (rollcalls["nay_count"] > 0)
    ]
    return pd.DataFrame(
        {
            "measure_id": chosen["rollcall_id"],
            "chamber": chosen["chamber"],
            "date": chosen["date"],
            "congress": chosen["congress"],
            "bill_id": chosen["bill_id"],
            "sponsor_bioguide_id": chosen["sponsor_bioguide_id"],
            "procedure": procedure(chosen),
        }
    ).reset_index(drop=True)


def sample_votes(pairs: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """A reproducible random ``share`` of the member votes, keeping every sponsor's and cosponsor's vote (rare
    and the point of the model): memory and training time stay bounded as congresses are added."""
    if share >= 1:
        return pairs
    rng = np.random.default_rng(seed)
    keep = (rng.random(len(pairs)) < share) | (pairs["is_sponsor"] == 1) | (pairs["is_cosponsor"] == 1)
    return pairs[keep].reset_index(drop=True)


def lookup_keys(index_frame: pd.DataFrame, series: pd.Series) -> np.ndarray:
    """``series`` (with a MultiIndex) looked up at the rows of ``index_frame``'s columns, NaN where absent."""
    keys = pd.MultiIndex.from_frame(index_frame)
    return series.reindex(keys).to_numpy()


def _rows_by_value(values: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(value, its positions) for each distinct value of ``values`` (small integers, e.g. congresses), in
    ascending order of the value, the positions ascending: a mask per value, never a sort of millions of votes."""
    for value in np.unique(values):
        yield value, np.flatnonzero(values == value)


def _voting_spans(
    vote_congress: np.ndarray, vote_chamber: np.ndarray, vote_member: np.ndarray, vote_days: np.ndarray
) -> pd.DataFrame:
    """Each member's first and last day of voting per congress and chamber (congress, chamber, member,
    first_day, last_day), a congress at a time: memory holds one congress's votes, not a frame of all of them."""

    def spans_of(rows: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "congress": vote_congress[rows],
                "chamber": vote_chamber[rows],
                "member": vote_member[rows],
                "day": vote_days[rows],
            }
        )
        spans = frame.groupby(["congress", "chamber", "member"], observed=True)["day"].agg(
            first_day="min", last_day="max"
        )
        return spans.reset_index().astype({"congress": np.int64, "chamber": str})  # whatever the votes' types

    spans = [spans_of(rows) for _, rows in _rows_by_value(vote_congress)]  # one congress's positions at a time
    return pd.concat(spans, ignore_index=True) if spans else spans_of(np.arange(0))


def seat_holders(
    members: pd.DataFrame,
    caucus: pd.Series,
    vote_congress: np.ndarray,
    vote_chamber: np.ndarray,
    vote_member: np.ndarray,
    vote_days: np.ndarray,
    member_ids: pd.Index,
) -> pd.DataFrame:
    """Who held each seat and when, per congress and chamber: (congress, chamber, bioguide_id, caucus, first_day,
    replaced_day). A member holds a seat from their first vote in the chamber that congress; a House district
    has one seat and a state two in the Senate, so when a member arrives at a full seat, the holder who stopped
    voting first is replaced on the newcomer's first day. ``vote_*``: one entry per vote (days as
    ``features.history.to_days``), ``vote_member`` as positions in ``member_ids``; ``caucus``: ``caucus_of``."""
    spans = _voting_spans(vote_congress, vote_chamber, vote_member, vote_days)
    spans["bioguide_id"] = member_ids[spans["member"].to_numpy()]
    place = members.drop_duplicates(["bioguide_id", "congress", "chamber"], keep="last")
    spans = spans.merge(
        place[["bioguide_id", "congress", "chamber", "state", "district"]], on=["bioguide_id", "congress", "chamber"]
    )
    spans = spans[~spans["state"].isin(NON_VOTING_STATES)]
    spans["seat"] = spans["state"] + np.where(spans["chamber"] == "house", spans["district"].astype(str), "")
    spans["caucus"] = caucus.reindex(pd.MultiIndex.from_frame(spans[["bioguide_id", "congress"]])).to_numpy()
    spans = spans.sort_values(["congress", "chamber", "seat", "first_day", "bioguide_id"], kind="stable")
    replaced = np.full(len(spans), np.iinfo(np.int64).max, dtype=np.int64)
    first, last = spans["first_day"].to_numpy(), spans["last_day"].to_numpy()
    keys = (spans["congress"].astype(str) + spans["chamber"] + spans["seat"]).to_numpy()
    capacity = np.where(spans["chamber"].to_numpy() == "senate", 2, 1)
    holding: list[int] = []
    for row in range(len(spans)):  # a few thousand seats: members arrive in order of their first vote
        if row == 0 or keys[row] != keys[row - 1]:
            holding = []
        if len(holding) >= capacity[row]:
            leaving = min(holding, key=lambda held: last[held])
            replaced[leaving] = first[row]
            holding.remove(leaving)
        holding.append(row)
    spans["replaced_day"] = replaced
    return spans[["congress", "chamber", "bioguide_id", "caucus", "first_day", "replaced_day"]].reset_index(drop=True)


def majority_on(holders: pd.DataFrame, measures: pd.DataFrame, presidents: pd.DataFrame) -> np.ndarray:
    """The party holding the chamber on each measure's day (``measures``: congress, chamber, date): the seats held
    the day before (``seat_holders``, so a measure's own roll call never counts), an independent with their caucus,
    an even split to the Vice President's party on the day. Missing before the chamber's first roll call."""
    result = np.full(len(measures), None, dtype=object)
    days = to_days(measures["date"])
    vice_president = vice_president_party_on(measures["date"], presidents)
    holders_congress, holders_chamber = holders["congress"].to_numpy(), holders["chamber"].to_numpy()
    for (congress, chamber), rows in measures.groupby(["congress", "chamber"]).indices.items():
        held = holders[(holders_congress == congress) & (holders_chamber == chamber)]  # the seats of that house
        if held.empty:
            continue
        day = days[rows][:, None]
        sitting = (held["first_day"].to_numpy() < day) & (day <= held["replaced_day"].to_numpy())
        democrats = (sitting & (held["caucus"].to_numpy() == "D")).sum(axis=1)
        republicans = (sitting & (held["caucus"].to_numpy() == "R")).sum(axis=1)
        holder = np.where(democrats > republicans, "D", np.where(republicans > democrats, "R", vice_president[rows]))
        result[rows] = np.where(sitting.any(axis=1), holder, None)
    return result


def caucus_of(members: pd.DataFrame) -> pd.Series:
    """Caucus by (bioguide_id, congress): the party, an independent's the side their DW-NOMINATE first dimension
    puts them on (the caucus they joined: Sanders, King and Sinema with the Democrats; an independent without a
    score stays one). Who holds the chamber and who is of the sponsor's side are questions of caucus. The score
    spans the career, but for an independent it only recovers a fact public from the start (they name a caucus on
    taking the seat). A member who switched party within a congress has that congress's one Voteview row (Specter
    is a Democrat for all of the 111th, from before his switch on 2009-04-28): a known limit."""
    rows = members.drop_duplicates(["bioguide_id", "congress"], keep="last").set_index(["bioguide_id", "congress"])
    side = np.where(rows["nominate_dim1"] < 0, "D", np.where(rows["nominate_dim1"] >= 0, "R", rows["party"]))
    return rows["party"].where(rows["party"].isin(["D", "R"]), pd.Series(side, index=rows.index))


def vice_president_party_on(dates: pd.Series, presidents: pd.DataFrame) -> np.ndarray:
    """The Vice President's party on each date (NaN where unknown)."""
    return _office_party_on(dates, presidents, "vice_president")


def president_party_on(dates: pd.Series, presidents: pd.DataFrame) -> np.ndarray:
    """The President's party on each date (executive.yaml terms; NaN before the first known term)."""
    return _office_party_on(dates, presidents, "president")


def _office_party_on(dates: pd.Series, presidents: pd.DataFrame, office: str) -> np.ndarray:
    terms = presidents[presidents["office"] == office].sort_values("start")
    if terms.empty:
        return np.full(len(dates), np.nan, dtype=object)
    position = np.searchsorted(terms["start"].to_numpy(), dates.to_numpy(), side="right") - 1
    party = terms["party"].to_numpy()[np.maximum(position, 0)]
    return np.where(position >= 0, party, None)


def active_cosponsors(cosponsorships: pd.DataFrame, measures: pd.DataFrame) -> pd.DataFrame:
    """(measure_id, bioguide_id) of every cosponsor of the measure's bill on the measure's date: joined
    before it and not withdrawn before it. Cosponsors who join later do not count (no look-ahead)."""
    joined = (
        measures[["measure_id", "bill_id", "date"]]
        .dropna(subset=["bill_id"])
        .merge(
            cosponsorships[["bill_id", "bioguide_id", "date", "withdrawn"]].rename(columns={"date": "joined"}),
            on="bill_id",
        )
    )
    active = (joined["joined"] < joined["date"]) & ~(joined["withdrawn"] < joined["date"])
    return joined.loc[active, ["measure_id", "bioguide_id"]].drop_duplicates()


def cosponsor_balance(cosponsors: pd.DataFrame, party: pd.Series, congress_of: pd.Series) -> pd.DataFrame:
    """Per measure: active cosponsors by party (``party``: caucus as of the measure's congress)."""
    congress = cosponsors["measure_id"].map(congress_of)
    parties = lookup_keys(pd.DataFrame({"b": cosponsors["bioguide_id"], "c": congress}), party)
    counts = pd.crosstab(cosponsors["measure_id"], pd.Series(parties, index=cosponsors.index).fillna("?"))
    return counts.reindex(columns=["R", "D", "I", "?"], fill_value=0)


def previous_congress_agreement(
    vote_rollcall: np.ndarray,
    vote_member: np.ndarray,
    vote_sign: np.ndarray,
    rollcalls: pd.DataFrame,
    member_ids: pd.Index,
    serving: Collection[int] | None = None,
) -> pd.Series:
    """Share of shared Yea/Nay roll calls on which two members voted alike, per (congress, chamber, member,
    other): measured over the *previous* congress, so it is known before any vote of the congress it serves.
    A member and a sponsor with fewer than 20 shared votes get no value. ``vote_*``: the Yea/Nay votes in the
    votes table's order, as integer codes (position in ``rollcalls`` and in ``member_ids``; +1 Yea, -1 Nay), so
    six million votes are never copied as strings; ``serving``: only the tables serving these congresses."""
    congress = rollcalls["congress"].to_numpy()
    groups = pd.MultiIndex.from_arrays([congress, rollcalls["chamber"].to_numpy()])
    group_of_rollcall, keys = groups.factorize(sort=True)
    known = (vote_rollcall >= 0) & (vote_member >= 0)
    # a group code per vote in two bytes (some twenty congresses and chambers), -1 for a vote of no known member
    vote_group = np.where(known, group_of_rollcall.astype(np.int16)[np.maximum(vote_rollcall, 0)], np.int16(-1))
    frames = [
        _agreement_of(vote_rollcall[rows], vote_member[rows], vote_sign[rows], member_ids, *keys[group])
        for group, rows in _rows_by_value(vote_group)  # each group's votes, in the table's order
        if group >= 0 and (serving is None or keys[group][0] + 1 in serving)
    ]
    empty = pd.DataFrame(  # the types of a table with rows, so that lookups in it give the same types
        {
            "congress": pd.Series(dtype=np.int64),
            "chamber": pd.Series(dtype="str"),
            "bioguide_id": pd.Series(dtype="str"),
            "other": pd.Series(dtype="str"),
            "agree": pd.Series(dtype=np.float32),
        }
    )
    table = pd.concat(frames, ignore_index=True) if frames else empty
    return table.set_index(["congress", "chamber", "bioguide_id", "other"])["agree"]


def _first_seen(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``codes`` in order of first appearance, and each entry's position among them."""
    distinct, first, position = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    return distinct[order], rank[position]


def _agreement_of(
    rollcall: np.ndarray, member: np.ndarray, sign: np.ndarray, member_ids: pd.Index, congress: int, chamber: str
) -> pd.DataFrame:
    """One congress and chamber's agreement table (``previous_congress_agreement``), serving the next congress;
    members in order of their first vote (sums of +-1 in float32 are exact, so any order gives the same shares)."""
    members, row = _first_seen(member)
    _, column = _first_seen(rollcall)
    signs = np.zeros((len(members), column.max() + 1), dtype=np.float32)
    signs[row, column] = sign
    cast = (signs != 0).astype(np.float32)
    shared = cast @ cast.T
    agree = (shared + signs @ signs.T) / 2
    share = np.where(shared >= 20, agree / np.maximum(shared, 1), np.nan)
    a, b = np.meshgrid(np.arange(len(members)), np.arange(len(members)), indexing="ij")
    ids = member_ids[members]
    frame = pd.DataFrame(
        {
            "congress": congress + 1,  # serves the next congress
            "chamber": chamber,
            "bioguide_id": ids[a.ravel()],
            "other": ids[b.ravel()],
            "agree": share.ravel(),
        }
    )
    return frame.dropna(subset=["agree"])


def caucus_of_pairs(pairs: pd.DataFrame, caucus: pd.Series) -> pd.Series:
    """Each pair's member's caucus in the measure's congress (``caucus_of``), their party where none is known."""
    found = pd.Series(lookup_keys(pairs[["bioguide_id", "congress"]], caucus), index=pairs.index)
    return found.fillna(pairs["party"])


def add_context_features(
    pairs: pd.DataFrame,
    caucus: pd.Series,
    scored: pd.DataFrame,
    cosponsorships: pd.DataFrame,
    presidents: pd.DataFrame,
    agreement: pd.Series,
    bill_sponsors: pd.Series,
    holders: pd.DataFrame,
) -> pd.DataFrame:
    """The measure-context features of (member, measure) pairs. ``pairs`` has measure_id, bioguide_id, chamber,
    date, congress, bill_id, sponsor_bioguide_id, procedure, the member profile (party, nominate_dim1/2:
    ``features.build.add_member_profile``) and the sponsor's (``features.build.add_sponsor_profile``);
    ``caucus``: ``caucus_of``; ``scored``: ``nominate.scored_congresses``; ``holders``: who held each seat when
    (``seat_holders``)."""
    member_caucus = caucus_of_pairs(pairs, caucus)
    columns = ["measure_id", "sponsor_bioguide_id", "congress", "chamber", "date", "bill_id"]  # what is read below
    measures = pairs[columns].drop_duplicates("measure_id").set_index("measure_id")
    by_measure = _measure_parties(measures, holders, presidents, bill_sponsors, caucus)
    their = {name: pairs["measure_id"].map(values) for name, values in by_measure.items()}
    cosponsors = active_cosponsors(cosponsorships, measures.reset_index())
    balance = cosponsor_balance(cosponsors, caucus, measures["congress"]).reindex(measures.index, fill_value=0)
    _add_party_flags(pairs, member_caucus, their, cosponsors)
    _add_cosponsor_balance(pairs, member_caucus, balance)
    # an amendment's author may be of the bill's side or against it: the bill's own sponsor tells which
    known_bill, known_sponsor = their["bill_sponsor"].notna(), their["sponsor"].notna()
    pairs["same_party_as_bill_sponsor"] = (member_caucus == their["bill_sponsor"]).astype(float).where(known_bill)
    pairs["sponsor_with_bill_sponsor"] = (
        (their["sponsor"] == their["bill_sponsor"]).astype(float).where(known_bill & known_sponsor)
    )
    pairs = _add_sponsor_distance(pairs, scored)
    pairs["agree_sponsor_prev"] = lookup_keys(
        pairs[["congress", "chamber", "bioguide_id", "sponsor_bioguide_id"]], agreement
    )
    procedures = pairs["procedure"].to_numpy(dtype=object)  # compared as plain objects: 17 times, no pandas op each
    for name in PROCEDURES:
        pairs[f"procedure_{name}"] = (procedures == name).astype(np.int8)
    return pairs


def _measure_parties(
    measures: pd.DataFrame, holders: pd.DataFrame, presidents: pd.DataFrame, bill_sponsors: pd.Series, party: pd.Series
) -> dict[str, pd.Series]:
    """Per measure: the party of its sponsor, of the chamber's majority, of the President, of the bill's sponsor."""
    return {
        "sponsor": pd.Series(
            lookup_keys(pd.DataFrame({"b": measures["sponsor_bioguide_id"], "c": measures["congress"]}), party),
            index=measures.index,
        ),
        "majority": pd.Series(majority_on(holders, measures, presidents), index=measures.index),
        "president": pd.Series(president_party_on(measures["date"], presidents), index=measures.index),
        "bill_sponsor": pd.Series(
            lookup_keys(pd.DataFrame({"b": measures["bill_id"].map(bill_sponsors), "c": measures["congress"]}), party),
            index=measures.index,
        ),
    }


def _add_party_flags(
    pairs: pd.DataFrame, member_party: pd.Series, their: dict[str, pd.Series], cosponsors: pd.DataFrame
) -> None:
    """The member's party, role (sponsor, cosponsor) and party relation (by caucus) to sponsor, majority and
    President."""
    known_sponsor = their["sponsor"].notna()
    pairs["is_senate"] = (pairs["chamber"] == "senate").astype(np.int8)
    pairs["is_republican"] = (pairs["party"] == "R").astype(float).where(pairs["party"].notna())
    pairs["is_democrat"] = (pairs["party"] == "D").astype(float).where(pairs["party"].notna())
    pairs["is_sponsor"] = (pairs["bioguide_id"] == pairs["sponsor_bioguide_id"]).astype(np.int8)
    cosponsor_key = pd.MultiIndex.from_frame(cosponsors[["measure_id", "bioguide_id"]])
    pairs["is_cosponsor"] = (
        pd.MultiIndex.from_frame(pairs[["measure_id", "bioguide_id"]]).isin(cosponsor_key).astype(np.int8)
    )
    pairs["same_party_as_sponsor"] = (member_party == their["sponsor"]).astype(float).where(known_sponsor)
    pairs["sponsor_is_republican"] = (their["sponsor"] == "R").astype(float).where(known_sponsor)
    known_majority = their["majority"].notna()  # none before the chamber's first roll call of the congress
    pairs["sponsor_in_majority"] = (
        (their["sponsor"] == their["majority"]).astype(float).where(known_sponsor & known_majority)
    )
    pairs["member_in_majority"] = (
        (member_party == their["majority"]).astype(float).where(member_party.notna() & known_majority)
    )
    known_president = their["president"].notna()
    pairs["president_party_controls_chamber"] = (
        (their["majority"] == their["president"]).astype(float).where(known_president & known_majority)
    )
    pairs["member_in_president_party"] = (member_party == their["president"]).astype(float).where(known_president)
    pairs["sponsor_in_president_party"] = (
        (their["sponsor"] == their["president"]).astype(float).where(known_president & known_sponsor)
    )


def _add_cosponsor_balance(pairs: pd.DataFrame, member_party: pd.Series, balance: pd.DataFrame) -> None:
    """How many active cosponsors, the share from the member's caucus, and how bipartisan they are."""
    total = balance[["R", "D", "I", "?"]].sum(axis=1)
    # math.log1p per measure, not numpy's: numpy's vectorised log1p rounds the last bit differently by CPU (AVX2
    # against AVX-512), and the features would then differ from one machine to the next (dvc.lock with them)
    pairs["cosponsors_log"] = pairs["measure_id"].map(total.astype(float).map(math.log1p)).astype(float)
    by_party = balance.stack().rename("n")
    same = lookup_keys(pd.DataFrame({"m": pairs["measure_id"], "p": member_party.fillna("?")}), by_party)
    n_total = pairs["measure_id"].map(total).to_numpy()
    pairs["cosponsors_same_party_share"] = np.where(
        n_total > 0, np.nan_to_num(same.astype(float)) / np.maximum(n_total, 1), np.nan
    )
    bipartisan = np.minimum(balance["R"], balance["D"]) / np.maximum(balance["R"] + balance["D"], 1)
    pairs["cosponsors_bipartisan_share"] = pairs["measure_id"].map(bipartisan.where(total > 0)).astype(float)


def _add_sponsor_distance(pairs: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """DW-NOMINATE distance between the member and the sponsor, the sponsor's from the latest congress before the
    measure's like the member's own."""
    sponsor = nominate.lagged_scores(scored, pairs["sponsor_bioguide_id"], pairs["congress"])
    pairs["sponsor_distance"] = nominate.distance(pairs, sponsor)
    return pairs
