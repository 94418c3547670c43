"""DVC stage `member_state`: every sitting member's record as of a date, so that a forecast is a join of these rows
with one bill's features and one predict call, instead of reading 6 million votes and recomputing everyone.

The state holds, for the day after ``as_of`` (the forecast measures' date, see ``forecast_measures``):

- ``rows``: every member sitting in each chamber, with every feature that depends on the measure only through
  its chamber, date, orientation and domain (``features.build.add_member_record``, on the full tables cut at the
  date), once per (orientation, domain);
- what the measure's own features need (``add_own_sponsor_agreement``, ``add_measure_features``), cut to what a
  measure of that day can ask: the Yea/Nay votes of the trailing agreement window, the previous congress's
  agreement table of the sitting congress, each member's party loyalty and how often their party followed them,
  summed at that day, and the small tables (members, presidents, catalog, party and member alignment, NATO bills
  and their cosponsorships), and the votes on the alliance itself (each member's last one is quoted).

``StateContext`` serves those pieces under the attribute names of ``features.build.Context``, so the pipeline's own
feature functions run on them: one implementation of every feature. The stage writes the state of
``data.as_of`` to data/features/member_state/; any other date is computed once (the slow way) and cached under
data/member_state/ keyed by the date and the hashes of its inputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import (
    Context,
    add_measure_features,
    add_member_record,
    add_own_sponsor_agreement,
    bill_sponsors,
    forecast_measures,
    forecast_pairs,
    prepare_pairs,
)
from features.history import to_days
from features.registry import build_registry, load_additions
from pipeline.config import FEATURES_DIR, PROJECT_ROOT, TABLES_DIR, DataConfig, load_params, stage_arguments
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.ids import congress_of_date
from pipeline.tables import (
    SET_MANIFEST,
    VOTE_IDS,
    as_strings,
    cut_as_of,
    log_timing,
    nato_bills,
    read_table,
    write_parquet,
)

log = logging.getLogger("natocast.member_state")

STATE_DIR = FEATURES_DIR / "member_state"
CACHE_DIR = PROJECT_ROOT / "data" / "member_state"
FORMAT = 5  # bump when what the state holds changes: cached states of another format are not used
TABLES = ("members", "rollcalls", "votes", "bills", "cosponsorships", "terms", "presidents")
VARIANTS = ((1, "alliance"), (1, "tied"), (-1, "alliance"), (-1, "tied"))  # (orientation, domain) of a measure
CODE = ("build.py", "context.py", "precedent.py", "history.py", "registry.py", "member_state.py")
PIPELINE_CODE = ("tables.py", "ids.py")  # how the tables are read and cut, and ids coded, for a state
FRAMES = (
    "rows",
    "members",
    "members_full",
    "presidents",
    "holders",
    "catalog",
    "party_alignment",
    "member_alignment",
    "agreement",
    "bills",
    "bills_full",
    "cosponsorships",
    "cosponsorships_full",
    "alliance_votes",
    "member_index",
    "rollcalls",
    "votes",
)
VOTE_ARRAYS = ("vote_rollcall", "vote_member", "vote_sign", "vote_days", "vote_party")
SUMS = ("n", "with")


def input_key(params: dict, tables_dir: Path = TABLES_DIR, features_dir: Path = FEATURES_DIR) -> str:
    """What a state depends on: the published table set (its manifest holds every table's sha256), the catalog,
    the feature parameters and the feature code. A state with another key is stale."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for path in [tables_dir / SET_MANIFEST, features_dir / "catalog.parquet"]:
        if not path.exists():
            raise DataError(f"{path} is missing: run `dvc repro` first")
        digest.update(path.read_bytes())
    for name in CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    for name in PIPELINE_CODE:
        digest.update((Path(__file__).parent.parent / "pipeline" / name).read_bytes())
    digest.update(json.dumps(params["features"], sort_keys=True).encode())
    return digest.hexdigest()[:16]


class FrozenSums:
    """``EventHistory.sums_before`` answered once for every member at the state's day: the state keeps party
    loyalty and party following at that day only, which is all a measure of that day asks."""

    def __init__(self, sums: np.ndarray, names: list[str], day: int, window: int | None):
        self.sums, self.names, self.day, self.window = sums, names, day, window

    def sums_before(self, codes: np.ndarray, days: np.ndarray, window_days: int | None = None) -> pd.DataFrame:
        if window_days != self.window or not np.all(np.asarray(days) == self.day):
            raise DataError("the member state answers only for measures of its own day and window")
        codes = np.asarray(codes, dtype=np.int64)
        values = np.where((codes >= 0)[:, None], self.sums[np.maximum(codes, 0)], 0.0)
        return pd.DataFrame(values, columns=self.names)


class StateContext(Context):
    """The pieces of a ``Context`` that a forecast measure's own features read, from a saved member state. Built
    once per state (``MemberState.context``); each call only swaps in its registry (``for_registry``)."""

    def __init__(self, state: MemberState, registry: pd.DataFrame, cosponsorships: pd.DataFrame):  # noqa: D107
        self.params = state.params
        self.members = state.frames["members"]
        self.presidents = state.frames["presidents"]
        self.holders = state.frames["holders"]
        self.catalog = state.frames["catalog"]
        self.party_alignment = state.frames["party_alignment"]
        self.member_alignment = state.frames["member_alignment"]
        self.agreement = state.agreement
        self.registry = registry
        self.cosponsorships = cosponsorships
        self.bill_sponsors = bill_sponsors(state.frames["bills"], registry)
        self.member_index = state.member_index
        self.rollcall_index = state.rollcall_index
        self.rollcall_days = state.frames["rollcalls"]["day"].to_numpy()
        self.rollcall_chamber = state.frames["rollcalls"]["chamber"].to_numpy()
        self.rollcall_bill = state.frames["rollcalls"]["bill_id"].to_numpy()
        self.rollcall_congress = state.frames["rollcalls"]["congress"].to_numpy()
        self.rollcall_on_bill = state.frames["rollcalls"]["on_bill"].to_numpy()
        for name in VOTE_ARRAYS:
            setattr(self, name, state.frames["votes"][name].to_numpy())
        self.parties = pd.Index(state.meta["parties"])
        window, members = self.params["window_days"], state.frames["member_index"]
        self.loyalty = FrozenSums(members[[f"loyalty_{s}" for s in SUMS]].to_numpy(), SUMS, state.meta["day"], window)
        self.followed = FrozenSums(members[[f"followed_{s}" for s in SUMS]].to_numpy(), SUMS, state.meta["day"], None)

    def for_registry(self, bills: pd.DataFrame, registry: pd.DataFrame, cosponsorships: pd.DataFrame) -> StateContext:
        """This context with another call's registry: a shallow copy, so the arrays (and ``scored``, once built)
        are shared, not rebuilt per bill."""
        ctx = copy.copy(self)
        ctx.registry, ctx.cosponsorships = registry, cosponsorships
        ctx.bill_sponsors = bill_sponsors(bills, registry)
        return ctx


@dataclass
class MemberState:
    """Every sitting member's record as of ``meta['as_of']`` and what a measure's own features need."""

    meta: dict
    params: dict
    frames: dict[str, pd.DataFrame]

    def __post_init__(self):
        self.as_of = pd.Timestamp(self.meta["as_of"])
        self.member_index = pd.Index(self.frames["member_index"]["bioguide_id"].to_numpy())
        self.rollcall_index = pd.Index(self.frames["rollcalls"]["rollcall_id"].to_numpy())
        agreement = self.frames["agreement"]
        self.agreement = agreement.set_index(["congress", "chamber", "bioguide_id", "other"])["agree"]
        self._registries: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self._context: StateContext | None = None

    def context(self, registry: pd.DataFrame, cosponsorships: pd.DataFrame) -> StateContext:
        """The state's ``StateContext`` (arrays, DW-NOMINATE scores and caucuses built on first use) with this
        registry."""
        if self._context is None:
            self._context = StateContext(self, registry, cosponsorships)
            # built here, shared by every call's copy
            for cached in ("scored", "caucus", "catalog_terms", "stages", "stage_votes"):
                getattr(self._context, cached)
        return self._context.for_registry(self.frames["bills"], registry, cosponsorships)

    def _registry(self, bills: pd.DataFrame, cosponsorships: pd.DataFrame, additions: list[dict], where: str, key):
        """build_registry, remembered per bills, user entries (the additions file's and the call's) and label."""
        entries = load_additions() + additions
        memo = json.dumps([key, where, entries], sort_keys=True, default=str)
        if memo not in self._registries:
            self._registries[memo] = build_registry(bills, cosponsorships, self.frames["members_full"], entries, where)
        return self._registries[memo]

    def registry(self, additions: list[dict], cut: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(registry, cosponsorships) as of the date (``cut``) or of all the data, with the user's bills."""
        suffix = "" if cut else "_full"
        where = "the bill description" if cut else ADDITIONS_LABEL
        bills, cosponsorships = self.frames["bills" + suffix], self.frames["cosponsorships" + suffix]
        return self._registry(bills, cosponsorships, additions, where, suffix)

    def registry_as_of(self, as_of: pd.Timestamp, additions: list[dict]) -> pd.DataFrame:
        """The registry as of any date up to the state's, from the bills introduced by then (``cut_as_of``'s rule
        for bills): which bills exist and their stances, without computing that date's state."""
        bills = self.frames["bills_full"]
        cut = bills[bills["introduced"] <= as_of]
        return self._registry(cut, self.frames["cosponsorships_full"], additions, "the bill description", str(as_of))[0]

    def features(self, measures: pd.DataFrame, registry: pd.DataFrame, cosponsorships: pd.DataFrame) -> pd.DataFrame:
        """Every feature of (member, measure) for measures dated the day after the state's date: the member rows
        of the measure's chamber, orientation and domain, then the measure's own features."""
        rows = self.frames["rows"]
        frames = []
        for measure in measures.itertuples(index=False):
            if measure.date != self.as_of + pd.Timedelta(days=1):
                raise DataError(
                    f"the member state as of {self.as_of:%Y-%m-%d} cannot serve a measure of {measure.date:%Y-%m-%d}"
                )
            chosen = rows[
                (rows["chamber"] == measure.chamber)
                & (rows["orientation"] == measure.orientation)
                & (rows["domain"] == measure.domain)
            ]
            frames.append(chosen.assign(**measure._asdict()))
        if not frames:
            raise DataError("no registry bill has a stance to forecast")
        pairs = pd.concat(frames, ignore_index=True)
        ctx = self.context(registry, cosponsorships)
        pairs = add_measure_features(ctx, add_own_sponsor_agreement(ctx, pairs))
        return pairs.drop(columns=["member_code", "day"])

    def save(self, directory: Path) -> None:
        """Written in a sibling folder and renamed into place: readers see the old state or the new one."""
        staging = directory.with_name(f".{directory.name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for name in FRAMES:
                write_parquet(self.frames[name], staging / f"{name}.parquet")
            (staging / "meta.json").write_text(json.dumps(self.meta, indent=2))
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            if directory.exists():
                os.rename(directory, old)
            os.rename(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


ADDITIONS_LABEL = "registry_additions.yaml"


def load(directory: Path, params: dict) -> MemberState:
    """A saved state (parquet and JSON: no pickles)."""
    meta = json.loads((directory / "meta.json").read_text())
    frames = {name: pd.read_parquet(directory / f"{name}.parquet") for name in FRAMES}
    return MemberState(meta, params["features"], frames)


def template_measures(as_of: pd.Timestamp, chamber: str) -> pd.DataFrame:
    """One stand-in measure per (orientation, domain) of a chamber, dated like a forecast measure."""
    stand_ins = pd.DataFrame(
        {
            "bill_id": [f"state-{chamber}-{o}-{d}" for o, d in VARIANTS],
            "chamber": chamber,
            "stance": [o for o, _ in VARIANTS],
            "domain": [d for _, d in VARIANTS],
            "kind": None,
            "sponsor_bioguide_id": None,
            "procedure": None,
        }
    )
    return forecast_measures(stand_ins, as_of).assign(bill_id=None)


def compute(tables: dict[str, pd.DataFrame], catalog: pd.DataFrame, params: dict, as_of: pd.Timestamp) -> MemberState:
    """The state as of ``as_of`` from the full tables (cut at the date here: nothing later is used)."""
    cut = cut_as_of(tables, as_of)
    catalog = catalog[catalog["date"] <= as_of]
    registry, cosponsorships = build_registry(
        cut["bills"], cut["cosponsorships"], tables["members"], load_additions(), "the bill description"
    )
    sitting = congress_of_date(as_of + pd.Timedelta(days=1))  # the congress of a forecast measure's date
    ctx = Context(cut, registry, cosponsorships, catalog, params["features"], serving={sitting})
    rows = []
    for chamber in ("house", "senate"):  # one chamber per build, as a forecast of one bill sees it
        pairs = forecast_pairs(ctx, template_measures(as_of, chamber), cut["terms"])
        rows.append(add_member_record(ctx, prepare_pairs(ctx, pairs)))
    day = int(to_days([as_of + pd.Timedelta(days=1)])[0])
    nato = set(nato_bills(tables["bills"])["bill_id"])
    frames = {
        "rows": pd.concat(rows, ignore_index=True),
        "members": cut["members"],
        "members_full": tables["members"],
        "presidents": cut["presidents"],
        "holders": ctx.holders,
        "catalog": catalog,
        "bills": nato_bills(cut["bills"]),
        "bills_full": nato_bills(tables["bills"]),
        "cosponsorships": cut["cosponsorships"][cut["cosponsorships"]["bill_id"].isin(nato)],
        "cosponsorships_full": tables["cosponsorships"][tables["cosponsorships"]["bill_id"].isin(nato)],
        **_context_frames(ctx, cut["votes"], day, sitting),
    }
    meta = {
        "format": FORMAT,
        "as_of": f"{as_of:%Y-%m-%d}",
        "day": day,
        "first_rollcall": f"{tables['rollcalls']['date'].min():%Y-%m-%d}",
        "parties": list(ctx.parties),
    }
    return MemberState(meta, params["features"], {k: v.reset_index(drop=True) for k, v in frames.items()})


def _context_frames(ctx: Context, votes: pd.DataFrame, day: int, congress: int) -> dict[str, pd.DataFrame]:
    """The parts of the full Context a measure of ``day`` reads: votes of the trailing window, the sitting
    congress's agreement table, loyalty and party following summed at the day, the alliance votes."""
    window = ctx.params["window_days"]
    in_window = ctx.vote_days >= day - window  # agreement with a sponsor looks back this far, no further
    codes = np.arange(len(ctx.member_index))
    catalog = ctx.catalog
    alliance = catalog.loc[(catalog["domain"] == "alliance") & (catalog["orientation"] != 0), "rollcall_id"]
    return {
        "party_alignment": ctx.party_alignment,
        "member_alignment": ctx.member_alignment,
        "agreement": ctx.agreement[ctx.agreement.index.get_level_values("congress") == congress].reset_index(),
        "alliance_votes": as_strings(
            votes.loc[votes["rollcall_id"].isin(alliance), ["rollcall_id", "bioguide_id", "position"]]
        ),
        "member_index": pd.DataFrame(
            {
                "bioguide_id": ctx.member_index.to_numpy(),
                **ctx.loyalty.sums_before(codes, np.full(len(codes), day), window).add_prefix("loyalty_"),
                **ctx.followed.sums_before(codes, np.full(len(codes), day)).add_prefix("followed_"),
            }
        ),
        "rollcalls": pd.DataFrame(
            {
                "rollcall_id": ctx.rollcall_index.to_numpy(),
                "day": ctx.rollcall_days,
                "chamber": ctx.rollcall_chamber,
                "bill_id": ctx.rollcall_bill,
                "congress": ctx.rollcall_congress,
                "on_bill": ctx.rollcall_on_bill,
            }
        ),
        "votes": pd.DataFrame({name: getattr(ctx, name)[in_window] for name in VOTE_ARRAYS}),
    }


def compute_from_disk(
    params: dict, as_of: pd.Timestamp, tables_dir: Path = TABLES_DIR, features_dir: Path = FEATURES_DIR
) -> MemberState:
    tables = {name: read_table(name, tables_dir, categories=VOTE_IDS if name == "votes" else ()) for name in TABLES}
    return compute(tables, pd.read_parquet(features_dir / "catalog.parquet"), params, as_of)


def cache_path(as_of: pd.Timestamp, key: str) -> Path:
    return CACHE_DIR / f"{as_of:%Y-%m-%d}-{key}"


def state_as_of(params: dict, as_of: pd.Timestamp, on_compute=None) -> tuple[MemberState, str]:
    """The state as of a date and where it came from: the pipeline's (data/features/member_state) when its date
    and inputs match, else the cache, else computed now (``on_compute`` wraps the computation, e.g. to report
    progress) and cached. Returns (state, source)."""
    key = input_key(params)
    for directory in (STATE_DIR, cache_path(as_of, key)):
        meta_path = directory / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("as_of") == f"{as_of:%Y-%m-%d}" and meta.get("key") == key:
                return load(directory, params), _shown(directory)
    with on_compute() if on_compute else _nothing():
        state = compute_from_disk(params, as_of)
    state.meta["key"] = key
    directory = cache_path(as_of, key)
    state.save(directory)
    for stale in CACHE_DIR.glob("*-*"):  # states of other inputs can never be used again
        if not stale.name.endswith(f"-{key}") and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    return state, f"computed and cached in {_shown(directory)}"


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv: list[str] | None = None) -> None:
    """DVC stage `member_state`: the state as of ``data.as_of``, in ``<features>/member_state``."""
    args = stage_arguments("the members' state as of data.as_of", "tables", "features", argv=argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    started = time.perf_counter()
    params = load_params()
    config = DataConfig.from_params(params)
    state = compute_from_disk(params, config.as_of, args.tables, args.features)
    state.meta["key"] = input_key(params, args.tables, args.features)
    state.save(args.features / "member_state")
    rows = state.frames["rows"]
    sitting = rows.drop_duplicates(["chamber", "bioguide_id"])["chamber"].value_counts().to_dict()
    log_timing("member_state", round(time.perf_counter() - started, 2))
    log.info(
        "member state as of %s: %s sitting, %d window votes, in %s",
        state.meta["as_of"],
        sitting,
        len(state.frames["votes"]),
        args.features / "member_state",
    )


if __name__ == "__main__":
    sys.exit(run_stage("member_state", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
