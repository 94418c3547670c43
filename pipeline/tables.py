"""The canonical tables on disk: atomic writes (a failure never leaves a partial file), table sets published
whole (staged in a sibling folder, then swapped into place in one rename), reads that say what to run when a table
is missing, and the point-in-time cut that every as-of forecast starts from."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import TABLES_DIR, TIMINGS_LOG
from pipeline.errors import DataError
from pipeline.ids import congress_of_date


def write_atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename into place, so a failure never leaves a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_json(obj, path: Path) -> None:
    def _write(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    write_atomic(path, _write)


SET_MANIFEST = "_manifest.json"  # written last into a staged table set: names, rows, bytes and sha256 per file
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2 RENAME_EXCHANGE); False where the call is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
            return False
        raise OSError(errno, os.strerror(errno), str(b))
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks (table sets, downloads and snapshot inputs alike)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _in_use(pid: int) -> bool:
    """Whether another running process has this pid (its temporary files are not stale)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(directory: Path) -> list[Path]:
    """Remove what killed runs left beside and inside ``directory`` (staging folders, swapped-out old sets,
    ``.*.tmp-<pid>`` files) whose process is gone; restore an old set if the swap was cut between renames."""
    removed: list[Path] = []
    parent = directory.parent
    if not parent.is_dir():
        return removed
    for path in sorted(parent.glob(f".{directory.name}.*-*")):
        kind, _, pid = path.name.rpartition("-")
        if not pid.isdigit() or _in_use(int(pid)):
            continue
        if kind.endswith(".old") and not directory.exists():
            os.rename(path, directory)  # the two-rename fallback was cut after its first rename
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    for folder in (directory, parent):
        if folder.is_dir():
            for path in folder.glob(".*.tmp-*"):
                pid = path.name.rpartition("-")[2]
                if pid.isdigit() and not _in_use(int(pid)):
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def publish_table_set(
    tables: dict[str, pd.DataFrame],
    directory: Path = TABLES_DIR,
    extra: dict | None = None,
    written: dict[str, Path] | None = None,
) -> dict:
    """Write every table into a staging folder, then swap it with ``directory`` in one rename: readers see the
    old complete set or the new complete set, never a mix. ``written``: tables already written as parquet files
    (streamed, too large to hold as frames), moved into the set. ``_manifest.json`` (written last) lists each
    file with its rows and sha256. Returns the manifest."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        manifest = {"tables": {}, **(extra or {})}
        for name, source in [*tables.items(), *(written or {}).items()]:
            path = staging / f"{name}.parquet"
            if isinstance(source, pd.DataFrame):
                source.to_parquet(path, index=False)
            else:
                os.replace(source, path)
            with open(path, "rb") as f:
                os.fsync(f.fileno())
            rows = len(source) if isinstance(source, pd.DataFrame) else pq.read_metadata(path).num_rows
            manifest["tables"][name] = {"rows": rows, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
        (staging / SET_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fsync_dir(staging)
        if not directory.exists():
            os.rename(staging, directory)
        elif not _exchange(staging, directory):
            old = directory.parent / f".{directory.name}.old-{os.getpid()}"
            os.rename(directory, old)
            os.rename(staging, directory)
            shutil.rmtree(old)
        _fsync_dir(directory.parent)
        return manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def verify_table_set(directory: Path = TABLES_DIR) -> dict:
    """The manifest of a published table set, after checking every listed file's size and sha256."""
    manifest_path = directory / SET_MANIFEST
    if not manifest_path.exists():
        raise DataError(f"{directory}: no {SET_MANIFEST} (not a complete table set): run `dvc repro ingest`")
    manifest = json.loads(manifest_path.read_text())
    for name, entry in manifest["tables"].items():
        path = directory / f"{name}.parquet"
        if not path.exists() or path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
            raise DataError(f"{path}: does not match {manifest_path} (an incomplete or mixed table set)")
    return manifest


VOTE_IDS = ("rollcall_id", "bioguide_id", "vote_party")  # the votes table's string columns


def read_table(
    name: str, directory: Path = TABLES_DIR, rollcalls: Iterable[str] | None = None, categories: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A canonical table; ``rollcalls``: only the rows of these roll calls, filtered as the file is read (the
    votes of a few hundred roll calls without six million rows in memory); ``categories``: string columns read
    as categoricals (Arrow dictionaries: six million votes' ids in 35 MiB, not 260; ``as_strings`` turns the
    rows kept back)."""
    path = directory / f"{name}.parquet"
    if not path.exists():
        raise DataError(f"table {path} is missing: run `dvc repro` (or the stage that writes it) first")
    options = {"read_dictionary": list(categories)} if categories else {}
    try:
        if rollcalls is None:
            frame = pd.read_parquet(path, **options)
        else:
            wanted = pa.array(list(rollcalls), type=pq.read_schema(path).field("rollcall_id").type)  # typed if empty
            frame = pd.read_parquet(path, filters=pc.field("rollcall_id").isin(wanted), **options)
            frame = frame.reset_index(drop=True)
    except (pa.ArrowException, OSError, KeyError) as exc:  # a truncated or foreign file, a column missing
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"table {path} cannot be read ({first}): rerun `dvc repro` (the stage that writes it)") from exc
    release_free_memory()
    return frame


def _libc_malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (ImportError, OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_free_memory() -> None:
    """Give memory that is free but kept back to the system. Arrow's allocator (mimalloc) keeps the pages of a
    finished read for its next allocation, and glibc's malloc the heap pages of freed NumPy arrays (its mmap
    threshold grows to 32 MiB after large frees, so later large arrays come from the heap and stay there), while
    the features are built with NumPy's allocator: six million votes read left 270 MiB resident for a 35 MiB
    frame, 80 MiB after; the agreement tables of ten congresses left 240 MiB of such pages behind."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with any of the votes' string columns read as categoricals (``read_table``'s ``categories``)
    as strings again: the frame the table read whole would give for these rows."""
    categorical = [c for c in VOTE_IDS if c in frame and isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype(dict.fromkeys(categorical, "str")) if categorical else frame


def nato_bills(bills: pd.DataFrame) -> pd.DataFrame:
    """The NATO-related BILLSTATUS bills (the registry's), without the bulk bills kept for sponsorship signals."""
    return bills[bills["collection"] == "nato"] if "collection" in bills else bills


def cut_as_of(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Drop everything dated after ``as_of``: roll calls and their votes, bills introduced later,
    cosponsorships added later, terms begun later; withdrawals after it did not happen yet."""
    rollcalls = tables["rollcalls"][tables["rollcalls"]["date"] <= as_of]
    members = tables["members"][tables["members"]["congress"] <= congress_of_date(as_of)]
    bills = tables["bills"][tables["bills"]["introduced"] <= as_of]
    cosponsorships = tables["cosponsorships"]
    cosponsorships = cosponsorships[
        (cosponsorships["date"] <= as_of) & cosponsorships["bill_id"].isin(bills["bill_id"])
    ].copy()
    cosponsorships.loc[cosponsorships["withdrawn"] > as_of, "withdrawn"] = pd.NaT
    cut = {"members": members, "rollcalls": rollcalls, "bills": bills, "cosponsorships": cosponsorships}
    if "votes" in tables:  # the ingest cuts its votes in the engine, where they stay
        cut["votes"] = kept_rows(tables["votes"], tables["votes"]["rollcall_id"].isin(rollcalls["rollcall_id"]))
    if "presidents" in tables:  # terms begun by as_of
        cut["presidents"] = tables["presidents"][tables["presidents"]["start"] <= as_of]
    if "terms" in tables:  # terms begun by as_of (their scheduled end dates are known when they begin)
        cut["terms"] = tables["terms"][tables["terms"]["start"] <= as_of]
    return cut


def kept_rows(frame: pd.DataFrame, kept: pd.Series) -> pd.DataFrame:
    """``frame[kept]``, or ``frame`` itself when every row is kept (a cut at the data's own date): not a copy of
    millions of rows. pandas' copy-on-write keeps a change made through either name from reaching the other."""
    return frame if kept.all() else frame[kept]


def log_timing(stage: str, seconds: float, log: Path = TIMINGS_LOG) -> None:
    """Append a stage's wall time to the timings log (metrics files must be the same when nothing changed)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(json.dumps({"stage": stage, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": seconds}) + "\n")
