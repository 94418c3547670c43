"""The columnar engine of the ingest: one DuckDB connection into which the vote records and the Voteview vote files
are read straight from their (gzipped) files, so that joins, id mapping and tallies over millions of member votes
run as SQL on 2 threads instead of record by record in Python.

DuckDB is held to params.yaml ``data.workers`` threads and ``data.duckdb_memory`` (the machine is shared); the
defaults below serve the single-file readers of tests. Insertion order is preserved, so a table built here keeps the
order of its source files and records (the published tables keep the row order of the sources).
"""

from __future__ import annotations

import duckdb
import pandas as pd

THREADS = 2
MEMORY_LIMIT = "1536MB"


PACKED = "packed"  # the connection's in-memory database, compressed at each ``compress``


def connect(threads: int = THREADS, memory: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection held to ``threads`` threads and ``memory`` (e.g. "1536MB"), whose tables
    live in a compressed in-memory database: after ``compress`` six million member votes take some 40 MB
    instead of 400 MB (dictionary-compressed ids), and scans of them get faster."""
    con = duckdb.connect(
        config={
            "threads": threads,
            "memory_limit": memory,
            "preserve_insertion_order": True,
        }
    )
    con.execute(f"ATTACH ':memory:' AS {PACKED} (COMPRESS)")
    con.execute(f"USE {PACKED}")
    return con


# Compressing costs some 2.5 s of CPU for six million member votes (a checkpoint writes every column) and returns
# it partly in faster scans after; it keeps the ingest's memory from growing with the engine's tables (peak 1.1
# instead of 1.6 GiB for 10 congresses; 76 instead of 196 MiB per million member votes). False: faster, not flat.
COMPRESS = True


def compress(con: duckdb.DuckDBPyConnection) -> None:
    """Compress the rows written since the last call (a checkpoint of the in-memory database)."""
    if COMPRESS:
        con.execute(f"CHECKPOINT {PACKED}")


def threads(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's thread count."""
    return max(1, int(con.execute("SELECT current_setting('threads')").fetchall()[0][0]))


def frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """A query's result as pandas (through Arrow: strings become pandas' string dtype, as the readers give)."""
    return relation.to_arrow_table().to_pandas()


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def file_list(paths) -> str:
    """A SQL list of file names, e.g. for ``read_json([...])``."""
    return "[" + ", ".join(quote(str(path)) for path in paths) + "]"


def create_enum(con: duckdb.DuckDBPyConnection, name: str, values: list[str], replace: bool = False) -> None:
    """A DuckDB ENUM type (one byte per value; read into pandas as a categorical with these categories);
    ``replace``: anew even if it exists (a lookup table as a type)."""
    exists = con.execute("SELECT 1 FROM duckdb_types() WHERE type_name = ?", [name]).fetchall()
    if exists and replace:
        con.execute(f"DROP TYPE {name}")
    if not exists or replace:
        con.execute(f"CREATE TYPE {name} AS ENUM ({', '.join(quote(value) for value in values)})")
