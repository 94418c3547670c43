"""Ids and dates of Congress: roll-call and bill ids, the congress of a date, parsing dates from users."""

from __future__ import annotations

import pandas as pd

from pipeline.errors import DataError


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


def normalize_bill_id(text: str) -> str:
    """Lower-case alphanumerics only: ``H.R. 6508`` -> ``hr6508``."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


BILL_TYPES = ("hconres", "hjres", "hamdt", "hres", "hr", "sconres", "sjres", "samdt", "sres", "s")  # amendments too


def bill_id(congress: int, bill_type: str, number: int | str) -> str:
    """Canonical bill id ``{congress}{type}{number}``, e.g. ``119hr6508``."""
    bill_type = normalize_bill_id(bill_type)
    if bill_type not in BILL_TYPES:
        raise DataError(f"bill type {bill_type!r} is not one of {', '.join(BILL_TYPES)}")
    return f"{int(congress)}{bill_type}{int(number)}"


def split_bill_id(text: str) -> tuple[int, str, int]:
    """``119hr6508`` -> (119, 'hr', 6508); raises DataError naming the id when it is not one."""
    raw = normalize_bill_id(text)
    digits = 0
    while digits < len(raw) and raw[digits].isdigit():
        digits += 1
    congress, rest = raw[:digits], raw[digits:]
    for bill_type in BILL_TYPES:  # longest types first, so 'hres' wins over 'hr'
        if rest.startswith(bill_type) and rest[len(bill_type) :].isdigit():
            if congress:
                return int(congress), bill_type, int(rest[len(bill_type) :])
    raise DataError(f"{text!r} is not a bill id like 119hr6508 (congress, type, number)")
