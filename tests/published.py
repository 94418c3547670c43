"""Counts straight from the source files, independently of the ingest: what tests compare the tables with."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def published_tallies(snapshot: Path, congresses) -> dict[str, tuple[int, int]]:
    """(Yea, Nay) of every roll call in the unitedstates vote bundles of ``congresses``, by vote_id."""
    published = {}
    for congress in congresses:
        with gzip.open(snapshot / "unitedstates-votes" / f"votes-{congress}.jsonl.gz", "rt") as f:
            for line in f:
                record = json.loads(line)
                count = {"yea": 0, "nay": 0}
                for option, voters in record["votes"].items():
                    people = [v for v in voters if isinstance(v, dict)]  # the VP's tie-break is a bare "VP"
                    if option in ("Yea", "Aye", "Guilty"):
                        count["yea"] += len(people)
                    elif option in ("Nay", "No", "Not Guilty"):
                        count["nay"] += len(people)
                published[record["vote_id"]] = (count["yea"], count["nay"])
    return published
