"""Party precedent: where each party has lately stood on the alliance, per chamber, before a measure.

Two signals a member's own record cannot give when a whole party moves: the party's recency-weighted
alliance-side share in the measure's domain (NATO itself, or the Ukraine/Russia votes tied to it), and its
alliance-side share on the earlier catalogued roll calls of the measure's chamber whose text is most like the
measure's; and the member's own share on those same roll calls. All use only roll calls dated strictly before
the measure.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.history import EventHistory, recency_weights, to_days

WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token: two or more word characters
STOP_WORDS = frozenset(
    line for line in (Path(__file__).with_name("stop_words.txt")).read_text().split("\n") if line and line[0] != "#"
)


def aligned_votes(votes: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every Yea/Nay vote on a directed catalogued roll call, with the roll call's date, chamber and domain, the
    vote's party ("?" when none) and whether it fell on the alliance side (1.0) or not (0.0)."""
    directed = catalog[catalog["orientation"] != 0]
    cast = votes[votes["position"].isin(["yea", "nay"]) & votes["rollcall_id"].isin(directed["rollcall_id"])]
    cast = cast.merge(directed[["rollcall_id", "orientation", "date", "chamber", "domain"]], on="rollcall_id")
    aligned = (cast["position"] == "yea") == (cast["orientation"] == 1)
    return cast.assign(aligned=aligned.astype(float), party=cast["vote_party"].fillna("?"))[
        ["rollcall_id", "bioguide_id", "party", "date", "chamber", "domain", "aligned"]
    ]


def party_alignment(votes: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Per directed catalogued roll call and party: Yea/Nay votes cast and the share on the alliance side."""
    table = (
        aligned_votes(votes, catalog)
        .groupby(["rollcall_id", "party", "date", "chamber", "domain"], observed=True)["aligned"]
        .agg(["size", "mean"])
        .rename(columns={"size": "votes", "mean": "aligned_share"})
        .reset_index()
    )
    return table


def add_party_domain_recent(pairs: pd.DataFrame, alignment: pd.DataFrame, half_life_days: float) -> pd.DataFrame:
    """The member's party's recency-weighted alliance-side share in the measure's domain and chamber: each
    earlier roll call counts once (not once per member), weighted 0.5^(age / half-life)."""
    groups = alignment["party"] + "|" + alignment["chamber"] + "|" + alignment["domain"]
    index = pd.Index(groups.unique())
    days = to_days(alignment["date"])
    weight = recency_weights(days, half_life_days)
    history = EventHistory(
        index.get_indexer(groups),
        days,
        {"w": weight, "aligned_w": weight * alignment["aligned_share"].to_numpy()},
    )
    query = pairs["party"].fillna("?") + "|" + pairs["chamber"] + "|" + pairs["domain"]
    sums = history.sums_before(index.get_indexer(query), to_days(pairs["date"]))
    pairs["party_domain_recent"] = (sums["aligned_w"] / sums["w"]).where(sums["w"] > 0).to_numpy()
    return pairs


def text_terms(text: str) -> list[str]:
    """The words of a text, lower-cased and without English stop words, then each pair of neighbours among
    them: scikit-learn's word analyzer with ``ngram_range=(1, 2)`` and ``stop_words="english"``, written out so
    that a forecast need not import scikit-learn (tests check that both give the same terms)."""
    words = [word for word in WORD.findall(text.lower()) if word not in STOP_WORDS]
    return words + [f"{first} {second}" for first, second in zip(words, words[1:], strict=False)]


def term_vectors(texts: pd.Series, vocabulary: dict[str, int]) -> np.ndarray:
    """One row per text over ``vocabulary``: 1 + log(count) of each term (sublinear term frequency, no idf),
    scaled to unit length (a text with no known term stays zero)."""
    vectors = np.zeros((len(texts), len(vocabulary)))
    for row, text in enumerate(texts.fillna("")):
        for term, count in Counter(text_terms(text)).items():
            if term in vocabulary:
                vectors[row, vocabulary[term]] = 1 + math.log(count)
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, lengths, out=vectors, where=lengths > 0)


def cosine_products(vectors: np.ndarray, catalog_vectors: np.ndarray) -> np.ndarray:
    """``vectors @ catalog_vectors.T``, summed term by term in the terms' order: BLAS (NumPy's ``@``) sums in an
    order that depends on the CPU (OpenBLAS's Haswell against its SkylakeX kernels), so the similar shares, and
    every output after them, would differ in the last bit from one machine to the next."""
    products = np.zeros((len(vectors), len(catalog_vectors)))
    for row, vector in enumerate(vectors):
        for term in np.flatnonzero(vector):
            products[row] += vector[term] * catalog_vectors[:, term]
    return products


@dataclass(frozen=True)
class CatalogTerms:
    """The directed catalogued roll calls, the vocabulary of their descriptions and their term vectors: what
    ``similar_rollcalls`` compares every measure with, built once per catalog (``catalog_terms``)."""

    directed: pd.DataFrame
    vocabulary: dict[str, int]
    vectors: np.ndarray


def catalog_terms(catalog: pd.DataFrame) -> CatalogTerms:
    directed = catalog[catalog["orientation"] != 0].reset_index(drop=True)
    terms = dict.fromkeys(term for text in directed["description"].fillna("") for term in text_terms(text))
    vocabulary = {term: column for column, term in enumerate(terms)}
    return CatalogTerms(directed, vocabulary, term_vectors(directed["description"], vocabulary))


def similar_rollcalls(
    measure_texts: pd.DataFrame,
    catalog: pd.DataFrame,
    k: int,
    min_similarity: float,
    indexed: CatalogTerms | None = None,
) -> pd.DataFrame:
    """For each measure (measure_id, text, date, chamber): the ``k`` earlier directed catalogued roll calls of
    its chamber most like it in words, with their similarity. Plain term frequencies (no idf), so a roll
    call's vector never depends on texts written later. A measure sharing no word with the catalog (or an empty
    catalog) has none: its party's and members' similar shares are then missing. ``indexed``:
    ``catalog_terms(catalog)`` when the caller keeps it (a forecast's context does, across calls)."""
    indexed = indexed or catalog_terms(catalog)
    directed, vocabulary = indexed.directed, indexed.vocabulary
    similarity = cosine_products(term_vectors(measure_texts["text"], vocabulary), indexed.vectors)
    rows = []
    for i, measure in enumerate(measure_texts.itertuples(index=False)):
        earlier = ((directed["date"] < measure.date) & (directed["chamber"] == measure.chamber)).to_numpy()
        scores = np.where(earlier, similarity[i], -1.0)
        # ties (to 12 digits: sums of the same terms may differ in the last bit) go to the catalog's order
        for j in np.argsort(-np.round(scores, 12), kind="stable")[:k]:
            if scores[j] >= min_similarity:
                rows.append(
                    {
                        "measure_id": measure.measure_id,
                        "rollcall_id": directed["rollcall_id"][j],
                        "similarity": scores[j],
                    }
                )
    return pd.DataFrame(rows, columns=["measure_id", "rollcall_id", "similarity"])


def add_party_similar_share(pairs: pd.DataFrame, similar: pd.DataFrame, alignment: pd.DataFrame) -> pd.DataFrame:
    """The party's alliance-side share on the measure's most similar earlier roll calls, weighted by
    similarity (missing when the party cast no votes on any of them)."""
    joined = similar.merge(alignment[["rollcall_id", "party", "aligned_share"]], on="rollcall_id")
    joined["weighted"] = joined["similarity"] * joined["aligned_share"]
    sums = joined.groupby(["measure_id", "party"])[["weighted", "similarity"]].sum()
    share = (sums["weighted"] / sums["similarity"]).rename("party_similar_share")
    keys = pd.MultiIndex.from_arrays([pairs["measure_id"], pairs["party"].fillna("?")])
    pairs["party_similar_share"] = share.reindex(keys).to_numpy()
    return pairs


def add_member_similar_share(pairs: pd.DataFrame, similar: pd.DataFrame, member_votes: pd.DataFrame) -> pd.DataFrame:
    """The member's own alliance-side share on the measure's most similar earlier roll calls, weighted by
    similarity as the party's is (missing when the member cast no Yea/Nay vote on any of them): which Republicans
    broke with the alliance on votes like this one, not on the alliance at large. ``member_votes``: rollcall_id,
    bioguide_id and aligned (``aligned_votes``)."""
    member_votes = member_votes.loc[
        member_votes["rollcall_id"].isin(similar["rollcall_id"]), ["rollcall_id", "bioguide_id", "aligned"]
    ]
    joined = similar.merge(member_votes, on="rollcall_id")
    joined["weighted"] = joined["similarity"] * joined["aligned"]
    sums = joined.groupby(["measure_id", "bioguide_id"])[["weighted", "similarity"]].sum()
    share = (sums["weighted"] / sums["similarity"]).rename("member_similar_share")
    keys = pd.MultiIndex.from_arrays([pairs["measure_id"], pairs["bioguide_id"]])
    pairs["member_similar_share"] = share.reindex(keys).to_numpy()
    return pairs
