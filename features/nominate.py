"""DW-NOMINATE scores and service as they were known before a congress.

Voteview estimates a congress's scores from all of that congress's votes, so the scores of the sitting congress see
votes still to come: every feature takes a member's scores from the latest congress *before* the measure's. One
lookup serves the member's own scores, the sponsor's and the named sponsors'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORES = ["nominate_dim1", "nominate_dim2"]


def scored_congresses(members: pd.DataFrame) -> pd.DataFrame:
    """One row per (member, congress) with scores, in congress order (the last row of a member who sat twice in a
    congress, e.g. after a change of chamber)."""
    scored = members.dropna(subset=["nominate_dim1"]).sort_values("congress", kind="stable")
    scored = scored.drop_duplicates(["bioguide_id", "congress"], keep="last")
    return scored[["bioguide_id", "congress", *SCORES]].reset_index(drop=True)


def _latest_before(table: pd.DataFrame, bioguide_ids: pd.Series, congresses: pd.Series) -> pd.DataFrame:
    """The row of ``table`` (bioguide_id, congress, values) of each queried member from the latest congress before
    the queried one; NaN where there is none. Rows in the queries' order."""
    query = pd.DataFrame(
        {
            "bioguide_id": bioguide_ids.fillna("").astype(str).to_numpy(),
            "congress": congresses.to_numpy(dtype=np.int64),
            "position": np.arange(len(congresses)),
        }
    ).sort_values("congress", kind="stable")
    # one key type on both sides (a query without any known id would otherwise be a column of another type)
    query["bioguide_id"] = query["bioguide_id"].astype(table["bioguide_id"].dtype)
    found = pd.merge_asof(
        query,
        table.rename(columns={"congress": "found_congress"}).astype({"found_congress": np.int64}),
        left_on="congress",
        right_on="found_congress",
        by="bioguide_id",
        direction="backward",
        allow_exact_matches=False,
    )
    return found.sort_values("position")


def lagged_scores(scored: pd.DataFrame, bioguide_ids: pd.Series, congresses: pd.Series) -> pd.DataFrame:
    """(nominate_dim1, nominate_dim2) of each queried member from the latest scored congress before the queried
    congress; NaN for an unknown member (or none) and for a member with no earlier scores. ``scored`` comes from
    ``scored_congresses``; the result has the queries' index."""
    ids, congress = bioguide_ids.fillna("").astype(str).to_numpy(), congresses.to_numpy(dtype=np.int64)
    member, _ = pd.factorize(ids)
    asked, _ = pd.factorize(member * (int(congress.max(initial=0)) + 1) + congress)  # each pair asked once...
    first = np.unique(asked, return_index=True)[1]  # ...numbered in order of first appearance
    distinct = pd.DataFrame({"bioguide_id": ids[first], "congress": congress[first]})
    if len(distinct) <= FEW_QUERIES:
        values = _latest_scores(scored, distinct["bioguide_id"].tolist(), distinct["congress"].tolist())
    else:
        values = _latest_before(scored, distinct["bioguide_id"], distinct["congress"])[SCORES].to_numpy(dtype=float)
    return pd.DataFrame(values[asked], columns=SCORES, index=congresses.index)


FEW_QUERIES = 16  # fewer distinct (member, congress) questions are looked up one by one: no as-of join to set up


def _latest_scores(scored: pd.DataFrame, bioguide_ids: list[str], congresses: list[int]) -> np.ndarray:
    """``_latest_before``'s scores for a few questions: per question, the member's row of the latest congress
    before the asked one (the last such row in the table's order, as the as-of join takes), NaN where none."""
    ids, congress = scored["bioguide_id"].to_numpy(dtype=object), scored["congress"].to_numpy(dtype=np.int64)
    dims = scored[SCORES].to_numpy(dtype=float)
    values = np.full((len(bioguide_ids), len(SCORES)), np.nan)
    for row, (bioguide, asked) in enumerate(zip(bioguide_ids, congresses, strict=True)):
        earlier = np.flatnonzero((ids == bioguide) & (congress < int(asked)))
        if len(earlier):
            latest = congress[earlier].max()
            values[row] = dims[earlier[congress[earlier] == latest][-1]]
    return values


def distance(dims: pd.DataFrame, other: pd.DataFrame) -> pd.Series:
    """Euclidean DW-NOMINATE distance between two aligned frames of scores."""
    difference = dims[SCORES].to_numpy(dtype=float) - other[SCORES].to_numpy(dtype=float)
    return pd.Series(np.hypot(difference[:, 0], difference[:, 1]), index=dims.index)


def congresses_served_before(members: pd.DataFrame, bioguide_ids: pd.Series, congresses: pd.Series) -> pd.Series:
    """How many earlier congresses each queried member sat in (either chamber), by one as-of join."""
    served = members[["bioguide_id", "congress"]].drop_duplicates().sort_values("congress", kind="stable")
    served = served.assign(served_through=served.groupby("bioguide_id").cumcount() + 1)
    found = _latest_before(served, bioguide_ids, congresses)
    return pd.Series(found["served_through"].fillna(0).to_numpy(dtype=np.int64), index=congresses.index)
