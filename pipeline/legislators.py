"""Reader for the unitedstates/congress-legislators id crosswalk (CSV; the YAML for full term histories)."""

from __future__ import annotations

import pandas as pd
import yaml

from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.fetch import locate
from pipeline.rawio import read_bytes, read_csv_checked

ID_COLUMNS = [
    "bioguide_id",
    "lis_id",
    "icpsr_id",
    "govtrack_id",
    "thomas_id",
    "first_name",
    "last_name",
    "full_name",
    "birthday",
    "party",
    "state",
    "type",
    "senate_class",  # of the person's current or, for a former member, last term (a senator's seat)
]


def _locate(config: DataConfig, name: str, snapshot_name: str | None = None):
    url = config.urls["legislators"].format(name=name)
    columns = tuple(ID_COLUMNS) if name.endswith(".csv") else ()
    return locate(config, f"congress-legislators/{snapshot_name or name}", url, f"congress-legislators/{name}", columns)


def read_crosswalk(config: DataConfig) -> pd.DataFrame:
    """Current and historical members, one row per person: bioguide, LIS and ICPSR ids, name, last party and
    Senate class (the class of the seat of their current or last term)."""
    frames = []
    for name, snapshot_name, current in (
        ("legislators-current.csv", None, True),
        ("legislators-historical.csv", "legislators-historical.csv.gz", False),
    ):
        path = _locate(config, name, snapshot_name)
        frame = read_csv_checked(
            path,
            ID_COLUMNS,
            dtype={"icpsr_id": "Int64", "govtrack_id": "Int64", "thomas_id": str, "senate_class": "Int64"},
        )
        frames.append(frame[ID_COLUMNS].assign(current=current))
    crosswalk = pd.concat(frames, ignore_index=True)
    crosswalk = crosswalk.dropna(subset=["bioguide_id"]).drop_duplicates("bioguide_id", keep="first")
    return crosswalk.reset_index(drop=True)


TERM_COLUMNS = ["bioguide_id", "chamber", "start", "end", "party", "state", "district", "senate_class"]


def read_current_terms(config: DataConfig) -> pd.DataFrame:
    """Every term of every current member (legislators-current.yaml): chamber, start, end, party, state, and the
    seat: the district of a representative, the class of a senator."""
    path = _locate(config, "legislators-current.yaml")
    try:
        people = yaml.load(read_bytes(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 10x
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(people, list):
        raise DataError(f"{path}: expected a list of legislators")
    rows = []
    for number, person in enumerate(people, start=1):
        bioguide = None
        try:
            bioguide = person["id"]["bioguide"]
            for term in person["terms"]:
                rows.append(
                    {
                        "bioguide_id": bioguide,
                        "chamber": "house" if term["type"] == "rep" else "senate",
                        "start": pd.Timestamp(term["start"]),
                        "end": pd.Timestamp(term["end"]),
                        "party": term.get("party"),
                        "state": term.get("state"),
                        "district": term.get("district"),
                        "senate_class": term.get("class"),
                    }
                )
        except (KeyError, TypeError, ValueError) as exc:
            who = f"legislator {bioguide}" if bioguide else f"legislator entry {number}"
            raise DataError(f"{path}: {who}: missing or malformed id/terms ({type(exc).__name__}: {exc})") from exc
    return pd.DataFrame(rows, columns=TERM_COLUMNS).astype({"senate_class": "Int64"})


PARTY_LETTERS = {"Democrat": "D", "Republican": "R", "Independent": "I"}  # as in the members table
PRESIDENT_COLUMNS = ["bioguide_id", "name", "office", "party", "start", "end"]


def read_presidents(config: DataConfig) -> pd.DataFrame:
    """Every term of every President and Vice President (executive.yaml): office, party, start and end."""
    path = _locate(config, "executive.yaml")
    try:
        people = yaml.load(read_bytes(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(people, list):
        raise DataError(f"{path}: expected a list of Presidents and Vice Presidents")
    rows = []
    for number, person in enumerate(people, start=1):
        try:
            name = person["name"].get("official_full") or f"{person['name']['first']} {person['name']['last']}"
            for term in person["terms"]:
                rows.append(
                    {
                        "bioguide_id": person["id"].get("bioguide"),
                        "name": name,
                        "office": {"prez": "president", "viceprez": "vice_president"}[term["type"]],
                        "party": PARTY_LETTERS.get(term.get("party"), term.get("party")),
                        "start": pd.Timestamp(term["start"]),
                        "end": pd.Timestamp(term["end"]),
                    }
                )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(f"{path}: entry {number} lacks name/terms/type/start/end ({exc!r})") from exc
    return pd.DataFrame(rows, columns=PRESIDENT_COLUMNS).sort_values(["start", "office"]).reset_index(drop=True)
