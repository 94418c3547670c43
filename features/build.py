"""DVC stage `features`: point-in-time features for (member, measure) pairs.

A *measure* is something a member can vote on or back: a catalogued roll call (training) or a registry
bill as of a date (forecast). Every feature of a pair is computed from data dated strictly before the
measure's date (see features/history.py), so the same code serves training, backtest and forecast.
The data dictionary of every column is in docs/features.md.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Collection, Iterable, Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import nominate
from features.context import (
    CONTEXT_FEATURES,
    ON_THE_BILL,
    StageVotes,
    active_cosponsors,
    add_context_features,
    caucus_of,
    caucus_of_pairs,
    general_measures,
    latest_stages,
    lookup_keys,
    on_the_bill,
    previous_congress_agreement,
    procedure,
    sample_votes,
    seat_holders,
)
from features.history import EventHistory, recency_weights, to_days
from features.precedent import (
    CatalogTerms,
    add_member_similar_share,
    add_party_domain_recent,
    add_party_similar_share,
    aligned_votes,
    catalog_terms,
    party_alignment,
    similar_rollcalls,
)
from features.registry import USER_STANCE, build_registry, load_additions
from features.seats import Seats, sitting_members, yea_or_nay
from pipeline.config import FEATURES_DIR, TABLES_DIR, DataConfig, load_params, stage_arguments
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.ids import congress_of_date, positions_in
from pipeline.tables import (
    VOTE_IDS,
    as_strings,
    log_timing,
    read_table,
    release_free_memory,
    write_atomic,
    write_json,
    write_parquet,
)

log = logging.getLogger("natocast.features")

DOMAINS = ("alliance", "tied")
KINDS = ("passage", "amendment", "procedural", "treaty", "resolution")
MEASURE_COLUMNS = [
    "measure_id",
    "chamber",
    "date",
    "congress",
    "orientation",
    "domain",
    "kind",
    "bill_id",
    "sponsor_bioguide_id",
]


class Context:
    """The tables every feature reads, as integer-coded arrays built once (6 million votes: no string work
    per feature)."""

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        registry: pd.DataFrame,
        cosponsorships: pd.DataFrame,
        catalog: pd.DataFrame,
        params: dict,
        serving: Collection[int] | None = None,
    ):
        """``serving``: the congresses whose previous-congress agreement is wanted (all when None)."""
        self.params = params
        self.members = tables["members"]
        self.rollcalls = tables["rollcalls"].reset_index(drop=True)
        self.registry = registry
        self.cosponsorships = cosponsorships
        self.catalog = catalog
        self.presidents = tables["presidents"]
        self.bill_sponsors = bill_sponsors(tables["bills"], registry)
        votes = tables["votes"]
        catalogued = as_strings(votes[votes["rollcall_id"].isin(catalog["rollcall_id"])])
        self.party_alignment = party_alignment(catalogued, catalog)
        self.member_alignment = aligned_votes(catalogued, catalog)[["rollcall_id", "bioguide_id", "aligned"]]
        self._code_votes(votes)
        self.agreement = previous_congress_agreement(
            self.vote_rollcall, self.vote_member, self.vote_sign, self.rollcalls, self.member_index, serving
        )
        release_free_memory()  # the pair tables' strings and matrices, some 240 MiB for ten congresses
        self.loyalty = loyalty_history(self)
        self.followed = followed_history(self)

    def _code_votes(self, votes: pd.DataFrame) -> None:
        """The Yea/Nay votes as integer arrays (roll call, member, sign, day, party), in the table's order, and who
        sits when (``Seats``, whose codes these are). Coded in Arrow over whole columns, then cut to Yea/Nay: no
        copy of the six million votes' strings is made (a pandas lookup would turn each into a Python string:
        +600 MiB)."""
        cast = yea_or_nay(votes)
        window = self.params["sitting_window_days"]
        self.seats = Seats.from_tables(self.rollcalls, votes, self.members, window, cast)
        self.member_index = self.seats.member_index
        self.rollcall_index = pd.Index(self.rollcalls["rollcall_id"])
        self.rollcall_days = self.seats.rollcall_days
        self.rollcall_chamber = self.seats.rollcall_chamber
        self.rollcall_bill = self.rollcalls["bill_id"].to_numpy()
        self.rollcall_congress = self.seats.rollcall_congress
        self.rollcall_on_bill = on_the_bill(self.rollcalls)
        self.vote_rollcall = self.seats.vote_rollcall
        self.vote_member = self.seats.vote_member
        self.vote_sign = np.where((votes["position"] == "yea").to_numpy()[cast], 1, -1).astype(np.int8)
        self.vote_days = self.rollcall_days[self.vote_rollcall]
        party = votes["vote_party"].array[cast]  # a categorical's codes, not a string per vote
        known = {name for name in pd.unique(party) if isinstance(name, str)}
        missing = bool(pd.isna(party).any())
        self.parties = pd.Index(sorted(known | ({"?"} if missing else set())))  # no party on record: "?"
        found = positions_in(self.parties, party)  # read-only (Arrow's memory): replaced, not written into
        self.vote_party = np.where(found < 0, self.parties.get_loc("?"), found).astype(np.int32) if missing else found

    @cached_property
    def holders(self) -> pd.DataFrame:
        """Who held each seat when (``features.context.seat_holders``), from the votes in the tables."""
        # per vote, in the narrowest types (two bytes and one, not a string pointer per vote)
        congress = self.rollcalls["congress"].to_numpy().astype(np.int16)[self.vote_rollcall]
        chamber = pd.Categorical(self.rollcall_chamber)[self.vote_rollcall]
        return seat_holders(
            self.members, self.caucus, congress, chamber, self.vote_member, self.vote_days, self.member_index
        )

    @cached_property
    def stages(self) -> pd.DataFrame:
        """The roll calls on a bill itself (``features.context.on_the_bill``): stage (code), bill_id, chamber,
        congress, day."""
        stage = np.flatnonzero(self.rollcall_on_bill)
        return pd.DataFrame(
            {
                "stage": stage,
                "bill_id": self.rollcall_bill[stage],
                "chamber": self.rollcall_chamber[stage],
                "congress": self.rollcall_congress[stage],
                "day": self.rollcall_days[stage],
            }
        )

    @cached_property
    def stage_votes(self) -> StageVotes:
        """The Yea/Nay votes on those roll calls, by member and by caucus (an independent counted with the party
        they caucus with, ``caucus``), built once."""
        chosen = self.rollcall_on_bill[self.vote_rollcall]
        rollcall, member = self.vote_rollcall[chosen], self.vote_member[chosen]
        # each (member, congress) looked up once, not a string per vote (congress numbers are below 1000)
        served, of_vote = np.unique(
            member.astype(np.int64) * 1000 + self.rollcall_congress[rollcall], return_inverse=True
        )
        keys = pd.DataFrame({"b": self.member_index[served // 1000], "c": served % 1000})
        party = self.parties.get_indexer(pd.Series(lookup_keys(keys, self.caucus)).fillna("?"))[of_vote]
        party = np.where(party >= 0, party, self.vote_party[chosen])  # no caucus on record: the vote's party
        return StageVotes(rollcall, member, self.vote_sign[chosen], party, (len(self.member_index), len(self.parties)))

    @cached_property
    def caucus(self) -> pd.Series:
        """Members' caucus by (bioguide_id, congress) (``features.context.caucus_of``), built once."""
        return caucus_of(self.members)

    @cached_property
    def catalog_terms(self) -> CatalogTerms:
        """The catalog's vocabulary and term vectors (``features.precedent.catalog_terms``), built once."""
        return catalog_terms(self.catalog)

    @cached_property
    def scored(self) -> pd.DataFrame:
        """Members' DW-NOMINATE scores by congress (``features.nominate.scored_congresses``), built once."""
        return nominate.scored_congresses(self.members)

    def member_codes(self, bioguide_ids: pd.Series) -> np.ndarray:
        return self.member_index.get_indexer(bioguide_ids)

    def per_rollcall(self, values: pd.Series, default=0) -> np.ndarray:
        """A value per roll call (indexed by rollcall_id) as an array over the roll-call codes."""
        array = np.full(len(self.rollcall_index), default, dtype=np.asarray(values).dtype if len(values) else float)
        position = self.rollcall_index.get_indexer(values.index)
        known = position >= 0  # roll calls not in the tables (cut earlier) are ignored, never written at -1
        array[position[known]] = values.to_numpy()[known]
        return array


def bill_sponsors(bills: pd.DataFrame, registry: pd.DataFrame) -> pd.Series:
    """Sponsor by bill id: BILLSTATUS's, a registry entry (a described bill) overriding it."""
    return (
        pd.concat([bills[["bill_id", "sponsor_bioguide_id"]], registry[["bill_id", "sponsor_bioguide_id"]]])
        .drop_duplicates("bill_id", keep="last")
        .set_index("bill_id")["sponsor_bioguide_id"]
    )


# --- measures ----------------------------------------------------------------------------------------------


def training_measures(catalog: pd.DataFrame, registry: pd.DataFrame, rollcalls: pd.DataFrame) -> pd.DataFrame:
    """Catalogued roll calls with a direction; the sponsor is the roll call's (amendment author or the sponsor of
    a bill with a BILLSTATUS record), else the registry's for a registered bill."""
    directed = catalog[catalog["orientation"] != 0]
    sponsors = registry.set_index("bill_id")["sponsor_bioguide_id"]
    sponsor = directed["sponsor_bioguide_id"].fillna(directed["bill_id"].map(sponsors))
    procedures = procedure(rollcalls).set_axis(rollcalls["rollcall_id"])
    return pd.DataFrame(
        {
            "measure_id": directed["rollcall_id"],
            "chamber": directed["chamber"],
            "date": directed["date"],
            "congress": directed["congress"],
            "orientation": directed["orientation"],
            "domain": directed["domain"],
            "kind": directed["kind"],
            "bill_id": directed["bill_id"],
            "sponsor_bioguide_id": sponsor,
            "procedure": directed["rollcall_id"].map(procedures),
        }
    ).reset_index(drop=True)


def forecast_measures(registry: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Registry bills with a stance, as measures dated the day after ``as_of`` (so all of as_of is known)."""
    directed = registry[registry["stance"] != 0]
    date = as_of + pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "measure_id": directed["bill_id"],
            "chamber": directed["chamber"],
            "date": date,
            "congress": congress_of_date(date),
            "orientation": directed["stance"],
            "domain": directed["domain"],
            "kind": directed["kind"],
            "bill_id": directed["bill_id"],
            "sponsor_bioguide_id": directed["sponsor_bioguide_id"],
            "procedure": directed["procedure"],
        }
    ).reset_index(drop=True)


# --- member x measure pairs --------------------------------------------------------------------------------


def training_pairs(ctx: Context, measures: pd.DataFrame) -> pd.DataFrame:
    """Every Yea/Nay vote cast on a training measure, labelled voted_yea."""
    is_measure = ctx.per_rollcall(pd.Series(True, index=measures["measure_id"].to_numpy()), default=False)
    chosen = is_measure[ctx.vote_rollcall]
    pairs = pd.DataFrame(
        {
            "measure_id": ctx.rollcall_index[ctx.vote_rollcall[chosen]],
            "bioguide_id": ctx.member_index[ctx.vote_member[chosen]],
            "voted_yea": (ctx.vote_sign[chosen] == 1).astype(np.int8),
        }
    )
    return pairs.merge(measures, on="measure_id")


def forecast_pairs(ctx: Context, measures: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for measure in measures.itertuples(index=False):
        members = sitting_members(ctx.seats, measure.chamber, measure.date, terms)
        frames.append(pd.DataFrame({"bioguide_id": members, **measure._asdict()}))
    if not frames:
        raise DataError("no registry bill has a stance to forecast")
    return pd.concat(frames, ignore_index=True)


# --- features ----------------------------------------------------------------------------------------------


def add_member_profile(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Party, state, DW-NOMINATE (from the latest earlier congress: scores of the sitting congress are
    estimated from its later votes), congresses served before the measure's."""
    members = ctx.members
    current = members.sort_values("congress").drop_duplicates(["bioguide_id", "congress"], keep="last")
    current = current.rename(columns={"congress": "member_congress"})
    pairs = pairs.sort_values("congress")
    on_or_before = pd.merge_asof(
        pairs[["congress", "bioguide_id"]].reset_index(),
        current[["member_congress", "bioguide_id", "party", "state", "name"]],
        left_on="congress",
        right_on="member_congress",
        by="bioguide_id",
        direction="backward",
    ).set_index("index")
    pairs = pairs.sort_index()
    pairs["party"] = on_or_before["party"].reindex(pairs.index)
    pairs["state"] = on_or_before["state"].reindex(pairs.index)
    pairs["name"] = on_or_before["name"].reindex(pairs.index)
    before = nominate.lagged_scores(ctx.scored, pairs["bioguide_id"], pairs["congress"])
    pairs[nominate.SCORES] = before
    pairs["congresses_served"] = nominate.congresses_served_before(members, pairs["bioguide_id"], pairs["congress"])
    pairs["is_republican"] = (pairs["party"] == "R").astype(float).where(pairs["party"].notna())
    pairs["is_senate"] = (pairs["chamber"] == "senate").astype(np.int8)
    return pairs


def add_catalog_record(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Alliance-side share, count and recency-weighted share on catalogued votes, per domain."""
    directed = ctx.catalog[ctx.catalog["orientation"] != 0].set_index("rollcall_id")
    orientation_by_rollcall = ctx.per_rollcall(directed["orientation"].astype(np.int8))
    alliance_by_rollcall = ctx.per_rollcall(directed["domain"] == "alliance", default=False)
    orientation = orientation_by_rollcall[ctx.vote_rollcall]
    chosen = orientation != 0
    aligned = (ctx.vote_sign[chosen] == orientation[chosen]).astype(float)
    is_alliance = alliance_by_rollcall[ctx.vote_rollcall[chosen]]
    sums = _member_catalog_sums(ctx, pairs, chosen, aligned, is_alliance)
    total = _add_member_shares(ctx, pairs, sums)
    party_sums = _party_catalog_sums(ctx, pairs, chosen, aligned, is_alliance)
    pairs["party_catalog_share"] = (party_sums["aligned"] / party_sums["n"]).where(party_sums["n"] > 0).to_numpy()
    _add_shrunk_shares(ctx, pairs, sums, party_sums, total)
    return pairs


def _member_catalog_sums(
    ctx: Context, pairs: pd.DataFrame, chosen: np.ndarray, aligned: np.ndarray, is_alliance: np.ndarray
) -> pd.DataFrame:
    """Per pair: the member's directed votes before the measure, alliance-side ones, and both recency-weighted,
    per domain (``alliance``: NATO itself, ``tied``: the votes tied to it)."""
    weight = recency_weights(ctx.vote_days[chosen], ctx.params["half_life_days"])
    values = {}
    for name, in_domain in (("alliance", is_alliance), ("tied", ~is_alliance)):
        in_domain = in_domain.astype(float)
        values.update(
            {
                f"{name}_n": in_domain,
                f"{name}_aligned": aligned * in_domain,
                f"{name}_w": weight * in_domain,
                f"{name}_aligned_w": weight * aligned * in_domain,
            }
        )
    history = EventHistory(ctx.vote_member[chosen], ctx.vote_days[chosen], values)
    sums = history.sums_before(pairs["member_code"].to_numpy(), pairs["day"].to_numpy())
    sums.index = pairs.index
    return sums


def _add_member_shares(ctx: Context, pairs: pd.DataFrame, sums: pd.DataFrame) -> pd.Series:
    """The member's own record per domain and overall; returns the number of catalogued votes behind it."""
    for name in DOMAINS:
        count = sums[f"{name}_n"]
        pairs[f"{name}_votes"] = count.astype(int)
        pairs[f"{name}_share"] = (sums[f"{name}_aligned"] / count).where(count > 0)
        pairs[f"{name}_recent_share"] = (sums[f"{name}_aligned_w"] / sums[f"{name}_w"]).where(count > 0)
    total = sums["alliance_n"] + sums["tied_n"]
    pairs["catalog_share"] = ((sums["alliance_aligned"] + sums["tied_aligned"]) / total).where(total > 0)
    # what the member's record says about a Yea on this measure: their alliance-side share, flipped for -1
    pairs["new_member"] = ((total < ctx.params["min_history"]) | (pairs["congresses_served"] < 1)).astype(np.int8)
    return total


def _party_catalog_sums(
    ctx: Context, pairs: pd.DataFrame, chosen: np.ndarray, aligned: np.ndarray, is_alliance: np.ndarray
) -> pd.DataFrame:
    """The same record for the member's party in the chamber (party as of each vote: switchers count where
    they sat); the party-line prior a member's own record departs from."""
    is_senate = (ctx.rollcall_chamber[ctx.vote_rollcall[chosen]] == "senate").astype(np.int64)
    vote_group = ctx.vote_party[chosen].astype(np.int64) * 2 + is_senate
    query_party = ctx.parties.get_indexer(pairs["party"].fillna("?"))
    query_group = np.where(query_party >= 0, query_party * 2 + (pairs["chamber"] == "senate").to_numpy(), -1)
    party_values = {"n": np.ones(int(chosen.sum())), "aligned": aligned}
    for name, in_domain in (("alliance", is_alliance), ("tied", ~is_alliance)):
        party_values.update({f"{name}_n": in_domain.astype(float), f"{name}_aligned": aligned * in_domain})
    party_history = EventHistory(vote_group, ctx.vote_days[chosen], party_values)
    return party_history.sums_before(query_group, pairs["day"].to_numpy())


def _add_shrunk_shares(
    ctx: Context, pairs: pd.DataFrame, sums: pd.DataFrame, party_sums: pd.DataFrame, total: pd.Series
) -> None:
    """The member's share shrunk toward the party's by pseudo-votes: a smooth prior for members with few votes;
    overall, and in the measure's own domain (a record on Ukraine aid says less about leaving NATO)."""
    pseudo = ctx.params["shrinkage_votes"]
    own = (sums["alliance_aligned"] + sums["tied_aligned"]).to_numpy()
    party_share = pairs["party_catalog_share"].fillna(pairs["party_catalog_share"].mean()).to_numpy()
    pairs["shrunk_catalog_share"] = (own + pseudo * party_share) / (total.to_numpy() + pseudo)
    in_alliance = (pairs["domain"] == "alliance").to_numpy()
    pick = lambda table, column: np.where(in_alliance, table[f"alliance_{column}"], table[f"tied_{column}"])  # noqa: E731
    party_domain = pick(party_sums, "aligned") / np.maximum(pick(party_sums, "n"), 1)
    party_domain = np.where(pick(party_sums, "n") > 0, party_domain, party_share)
    pairs["shrunk_domain_share"] = (pick(sums, "aligned") + pseudo * party_domain) / (pick(sums, "n") + pseudo)


def agreement_with(ctx: Context, reference: str, pairs: pd.DataFrame) -> pd.Series:
    """Share of shared Yea/Nay roll calls in the trailing window on which each member voted as ``reference``
    did (missing below the minimum number shared, or when the two never sat together)."""
    window = ctx.params["window_days"]
    code = ctx.member_index.get_indexer([reference])[0]
    if code < 0:
        return pd.Series(np.nan, index=pairs.index)
    days = pairs["day"].to_numpy()
    own = (ctx.vote_member == code) & (ctx.vote_days >= days.min() - window)
    reference_sign = np.zeros(len(ctx.rollcall_index), dtype=np.int8)
    reference_sign[ctx.vote_rollcall[own]] = ctx.vote_sign[own]
    their_sign = reference_sign[ctx.vote_rollcall]
    shared = their_sign != 0
    codes = pairs["member_code"].to_numpy()
    if len(days) and (days == days[0]).all():  # one date (a forecast): count the window's votes, no sort
        shared &= (ctx.vote_days >= days[0] - window) & (ctx.vote_days < days[0])
        agreed = ctx.vote_sign[shared] == their_sign[shared]
        n = np.bincount(ctx.vote_member[shared], minlength=len(ctx.member_index)).astype(float)
        agree = np.bincount(ctx.vote_member[shared], weights=agreed, minlength=len(ctx.member_index))
        n, agree = np.where(codes >= 0, n[codes], 0.0), np.where(codes >= 0, agree[codes], 0.0)
        return pd.Series(np.where(n >= ctx.params["min_shared_votes"], agree / np.maximum(n, 1), np.nan), pairs.index)
    agree = (ctx.vote_sign[shared] == their_sign[shared]).astype(float)
    history = EventHistory(
        ctx.vote_member[shared], ctx.vote_days[shared], {"n": np.ones(int(shared.sum())), "agree": agree}
    )
    sums = history.sums_before(codes, days, window)
    share = (sums["agree"] / sums["n"]).where(sums["n"] >= ctx.params["min_shared_votes"])
    return pd.Series(share.to_numpy(), index=pairs.index)


def add_sponsor_agreement(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Agreement with each named sponsor and with the measure's own sponsor; DW-NOMINATE distance to each."""
    for name, bioguide in ctx.params["named_sponsors"].items():
        pairs[f"agree_{name}"] = agreement_with(ctx, bioguide, pairs)
        theirs = nominate.lagged_scores(ctx.scored, pd.Series(bioguide, index=pairs.index), pairs["congress"])
        pairs[f"distance_{name}"] = nominate.distance(pairs, theirs)
    return add_own_sponsor_agreement(ctx, pairs)


def add_own_sponsor_agreement(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Agreement with the measure's own sponsor (NaN where the sponsor is unknown)."""
    pairs["agree_sponsor"] = np.nan
    asked = pairs[["sponsor_bioguide_id", "day", "member_code"]].dropna(subset=["sponsor_bioguide_id"])
    for sponsor, rows in asked.groupby("sponsor_bioguide_id"):  # what agreement_with reads, not every column
        pairs.loc[rows.index, "agree_sponsor"] = agreement_with(ctx, sponsor, rows)
    return pairs


def loyalty_history(ctx: Context) -> EventHistory:
    """Per member and vote: whether it was cast with the majority of the member's party (ties not counted)."""
    group = ctx.vote_rollcall.astype(np.int64) * len(ctx.parties) + ctx.vote_party
    size = len(ctx.rollcall_index) * len(ctx.parties)
    twice_yea = 2 * np.bincount(group[ctx.vote_sign == 1], minlength=size)  # counts, not shares: no float per vote
    cast = np.bincount(group, minlength=size)
    decided = (twice_yea != cast)[group]
    with_party = ((twice_yea > cast)[group] == (ctx.vote_sign == 1)) & decided
    del group  # millions of int64 not held while the history sorts
    return EventHistory(ctx.vote_member, ctx.vote_days, {"n": decided, "with": with_party})


def loyalty_before(ctx: Context, codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Share of trailing-window Yea/Nay votes cast with the party's majority, before each day."""
    sums = ctx.loyalty.sums_before(codes, days, ctx.params["window_days"])
    return (sums["with"] / sums["n"]).where(sums["n"] >= ctx.params["min_shared_votes"]).to_numpy()


def add_party_loyalty(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Share of trailing-window Yea/Nay votes cast with the majority of the member's own party."""
    pairs["party_loyalty"] = loyalty_before(ctx, pairs["member_code"].to_numpy(), pairs["day"].to_numpy())
    return pairs


def followed_history(ctx: Context) -> EventHistory:
    """Per sponsor and roll call with a known sponsor who voted: the share of the sponsor's party (the rest of
    it) that voted as the sponsor did. Whether a party follows a member is the member's own track record."""
    sponsor_code = ctx.member_codes(ctx.rollcalls["sponsor_bioguide_id"].fillna("")).astype(np.int64)
    by_sponsor = ctx.vote_member == sponsor_code[ctx.vote_rollcall]
    sponsor_sign = np.zeros(len(ctx.rollcall_index), dtype=np.int8)
    sponsor_party = np.full(len(ctx.rollcall_index), -1, dtype=np.int64)
    sponsor_sign[ctx.vote_rollcall[by_sponsor]] = ctx.vote_sign[by_sponsor]
    sponsor_party[ctx.vote_rollcall[by_sponsor]] = ctx.vote_party[by_sponsor]
    their_sign = sponsor_sign[ctx.vote_rollcall]
    peers = (ctx.vote_party == sponsor_party[ctx.vote_rollcall]) & (their_sign != 0) & ~by_sponsor
    size = len(ctx.rollcall_index)
    n_peers = np.bincount(ctx.vote_rollcall[peers], minlength=size)
    n_with = np.bincount(ctx.vote_rollcall[peers & (ctx.vote_sign == their_sign)], minlength=size)
    scored = n_peers > 0
    share = n_with[scored] / n_peers[scored]
    return EventHistory(sponsor_code[scored], ctx.rollcall_days[scored], {"n": np.ones(len(share)), "with": share})


def add_sponsor_profile(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """How far the sponsor stands from their own party: their party loyalty before the measure, how often their
    party voted with them on their earlier measures, and their DW-NOMINATE scores (latest earlier congress). A
    party follows its leaders' bills, not its mavericks'."""
    measures = pairs[["measure_id", "sponsor_bioguide_id", "date", "congress"]].drop_duplicates("measure_id")
    codes = ctx.member_codes(measures["sponsor_bioguide_id"].fillna(""))
    days = to_days(measures["date"])
    loyalty = pd.Series(loyalty_before(ctx, codes, days), index=measures["measure_id"])
    pairs["sponsor_party_loyalty"] = pairs["measure_id"].map(loyalty).astype(float)
    followed = ctx.followed.sums_before(codes, days)
    share = (followed["with"] / followed["n"]).where(followed["n"] >= ctx.params["min_history"])
    pairs["sponsor_followed_by_party"] = (
        pairs["measure_id"].map(pd.Series(share.to_numpy(), index=measures["measure_id"])).astype(float)
    )
    dims = nominate.lagged_scores(ctx.scored, measures["sponsor_bioguide_id"], measures["congress"]).set_axis(
        measures["measure_id"].to_numpy()
    )
    pairs["sponsor_dim1"] = pairs["measure_id"].map(dims["nominate_dim1"])
    pairs["sponsor_dim2"] = pairs["measure_id"].map(dims["nominate_dim2"])
    return pairs


def add_sponsorship_signals(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Bills of each stance the member sponsored or cosponsored before the date; whether they back this one."""
    registry = ctx.registry.set_index("bill_id")
    sponsored = (
        registry.reset_index()[["bill_id", "sponsor_bioguide_id", "introduced"]]
        .rename(columns={"sponsor_bioguide_id": "bioguide_id", "introduced": "date"})
        .assign(withdrawn=pd.NaT)
    )
    backers = pd.concat(
        [sponsored, ctx.cosponsorships[["bill_id", "bioguide_id", "date", "withdrawn"]]], ignore_index=True
    ).dropna(subset=["date"])
    stance = backers["bill_id"].map(registry["stance"]).to_numpy()
    values = {"pro": (stance == 1).astype(float), "anti": (stance == -1).astype(float)}
    history = EventHistory(ctx.member_codes(backers["bioguide_id"]), to_days(backers["date"]), values)
    sums = history.sums_before(pairs["member_code"].to_numpy(), pairs["day"].to_numpy())
    pairs["backed_pro_bills"] = sums["pro"].to_numpy().astype(int)
    pairs["backed_anti_bills"] = sums["anti"].to_numpy().astype(int)
    # this measure's own bill: 1/0 where the bill is registered, NaN where its backers are unknown
    key = backers.assign(active_from=backers["date"])
    merged = (
        pairs[["bioguide_id", "bill_id", "date"]]
        .reset_index()
        .merge(
            key[["bill_id", "bioguide_id", "active_from", "withdrawn"]],
            on=["bill_id", "bioguide_id"],
            how="left",
        )
    )
    active = (merged["active_from"] < merged["date"]) & ~(merged["withdrawn"] < merged["date"])
    backs = active.groupby(merged["index"]).any().reindex(pairs.index, fill_value=False)
    known = pairs["bill_id"].isin(registry.index)
    pairs["backs_this_bill"] = backs.astype(float).where(known)
    return pairs


def add_measure_context(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Kind and domain as indicators (whether the President's party holds the chamber comes with the other
    party relations, ``add_context_features``)."""
    kinds = pairs["kind"].to_numpy(dtype=object)
    for kind in KINDS:
        pairs[f"kind_{kind}"] = (kinds == kind).astype(np.int8)
    pairs["domain_alliance"] = (pairs["domain"] == "alliance").astype(np.int8)
    return pairs


def add_prior_stage(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """The member's own vote and their party's Yea share on the bill's latest earlier stage (cloture before
    passage, one chamber's passage before the other's; ``features.context.latest_stages``): where a bill was voted
    on before, how each member and party went then is the best guide to the next vote. Missing where there was
    no such vote, the member cast no Yea/Nay on it, or the measure is an amendment (it asks something else)."""
    measures = pairs[["measure_id", "bill_id", "chamber", "congress", "day", "procedure"]].drop_duplicates("measure_id")
    rollcall = ctx.rollcall_index.get_indexer(measures["measure_id"])  # a forecast's measure is no roll call
    measures["on_bill"] = np.where(
        rollcall >= 0, ctx.rollcall_on_bill[rollcall], measures["procedure"].isin(ON_THE_BILL).to_numpy()
    )
    stage = pd.Series(latest_stages(measures, ctx.stages), index=measures["measure_id"].to_numpy())
    codes = pairs["measure_id"].map(stage).to_numpy()
    pairs["prior_stage_yea"] = ctx.stage_votes.member_yea(codes, pairs["member_code"].to_numpy())
    party = ctx.parties.get_indexer(caucus_of_pairs(pairs, ctx.caucus).fillna("?"))
    pairs["prior_stage_party_share"] = ctx.stage_votes.party_share(codes, party)
    return pairs


def add_party_precedent(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """The party's recent stand in the measure's domain and on the most similar earlier roll calls, and the
    member's own votes on those roll calls."""
    params = ctx.params["precedent"]
    pairs = add_party_domain_recent(pairs, ctx.party_alignment, params["half_life_days"])
    measures = measure_texts(ctx, pairs[["measure_id", "date", "chamber", "bill_id"]].drop_duplicates("measure_id"))
    similar = similar_rollcalls(measures, ctx.catalog, params["similar_k"], params["min_similarity"], ctx.catalog_terms)
    pairs = add_member_similar_share(pairs, similar, ctx.member_alignment)
    return add_party_similar_share(pairs, similar, ctx.party_alignment)


def measure_texts(ctx: Context, measures: pd.DataFrame) -> pd.DataFrame:
    """Each measure's words to match against earlier roll calls: a catalogued roll call's description, else its
    bill's title and stance reason (a rule's, or the user's own words: not the note that a user set the stance)."""
    texts = ctx.catalog.set_index("rollcall_id")["description"]
    bills = ctx.registry[ctx.registry["bill_id"].isin(measures["bill_id"])].set_index("bill_id")
    reasons = bills["stance_reason"].fillna("").where(bills["stance_reason"] != USER_STANCE, "")
    titles = bills["title"].fillna("") + " | " + reasons
    return measures.assign(text=measures["measure_id"].map(texts).fillna(measures["bill_id"].map(titles)))


def build_features(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Every feature of NATO (member, measure) pairs: the member's record, agreement with sponsors, the
    measure's context (sponsorship, parties, procedure) and the party's precedent."""
    pairs = add_member_record(ctx, prepare_pairs(ctx, pairs))
    return add_measure_features(ctx, pairs).drop(columns=["member_code", "day"])


def prepare_pairs(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Ids as strings, the member's integer code and the measure's day: what every feature function reads."""
    pairs = pairs.reset_index(drop=True)
    pairs["bioguide_id"] = pairs["bioguide_id"].astype(str)
    pairs["measure_id"] = pairs["measure_id"].astype(str)
    pairs["member_code"] = ctx.member_codes(pairs["bioguide_id"])
    pairs["day"] = to_days(pairs["date"])
    return pairs


def add_member_record(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """The member's side: profile, catalogued record, agreement with the named sponsors, loyalty. These depend
    on the measure only through its chamber, date, orientation and domain (the member state precomputes them,
    features/member_state.py); agreement with the measure's own sponsor is recomputed per measure."""
    pairs = add_member_profile(ctx, pairs)
    pairs = add_catalog_record(ctx, pairs)
    pairs = add_sponsor_agreement(ctx, pairs)
    return add_party_loyalty(ctx, pairs)


def add_measure_features(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """The measure's side: sponsorship, kind and context, the sponsor's profile, the party's precedent."""
    pairs = add_sponsorship_signals(ctx, pairs)
    pairs = add_measure_context(ctx, pairs)
    pairs = add_sponsor_profile(ctx, pairs)
    pairs = add_context_features(
        pairs, ctx.caucus, ctx.scored, ctx.cosponsorships, ctx.presidents, ctx.agreement, ctx.bill_sponsors, ctx.holders
    )
    return add_party_precedent(ctx, add_prior_stage(ctx, pairs))


GENERAL_BLOCK = 1 << 17  # general rows built (and written as a row group) at a time: 130,000 rows, ~120 MiB


def general_pairs(
    ctx: Context, measures: pd.DataFrame, share: float, seed: int, block: int = GENERAL_BLOCK
) -> Iterator[pd.DataFrame]:
    """A sample of the Yea/Nay votes on every roll call with a known sponsor (all sponsors' and cosponsors'
    votes kept), with the measure-context features: the general vote model's rows, a block of about ``block``
    rows at a time (whole roll calls; every feature of a row depends on its member and measure alone), so that
    memory holds one block's features however many congresses there are."""
    sample = sample_votes(_committed_votes(ctx, measures), share, seed)  # drawn on codes: strings for the kept
    rollcall = sample["rollcall"].to_numpy()
    starts = np.flatnonzero(np.r_[True, rollcall[1:] != rollcall[:-1]])  # where each roll call's votes begin
    bounds = np.unique(np.r_[starts[np.searchsorted(starts, np.arange(0, len(sample), block))], len(sample)])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        yield _general_features(ctx, measures, sample.iloc[first:last])


def _general_features(ctx: Context, measures: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """The general rows' features for these drawn votes (``_committed_votes``' columns)."""
    pairs = pd.DataFrame(
        {
            "measure_id": ctx.rollcall_index[sample["rollcall"].to_numpy()],
            "bioguide_id": ctx.member_index[sample["member"].to_numpy()],
            "voted_yea": sample["voted_yea"].to_numpy(),
        }
    ).merge(measures, on="measure_id", validate="many_to_one")  # keeps the left order; every measure is there
    pairs["is_sponsor"] = sample["is_sponsor"].to_numpy()
    pairs["is_cosponsor"] = sample["is_cosponsor"].to_numpy()
    pairs["member_code"] = ctx.member_codes(pairs["bioguide_id"])
    pairs["day"] = to_days(pairs["date"])
    pairs = add_member_profile(ctx, pairs)
    pairs = add_sponsor_profile(ctx, pairs)
    pairs = add_context_features(
        pairs, ctx.caucus, ctx.scored, ctx.cosponsorships, ctx.presidents, ctx.agreement, ctx.bill_sponsors, ctx.holders
    )
    pairs = add_prior_stage(ctx, pairs)
    keep = ["measure_id", "bioguide_id", "date", "congress", "chamber", "party", "sponsor_bioguide_id", "procedure"]
    return pairs[keep + ["voted_yea"] + [c for c in CONTEXT_FEATURES if c not in keep]]


def write_general(blocks: Iterable[pd.DataFrame], as_of: pd.Timestamp, path: Path) -> tuple[int, int]:
    """Stream the general rows dated by ``as_of`` into one parquet file, a row group per block (the types of
    the first block, which every block has); (rows, measures) written. All or nothing: a temporary file, renamed."""
    counts = {"rows": 0, "measures": set()}

    def write(tmp: Path) -> None:
        writer = None
        try:
            for rows in blocks:
                rows = rows[rows["date"] <= as_of]
                if rows.empty:
                    continue
                if writer is None:
                    schema = pa.Schema.from_pandas(rows, preserve_index=False)
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(pa.Table.from_pandas(rows, schema=schema, preserve_index=False))
                counts["rows"] += len(rows)
                counts["measures"].update(rows["measure_id"].unique())
                del rows
                release_free_memory()  # a block's features gone before the next is built
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DataError(f"{path}: no general rows to write (no roll call with a known sponsor)")

    write_atomic(path, write)
    return counts["rows"], len(counts["measures"])


def _committed_votes(ctx: Context, measures: pd.DataFrame) -> pd.DataFrame:
    """``training_pairs``' votes as codes (roll call, member, voted_yea), in the same order, with whether the
    voter is the measure's sponsor or an active cosponsor of its bill: millions of votes, no string among them."""
    is_measure = ctx.per_rollcall(pd.Series(True, index=measures["measure_id"].to_numpy()), default=False)
    chosen = is_measure[ctx.vote_rollcall]
    rollcall, member = ctx.vote_rollcall[chosen], ctx.vote_member[chosen]
    sponsor_code = pd.Series(ctx.member_codes(measures["sponsor_bioguide_id"]), index=measures["measure_id"].to_numpy())
    cosponsors = active_cosponsors(ctx.cosponsorships, measures)
    codes = ctx.rollcall_index.get_indexer(cosponsors["measure_id"]), ctx.member_codes(cosponsors["bioguide_id"])
    known = (codes[0] >= 0) & (codes[1] >= 0)
    width = np.int64(len(ctx.member_index))
    return pd.DataFrame(
        {
            "rollcall": rollcall,
            "member": member,
            "voted_yea": (ctx.vote_sign[chosen] == 1).astype(np.int8),
            "is_sponsor": (member == ctx.per_rollcall(sponsor_code, default=-1)[rollcall]).astype(np.int8),
            "is_cosponsor": np.isin(rollcall * width + member, codes[0][known] * width + codes[1][known]),
        }
    )


def load_context(
    params: dict, tables_dir: Path = TABLES_DIR, features_dir: Path = FEATURES_DIR
) -> tuple[Context, pd.DataFrame]:
    """The tables, the registry and the catalog the features are built from; the terms apart."""
    names = ("members", "rollcalls", "votes", "bills", "cosponsorships", "presidents")
    tables = {name: read_table(name, tables_dir, categories=VOTE_IDS if name == "votes" else ()) for name in names}
    registry, cosponsorships = build_registry(
        tables["bills"], tables["cosponsorships"], tables["members"], load_additions()
    )
    catalog = pd.read_parquet(features_dir / "catalog.parquet")
    return Context(tables, registry, cosponsorships, catalog, params["features"]), read_table("terms", tables_dir)


def main(argv: list[str] | None = None) -> None:
    """DVC stage `features`: the training, forecast and general feature tables and the registry."""
    args = stage_arguments("build the feature tables", "tables", "features", "metrics", argv=argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    ctx, terms = load_context(params, args.tables, args.features)
    measures = training_measures(ctx.catalog, ctx.registry, ctx.rollcalls)
    training = build_features(ctx, training_pairs(ctx, measures))
    forecast = build_features(ctx, forecast_pairs(ctx, forecast_measures(ctx.registry, config.as_of), terms))
    sampling = params["features"]["general"]
    general = general_pairs(ctx, general_measures(ctx.rollcalls), sampling["sample_share"], sampling["seed"])
    general_rows, general_measures_written = write_general(general, config.as_of, args.features / "general.parquet")
    write_parquet(ctx.registry, args.features / "registry.parquet")
    write_parquet(training, args.features / "training.parquet")
    write_parquet(forecast, args.features / "forecast.parquet")
    summary = {
        "training_rows": len(training),
        "training_measures": int(training["measure_id"].nunique()),
        "forecast_rows": len(forecast),
        "forecast_bills": int(forecast["measure_id"].nunique()),
        "registry_bills": len(ctx.registry),
        "yea_rate": round(float(training["voted_yea"].mean()), 4),
        "general_rows": general_rows,
        "general_measures": general_measures_written,
        "training_measures_with_sponsor": int(
            training.loc[training["sponsor_bioguide_id"].notna(), "measure_id"].nunique()
        ),
        "president_party_known_for_forecast": bool(forecast["president_party_controls_chamber"].notna().all()),
    }
    write_json(summary, args.metrics / "features.json")
    log_timing("features", round(time.perf_counter() - started, 2))
    log.info("%s", summary)


if __name__ == "__main__":
    sys.exit(run_stage("features", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
