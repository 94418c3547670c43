"""Names a reader knows: "H.R. 6508, NATO Act (Rep. Thomas Massie, R-KY)" instead of ``119hr6508`` and
``M001184``, and member lookup by name for the command line."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection

import pandas as pd

from pipeline.errors import DataError
from pipeline.ids import NON_VOTING_STATES

BILL_TYPES = {
    "hr": "H.R.",
    "s": "S.",
    "hres": "H.Res.",
    "sres": "S.Res.",
    "hjres": "H.J.Res.",
    "sjres": "S.J.Res.",
    "hconres": "H.Con.Res.",
    "sconres": "S.Con.Res.",
    "hamdt": "H.Amdt.",
    "samdt": "S.Amdt.",
}
BILL_ID = re.compile(r"^(\d+)([a-z]+?)(\d+)$")


def bill_number(bill_id: str) -> str:
    """'119hr6508' -> 'H.R. 6508'; an id of another shape is returned as it is."""
    match = BILL_ID.match(bill_id)
    if not match or match.group(2) not in BILL_TYPES:
        return bill_id
    return f"{BILL_TYPES[match.group(2)]} {match.group(3)}"


def congress_of(bill_id: str) -> int | None:
    match = BILL_ID.match(bill_id)
    return int(match.group(1)) if match else None


def short_title(title: str, limit: int = 90) -> str:
    """A title short enough for a headline (cut at a word, with an ellipsis)."""
    title = " ".join(str(title).split())
    if len(title) <= limit:
        return title
    return title[:limit].rsplit(" ", 1)[0].rstrip(",;") + "…"


def member_directory(members: pd.DataFrame, congress: int | None = None) -> pd.DataFrame:
    """One row per member (their latest congress, up to ``congress`` when given, so that a 2019 bill's sponsor
    is named with the seat they held then): name, party, state, chamber, by bioguide id."""
    if congress is not None and (members["congress"] <= congress).any():
        members = members[members["congress"] <= congress]
    latest = members.sort_values("congress").drop_duplicates("bioguide_id", keep="last")
    return latest.set_index("bioguide_id")[["name", "party", "state", "chamber", "congress"]]


def member_label(bioguide_id: str, directory: pd.DataFrame) -> str:
    """'Rep. Thomas Massie, R-KY' (Sen., Del. for the non-voting delegates); the id when unknown."""
    if bioguide_id not in directory.index:
        return str(bioguide_id)
    row = directory.loc[bioguide_id]
    if row["chamber"] == "senate":
        title = "Sen."
    else:
        title = "Del." if row["state"] in NON_VOTING_STATES else "Rep."
    return f"{title} {row['name']}, {row['party']}-{row['state']}"


def bill_label(bill_id: str, title: str, sponsor: str | None, directory: pd.DataFrame) -> str:
    """'H.R. 6508, NATO Act (Rep. Thomas Massie, R-KY)'."""
    sponsor_text = f" ({member_label(sponsor, directory)})" if sponsor and not pd.isna(sponsor) else ""
    title_text = f", {short_title(title, 70)}" if not pd.isna(title) and str(title).strip() else ""
    return f"{bill_number(bill_id)}{title_text}{sponsor_text}"


SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}


def last_name(name: str) -> str:
    """Sort key for a member: the last word that is not a suffix ('Jr.', 'III')."""
    words = [w for w in str(name).replace(",", " ").split() if w.rstrip(".").lower() not in SUFFIXES]
    return words[-1] if words else str(name)


def folded(text: str) -> str:
    """Lower case without accents: 'Velázquez' and 'velazquez' are the same name to a user typing it (a
    keyboard without accents, a name copied from a headline)."""
    decomposed = unicodedata.normalize("NFKD", str(text).strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_keys(name: str) -> set[str]:
    """The ways a reader names a member, folded: full name, last name, and first (or quoted nickname) and last
    name without the middle ones ('Hakeem S. Jeffries' -> 'hakeem jeffries'; 'Charles J. "Chuck" Fleischmann'
    -> 'chuck fleischmann')."""
    last = last_name(name)
    words = str(name).replace('"', " ").split()
    firsts = [words[0]] + re.findall(r'"([^"]+)"', str(name)) if words else []
    return {folded(name), folded(last)} | {folded(f"{first} {last}") for first in firsts}


TITLE = re.compile(r"^(?:rep|sen|del|representative|senator|delegate)\.?\s+", re.IGNORECASE)
SEAT = re.compile(r"\s*(?:,|\()\s*([A-Za-z]{1,3})-([A-Za-z]{2})\s*\)?$")


def as_printed(text: str, directory: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """A member written as this tool prints one ('Rep. Thomas Massie, R-KY', 'Massie (R-KY)'): the name, and the
    members of that party and state to look for it among (a copied label resolves, 'Johnson (R-LA)' too)."""
    text = TITLE.sub("", text.strip())
    seat = SEAT.search(text)
    if seat is None:
        return text, directory
    chosen = (directory["party"] == seat[1].upper()) & (directory["state"] == seat[2].upper())
    return text[: seat.start()].strip(), directory[chosen]


def split_members(text: str) -> list[str]:
    """A comma-separated list of members, a party-state or a suffix after a comma kept with its name: 'Rep. Anna
    Paulina Luna, R-FL, Greene' -> ['Rep. Anna Paulina Luna, R-FL', 'Greene'] (the label this tool prints)."""
    parts: list[str] = []
    for piece in (p.strip() for p in str(text).split(",")):
        if parts and (re.fullmatch(r"[A-Za-z]{1,3}-[A-Za-z]{2}", piece) or piece.rstrip(".").lower() in SUFFIXES):
            parts[-1] += ", " + piece
        elif piece:
            parts.append(piece)
    return parts


def _exact_matches(text: str, directory: pd.DataFrame) -> pd.DataFrame:
    """The members whose id, full name, last name or first and last name is ``text`` (any case, accents or
    none)."""
    needle = folded(text)
    keys = directory["name"].astype(str).map(name_keys)
    return directory[(directory.index.str.lower() == needle) | keys.map(lambda k: needle in k).astype(bool)]


def _choices(found: pd.DataFrame, directory: pd.DataFrame) -> str:
    return ", ".join(f"{i} ({member_label(i, directory)})" for i in found.index[:8])


class AmbiguousMember(DataError):
    """A name more than one member has."""


def resolve_member(text: str, directory: pd.DataFrame, what: str, among: Collection[str] | None = None) -> str:
    """A bioguide id from an id or a (last) name: 'Massie' -> 'M001184'. Ambiguous or unknown names are
    errors that list the candidates or the closest names. ``among``: the members a name is looked for first (those
    sitting in the bill's chamber in its congress: 'Johnson' on a 119th Senate bill is Ron Johnson), by id, full
    or last name only (no part of a name: 'Warren' on a House bill is not Warren Davidson); a name none of them has
    is looked for among all, and the registry's check then says where that member sat."""
    if not text.strip():
        raise DataError(f"{what} is empty: give a bioguide id or a name (e.g. M001184 or Massie)")
    typed = text.strip()
    text, directory = as_printed(typed, directory)
    if among is not None:
        sitting = directory[directory.index.isin(list(among))]
        exact = _exact_matches(text, sitting)
        if len(exact) == 1:
            return str(exact.index[0])
        if len(exact) > 1:  # all sat there then: no tie-break by who still sits today
            raise AmbiguousMember(f"{what} {text!r} is ambiguous: {_choices(exact, directory)}; give the bioguide id")
    if text.upper() in directory.index:
        return text.upper()
    if re.fullmatch(r"[A-Za-z]\d{6}", text):
        close = difflib.get_close_matches(text.upper(), list(directory.index), n=3, cutoff=0.7)
        hint = f"; did you mean {', '.join(f'{c} ({member_label(c, directory)})' for c in close)}?" if close else ""
        raise DataError(f"unknown member id {text!r} ({what}){hint}")
    needle = folded(text)
    names = directory["name"].astype(str)
    exact = _exact_matches(text, directory)
    if len(exact) == 1:
        return str(exact.index[0])
    found = exact if len(exact) else directory[names.map(folded).str.contains(needle, regex=False)]
    if len(found) == 1:
        return str(found.index[0])
    if len(found) > 1:
        recent = found[found["congress"] == directory["congress"].max()]
        if len(recent) == 1:
            return str(recent.index[0])
        choices = _choices(recent if len(recent) else found, directory)
        raise AmbiguousMember(f"{what} {text!r} is ambiguous: {choices}; give the bioguide id")
    raise unknown_member(typed, needle, directory, what)


def unknown_member(typed: str, needle: str, directory: pd.DataFrame, what: str) -> DataError:
    """'unknown member' with the closest names, by any of the ways a member is named."""
    by_name: dict[str, str] = {}
    for bioguide, name in directory["name"].dropna().astype(str).items():
        for key in sorted(name_keys(name)):
            by_name.setdefault(key, bioguide)
    close = difflib.get_close_matches(needle, list(by_name), n=3, cutoff=0.75)
    suggestions = list(dict.fromkeys(by_name[c] for c in close))
    hint = f"; did you mean {', '.join(f'{i} ({member_label(i, directory)})' for i in suggestions)}?" if close else ""
    return DataError(f"unknown member {what} {typed!r}{hint}")
