"""Who sits in each chamber on a date (features/seats.py), on the real tables: the first days of each congress, before
the chamber's first roll call; terms that end within a congress; and no look-ahead (tables cut the day before give
the same members on every first of the month of 2007-2025 and on every day of January 4-20 of each new congress)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.seats import Seats, seat_keys, sitting_members, speaker_ballots
from pipeline.config import TABLES_DIR, load_params
from pipeline.errors import DataError
from pipeline.ids import NON_VOTING_STATES
from pipeline.tables import VOTE_IDS, cut_as_of, read_table

pytestmark = pytest.mark.pipeline  # reads data/tables (`dvc repro`)

WINDOW = load_params()["features"]["sitting_window_days"]


@pytest.fixture(scope="module")
def coded() -> dict[str, pd.DataFrame]:
    """The tables as the stages read them (the votes' ids as categoricals)."""
    names = ("members", "rollcalls", "votes", "bills", "cosponsorships", "terms", "presidents")
    return {name: read_table(name, TABLES_DIR, categories=VOTE_IDS if name == "votes" else ()) for name in names}


@pytest.fixture(scope="module")
def seats(coded) -> Seats:
    return Seats.from_tables(coded["rollcalls"], coded["votes"], coded["members"], WINDOW)


def _sitting(seats: Seats, coded, chamber: str, date: str) -> set[str]:
    return set(sitting_members(seats, chamber, pd.Timestamp(date), coded["terms"]))


def _voting(members: set[str], coded) -> set[str]:
    """Less the delegates and the Resident Commissioner (no seat in the House's count)."""
    table = coded["members"]
    return members - set(table.loc[table["state"].isin(NON_VOTING_STATES), "bioguide_id"])


def _first_listed(coded, chamber: str, congress: int) -> set[str]:
    """The members the chamber's first roll call of the congress lists that lists the chamber (a Speaker's ballot
    keeps only its Present and Not Voting rows)."""
    rollcalls = coded["rollcalls"]
    held = rollcalls[(rollcalls["chamber"] == chamber) & (rollcalls["congress"] == congress)]
    for rollcall in held.sort_values(["date", "number"])["rollcall_id"]:
        listed = set(coded["votes"].loc[coded["votes"]["rollcall_id"] == rollcall, "bioguide_id"].astype(str))
        if len(listed) >= (50 if chamber == "senate" else 200):
            return listed
    raise AssertionError(f"no roll call of the {congress}th {chamber} lists it")


def test_the_senate_before_its_first_roll_call_of_the_118th(seats, coded):
    """The Senate first voted in the 118th on 2023-01-23. On 2023-01-08 the senators who retired at the end of the
    117th (Toomey, Burr, Blunt, Shelby, Leahy) no longer sit, their successors, whose terms began on 2023-01-03,
    do (Fetterman, Budd, Schmitt, Britt, Welch), as do Rubio, re-elected (no term on record: he left in 2025), and
    Sasse, who resigned that day. Vance and Mullin, former members by the crosswalk's date, have no term on
    record: Portman and Inhofe keep their seats until the Senate votes; Ricketts was appointed on 2023-01-23. The
    117th's voters standing in counted 105."""
    senate = _sitting(seats, coded, "senate", "2023-01-08")
    assert len(senate) == 100
    assert {"T000461", "B001135", "B000575", "S000320", "L000174"}.isdisjoint(senate)
    assert {"F000479", "B001305", "S001227", "B001319", "W000800", "R000595", "S001197"} <= senate
    first = _first_listed(coded, "senate", 118)
    assert first - senate == {"V000137", "M001190", "R000618"}  # Vance, Mullin, Ricketts
    assert senate - first == {"P000449", "I000024", "S001197"}  # Portman, Inhofe, Sasse


# date: (senators, those the first roll call lists not sitting yet, those sitting it no longer lists)
FIRST_DAYS = {
    # Obama's seat vacant (Burris sat from 2009-01-15), Minnesota's contested (Coleman stands in: his term ended);
    # the newcomers whose terms are not on record (Hagan, Begich, the Udalls, Johanns) leave their predecessors in
    "2009-01-08": (
        99,
        {"H001049", "B001265", "U000038", "U000039", "J000291"},
        {"C001057", "D000601", "D000407", "H001028", "S000888", "A000109"},
    ),
    "2011-01-08": (
        100,
        {"C000542", "A000368", "R000595", "T000461", "P000449", "B000575"},
        {"S000709", "B000611", "B001233", "L000572", "V000126", "G000445"},
    ),
    "2013-01-08": (100, {"H001069", "F000444", "D000607"}, {"K000352", "C000705", "L000504"}),
    "2015-01-07": (100, {"S001197", "G000562", "P000612"}, {"U000038", "J000291", "C000286"}),
    "2017-01-04": (100, {"H001075"}, {"B000711"}),  # Harris's term is not on record: Boxer's seat
    # Rick Scott's term began on 2019-01-08: Nelson's seat was vacant from 2019-01-03, Nelson stands in
    "2019-01-04": (
        100,
        {"S001191", "M001197", "B001310", "R000615", "S001217"},
        {"N000032", "F000444", "D000607", "K000352", "H000338"},
    ),
    "2021-01-04": (100, set(), {"P000612"}),  # Perdue's seat vacant until Ossoff's term, 2021-01-20
    "2023-01-08": (100, {"V000137", "M001190", "R000618"}, {"P000449", "I000024", "S001197"}),
    "2025-01-08": (100, set(), {"M001183"}),  # Manchin's seat vacant until Justice's term, 2025-01-14
}


@pytest.mark.parametrize("date", sorted(FIRST_DAYS))
def test_the_senate_on_the_first_days_of_each_congress(seats, coded, date):
    """Before the Senate's first roll call of a congress (2009-01-11, 2011-01-26, 2013-01-24, 2015-01-08,
    2017-01-04, 2019-01-08, 2021-01-06, 2023-01-23, 2025-01-09), compared with the senators that roll call lists:
    the differences are the newcomers whose terms congress-legislators does not record (they left by 2026),
    whose predecessors keep the seat, the appointments after the date, and the seats of senators whose terms
    ended at the opening, with no record of it, before a successor's began. The last congress's voters standing
    in counted 101, 108, 110, 110, 106, 104, 107, 105 and 111."""
    count, unseen, standing = FIRST_DAYS[date]
    senate = _sitting(seats, coded, "senate", date)
    first = _first_listed(coded, "senate", 111 + (int(date[:4]) - 2009) // 2)
    assert (len(senate), first - senate, senate - first) == (count, unseen, standing)


def test_the_house_before_its_first_roll_call_is_the_last_congress_s(seats, coded):
    """The 111th, 112th and 114th Houses first met on 2009-01-06, 2011-01-05 and 2015-01-06: the terms of their
    members begin then, so until then the previous House's last roll call stands in (434, 434, 435 members). On
    2023-01-03 and 2025-01-03, the opening days, the last roll calls' members sit, less those who left after them:
    McEachin (died 2022-11-28) and Bass (resigned 2022-12-09), whom the voters of the window counted, and Schiff,
    Kim and Armstrong, who left on 2024-12-08 and 2024-12-14 (433 and 432 before)."""
    for date, count in (("2009-01-05", 434), ("2011-01-04", 434), ("2015-01-05", 435)):
        assert len(_voting(_sitting(seats, coded, "house", date), coded)) == count, date
    assert "N000147" in _sitting(seats, coded, "house", "2015-01-05")  # Norton, a delegate: her term ran to then
    house = _voting(_sitting(seats, coded, "house", "2023-01-03"), coded)
    assert len(house) == 431 and {"M001200", "B001270"}.isdisjoint(house)
    house = _voting(_sitting(seats, coded, "house", "2025-01-03"), coded)
    assert len(house) == 430 and {"S001150", "K000394", "A000377"}.isdisjoint(house)


def test_a_term_ended_before_the_date_unseats_before_the_chamber_votes_again(seats, coded):
    """Wicker's House term ended on 2007-12-31, when he was appointed to the Senate; the House's last roll call of
    2007 (2007-12-19) still listed him. Tim Scott's House term ended on 2013-01-02, after the 112th's last roll
    call. An end date after the date unseats no one: Husted's and Moody's appointed terms run to the special
    election of 2026-11-03."""
    assert "W000437" not in _sitting(seats, coded, "house", "2008-01-01")
    assert "W000437" in _sitting(seats, coded, "senate", "2008-01-01")
    assert "S001184" not in _sitting(seats, coded, "house", "2013-01-03")
    assert {"H001104", "M001244"} <= _sitting(seats, coded, "senate", "2025-12-31")


def test_the_speaker_sits_though_listed_only_when_voting(seats, coded):
    """The Clerk lists the Speaker only when he votes: Boehner, elected on 2011-01-05 and 2013-01-03, had not voted
    in the 90 days before 2012-09-11 (the voters of the window left him out); Ryan, elected on 2015-10-29, was
    not listed from 2015-11-02 until he voted on 2015-11-19 (the listing, read up to the date, calls him departed);
    Johnson and Pelosi have terms on record (a listing's gap does not unseat a member a term seats)."""
    assert "B000589" in _sitting(seats, coded, "house", "2012-09-11")
    assert "R000570" in _sitting(seats, coded, "house", "2015-11-10")
    assert "J000299" in _sitting(seats, coded, "house", "2025-01-16")
    assert "P000197" in _sitting(seats, coded, "house", "2021-01-05")


def _gap_and_monthly_dates() -> list[pd.Timestamp]:
    monthly = pd.date_range("2007-01-01", "2025-12-01", freq="MS")
    january = [day for year in range(2009, 2026, 2) for day in pd.date_range(f"{year}-01-04", f"{year}-01-20")]
    return sorted(set(monthly) | set(january))


def test_members_from_tables_cut_the_day_before_are_those_of_the_full_tables(seats, coded):
    """No look-ahead: on every first of the month of 2007-2025 and every day of January 4-20 of each new congress
    (2009-2025), both chambers' members computed from the tables cut the day before (what a forecast of that day
    sees: the roll calls and votes, the members' congresses and the terms begun by then) are those the full tables
    give. 381 dates x 2 chambers."""
    dates = _gap_and_monthly_dates()
    assert len(dates) == 381
    for date in dates:
        cut = cut_as_of(coded, date - pd.Timedelta(days=1))
        before = Seats.from_tables(cut["rollcalls"], cut["votes"], cut["members"], WINDOW)
        for chamber in ("house", "senate"):
            got = set(sitting_members(before, chamber, date, cut["terms"]))
            assert got == set(sitting_members(seats, chamber, date, coded["terms"])), (date, chamber)


def _brute_listing(listed: dict[int, set[int]], rollcall_days: list[int], day: int) -> tuple[set[int], set[int]]:
    """(departed, listed) by the definition: of the full roll calls before ``day`` in order, a member is judged
    while listed on every one from their first listing (no listing after a roll call that missed them)."""
    held = [r for r in sorted(listed, key=lambda r: (rollcall_days[r], r)) if rollcall_days[r] < day]
    latest = max(rollcall_days[r] for r in held)
    departed, on_latest = set(), set()
    for member in set().union(*(listed[r] for r in held)):
        ranks = [i for i, r in enumerate(held) if member in listed[r]]
        if ranks != list(range(ranks[0], ranks[-1] + 1)):
            continue  # listed again after a gap: not judged
        (on_latest if rollcall_days[held[ranks[-1]]] == latest else departed).add(member)
    return departed, on_latest


@pytest.mark.unit
def test_listing_matches_the_definition_on_random_roll_calls():
    """Random House listings (members joining late, leaving, missed once, and Speaker's ballots of five names):
    ``Seats.listing`` on every day equals the definition, which reads only the roll calls before the day."""
    rng = np.random.default_rng(11)
    members, calls = 300, 60
    rollcall_days = sorted(rng.integers(0, 30, calls).tolist())
    start = np.where(rng.random(members) < 0.1, rng.integers(1, 25, members), 0)  # some join late
    stop = np.where(rng.random(members) < 0.1, rng.integers(2, 30, members), 99)  # some leave
    speaker = rng.random(members) < 0.02  # listed only when voting
    listed = {}
    for r, day in enumerate(rollcall_days):
        if r % 17 == 5:  # a Speaker's ballot: not a roll call that lists the chamber
            listed[r] = set(rng.choice(members, 5, replace=False).tolist())
            continue
        present = (start <= day) & (day < stop) & (rng.random(members) > np.where(speaker, 0.6, 0.005))
        listed[r] = set(np.flatnonzero(present).tolist())
    ids = [f"M{m:06d}" for m in range(members)]
    rollcalls = pd.DataFrame(
        {
            "rollcall_id": [f"h{r}-118.2023" for r in range(calls)],
            "chamber": "house",
            "congress": 118,
            "number": range(calls),
            "date": pd.Timestamp("2023-01-03") + pd.to_timedelta(rollcall_days, unit="D"),
            "question": "On Passage",
            "result": "Passed",
        }
    )
    votes = pd.DataFrame(
        [(f"h{r}-118.2023", ids[m], "yea") for r in range(calls) for m in sorted(listed[r])],
        columns=["rollcall_id", "bioguide_id", "position"],
    )
    table = pd.DataFrame(
        {"bioguide_id": ids, "congress": 118, "chamber": "house", "state": "OH", "district": 1, "name": ids}
    ).assign(senate_class=pd.NA)
    seats = Seats.from_tables(rollcalls, votes, table, WINDOW)
    full = {r: names for r, names in listed.items() if len(names) >= 218}
    day_zero = int((pd.Timestamp("2023-01-03") - pd.Timestamp("2000-01-01")).days)
    departures = 0
    for day in range(min(rollcall_days) + 1, 32):
        departed, on_latest = seats.listing("house", 118, day_zero + day)
        want = _brute_listing(full, rollcall_days, day)
        assert (departed, on_latest) == ({ids[m] for m in want[0]}, {ids[m] for m in want[1]}), day
        departures += len(departed)
    assert len(full) == 56 and departures > 100  # every roll call but the four ballots lists the chamber


@pytest.mark.unit
def test_speaker_ballots_name_the_member_by_surname_and_state():
    rollcalls = pd.DataFrame(
        {
            "rollcall_id": ["h2-114.2015", "h581-114.2015", "h3-114.2015"],
            "chamber": "house",
            "congress": 114,
            "number": [2, 581, 3],
            "date": pd.to_datetime(["2015-01-06", "2015-10-29", "2015-01-06"]),
            "question": ["Election of the Speaker", "Election of the Speaker", "On Passage"],
            "result": ["Boehner", "Ryan (WI)", "Passed"],
        }
    )
    members = pd.DataFrame(
        {
            "bioguide_id": ["B000589", "R000570", "R000577", "B000001"],
            "congress": 114,
            "chamber": "house",
            "state": ["OH", "WI", "OH", "TX"],
            "name": ["John A. Boehner", "Paul D. Ryan", "Tim Ryan", "Pat Boehner, Jr."],
        }
    )
    found = speaker_ballots(rollcalls, members)
    assert found["bioguide_id"].tolist() == ["R000570"]  # "Boehner" matches two: left out; "Ryan (WI)" one
    assert speaker_ballots(rollcalls, members[members["bioguide_id"] != "B000001"])["bioguide_id"].tolist() == [
        "B000589",
        "R000570",
    ]


@pytest.mark.unit
def test_seat_keys_read_both_sources_alike():
    """congress-legislators numbers an at-large seat 0, Voteview 1; a senator's seat is the state and class."""
    house = pd.DataFrame({"state": ["WY", "WY", "PA"], "district": [0, 1, pd.NA]})
    assert seat_keys(house, "house").tolist()[:2] == ["WY-1", "WY-1"] and pd.isna(seat_keys(house, "house")[2])
    senate = pd.DataFrame({"state": ["PA"], "senate_class": pd.array([3], dtype="Int64")})
    assert seat_keys(senate, "senate").tolist() == ["PA-S3"]


@pytest.mark.unit
def test_a_table_without_seats_is_named():
    rollcalls = pd.DataFrame(columns=["rollcall_id", "chamber", "congress", "number", "date", "question", "result"])
    votes = pd.DataFrame(columns=["rollcall_id", "bioguide_id", "position"])
    members = pd.DataFrame(columns=["bioguide_id", "congress", "chamber", "state", "district", "name"])
    with pytest.raises(DataError, match="members table lacks senate_class: rerun the ingest"):
        Seats.from_tables(rollcalls, votes, members, WINDOW)
