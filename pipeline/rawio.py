"""Opening raw files, plain or gzipped, with errors that name the file and what is wrong."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pipeline.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_bytes(path: Path) -> bytes:
    """Whole file, decompressed when gzipped (by its magic bytes, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip ({exc})") from exc


def first_line(path: Path, limit: int = 1 << 16) -> bytes:
    """The first line of a plain or gzipped file (at most ``limit`` bytes), without reading the rest; b"" for an
    unreadable one (its reader names the fault)."""
    try:
        with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as f:
            return f.readline(limit).rstrip(b"\r\n")
    except (EOFError, OSError, zlib.error):
        return b""


def gzip_is_whole(path: Path) -> bool:
    """A gzip file inflates to its end with the CRC and length its trailer records, streamed (some 5 ms for a
    Voteview vote file): readers that ignore the trailer (DuckDB's) are asked only about whole files."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        return True
    except (EOFError, OSError, zlib.error):
        return False


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a plain or gzipped text file, blank lines skipped."""
    for number, line in enumerate(read_bytes(path).splitlines(), start=1):
        if line.strip():
            yield number, line


def read_csv_checked(path: Path, required: list[str], numeric: tuple[str, ...] = (), **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` that names the file on any failure, insists on the columns the caller needs and on numbers
    (or blanks) in the ``numeric`` ones: the first bad value is reported with its line and column."""
    compression = "gzip" if is_gzip(path) else None
    try:
        frame = pd.read_csv(path, compression=compression, low_memory=False, **kwargs)
    except (EOFError, OSError, zlib.error, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({type(exc).__name__}: {exc})") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in numeric:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(f"{path}: line {row + 2}, column {column}: {str(values.iloc[row])[:40]!r} is not a number")
        frame[column] = converted
    return frame
