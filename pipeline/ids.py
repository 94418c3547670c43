"""Ids and dates of Congress: roll-call and bill ids, the congress of a date, parsing dates from users."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa


def parse_date(value, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc
    if pd.isna(stamp):
        raise DataError(f"{what}: {value!r} is not a date (YYYY-MM-DD)")
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def congress_first_year(congress: int) -> int:
    """The 1st Congress met in 1789; each lasts two years."""
    return 1789 + 2 * (congress - 1)


def congress_of_date(date: pd.Timestamp) -> int:
    """Congress sitting on a date (terms begin on 3 January of odd years)."""
    year = date.year if (date.month, date.day) >= (1, 3) else date.year - 1
    return (year - 1789) // 2 + 1


def rollcall_id(chamber: str, congress: int, session_year: int, number: int) -> str:
    """Stable roll-call id, e.g. ``h44-116.2019``: the unitedstates/congress ``vote_id``."""
    return f"{chamber[0].lower()}{number}-{congress}.{session_year}"


# Seats of each chamber (the House's voting seats: delegates and the Resident Commissioner hold none).
SEATS = {"house": 435, "senate": 100}
# Delegates and the Resident Commissioner sit in the House but hold no seat in its count and cannot vote on passage.
NON_VOTING_STATES = frozenset({"DC", "PR", "GU", "AS", "MP", "VI"})

BILL_TYPES = ("hconres", "hjres", "hamdt", "hres", "hr", "sconres", "sjres", "samdt", "sres", "s")  # amendments too
# One ASCII pattern for every bill id: congress 1-3 digits, a type (longest first, so 'hres' wins over 'hr'),
# number 1-5 digits. Matched after dropping ASCII spaces and dots ("119 H.Res. 135"); anything else (superscript
# or full-width digits, 300-digit numbers) is not a bill id.
BILL_ID = re.compile(r"(?P<congress>[0-9]{1,3})(?P<type>" + "|".join(BILL_TYPES) + r")(?P<number>[0-9]{1,5})", re.ASCII)
_SEPARATORS = re.compile(r"[ ._\-]", re.ASCII)


def normalize_bill_id(text: str) -> str:
    """Lower case without ASCII spaces, dots, underscores and hyphens: ``H.R. 6508`` -> ``hr6508``."""
    return _SEPARATORS.sub("", str(text).lower())


def bill_id(congress: int, bill_type: str, number: int | str) -> str:
    """Canonical bill id ``{congress}{type}{number}``, e.g. ``119hr6508``."""
    congress, number = (int(v) if isinstance(v, float) and v.is_integer() else v for v in (congress, number))
    text = f"{congress}{normalize_bill_id(bill_type)}{number}"
    match = BILL_ID.fullmatch(text)
    if match is None:
        raise DataError(f"bill {text!r}: type {bill_type!r} or number {number!r} does not make a bill id")
    return f"{int(match['congress'])}{match['type']}{int(match['number'])}"


def split_bill_id(text: str) -> tuple[int, str, int]:
    """``119hr6508`` -> (119, 'hr', 6508); raises DataError naming the id when it is not one."""
    match = BILL_ID.fullmatch(normalize_bill_id(text)) if str(text).isascii() else None
    if match is None:
        shown = str(text) if len(str(text)) <= 40 else str(text)[:40] + "..."
        raise DataError(f"{shown!r} is not a bill id like 119hr6508 (congress, type, number)")
    return int(match["congress"]), match["type"], int(match["number"])


def other_chamber(chamber: str) -> str:
    """'house' -> 'senate', 'senate' -> 'house'."""
    return "senate" if chamber == "house" else "house"


def ordinal(n: int) -> str:
    """1 -> '1st', 112 -> '112th', 121 -> '121st'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def origin_chamber(bill_type: str) -> str:
    """The chamber a bill, resolution or amendment comes from, whose members sponsor it: 'hr', 'HRES', 'hamdt'
    -> 'house'; 's', 'sjres', 'samdt' -> 'senate'."""
    return "house" if str(bill_type).lower().startswith("h") else "senate"


def positions_in(index: pd.Index, values: pd.Series | pd.Index | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each value's position in ``index`` (int32; -1 where absent or missing), as ``index.get_indexer`` gives,
    looked up in Arrow: millions of ids are hashed where they lie instead of each becoming a Python string (a
    categorical's or dictionary's distinct values are looked up once, then taken by their codes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array, value_set = _arrow(values), arrow_strings(index)
    if pa.types.is_dictionary(array.type):
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        found = pa.chunked_array(
            [
                pc.take(pc.index_in(arrow_strings(c.dictionary), value_set=value_set, skip_nulls=True), c.indices)
                for c in chunks
            ],
            type=pa.int32(),
        )
    else:
        found = pc.index_in(arrow_strings(array), value_set=value_set, skip_nulls=True)
    return found.fill_null(-1).to_numpy().astype(np.int32, copy=False)


def _arrow(values: pd.Series | pd.Index | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``values`` in Arrow, without a copy where pandas holds them in Arrow (a categorical: a dictionary)."""
    import pyarrow as pa

    return values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)


def arrow_strings(values: pd.Series | pd.Index | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``values`` (ids in a Series or Index, Arrow-backed, object or categorical, or already in Arrow) as Arrow
    large strings."""
    import pyarrow as pa

    return _arrow(values).cast(pa.large_string())
