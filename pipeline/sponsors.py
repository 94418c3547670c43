"""Who put each roll call's question before the chamber: the author of the amendment voted on, else the
sponsor of the bill. Clerk records name House amendment authors ("Greene of Georgia", "Eshoo (CA)"), Senate
records name them in the question ("Paul Amdt. No. 222"); both are matched to one sitting member by last name
(and state when given), or left unknown when no single member fits.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX",
    "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY", "Puerto Rico": "PR", "Guam": "GU", "American Samoa": "AS",
    "Virgin Islands": "VI", "District of Columbia": "DC", "Northern Mariana Islands": "MP",
}  # fmt: skip
HOUSE_AUTHOR = re.compile(
    r"^(?:(?:First|Second|Third|Fourth|Fifth) )?(?P<name>[A-Z][A-Za-z'. -]+?)"
    rf"(?: of (?P<state>{'|'.join(sorted(STATES, key=len, reverse=True))})\b| \((?P<abbrev>[A-Z]{{2}})\))"
)
SENATE_AUTHOR = re.compile(
    r"(?P<name>(?:[A-Z][A-Za-z'.-]+ ){0,2}[A-Z][A-Za-z'.-]+)(?: \((?P<abbrev>[A-Z]{2})\))? Amdt\.? No"
)


def name_key(name) -> str:
    """Last name as compared: accents and punctuation dropped, lower case ("Velázquez" = "Velazquez")."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z ]", "", ascii_name.lower().replace("-", " ")).strip()


def author_names(rollcalls: pd.DataFrame) -> pd.DataFrame:
    """The author's name and state (when given) of every amendment roll call, as the record writes them."""
    is_amendment = rollcalls["amendment_type"].notna()
    house = is_amendment & (rollcalls["chamber"] == "house")
    senate = is_amendment & (rollcalls["chamber"] == "senate")
    found_house = rollcalls.loc[house, "amendment_author"].fillna("").str.extract(HOUSE_AUTHOR)
    found_house["abbrev"] = found_house["abbrev"].fillna(found_house["state"].map(STATES))
    text = rollcalls.loc[senate, "question"].fillna("") + " | " + rollcalls.loc[senate, "description"].fillna("")
    found_senate = text.str.extract(SENATE_AUTHOR)
    names = pd.concat([found_house[["name", "abbrev"]], found_senate[["name", "abbrev"]]])
    return names.rename(columns={"abbrev": "state"}).reindex(rollcalls.index)


def match_authors(rollcalls: pd.DataFrame, members: pd.DataFrame, crosswalk: pd.DataFrame) -> pd.Series:
    """Bioguide id of each amendment roll call's author (missing when no single sitting member fits)."""
    names = author_names(rollcalls)
    wanted = pd.DataFrame(
        {
            "row": rollcalls.index,
            "congress": rollcalls["congress"].to_numpy(),
            "chamber": rollcalls["chamber"].to_numpy(),
            "key": names["name"].map(_candidate_keys, na_action="ignore").to_numpy(),
            "given_state": names["state"].to_numpy(),
        }
    ).dropna(subset=["key"])
    wanted = wanted.explode("key")
    wanted["preference"] = wanted.groupby("row").cumcount()
    last = crosswalk.set_index("bioguide_id")["last_name"]
    sitting = members[["bioguide_id", "congress", "chamber", "state"]].assign(
        key=members["bioguide_id"].map(last).fillna(members["name"].str.split().str[-1]).map(name_key)
    )
    candidates = wanted.merge(sitting, on=["congress", "chamber", "key"])
    candidates = candidates[candidates["given_state"].isna() | (candidates["given_state"] == candidates["state"])]
    # the most specific name that fits anyone decides; it must fit exactly one member
    best = candidates[candidates["preference"] == candidates.groupby("row")["preference"].transform("min")]
    count = best.groupby("row")["bioguide_id"].transform("nunique")
    unique = best[count == 1].drop_duplicates("row").set_index("row")["bioguide_id"]
    return unique.reindex(rollcalls.index)


def _candidate_keys(name: str) -> list[str]:
    """The whole name as written, then its last two words, then its last word ("Carolyn B. Maloney" ->
    ..., "maloney"; "Jackson Lee" fits a last name of two words)."""
    words = name_key(name).split()
    keys = [" ".join(words), " ".join(words[-2:]), words[-1]] if words else []
    return list(dict.fromkeys(keys))


def rollcall_sponsors(rollcalls: pd.DataFrame, bills: pd.DataFrame) -> pd.DataFrame:
    """Sponsor of each roll call's question and where it comes from: ``amendment_author`` for a vote on (or to
    table, waive for) an amendment, ``bill`` for any other vote on a bill whose BILLSTATUS record is known."""
    bill_sponsor = rollcalls["bill_id"].map(
        bills.drop_duplicates("bill_id").set_index("bill_id")["sponsor_bioguide_id"]
    )
    on_amendment = rollcalls["amendment_type"].notna()
    sponsor = bill_sponsor.where(~on_amendment, rollcalls["amendment_author_id"])
    source = pd.Series(None, index=rollcalls.index, dtype=object)
    source[~on_amendment & bill_sponsor.notna()] = "bill"
    source[on_amendment & rollcalls["amendment_author_id"].notna()] = "amendment_author"
    return pd.DataFrame({"sponsor_bioguide_id": sponsor, "sponsor_source": source})


def sponsor_coverage(rollcalls: pd.DataFrame) -> dict:
    """Per congress and chamber: roll calls, and those whose sponsor is known (by bill or amendment author)."""
    known = rollcalls["sponsor_bioguide_id"].notna()
    table = pd.DataFrame(
        {
            "rollcalls": rollcalls.groupby(["congress", "chamber"]).size(),
            "with_bill_sponsor": (rollcalls["sponsor_source"] == "bill")
            .groupby([rollcalls["congress"], rollcalls["chamber"]])
            .sum(),
            "with_amendment_author": (rollcalls["sponsor_source"] == "amendment_author")
            .groupby([rollcalls["congress"], rollcalls["chamber"]])
            .sum(),
            "with_known_sponsor": known.groupby([rollcalls["congress"], rollcalls["chamber"]]).sum(),
        }
    )
    return {
        f"{congress}.{chamber}": {k: int(v) for k, v in row.items()} for (congress, chamber), row in table.iterrows()
    }
