"""The earlier roll calls a forecast reads as most like its bill: the precedents behind the party's and the
member's similar shares (``features.precedent``), listed so that an analyst can see which votes moved a forecast.

They are found by the features' own functions on the features' own inputs (``features.build.measure_texts`` for the
words, ``features.precedent.similar_rollcalls`` with params' ``features.precedent`` k and min_similarity, the
chamber and the measure's date: only roll calls strictly before it), and each carries the parties' alliance-side
shares from the same party alignment table: the party's similar share is their similarity-weighted mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import pandas as pd

from features.build import measure_texts
from features.precedent import CatalogTerms, catalog_terms, party_alignment, similar_rollcalls

ALLIANCE_SIDE = {1: "the alliance side", -1: "against the alliance"}  # what a Yea is on the roll call


class PrecedentSource(Protocol):
    """What the features read to find a measure's precedents: a ``features.build.Context``, the fast path's
    ``StateContext`` or the predict stage's ``TableSource``."""

    params: dict
    catalog: pd.DataFrame
    registry: pd.DataFrame
    party_alignment: pd.DataFrame
    catalog_terms: CatalogTerms


@dataclass
class TableSource:
    """The features stage's inputs to the precedents, rebuilt from what the predict stage reads (the catalog, the
    registry and the votes on catalogued roll calls), so the stage needs no 6-million-vote ``Context``."""

    params: dict
    catalog: pd.DataFrame
    registry: pd.DataFrame
    catalogued_votes: pd.DataFrame

    @cached_property
    def party_alignment(self) -> pd.DataFrame:
        return party_alignment(self.catalogued_votes, self.catalog)

    @cached_property
    def catalog_terms(self) -> CatalogTerms:
        return catalog_terms(self.catalog)


def precedent_table(source: PrecedentSource, measures: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(precedents, texts) of each measure (measure_id, date, chamber, bill_id): the rows
    ``features.build.add_party_precedent`` finds, most similar first, with each roll call's date, description and
    orientation; and the words each measure was matched with."""
    settings = source.params["precedent"]
    texts = measure_texts(source, measures[["measure_id", "date", "chamber", "bill_id"]].drop_duplicates("measure_id"))
    similar = similar_rollcalls(
        texts, source.catalog, settings["similar_k"], settings["min_similarity"], source.catalog_terms
    )
    described = source.catalog[["rollcall_id", "date", "description", "orientation"]]
    return similar.merge(described, on="rollcall_id", how="left", validate="many_to_one"), texts


def precedent_records(source: PrecedentSource, measures: pd.DataFrame) -> dict[str, dict]:
    """Per measure: ``precedents`` (JSON-ready, most similar first, empty when none matched) and
    ``precedent_search`` (the words, chamber, date and rule they were found by)."""
    table, texts = precedent_table(source, measures)
    shares = _party_shares(source.party_alignment, table["rollcall_id"])
    settings = source.params["precedent"]
    records = {}
    for measure in texts.itertuples(index=False):
        rows = table[table["measure_id"] == measure.measure_id]
        records[measure.measure_id] = {
            "precedents": [_record(row, shares.get(row.rollcall_id, {})) for row in rows.itertuples(index=False)],
            "precedent_search": {
                "text": str(measure.text),
                "chamber": measure.chamber,
                "before": f"{pd.Timestamp(measure.date):%Y-%m-%d}",
                "k": int(settings["similar_k"]),
                "min_similarity": float(settings["min_similarity"]),
            },
        }
    return records


def _party_shares(alignment: pd.DataFrame, rollcalls: pd.Series) -> dict[str, dict]:
    """{rollcall_id: {"alliance_share": {party: share}, "votes": {party: Yea/Nay votes}}} from the alignment."""
    chosen = alignment[alignment["rollcall_id"].isin(set(rollcalls))]
    result: dict[str, dict] = {}
    for row in chosen.itertuples(index=False):
        entry = result.setdefault(row.rollcall_id, {"alliance_share": {}, "votes": {}})
        entry["alliance_share"][str(row.party)] = float(row.aligned_share)
        entry["votes"][str(row.party)] = int(row.votes)
    return result


def _record(row, shares: dict) -> dict:
    """One precedent as the reports hold it (full precision: the party's similar share recomputes from these)."""
    orientation = int(row.orientation)
    return {
        "rollcall_id": row.rollcall_id,
        "date": f"{pd.Timestamp(row.date):%Y-%m-%d}",
        "description": str(row.description),
        "similarity": float(row.similarity),
        "orientation": orientation,
        "yea_is": ALLIANCE_SIDE[orientation],
        "alliance_share": shares.get("alliance_share", {}),
        "votes": shares.get("votes", {}),
    }


def with_precedents(counts: list[dict], records: dict[str, dict]) -> list[dict]:
    """The whip counts with each bill's precedents (a bill the records lack gets none)."""
    return [count | _for_bill(records, count["bill_id"]) for count in counts]


def _for_bill(records: dict[str, dict], bill_id: str) -> dict:
    return records.get(bill_id, {"precedents": [], "precedent_search": None})
