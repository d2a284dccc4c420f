"""NumPy in and out: a batch of arrays appended without a Python loop, and a track read as arrays, a
DataFrame, or its envelope."""
import array
import math

import numpy as np
import pandas as pd
import pytest

import dreamlake_engine as dl
from conftest import command


def session(root, name="np"):
    return dl.Session(name=name, workspace="ws", local_path=str(root))


def test_arrays_append_as_points_and_read_back_as_arrays(root):
    n = 250_000
    values = 2.0 / (1.0 + np.arange(n) * 1e-4)
    steps = np.arange(n, dtype=np.int64) * 2
    with session(root) as s:
        t = s.track("loss")
        t.append(value=0.5, step=-1)
        assert t.append_arrays(value=values, step=steps) == (1, n)
        t.append(value=1.5, step=-2)
        got = t.to_numpy()
        assert got["index"].tolist() == list(range(n + 2))
        assert np.array_equal(got["value"][1:-1], values) and np.array_equal(got["step"][1:-1], steps.astype(np.float64))
        assert got["value"][0] == 0.5 and got["value"][-1] == 1.5
        page = t.read(start_index=n, limit=1)["data"][0]["data"]
        assert page == {"value": float(values[-1]), "step": int(steps[-1])}
        frame = t.to_pandas(start_index=10, limit=5)
        assert isinstance(frame, pd.DataFrame) and frame.index.tolist() == list(range(10, 15))
        assert frame["value"].tolist() == values[9:14].tolist()
    command("verify", "--root", str(root))


def test_other_number_types_and_shapes_become_typed_fields(root):
    with session(root) as s:
        t = s.track("mixed")
        first, count = t.append_arrays(
            loss=np.array([0.25, 0.5], dtype=np.float32),
            epoch=np.array([1, 2], dtype=np.int32),
            ok=np.array([True, False]),
            id=np.array([7, 8], dtype=np.uint64),
            raw=array.array("d", [1.0, 2.0]),
        )
        assert (first, count) == (0, 2)
        data = [p["data"] for p in t.read()["data"]]
        assert data == [
            {"loss": 0.25, "epoch": 1, "ok": True, "id": 7, "raw": 1.0},
            {"loss": 0.5, "epoch": 2, "ok": False, "id": 8, "raw": 2.0},
        ]
        cols = t.to_numpy(fields=("epoch", "missing"))
        assert cols["epoch"].tolist() == [1.0, 2.0] and all(math.isnan(x) for x in cols["missing"])


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"value": [0.5, 0.25]}, TypeError),
        ({"value": np.zeros((2, 2))}, ValueError),
        ({"value": np.zeros(3), "step": np.zeros(2, dtype=np.int64)}, ValueError),
        ({"value": np.array([2**63], dtype=np.uint64)}, OverflowError),
        ({"value": np.array(["a", "b"])}, TypeError),
        ({"value": np.zeros(4)[::2]}, TypeError),
    ],
)
def test_arrays_the_store_cannot_take_are_refused_and_nothing_is_appended(root, fields, error):
    with session(root) as s:
        t = s.track("t")
        with pytest.raises(error):
            t.append_arrays(**fields)
        assert t.to_numpy()["index"].size == 0


def test_a_read_into_buffers_too_small_for_its_limit_is_refused(root):
    """The engine's column reader checks each buffer against the limit asked for, a limit of any size
    included (one whose byte count would wrap past 64 bits is refused, not written past the buffers)."""
    with session(root) as s:
        t = s.track("t")
        t.append_arrays(value=np.arange(10.0), step=np.arange(10))
        values, indexes = np.zeros(4), np.zeros(4, dtype=np.uint64)
        for limit in (5, 2**61, 2**61 + 1, 2**64 - 1):
            with pytest.raises(ValueError):
                t._engine._read_columns(0, limit, ("value",), (values,), indexes)
        assert t._engine._read_columns(0, 4, ("value",), (values,), indexes) == 4
        assert values.tolist() == [0.0, 1.0, 2.0, 3.0] and indexes.tolist() == [0, 1, 2, 3]


def test_the_envelope_keeps_every_extreme(root):
    n = 100_000
    values = np.sin(np.arange(n) * 0.01)
    values[12_345] = 10.0
    values[54_321] = -10.0
    with session(root) as s:
        t = s.track("wave")
        t.append_arrays(value=values, step=np.arange(n, dtype=np.int64))
        buckets = t.envelope(buckets=100)
    assert len(buckets) == 100 and sum(b["count"] for b in buckets) == n
    assert max(b["max"]["value"] for b in buckets) == 10.0
    assert min(b["min"]["value"] for b in buckets) == -10.0
    top = max(buckets, key=lambda b: b["max"]["value"])
    assert top["max"]["index"] == 12_345 and top["start"] <= 12_345 < top["end"]


def test_numpy_scalars_are_numbers_of_their_kind(root):
    with session(root) as s:
        t = s.track("scalars")
        t.append(value=np.float32(0.5), step=np.int64(3), count=np.uint8(7), zero_d=np.array(2.25))
        assert t.read()["data"][0]["data"] == {"value": 0.5, "step": 3, "count": 7, "zero_d": 2.25}
        assert type(t.read()["data"][0]["data"]["step"]) is int


def test_to_arrow_gives_the_columns_of_the_parquet_export(root):
    """Issue 32: track.to_arrow() is the track's file of `dreamlake export --format parquet`, read by pyarrow:
    the same columns, each typed as its values are, every value exact, while the session writes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 100_000
    values = 2.0 / (1.0 + np.arange(n) * 1e-4)
    with session(root, "arrow") as s:
        t = s.track("train/loss")
        t.append_arrays(value=values, step=np.arange(n, dtype=np.int64))
        t.append(value=float("nan"), step=n, note="diverged")
        t.append(value="n/a", step=n + 1)
        table = t.to_arrow()
        assert table.column_names == ["workspace", "session", "index", "timestamp", "rank", "value", "value:string", "step", "note"]
        assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("step").type == pa.int64() and table.schema.field("value").type == pa.float64()
        assert table.num_rows == n + 2
        got = table.column("value").to_numpy(zero_copy_only=False)
        assert np.array_equal(got[:n], values) and math.isnan(got[n])
        assert table.column("value:string").to_pylist()[-1] == "n/a" and table.column("value").to_pylist()[-1] is None
        assert table.column("note").to_pylist()[n] == "diverged" and set(table.column("session").to_pylist()) == {"arrow"}
        with pytest.raises(dl.DreamlakeError):
            s.track("nothing-here").to_arrow()
    command("export", "--root", str(root), "--out", str(root / "parquet"), "--format", "parquet")
    exported = pq.read_table(root / "parquet" / "ws" / "arrow" / "tracks" / "train" / "loss.parquet")
    assert exported.column_names == table.column_names and exported.num_rows == table.num_rows
    assert exported.column("value").to_pylist()[:n] == table.column("value").to_pylist()[:n]
