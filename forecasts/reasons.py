"""Reasons in plain words: what pushes a member most toward and away from backing a bill.

XGBoost's TreeSHAP contributions are in log-odds of the alliance side; for a bill against the alliance
(stance -1) backing it means the opposite side, so the sign flips. Contributions are summed over families of
features (the member's record on NATO votes, party, ideology, ...) and each family is named from a small
vocabulary, so a reader never sees a feature's name; a feature the vocabulary does not know falls into
"other parts of the voting record". A family's detail (a share, a side) is shown only when it points the same
way as the family's push, so a reason never contradicts itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice
from operator import itemgetter

import numpy as np
import pandas as pd


def sponsor_label(key: str) -> str:
    """The display name of a named sponsor: its key in params.yaml ``features.named_sponsors`` ('massie' ->
    'Massie'), so that adding a named sponsor is one edit there."""
    return key.replace("_", " ").title()


OTHER = "other parts of the voting record"
# (prefix or exact name, family): first match wins, so exact names come before prefixes.
FAMILIES: list[tuple[str, str]] = [
    ("alliance_", "record on NATO votes"),
    ("domain_share", "record on NATO votes"),
    ("tied_", "record on Ukraine/Russia votes"),
    ("shrunk_domain_share", "record on votes like this one"),
    ("member_similar_share", "record on votes like this one"),
    ("shrunk_catalog_share", "record on NATO and Ukraine/Russia votes"),
    ("catalog_share", "record on NATO and Ukraine/Russia votes"),
    ("context_", "party's recent stance on such votes"),
    ("party_domain", "party's recent stance on such votes"),
    ("party_similar", "party's recent stance on such votes"),
    ("party_recent", "party's recent stance on such votes"),
    ("party_catalog_share", "party's record on such votes"),
    ("is_republican", "party"),
    ("is_democrat", "party"),
    ("member_in_majority", "party"),
    ("party_loyalty", "party loyalty"),
    ("member_in_president_party", "party"),
    ("president_party", "party"),
    ("same_party_as_", "party of the sponsor"),
    ("sponsor_is_republican", "party of the sponsor"),
    ("sponsor_in_", "party of the sponsor"),
    ("sponsor_with_bill_sponsor", "party of the sponsor"),
    ("sponsor_party_loyalty", "who the sponsor is"),
    ("sponsor_followed_by_party", "who the sponsor is"),
    ("cosponsors_", "who else cosponsors"),
    ("sponsor_distance", "agreement with the sponsor"),
    ("agree_sponsor", "agreement with the sponsor"),
    ("sponsor_dim", "ideology"),
    ("nominate_", "ideology"),
    ("distance_", "ideology"),
    ("is_sponsor", "sponsorship"),
    ("is_cosponsor", "sponsorship"),
    ("backs_this_bill", "sponsorship"),
    ("backed_", "bills cosponsored before"),
    ("prior_stage_", "earlier votes on this bill"),
    ("kind_", "the kind of vote"),
    ("procedure_", "the kind of vote"),
    ("domain_alliance", "the kind of vote"),
    ("is_senate", "the kind of vote"),
    ("new_member", "length of voting record"),
    ("congresses_served", "length of voting record"),
]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def family(feature: str, chamber: str, sponsor_chambers: dict[str, str]) -> str:
    """The plain-word family of a feature. Agreement with a named member of the fight (``agree_massie``)
    names them only when they sit in the member's chamber; otherwise it counts as ideology."""
    if feature.startswith("agree_") and feature != "agree_sponsor":
        key = feature.removeprefix("agree_")
        if sponsor_chambers.get(key) == chamber:  # the named sponsors sitting in some chamber
            return f"agreement with {sponsor_label(key)}"
        return "ideology"
    for prefix, name in FAMILIES:
        if feature == prefix or feature.startswith(prefix):
            return name
    return OTHER


def _share_detail(row: Mapping, column: str, what: str) -> tuple[str, float] | None:
    value = row.get(column)
    if _missing(value):
        return None
    return f"alliance side on {value:.0%} of {what}", value - 0.5


def detail(name: str, row: Mapping, stance: int, sides: dict[str, int] | None = None) -> tuple[str, float] | None:
    """(words, lean) for a family: the lean's sign says whether the detail favours backing the bill (> 0) or
    not (< 0); 0 when it favours neither (then it is shown either way). None: no detail to add. ``sides``: the
    side (+1 alliance, -1 against) each named member of the fight takes, for agreement with them."""
    lean: tuple[str, float] | None = None
    if name == "record on NATO votes":
        lean = _share_detail(row, "alliance_share", "NATO votes")
    elif name == "record on Ukraine/Russia votes":
        lean = _share_detail(row, "tied_share", "Ukraine/Russia votes")
    elif name == "record on votes like this one":  # the member's own votes on the most similar roll calls
        lean = _share_detail(row, "member_similar_share", "the most similar earlier votes") or _share_detail(
            row, "catalog_share", "such votes"
        )
    elif name == "record on NATO and Ukraine/Russia votes":
        lean = _share_detail(row, "catalog_share", "such votes")
    elif name == "party's record on such votes":
        lean = _share_detail(row, "party_catalog_share", "such votes by the party")
    elif name == "sponsorship":
        if row.get("is_sponsor") == 1:
            return "sponsor of this bill", 1.0
        if row.get("is_cosponsor") == 1 or row.get("backs_this_bill") == 1:
            return "cosponsor of this bill", 1.0
        return "not a cosponsor of this bill", -1.0
    elif name == "party":
        party = {"R": "Republican", "D": "Democrat", "I": "independent"}.get(str(row.get("party")), "")
        return (party, 0.0) if party else None
    elif name == "ideology":
        value = row.get("nominate_dim1")
        if _missing(value):
            return "no ideology score yet", 0.0
        side = "conservative" if value > 0.2 else "liberal" if value < -0.2 else "moderate"
        return side, 0.0
    elif name == "length of voting record":
        return ("little voting history", 0.0) if row.get("new_member") == 1 else ("long voting record", 0.0)
    elif name.startswith("agreement with") and name != "agreement with the sponsor":
        key = name.removeprefix("agreement with ").lower()
        value = row.get(f"agree_{key}")
        if _missing(value):
            return None
        return f"votes with them {value:.0%} of the time", (value - 0.5) * (sides or {}).get(key, 0) * stance
    elif name == "agreement with the sponsor":
        value = row.get("agree_sponsor")
        return (f"votes with the sponsor {value:.0%} of the time", value - 0.5) if not _missing(value) else None
    elif name == "party loyalty":
        value = row.get("party_loyalty")
        return (f"votes with the party {value:.0%} of the time", 0.0) if not _missing(value) else None
    elif name == "earlier votes on this bill":
        own, party = row.get("prior_stage_yea"), row.get("prior_stage_party_share")
        if not _missing(own):
            return f"voted {'Yea' if own == 1 else 'Nay'} on it before", own - 0.5
        return (f"party {party:.0%} Yea on it before", party - 0.5) if not _missing(party) else None
    elif name == "the kind of vote":
        kinds = [c.removeprefix("kind_") for c in row.keys() if c.startswith("kind_") and row.get(c) == 1]
        about = "NATO itself" if row.get("domain_alliance") == 1 else "a measure tied to NATO"
        return (f"{kinds[0]} vote on {about}" if kinds else f"a vote on {about}"), 0.0
    if lean is None:
        return None
    words, toward_alliance = lean
    return words, toward_alliance * stance


def phrase(name: str, row: Mapping, stance: int, push: float, sides: dict[str, int] | None = None) -> str:
    """A family in words, with its detail when the detail agrees with the direction of the push."""
    found = detail(name, row, stance, sides)
    if found is None:
        return name
    words, lean = found
    if lean == 0 or (lean > 0) == (push > 0):
        return f"{name} ({words})" if name != "sponsorship" else words
    return name


# the feature columns ``detail`` reads (besides every kind_* and agree_* column): a row carries only these
DETAIL_COLUMNS = frozenset(
    {
        "chamber",
        "orientation",
        "alliance_share",
        "tied_share",
        "catalog_share",
        "member_similar_share",
        "party_catalog_share",
        "is_sponsor",
        "is_cosponsor",
        "backs_this_bill",
        "party",
        "nominate_dim1",
        "new_member",
        "party_loyalty",
        "domain_alliance",
        "prior_stage_yea",
        "prior_stage_party_share",
    }
)


def family_sums(values: np.ndarray, names: list[str]) -> tuple[list[str], np.ndarray]:
    """(families in order of first appearance, rows x families sums): each family's columns added one by one in
    column order, so every sum is bit for bit the one a loop over the columns makes."""
    families = list(dict.fromkeys(names))
    position = {name: i for i, name in enumerate(families)}
    sums = np.zeros((len(values), len(families)))
    for column, name in enumerate(names):
        sums[:, position[name]] += values[:, column]
    return families, sums


def top_reasons(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    orientation: pd.Series,
    sponsor_chambers: dict[str, str] | None = None,
    sides: dict[str, int] | None = None,
    n: int = 3,
    floor: float = 0.02,
) -> pd.DataFrame:
    """For each row: the ``n`` families pushing most toward backing the bill and most away, in words.
    Pushes smaller than ``floor`` (log-odds) are left out as noise."""
    sponsor_chambers = sponsor_chambers or {}
    toward_support = contributions.mul(orientation, axis=0)
    columns = [c for c in toward_support.columns if c not in ("bias", "BIAS")]
    values = toward_support[columns].to_numpy(dtype=float)
    shown = [c for c in features.columns if c in DETAIL_COLUMNS or str(c).startswith(("kind_", "agree_"))]
    details = features.loc[contributions.index, shown]
    # plain rows of Python values, as to_dict("records") gives them: no pandas lookup per member
    columns_values = (details[c].tolist() for c in shown)
    records = [dict(zip(shown, values, strict=True)) for values in zip(*columns_values, strict=True)]
    chambers = features.loc[contributions.index, "chamber"].to_numpy()
    pushes: list[list[tuple[str, float]]] = [[] for _ in records]
    for chamber in pd.unique(chambers):
        rows = np.flatnonzero(chambers == chamber)
        families, sums = family_sums(values[rows], [family(str(c), chamber, sponsor_chambers) for c in columns])
        for row, total in zip(rows.tolist(), sums.tolist(), strict=True):
            pushes[row] = list(zip(families, total, strict=True))
    reasons = []
    for groups, row in zip(pushes, records, strict=True):
        stance = int(row["orientation"])
        ordered = sorted(groups, key=itemgetter(1))
        if row.get("is_sponsor") == 1 or row.get("is_cosponsor") == 1:
            # a public commitment to the bill is the first thing a whip asks about: it leads the reasons
            ordered = [item for item in ordered if item[0] != "sponsorship"] + [("sponsorship", float("inf"))]
        # the n strongest pushes each way, put in words (only those n: phrasing is most of the time here)
        pro = [
            phrase(k, row, stance, v, sides) for k, v in islice(((k, v) for k, v in reversed(ordered) if v > floor), n)
        ]
        con = [phrase(k, row, stance, v, sides) for k, v in islice(((k, v) for k, v in ordered if v < -floor), n)]
        reasons.append({"reasons_for": "; ".join(pro), "reasons_against": "; ".join(con)})
    return pd.DataFrame(reasons, index=contributions.index)
