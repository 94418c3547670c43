"""The columnar engine of the ingest: one DuckDB connection into which the vote records and the Voteview vote files
are read straight from their (gzipped) files, so that joins, id mapping and tallies over millions of member votes
run as SQL on 2 threads instead of record by record in Python.

DuckDB is held to params.yaml ``data.workers`` threads and ``data.duckdb_memory`` (the machine is shared); the
defaults below serve the single-file readers of tests. Insertion order is preserved, so a table built here keeps the
order of its source files and records (the published tables keep the row order of the sources).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
            # jemalloc returns freed pages from a background thread: without it the pages of a finished batch of
            # vote files stayed with the process (RSS 535 MiB where DuckDB held 38); purging them in the
            # foreground instead (decay 0) doubled the load's time
            "allocator_background_threads": True,
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


ROW_GROUP = 1 << 20  # rows per parquet row group: pyarrow's default, as pandas' ``to_parquet`` writes a frame


def stream_parquet(relation: duckdb.DuckDBPyRelation, path: Path, template: pd.DataFrame) -> int:
    """Stream a query's rows into the parquet file that ``to_parquet`` would write for a frame of ``template``'s
    columns and dtypes (an empty frame will do): it reads back as that frame would, categories and string dtypes
    kept. One row group at a time, so memory holds one row group however many rows there are (the whole result
    in pandas cost 65 MiB per million member votes). An ENUM column becomes the template's categories (a value
    outside them is an error). Returns the rows written. The caller writes to a temporary path."""
    schema = pa.Schema.from_pandas(template.iloc[:0], preserve_index=False)
    categories = {
        name: pa.array(template[name].cat.categories, schema.field(name).type.value_type)
        for name in template.columns
        if isinstance(template[name].dtype, pd.CategoricalDtype)
    }
    rows = held = 0  # rows written or held; rows held back until they fill a row group
    pending: list[pa.RecordBatch] = []
    with pq.ParquetWriter(path, schema) as writer:
        for batch in relation.to_arrow_reader(ROW_GROUP):
            pending.append(_conform(batch, schema, categories))
            rows, held = rows + batch.num_rows, held + batch.num_rows
            if held >= ROW_GROUP:
                table = pa.Table.from_batches(pending, schema=schema).combine_chunks()
                whole = held - held % ROW_GROUP
                writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP)
                pending, held = table.slice(whole).to_batches(), held - whole
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROW_GROUP)
    return rows


def _conform(batch: pa.RecordBatch, schema: pa.Schema, categories: dict[str, pa.Array]) -> pa.RecordBatch:
    """A batch of the engine's types in ``schema``'s: columns cast, ENUM codes mapped onto the categories."""
    columns = []
    for field in schema:
        column = batch.column(field.name)
        if field.name in categories:
            if not pa.types.is_dictionary(column.type):
                column = column.dictionary_encode()
            codes = pc.index_in(column.dictionary, value_set=categories[field.name]).take(column.indices)
            if codes.null_count != column.null_count:
                allowed = categories[field.name].to_pylist()
                raise ValueError(f"column {field.name}: a value outside its categories {allowed}")
            column = pa.DictionaryArray.from_arrays(codes.cast(field.type.index_type), categories[field.name])
        else:
            column = column.cast(field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)
