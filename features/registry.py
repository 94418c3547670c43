"""The registry of bills whose support is forecast: every BILLSTATUS bill plus the bills users describe.

A bill's stance toward the alliance (+1 for, -1 against, 0 neither) comes from the same text rules as the
roll-call catalog, read over all of its titles and its summary; a user entry may set it with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from features.catalog import ALLIANCE, TIED, classify
from features.context import PROCEDURES
from pipeline.errors import DataError
from pipeline.ids import (
    NON_VOTING_STATES,
    bill_id,
    congress_of_date,
    ordinal,
    origin_chamber,
    other_chamber,
    parse_date,
    split_bill_id,
)
from pipeline.tables import nato_bills

ADDITIONS_FILE = Path(__file__).with_name("registry_additions.yaml")
# the stance reason of a user's bill whose stance came without one: says nothing of the bill (its words are not
# matched against earlier roll calls, ``features.build.measure_texts``)
USER_STANCE = "user: set by the user"
# what a user's entry may say (registry_additions.yaml, `natocast describe`, the API)
ENTRY_FIELDS = (
    "bill_id",
    "chamber",
    "introduced",
    "sponsor",
    "cosponsors",
    "title",
    "stance",
    "stance_reason",
    "kind",
    "procedure",
)
RESOLUTION_TYPES = ("hres", "sres", "hconres", "sconres")
REGISTRY_COLUMNS = [
    "bill_id",
    "congress",
    "chamber",
    "kind",
    "title",
    "sponsor_bioguide_id",
    "introduced",
    "stance",
    "stance_reason",
    "domain",
    "procedure",
    "source",
]


AMENDMENT_TYPES = ("hamdt", "samdt")
OWN_CHAMBER_TYPES = ("hres", "sres", *AMENDMENT_TYPES)  # voted only in the chamber they come from


def bill_kind(bill_type: str) -> str:
    if bill_type in AMENDMENT_TYPES:
        return "amendment"
    return "resolution" if bill_type in RESOLUTION_TYPES else "passage"


def default_procedure(kind: str) -> str:
    """The vote a bill is forecast for unless told otherwise: passage (adoption for a resolution)."""
    return kind if kind in ("resolution", "amendment", "treaty") else "passage"


def bill_stance(text: str, kind: str) -> tuple[int, str]:
    """Stance of a bill from its titles and summary, by the catalog's rules."""
    if ALLIANCE.search(text):
        return classify(text, kind, "alliance")
    if TIED.search(text):
        return classify(text, kind, "tied")
    return 0, "text shows no side toward the alliance"


def bill_domain(text: str, stance: int) -> str:
    """``alliance`` for a bill about NATO itself (and any bill against it), else ``tied``."""
    return "alliance" if ALLIANCE.search(text) or stance == -1 else "tied"


def registry_from_bills(bills: pd.DataFrame) -> pd.DataFrame:
    registry = nato_bills(bills).copy()
    registry["kind"] = registry["type"].map(bill_kind)
    text = registry["all_titles"].fillna("") + " | " + registry["summary"].fillna("")
    stances = [bill_stance(t, k) for t, k in zip(text, registry["kind"], strict=True)]
    registry["stance"] = [s for s, _ in stances]
    registry["stance_reason"] = ["rule: " + r for _, r in stances]
    registry["domain"] = [bill_domain(t, s) for t, s in zip(text, registry["stance"], strict=True)]
    registry["procedure"] = registry["kind"].map(default_procedure)
    registry["source"] = "billstatus"
    return registry[REGISTRY_COLUMNS]


CHAMBER_NAMES = {"house": "House", "senate": "Senate"}


class Seats:
    """Who sat in each chamber in each congress (the members table). A described bill's sponsor and cosponsors
    must sit in the chamber the bill comes from in its congress, as BILLSTATUS records them (a House bill's are
    representatives, also when the Senate votes on it); the general model learned from such sponsors."""

    def __init__(self, members: pd.DataFrame):
        self.sitting = {
            (int(congress), str(chamber)): frozenset(ids)
            for (congress, chamber), ids in members.groupby(["congress", "chamber"])["bioguide_id"]
        }
        self.last_seat = members.sort_values("congress").drop_duplicates("bioguide_id", keep="last")
        self.last_seat = self.last_seat.set_index("bioguide_id")[["congress", "chamber"]]
        # Voteview lists delegates only in congresses where they could vote in the Committee of the Whole (none
        # of the 112th-115th here): a delegate is taken to sit through the congresses between their first and last
        # on record, and through such a gap when listed at its edge (the congress before it or after it)
        delegates = members[(members["chamber"] == "house") & members["state"].isin(NON_VOTING_STATES)]
        self.delegate_span = delegates.groupby("bioguide_id")["congress"].agg(["min", "max"])
        self.delegate_congresses = sorted(set(delegates["congress"]))
        self.without_delegates = set(members["congress"]) - set(self.delegate_congresses)

    def _delegate_sat(self, member: str, congress: int) -> bool:
        """A delegate on record before and after ``congress``, or at the edge of a gap in the record it is in."""
        first, last = self.delegate_span.loc[member, ["min", "max"]]
        if first <= congress <= last:
            return True
        if congress not in self.without_delegates:
            return False
        before = max((c for c in self.delegate_congresses if c < congress), default=first)
        after = min((c for c in self.delegate_congresses if c > congress), default=last)
        return last >= before and first <= after

    def check(self, member: str, congress: int, chamber: str, where: str) -> None:
        """A DataError naming ``where`` unless ``member`` sat in ``chamber`` in ``congress``."""
        if member not in self.last_seat.index:
            raise DataError(f"{where}: unknown member id {member!r} (not a bioguide id in the data)")
        if member in self.sitting.get((congress, chamber), ()):
            return
        if chamber == "house" and member in self.delegate_span.index and self._delegate_sat(member, congress):
            return
        other = other_chamber(chamber)
        seat = self.last_seat.loc[member]
        if member in self.sitting.get((congress, other), ()):
            was = f"sat in the {CHAMBER_NAMES[other]} then"
        elif seat["congress"] < congress:
            was = f"last sat in the {CHAMBER_NAMES[seat['chamber']]} in the {ordinal(int(seat['congress']))} Congress"
        else:
            was = "not in Congress then"
        name = CHAMBER_NAMES[chamber]
        raise DataError(
            f"{where}: {member} did not sit in the {name} in the {ordinal(congress)} Congress ({was}); "
            f"the sponsor and cosponsors of a {name} bill or amendment sit in the {name}"
        )


def parse_additions(entries: list[dict], seats: Seats, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User-described bills -> (registry rows, cosponsorships). Each entry: bill_id, chamber, introduced,
    sponsor, and optionally title, stance (+ stance_reason), kind, cosponsors (ids or {bioguide_id, date})."""
    rows, cosponsors = [], []
    for number, entry in enumerate(entries, start=1):
        label = f"{where}: entry {number}"
        row = _addition_row(entry, seats, label)
        rows.append(row)
        for cosponsor in entry.get("cosponsors", []):
            date = cosponsor.get("date", row["introduced"]) if isinstance(cosponsor, dict) else row["introduced"]
            cosponsors.append(
                {
                    "bill_id": row["bill_id"],
                    "bioguide_id": _cosponsor_id(cosponsor),
                    "date": parse_date(date, f"{label} ({row['bill_id']}) cosponsor date"),
                    "original": True,
                    "withdrawn": pd.NaT,
                }
            )
    return (
        pd.DataFrame(rows, columns=REGISTRY_COLUMNS),
        pd.DataFrame(cosponsors, columns=["bill_id", "bioguide_id", "date", "original", "withdrawn"]),
    )


def _check_fields(entry, label: str) -> None:
    """The entry is a mapping with the four fields a bill needs and no field a bill does not have (a misspelt
    "cosponsor" or "titel" would otherwise be dropped without a word)."""
    if not isinstance(entry, dict):
        raise DataError(f"{label}: expected a mapping with bill_id, chamber, introduced, sponsor")
    missing = [k for k in ("bill_id", "chamber", "introduced", "sponsor") if k not in entry]
    if missing:
        raise DataError(f"{label}: missing {', '.join(missing)}")
    unknown = sorted(str(key) for key in entry if key not in ENTRY_FIELDS)
    if unknown:
        raise DataError(f"{label}: unknown field(s) {', '.join(unknown)}; a bill has {', '.join(ENTRY_FIELDS)}")


def _addition_row(entry, seats: Seats, label: str) -> dict:
    """One user entry checked (fields, id, chamber, date, members, procedure, stance) -> its registry row."""
    _check_fields(entry, label)
    congress, bill_type, bill_number = split_bill_id(entry["bill_id"])
    this_id = bill_id(congress, bill_type, bill_number)
    chamber = str(entry["chamber"]).lower()  # where the vote is: a House bill can be voted in the Senate
    if chamber not in ("house", "senate") or (bill_type in OWN_CHAMBER_TYPES and chamber[0] != bill_type[0]):
        raise DataError(f"{label} ({this_id}): chamber {entry['chamber']!r} does not fit bill type {bill_type}")
    introduced = parse_date(entry["introduced"], f"{label} ({this_id}) introduced")
    if introduced != introduced.normalize():
        raise DataError(f"{label} ({this_id}) introduced {entry['introduced']!r}: a day (YYYY-MM-DD), not a time")
    if congress_of_date(introduced) != congress:
        raise DataError(
            f"{label} ({this_id}) introduced {introduced:%Y-%m-%d}: that is in the "
            f"{ordinal(congress_of_date(introduced))} Congress, not the {ordinal(congress)} of the bill id"
        )
    _check_members(entry, seats, congress, origin_chamber(bill_type), f"{label} ({this_id})")
    kind = entry.get("kind", bill_kind(bill_type))
    vote = entry.get("procedure", default_procedure(kind))
    if vote not in PROCEDURES:
        raise DataError(f"{label} ({this_id}): procedure {vote!r} is not one of {', '.join(PROCEDURES)}")
    if "treaty" in (kind, vote) and chamber != "senate":
        raise DataError(f"{label} ({this_id}): a treaty is voted in the Senate only, not the {chamber}")
    title = entry.get("title", "")
    if "stance" in entry:
        if entry["stance"] not in (-1, 0, 1):
            raise DataError(f"{label} ({this_id}): stance must be -1, 0 or 1, not {entry['stance']!r}")
        stance = int(entry["stance"])
        reason = f"user: {entry['stance_reason']}" if "stance_reason" in entry else USER_STANCE
    else:
        stance, reason = bill_stance(title, kind)
        reason = "rule: " + reason
    return {
        "bill_id": this_id,
        "congress": congress,
        "chamber": chamber,
        "kind": kind,
        "title": title,
        "sponsor_bioguide_id": entry["sponsor"],
        "introduced": introduced,
        "stance": stance,
        "stance_reason": reason,
        "domain": bill_domain(title, stance),
        "procedure": vote,
        "source": "user",
    }


def _check_members(entry: dict, seats: Seats, congress: int, origin: str, where: str) -> None:
    """The sponsor and each cosponsor sat in the chamber the bill comes from; none is named twice."""
    listed = entry.get("cosponsors", [])
    if not isinstance(listed, list | tuple) or any(isinstance(c, dict) and "bioguide_id" not in c for c in listed):
        raise DataError(f"{where}: cosponsors must be a list of bioguide ids or of {{bioguide_id, date}} mappings")
    cosponsors = [_cosponsor_id(c) for c in listed]
    seats.check(entry["sponsor"], congress, origin, f"{where} sponsor")
    for cosponsor in cosponsors:
        seats.check(cosponsor, congress, origin, f"{where} cosponsor")
    named = [entry["sponsor"], *cosponsors]
    twice = sorted({member for member in named if named.count(member) > 1})
    if twice:
        raise DataError(f"{where}: {', '.join(twice)} named twice among the sponsor and cosponsors")


def _cosponsor_id(cosponsor) -> str:
    return cosponsor["bioguide_id"] if isinstance(cosponsor, dict) else str(cosponsor)


def _entry_congress(entry) -> int:
    """The congress of a registry_additions.yaml entry's bill id (0 when it has none: ``parse_additions`` says
    what is wrong with it)."""
    try:
        return split_bill_id(entry["bill_id"])[0]
    except (DataError, KeyError, TypeError):
        return 0


def load_additions(path: Path = ADDITIONS_FILE) -> list[dict]:
    if not path.exists():
        return []
    try:
        return yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from exc


def build_registry(
    bills: pd.DataFrame,
    cosponsorships: pd.DataFrame,
    members: pd.DataFrame,
    additions: list[dict],
    where: str = ADDITIONS_FILE.name,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(registry, cosponsorships of registry bills). A user entry with the id of a BILLSTATUS bill replaces it.
    Bills and entries of congresses outside the tables' range (params.yaml data.congresses) are skipped, said."""
    first, last = int(members["congress"].min()), int(members["congress"].max())
    inside = [entry for entry in additions if _entry_congress(entry) in (0, *range(first, last + 1))]
    outside = [str(entry["bill_id"]) for entry in additions if entry not in inside]
    in_range = bills["congress"].between(first, last)
    outside += sorted(nato_bills(bills[~in_range])["bill_id"])
    if outside:
        shown = ", ".join(outside[:5]) + (", ..." if len(outside) > 5 else "")
        print(f"registry: {len(outside)} bill(s) outside congresses {first}-{last} skipped: {shown}")
    bills = bills[in_range]
    added, added_cosponsors = parse_additions(inside, Seats(members), where)
    registry = registry_from_bills(bills)
    registry = pd.concat([registry[~registry["bill_id"].isin(added["bill_id"])], added], ignore_index=True)
    cosponsors = cosponsorships[~cosponsorships["bill_id"].isin(added["bill_id"])]
    cosponsors = pd.concat([cosponsors[added_cosponsors.columns], added_cosponsors], ignore_index=True)
    return registry.sort_values("bill_id").reset_index(drop=True), cosponsors
