"""Who sits in each chamber on a date, from what was known before it.

The records, each where it is right:

- The roll calls. The House Clerk and the Senate list every sitting member on every roll call (an absent one as Not
  Voting): one who stops appearing has left, one still listed sits, though absent for months and without a term on
  record (``Seats.listing``; ``roll_call_listings`` says which roll calls and members the listing can judge).
- congress-legislators' terms. A term begun before the date and running on it seats its member; a term of the
  chamber that ended before the date, with none running, unseats them even before the chamber votes again (a
  resignation, a move to the other chamber). Only current members' terms are recorded (a former member's are not:
  the crosswalk keeps their last term's seat, without dates), and an end date after the date is no knowledge of a
  departure.
- The House's Speaker, listed only when voting: the member its latest ballot for Speaker names sits.
- Before a chamber's first roll call of a congress (the Senate of the 118th first voted on 2023-01-23), the previous
  congress's last roll call stands in seat by seat (``stand_ins``): a member it lists keeps their seat unless a term
  begun by the date gives the seat to another, their own term ended otherwise than at the congress's opening, or a
  term seats them in the other chamber.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.history import to_days
from pipeline.errors import DataError
from pipeline.ids import (
    NON_VOTING_STATES,
    SEATS,
    congress_first_year,
    congress_of_date,
    other_chamber,
    positions_in,
)

NEVER = np.iinfo(np.int64).max  # a day after every day
SEAT_COLUMNS = ("bioguide_id", "chamber", "state", "district", "senate_class")  # of the members and terms tables


def require_seats(frame: pd.DataFrame, table: str) -> None:
    """A members or terms table from before seats were recorded (no ``senate_class``) is named, not a KeyError."""
    missing = [column for column in SEAT_COLUMNS if column not in frame]
    if missing:
        raise DataError(f"the {table} table lacks {', '.join(missing)}: rerun the ingest (`dvc repro`)")


def yea_or_nay(votes: pd.DataFrame) -> np.ndarray:
    """Which of the votes were cast Yea or Nay (not Present or Not Voting)."""
    return votes["position"].isin(["yea", "nay"]).to_numpy()


@dataclass
class Seats:
    """The roll calls' listings and the Yea/Nay voters of each chamber, as integer-coded arrays, with the members
    table (each member's seat by congress: state, district, senate_class)."""

    members: pd.DataFrame
    member_index: pd.Index
    rollcall_chamber: np.ndarray
    rollcall_congress: np.ndarray
    rollcall_days: np.ndarray
    rollcall_full: np.ndarray  # per roll call: it lists the chamber (``roll_call_listings``)
    listing_groups: pd.Index  # the (chamber, congress) pairs of listing_runs
    listing_runs: np.ndarray  # days of each member's first listing, its unbroken run's end, the return after it
    vote_rollcall: np.ndarray  # per Yea or Nay vote, in the votes table's order
    vote_member: np.ndarray
    window_days: int
    speakers: pd.DataFrame  # ``speaker_ballots``

    @classmethod
    def from_tables(
        cls,
        rollcalls: pd.DataFrame,
        votes: pd.DataFrame,
        members: pd.DataFrame,
        window_days: int,
        cast: np.ndarray | None = None,
    ) -> Seats:
        """Coded in Arrow (``positions_in``) over whole columns: no copy of the six million votes' strings is made.
        The member index is every member of the members table and every Yea/Nay voter. ``cast``: the votes' Yea/Nay
        mask (``yea_or_nay``), when the caller has made it."""
        require_seats(members, "members")
        rollcalls = rollcalls.reset_index(drop=True)
        cast = yea_or_nay(votes) if cast is None else cast
        voters = pd.unique(votes["bioguide_id"].array[cast])  # on a categorical's codes: no string per vote
        member_index = pd.Index(sorted(set(members["bioguide_id"]) | {v for v in voters if isinstance(v, str)}))
        rollcall = positions_in(pd.Index(rollcalls["rollcall_id"]), votes["rollcall_id"])
        member = positions_in(member_index, votes["bioguide_id"])
        chamber, congress = rollcalls["chamber"].to_numpy(), rollcalls["congress"].to_numpy()
        days = to_days(rollcalls["date"])
        groups, runs, full = roll_call_listings(rollcall, member, chamber, congress, days, len(member_index))
        votes_cast = rollcall[cast], member[cast]
        speakers = speaker_ballots(rollcalls, members)
        return cls(
            members, member_index, chamber, congress, days, full, groups, runs, *votes_cast, window_days, speakers
        )

    def has_voted(self, chamber: str, congress: int, day: int) -> bool:
        """Whether ``chamber`` held a roll call listing its members in ``congress`` before ``day``."""
        return bool(self._held(chamber, congress, day).any())

    def _held(self, chamber: str, congress: int, day: int) -> np.ndarray:
        return (
            (self.rollcall_chamber == chamber)
            & (self.rollcall_congress == congress)
            & (self.rollcall_days < day)
            & self.rollcall_full
        )

    def listing(self, chamber: str, congress: int, day: int) -> tuple[set[str], set[str]]:
        """(departed, listed): members listed on roll calls of ``chamber`` in ``congress`` before ``day`` but not
        on its latest one, and those its latest one lists. The listing judges a member only while their listings
        run unbroken from their first: not the Speaker, listed only when voting, once he votes again after a roll
        call without him (Johnson, on 261 of the 119th's 362 by 2025-12-31; his last vote before 2025-08-01 was on
        2025-07-18, the House's last roll call on 2025-07-23), nor a member a record missed once, once listed
        again; and not delegates, listed only on some Committee of the Whole votes, as departed. The Speaker's
        elections, whose ballots keep only the Present and Not Voting rows, are not roll calls that list the
        chamber. Only roll calls before ``day`` count: tables cut the day before give the same."""
        held = self._held(chamber, congress, day)
        if not held.any():
            return set(), set()
        first, end, back = self.listing_runs[:, self.listing_groups.get_loc((chamber, congress))]
        latest = self.rollcall_days[held].max()
        judged = (first >= 0) & (first <= latest) & (back > latest)
        gone, listed = judged & (end < latest), judged & (end >= latest)
        return set(self.member_index[gone]) - self.delegates, set(self.member_index[listed])

    def voters(self, chamber: str, congress: int, day: int) -> set[str]:
        """Members who voted Yea or Nay in ``chamber`` on roll calls of ``congress`` in the window before ``day``
        (``features.sitting_window_days``)."""
        recent = (
            (self.rollcall_chamber == chamber)
            & (self.rollcall_congress == congress)
            & (self.rollcall_days < day)
            & (self.rollcall_days >= day - self.window_days)
        )
        return set(self.member_index[np.unique(self.vote_member[recent[self.vote_rollcall]])])

    def speaker(self, chamber: str, congress: int, day: int) -> set[str]:
        """The House's Speaker in ``congress`` before ``day``, by its latest ballot (``speaker_ballots``): listed
        only when voting, the roll calls cannot tell whether he sits."""
        ballots = self.speakers[(self.speakers["congress"] == congress) & (self.speakers["day"] < day)]
        return set(ballots["bioguide_id"].iloc[-1:]) if chamber == "house" else set()

    @cached_property
    def delegates(self) -> set[str]:
        """Everyone who ever sat as a delegate or the Resident Commissioner (no seat in the House's count)."""
        members = self.members
        return set(members.loc[members["state"].isin(NON_VOTING_STATES), "bioguide_id"])


def roll_call_listings(
    rollcall: np.ndarray, member: np.ndarray, chamber: np.ndarray, congress: np.ndarray, days: np.ndarray, members: int
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """(the (chamber, congress) pairs; a 3 x pairs x ``members`` array of days: each member's first listing there,
    in any position, the last of the unbroken run of listings it begins and the first listing after that run
    (``NEVER`` where there is none, -1 for all three where never listed); and per roll call whether it lists the
    chamber). ``rollcall``, ``member``: codes per vote row (-1 where unknown); ``chamber``, ``congress``, ``days``:
    per roll call. A roll call lists the chamber when it lists at least half its seats: a Speaker's election keeps
    only its Present and Not Voting rows (the candidates' votes are left out), so on 2023-01-07 its ballots listed 6
    members. Whatever a later roll call says, a query before it reads the same (``Seats.listing``). Small dense
    arrays (3 x 20 x 2,000), not a table of the millions of rows."""
    known = (rollcall >= 0) & (member >= 0)
    group, groups = pd.factorize(pd.MultiIndex.from_arrays([chamber, congress]))
    listed = np.bincount(rollcall[known], minlength=len(days))
    full = 2 * listed >= np.array([SEATS[name] for name in chamber], dtype=np.int64)
    keep = known & full[np.where(known, rollcall, 0)]
    rollcall, member = rollcall[keep], member[keep]
    row_group = group.astype(np.int16)[rollcall]  # a small copy per vote row, not another 8 bytes each
    runs = np.full((3, len(groups), members), -1, dtype=np.int64)
    for code in range(len(groups)):
        held = np.flatnonzero(full & (group == code))
        held = held[np.argsort(days[held], kind="stable")]  # the pair's full roll calls in date order
        order = np.full(len(days), -1, dtype=np.int64)
        order[held] = np.arange(len(held))
        rows = np.flatnonzero(row_group == code)
        runs[:, code] = _first_runs(order[rollcall[rows]], member[rows], members, days[held])
    return groups, runs, full


def _first_runs(rank: np.ndarray, who: np.ndarray, members: int, days: np.ndarray) -> np.ndarray:
    """Per member, the days of their first listing, of the end of the unbroken run it begins and of their first
    listing after that run (``NEVER``: none; -1 for all three: never listed), from the ranks (in date order) of
    the full roll calls listing them."""
    runs = np.full((3, members), -1, dtype=np.int64)
    if not len(who):
        return runs
    width = len(days) + 1
    pairs = np.sort(who.astype(np.int64) * width + rank)  # by member, then rank (np.unique hashes: 30x slower)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # each listing once
    who, rank = pairs // width, pairs % width
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    sizes = np.diff(np.r_[starts, len(who)])
    broken = rank != np.repeat(rank[starts] - starts, sizes) + np.arange(len(who))  # not first rank + position
    first, end = np.full((2, members), -1, dtype=np.int64)
    first[who[starts]] = rank[starts]
    np.maximum.at(end, who[~broken], rank[~broken])
    back = np.full(members, len(days), dtype=np.int64)
    np.minimum.at(back, who[broken], rank[broken])
    seen = first >= 0
    runs[0, seen], runs[1, seen] = days[first[seen]], days[end[seen]]
    runs[2, seen] = np.where(back[seen] < len(days), days[np.minimum(back[seen], len(days) - 1)], NEVER)
    return runs


def speaker_ballots(rollcalls: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """(congress, day, bioguide_id) of the member leading each ballot of the House's elections of its Speaker, in
    order (an election's last ballot names the Speaker): the Clerk's result, a surname and, where two members share
    it, the state ("Ryan (WI)"), matched among the congress's representatives; a name matching none or several
    is left out."""
    ballots = rollcalls[(rollcalls["chamber"] == "house") & (rollcalls["question"] == "Election of the Speaker")]
    ballots = ballots.sort_values(["date", "number"])
    named = ballots["result"].str.extract(r"^\s*(?P<surname>[^(]+?)\s*(?:\((?P<state>[A-Z]{2})\))?\s*$")
    ballots = ballots[["congress", "date"]].join(named).reset_index(drop=True).reset_index(names="ballot")
    house = members.loc[members["chamber"] == "house", ["bioguide_id", "congress", "state", "name"]]
    surnames = house["name"].str.replace(r",?\s+(?:Jr\.?|Sr\.?|II|III|IV)$", "", regex=True).str.split().str[-1]
    found = ballots.merge(house.assign(surname=surnames), on=["congress", "surname"], suffixes=("", "_member"))
    found = found[found["state"].isna() | (found["state"] == found["state_member"])]
    found = found[~found.duplicated("ballot", keep=False)].sort_values("ballot")
    return pd.DataFrame(
        {"congress": found["congress"], "day": to_days(found["date"]), "bioguide_id": found["bioguide_id"]}
    ).reset_index(drop=True)


def sitting_members(seats: Seats, chamber: str, date: pd.Timestamp, terms: pd.DataFrame) -> pd.Series:
    """Members of a chamber on a date (the module's docstring says from what): once the chamber has voted in the
    date's congress, those its latest roll call lists, those who voted in it in the trailing window, those a term
    seats and the Speaker, less those the roll call no longer lists but for the last two; before that, those a term
    seats and the previous congress's members in the seats no term gives to another (``stand_ins``). Less, either
    way, those whose term of the chamber ended before the date (before the first roll call, of the members whose
    term ended at the congress's opening, only those a term or a listing says left: the others stand in)."""
    require_seats(terms, "terms")
    congress, day = congress_of_date(date), int(to_days([date])[0])
    holders, ended = terms_on(terms, chamber, date)
    seated = set(holders["bioguide_id"]) | seats.speaker(chamber, congress, day)
    sitting = seated | seats.voters(chamber, congress, day)
    if seats.has_voted(chamber, congress, day):
        departed, listed = seats.listing(chamber, congress, day)
        sitting = (sitting | listed) - (departed - seated)
    else:
        opening = pd.Timestamp(congress_first_year(congress), 1, 3)
        sitting |= stand_ins(seats, chamber, congress, date, terms)
        ended = ended[ended != opening]
    return pd.Series(sorted(sitting - set(ended.index)), dtype=object)


def terms_on(terms: pd.DataFrame, chamber: str, date: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """(the chamber's terms begun before ``date`` and running on it; by member with none running, the end of their
    latest such term begun before the date, so an end before it)."""
    begun = terms[(terms["chamber"] == chamber) & (terms["start"] < date)]
    running = begun["end"] >= date
    holders = begun[running]
    over = begun[~running & ~begun["bioguide_id"].isin(holders["bioguide_id"])]
    return holders, over.groupby("bioguide_id")["end"].max()


def stand_ins(seats: Seats, chamber: str, congress: int, date: pd.Timestamp, terms: pd.DataFrame) -> set[str]:
    """Before the chamber's first roll call of ``congress``: the members the previous congress's last roll call
    lists, its voters of the window (the Speaker) and those a term seated until the opening (delegates, listed
    only on some votes), in the seats no term begun by ``date`` gives to another (Toomey's, Fetterman's from
    2023-01-03). Less those a term seats (they sit by it), those whose own term of the chamber ended before the
    date otherwise than at the opening (a resignation after the last roll call: Tim Scott left the House on
    2013-01-02) and those a term seats in the other chamber. A member whose seat is not on record keeps it."""
    day, opening = int(to_days([date])[0]), pd.Timestamp(congress_first_year(congress), 1, 3)
    holders, ended = terms_on(terms, chamber, date)
    departed, listed = seats.listing(chamber, congress - 1, day)
    candidates = listed | seats.voters(chamber, congress - 1, day) | seats.speaker(chamber, congress - 1, day)
    candidates |= set(ended.index[ended == opening])
    candidates -= departed | set(holders["bioguide_id"]) | set(ended.index[ended != opening])
    candidates -= set(terms_on(terms, other_chamber(chamber), date)[0]["bioguide_id"])
    seat = candidate_seats(seats.members, terms, chamber, congress - 1, date, candidates)
    taken = set(seat_keys(holders, chamber).dropna())
    return {member for member in candidates if seat.get(member) not in taken}


def candidate_seats(
    members: pd.DataFrame, terms: pd.DataFrame, chamber: str, congress: int, date: pd.Timestamp, who: set[str]
) -> pd.Series:
    """The seat (``seat_keys``) each of ``who`` held in ``chamber`` in ``congress``: their latest term's begun
    before ``date`` when recorded, else their row of the members table (Voteview's state and district; a senator's
    class is congress-legislators' of the last term, all it keeps of a former member)."""
    recorded = terms[(terms["chamber"] == chamber) & (terms["start"] < date) & terms["bioguide_id"].isin(who)]
    recorded = recorded.sort_values("start").drop_duplicates("bioguide_id", keep="last")
    rows = members[(members["congress"] == congress) & (members["chamber"] == chamber)]
    rows = rows[rows["bioguide_id"].isin(who)]
    seats = pd.concat(
        [
            seat_keys(recorded, chamber).set_axis(recorded["bioguide_id"]),
            seat_keys(rows, chamber).set_axis(rows["bioguide_id"]),
        ]
    )
    return seats[~seats.index.duplicated(keep="first")]


def seat_keys(frame: pd.DataFrame, chamber: str) -> pd.Series:
    """A seat per row: "PA-S3" (a senator's state and class), "PA-7" (a representative's state and district: an
    at-large seat is district 1 in Voteview, 0 in congress-legislators, 1 here); missing where the record lacks it."""
    number = pd.to_numeric(frame["district" if chamber == "house" else "senate_class"]).astype("Int64")
    label = number.clip(lower=1).astype(str) if chamber == "house" else "S" + number.astype(str)
    return (frame["state"].astype(str) + "-" + label).where(number.notna())
