"""Reasons in plain words: the features that push a member most toward and away from backing a bill.

XGBoost's TreeSHAP contributions are in log-odds of the alliance side; for a bill against the alliance
(stance -1) backing it means the opposite side, so the sign flips.
"""

from __future__ import annotations

import math

import pandas as pd

SPONSOR_NAMES = {
    "massie": "Massie",
    "luna": "Luna",
    "lee": "Lee",
    "wicker": "Wicker",
    "bennet": "Bennet",
    "ernst": "Ernst",
}


def describe(feature: str, value: float, row: pd.Series) -> str:
    """One feature's value in words."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if feature.startswith("agree_") and feature != "agree_sponsor":
        who = SPONSOR_NAMES.get(feature.removeprefix("agree_"), feature)
        return f"no shared votes with {who} to compare" if missing else f"agrees with {who} on {value:.0%} of votes"
    if feature.startswith("distance_"):
        who = SPONSOR_NAMES.get(feature.removeprefix("distance_"), feature)
        return (
            f"no ideology score to compare with {who}" if missing else (f"DW-NOMINATE distance {value:.2f} from {who}")
        )
    if missing:
        return {
            "alliance_share": "no votes on NATO itself yet",
            "tied_share": "no votes on Ukraine/Russia yet",
            "nominate_dim1": "no ideology score yet (new member)",
        }.get(feature, f"{feature} unknown")
    words = {
        "agree_sponsor": f"agrees with the bill's sponsor on {value:.0%} of votes",
        "alliance_share": f"took the alliance side on {value:.0%} of votes on NATO itself",
        "alliance_recent_share": f"recently took the alliance side on {value:.0%} of NATO votes",
        "tied_share": f"took the alliance side on {value:.0%} of Ukraine/Russia votes",
        "tied_recent_share": f"recently took the alliance side on {value:.0%} of Ukraine/Russia votes",
        "shrunk_catalog_share": f"record (shrunk to party) says alliance side {value:.0%} of the time",
        "party_catalog_share": f"their party took the alliance side on {value:.0%} of such votes",
        "party_loyalty": f"votes with their party {value:.0%} of the time",
        "nominate_dim1": f"DW-NOMINATE ideology {value:+.2f} (left -1 ... right +1)",
        "nominate_dim2": f"DW-NOMINATE second dimension {value:+.2f}",
        "is_republican": "a Republican" if value else "not a Republican",
        "is_senate": "in the Senate" if value else "in the House",
        "new_member": "little voting history" if value else "a long voting record",
        "backs_this_bill": "sponsors or cosponsors this bill" if value else "has not cosponsored this bill",
        "same_party_as_sponsor": "same party as the sponsor" if value else "other party than the sponsor",
        "sponsor_is_republican": "the sponsor is a Republican" if value else "the sponsor is not a Republican",
        "domain_alliance": "the bill is about the alliance itself" if value else "the bill is a tied security measure",
    }
    if feature.startswith("kind_"):
        kind = feature.removeprefix("kind_")
        article = "an" if kind[0] in "aeiou" else "a"
        return f"the measure is {article} {kind}" if value else f"the measure is not {article} {kind}"
    return words.get(feature, f"{feature} = {value:.3g}")


def top_reasons(
    contributions: pd.DataFrame, features: pd.DataFrame, orientation: pd.Series, n: int = 3
) -> pd.DataFrame:
    """For each row: the ``n`` features pushing most toward backing the bill and most away, in words."""
    toward_support = contributions.mul(orientation, axis=0)
    rows = []
    for index, contribution in toward_support.iterrows():
        row = features.loc[index]
        ordered = contribution.sort_values()
        pro = [f"{describe(f, row[f], row)} ({v:+.2f})" for f, v in ordered[::-1].items() if v > 0][:n]
        con = [f"{describe(f, row[f], row)} ({v:+.2f})" for f, v in ordered.items() if v < 0][:n]
        rows.append({"reasons_for": "; ".join(pro), "reasons_against": "; ".join(con)})
    return pd.DataFrame(rows, index=contributions.index)
