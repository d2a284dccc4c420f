"""Reads a Parquet file with pyarrow, DuckDB, polars and pandas, each with no option, and prints what each
read as one JSON object: {reader: {"types": {column: type}, "columns": {column: [value, ...]}}}.

Values are made comparable: a double is "f:" and its eight bytes in hex (little-endian), so that NaN
payloads, -0.0 and infinities are seen; a boolean is "b:1" or "b:0"; a timestamp is its microseconds since 1970 (read as a 64-bit
integer where the reader can, so that no calendar limit applies); nulls are null.

Usage: python read_parquet.py FILE.parquet
"""
import json
import struct
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

path = sys.argv[1]


def norm(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "b:1" if v else "b:0"
    if isinstance(v, float):
        return "f:" + struct.pack("<d", v).hex()
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return v
    if hasattr(v, "item"):  # a numpy scalar
        return norm(v.item())
    raise TypeError(f"{type(v)}: {v!r}")


out = {}

table = pq.read_table(path)
cols = {}
for name, column in zip(table.column_names, table.columns):
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    cols[name] = [norm(v) for v in column.to_pylist()]
out["pyarrow"] = {"types": {f.name: str(f.type) for f in table.schema}, "columns": cols}

con = duckdb.connect()
described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
types = {row[0]: row[1] for row in described}
select = ", ".join(f'epoch_us("{n}") AS "{n}"' if t.startswith("TIMESTAMP") else f'"{n}"' for n, t in types.items())
rows = con.execute(f"SELECT {select} FROM read_parquet('{path}')").fetchall()
out["duckdb"] = {"types": types, "columns": {n: [norm(r[k]) for r in rows] for k, n in enumerate(types)}}

frame = pl.read_parquet(path)
cols = {}
for name in frame.columns:
    s = frame[name]
    if s.dtype == pl.Datetime or isinstance(s.dtype, pl.Datetime):
        s = s.cast(pl.Int64)
    cols[name] = [norm(v) for v in s.to_list()]
out["polars"] = {"types": {n: str(t) for n, t in frame.schema.items()}, "columns": cols}

df = pd.read_parquet(path)
out["pandas"] = {"types": {n: str(t) for n, t in df.dtypes.items()}, "rows": len(df)}

json.dump(out, sys.stdout)
