"""Python API: forecast a registry bill, or a bill described as a registry entry, as of any date in the data.

    from forecasts.api import forecast
    result = forecast("119hr6508")                      # the pipeline's as_of
    result = forecast({"bill_id": "119hr9999", "chamber": "house", "introduced": "2025-12-20", "stance": -1,
                       "sponsor": "M001184", "cosponsors": ["L000596"], "title": "To withdraw from NATO"})

A ``Forecaster`` keeps what it loaded (the member state of each date, the champion model, the whip scale), so a
second call in the same process costs one bill's features, one predict call and the whip simulation. The member
state (features/member_state.py) holds every sitting member's record; the model comes from data/models when it
is the champion the predict stage recorded (forecasts/predict.py: ``load_model``), else from MLflow.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import json
import sys
import time

import pandas as pd

from features import member_state
from features.build import forecast_measures
from forecasts import names, precedents, predict
from pipeline.config import METRICS_DIR, DataConfig, load_params
from pipeline.errors import DataError
from pipeline.ids import normalize_bill_id, parse_date


@contextlib.contextmanager
def step(message: str, show: bool = True):
    """Progress on stderr: what is being done and, when it took over a second, how long it took."""
    if show:
        print(f"natocast: {message}...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    if show and seconds >= 1:
        print(f"natocast: {message}: {seconds:.1f} s", file=sys.stderr, flush=True)


def as_of_date(value: object, what: str = "--as-of") -> pd.Timestamp:
    """A forecast date from 'YYYY-MM-DD', a date, a datetime or a Timestamp (a time zone is dropped). A time of
    day is refused: the data are by day, and 2025-12-31T12:00 would otherwise be called outside data that end on
    2025-12-31, or a state computed for noon be cached under the day's name."""
    stamp = parse_date(value, what)
    if stamp != stamp.normalize():
        raise DataError(f"{what}: {value!r} has a time of day; give a date (YYYY-MM-DD)")
    return stamp


def bill_request(bill: object) -> tuple[str, list[dict]]:
    """(bill id, additions) from a registry bill's id or a described bill (a registry entry), the id in the form
    the registry holds ('119HR6508', 'H.R.6508' with its congress -> '119hr6508'), as the command line takes it."""
    if isinstance(bill, str) and not bill.strip():
        raise DataError("the bill id is empty: give one like 119hr6508")
    if isinstance(bill, str):
        return normalize_bill_id(bill), []
    if isinstance(bill, dict):
        if not isinstance(bill.get("bill_id"), str):
            raise DataError(f"the bill description: bill_id must be an id like 119hr9999, not {bill.get('bill_id')!r}")
        described = bill | {"bill_id": normalize_bill_id(bill["bill_id"])}
        return described["bill_id"], [described]
    raise TypeError(f"bill: an id like '119hr6508' (str) or a described bill (dict), not {type(bill).__name__}")


def check_as_of(as_of: pd.Timestamp, first: pd.Timestamp, data_end: pd.Timestamp) -> None:
    """The tables run from the first roll call to the pipeline's as_of: a forecast date must fall inside, after
    the first roll call (a forecast as of that day would have no vote before it to stand on)."""
    if not first < as_of <= data_end:
        raise DataError(
            f"--as-of {as_of:%Y-%m-%d} is outside the data: give a date after {first:%Y-%m-%d} (the first roll call) "
            f"and up to {data_end:%Y-%m-%d}"
        )


def unknown_bill(bill_id: str, as_of: pd.Timestamp, registry: pd.DataFrame, full: pd.DataFrame) -> DataError:
    """The clearest error for a bill id the registry does not hold as of the date."""
    later = full[full["bill_id"] == bill_id]
    if not later.empty:
        introduced = pd.Timestamp(later["introduced"].iloc[0])
        return DataError(
            f"{bill_id} ({names.bill_number(bill_id)}) was not introduced yet as of {as_of:%Y-%m-%d} "
            f"(introduced {introduced:%Y-%m-%d}); unknown bill {bill_id!r} as of {as_of:%Y-%m-%d}"
        )
    close = difflib.get_close_matches(bill_id, list(full["bill_id"]), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "."
    return DataError(
        f"unknown bill {bill_id!r} as of {as_of:%Y-%m-%d}{hint} Known bills: {', '.join(sorted(registry['bill_id']))}"
        " (describe a new one with `natocast describe`)"
    )


STATES_KEPT = 4  # member states of dates other than the pipeline's kept in memory by a Forecaster


class Forecaster:
    """Forecasts with everything loaded once per process: member states by date, the model, the whip scale."""

    def __init__(self, progress: bool = False):
        self.progress = progress
        self.params = load_params()
        self.config = DataConfig.from_params(self.params)
        self._states: dict[pd.Timestamp, member_state.MemberState] = {}
        self._memos: dict[pd.Timestamp, dict] = {}  # per state: what depends on it alone (predict.forecast_bills)
        self._model = None
        self._first_rollcall = None

    def state(self, as_of: pd.Timestamp) -> member_state.MemberState:
        """The member state as of a date: kept in memory, else read from disk, else computed once and cached."""
        if as_of in self._states:
            self._states[as_of] = self._states.pop(as_of)  # the most recently used last
            return self._states[as_of]
        message = f"computing every member's record as of {as_of:%Y-%m-%d}"
        state, source = member_state.state_as_of(
            self.params, as_of, lambda: step(message + " from the tables (once; then cached)", self.progress)
        )
        if self.progress:
            print(f"natocast: every member's record as of {as_of:%Y-%m-%d}: {source}", file=sys.stderr, flush=True)
        self._states[as_of] = state
        self._forget_old_states()
        return state

    def _forget_old_states(self) -> None:
        """Keep the pipeline's state and the STATES_KEPT most recently used others: a forecast for each week of a
        year would otherwise hold 52 states (about 50 MiB each); a state dropped is read again from the disk
        cache when asked for."""
        others = [date for date in self._states if date != self.config.as_of]
        for date in others[: max(len(others) - STATES_KEPT, 0)]:
            del self._states[date]
            self._memos.pop(date, None)

    def model(self) -> tuple:
        """(model, info, scale): the champion and the whip's shock scale (fitted by the predict stage)."""
        if self._model is None:
            with step("loading the champion model", self.progress):
                model, info, note = predict.load_model(self.params["model"])
            if note:
                print(f"natocast: note: {note}", file=sys.stderr, flush=True)
            scale = json.loads((METRICS_DIR / "whip.json").read_text())["shock_scale"]
            self._model = (model, info, scale)
        return self._model

    def first_rollcall(self) -> pd.Timestamp:
        """The first roll call of the tables: noted in the pipeline's member state (whose key covers the tables)."""
        if self._first_rollcall is None:
            self._first_rollcall = pd.Timestamp(self.state(self.config.as_of).meta["first_rollcall"])
        return self._first_rollcall

    def full_registry(self, additions: list[dict] | None = None) -> pd.DataFrame:
        """Every registry bill of the data (not cut at a date), with the user's bills."""
        return self.state(self.config.as_of).registry(additions or [], cut=False)[0]

    def members(self) -> pd.DataFrame:
        """The members table (every congress): names, states, parties."""
        return self.state(self.config.as_of).frames["members_full"]

    def check_bill(self, bill_id: str, as_of: pd.Timestamp, additions: list[dict]) -> None:
        """A bill must be in the registry as of the date and take a side toward the alliance."""
        pipeline = self.state(self.config.as_of)
        registry = pipeline.registry_as_of(as_of, additions)
        if bill_id not in set(registry["bill_id"]):
            raise unknown_bill(bill_id, as_of, registry, pipeline.registry(additions, cut=False)[0])
        chosen = registry[registry["bill_id"] == bill_id]
        if int(chosen["stance"].iloc[0]) == 0:
            raise DataError(
                f"{bill_id} takes no side toward the alliance ({chosen['stance_reason'].iloc[0]}): describe it under "
                "a new id with `natocast describe --stance 1` (for the alliance) or `--stance -1` (against it)"
            )
        context = self.model()[0].context
        predict.check_procedure(
            bill_id, chosen.iloc[0], context.procedures_by_chamber() if context is not None else None
        )

    def forecast(
        self, bill: str | dict, as_of: str | datetime.date | pd.Timestamp | None = None, reasons: bool = True
    ) -> dict:
        """Forecast a registry bill (its id) or a described bill (a registry entry, as in
        features/registry_additions.yaml) as of a date (default: the pipeline's). Returns the bill's whip count
        with the member forecasts (``forecasts``), the earlier roll calls it read as most like the bill
        (``precedents``, ``precedent_search``), the model (``model``) and the date (``as_of``). Without
        ``reasons`` the same probabilities and count come faster, with the reasons columns empty."""
        bill_id, additions = bill_request(bill)
        as_of = self.config.as_of if as_of is None else as_of_date(as_of)
        check_as_of(as_of, self.first_rollcall(), self.config.as_of)
        self.check_bill(bill_id, as_of, additions)  # before a new date's state is computed: errors come at once
        state = self.state(as_of)
        registry, cosponsorships = state.registry(additions)
        measures = forecast_measures(registry[registry["bill_id"] == bill_id], as_of)
        features = state.features(measures, registry, cosponsorships)
        # the earlier roll calls the bill's features read (the fast path's own context: same texts, k, date)
        found = precedents.precedent_records(state.context(registry, cosponsorships), measures)
        model, info, scale = self.model()
        with step("forecasting and simulating the count", self.progress):
            forecasts, counts = predict.forecast_bills(
                model,
                features,
                state.frames["alliance_votes"],
                state.frames["catalog"],
                registry,
                scale,
                state.frames["members_full"],
                self.params["features"].get("named_sponsors", {}),
                reasons,
                self.params["whip"]["draws"],
                self._memos.setdefault(as_of, {}),
            )
        count = precedents.with_precedents(counts, found)[0]
        # the model record is a copy: a caller who edits it must not change the next forecast's
        return count | {"forecasts": forecasts, "model": dict(info), "as_of": f"{as_of:%Y-%m-%d}"}


_DEFAULT: Forecaster | None = None


def default() -> Forecaster:
    """The process's forecaster (created on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Forecaster()
    return _DEFAULT


def forecast(bill: str | dict, as_of: str | datetime.date | pd.Timestamp | None = None, reasons: bool = True) -> dict:
    """``Forecaster.forecast`` on the process's forecaster: a second call reuses what the first loaded."""
    return default().forecast(bill, as_of, reasons)
