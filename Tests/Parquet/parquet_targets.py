"""Issue 32's figures over exports scripts/parquet-targets made: the bytes a point of the 100 M-point
reference track, column by column; and DuckDB's queries over 100 runs of 1 M points, on the Parquet
export and on the JSONL export side by side (best of 3, after one run to warm the page cache).

Usage: python parquet_targets.py BIG_PARQUET RUNS_PARQUET RUNS_JSONL
Prints one JSON object.
"""
import glob
import json
import os
import sys
import time

import duckdb
import pyarrow.parquet as pq

big, runs_parquet, runs_jsonl = sys.argv[1:4]
out = {}

track = glob.glob(f"{big}/*/*/tracks/*.parquet")[0]
meta = pq.ParquetFile(track).metadata
rows = meta.num_rows
sizes = {}
for g in range(meta.num_row_groups):
    for c in range(meta.num_columns):
        col = meta.row_group(g).column(c)
        sizes[col.path_in_schema] = sizes.get(col.path_in_schema, 0) + col.total_compressed_size
out["reference track: points"] = rows
out["reference track: row groups"] = meta.num_row_groups
out["reference track: bytes a point (file)"] = round(os.path.getsize(track) / rows, 3)
out["reference track: bytes a point by column"] = {k: round(v / rows, 3) for k, v in sizes.items()}


def best(sql):
    con = duckdb.connect()
    con.execute(sql).fetchall()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = con.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return round(min(times), 3), result


queries = {
    "max(value) per run": (
        f"SELECT session, max(value) FROM '{runs_parquet}/*/*/tracks/t0.parquet' GROUP BY session",
        f"SELECT filename, max(data.value) FROM read_json('{runs_jsonl}/*/*/tracks/t0/data.jsonl', filename = true) GROUP BY filename",
    ),
    "runs with p0 < 0.1 and their lowest value": (
        f"SELECT t.session, min(t.value) FROM '{runs_parquet}/*/*/tracks/t0.parquet' t "
        f"JOIN '{runs_parquet}/runs.parquet' r USING (workspace, session) WHERE r.p0 < 0.1 GROUP BY t.session",
        f"SELECT p.filename, min(t.data.value) FROM read_json('{runs_jsonl}/*/*/tracks/t0/data.jsonl', filename = true) t "
        f"JOIN read_json('{runs_jsonl}/*/*/parameters.json', filename = true) p "
        f"ON replace(t.filename, '/tracks/t0/data.jsonl', '') = replace(p.filename, '/parameters.json', '') "
        f"WHERE p.data.p0 < 0.1 GROUP BY p.filename",
    ),
    "points with value > 1.9, all runs": (
        f"SELECT count(*) FROM '{runs_parquet}/*/*/tracks/t0.parquet' WHERE value > 1.9",
        f"SELECT count(*) FROM read_json('{runs_jsonl}/*/*/tracks/t0/data.jsonl') WHERE data.value > 1.9",
    ),
}
for name, (on_parquet, on_jsonl) in queries.items():
    p, pr = best(on_parquet)
    j, jr = best(on_jsonl)
    assert len(pr) == len(jr), (name, len(pr), len(jr))
    out[f"DuckDB, {name}: Parquet / JSONL (s)"] = [p, j]
print(json.dumps(out, indent=1))
