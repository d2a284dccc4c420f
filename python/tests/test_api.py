"""dreamlake_engine's API beyond the seed's examples: what each call stores and gives back, what it
refuses (each refusal an exception of the package's hierarchy, never a crash or a hang), threads,
and fork()."""
import math
import os
import sys
import threading

import pytest

import dreamlake_engine as dl
from conftest import command


def session(root, name="s", **kwargs):
    return dl.Session(name=name, workspace="ws", local_path=str(root), **kwargs)


def test_points_read_back_as_appended_with_their_types(root):
    with session(root) as s:
        t = s.track("loss")
        assert t.append(value=0.5, step=0)["index"] == "0"
        r = t.append(value=0.25, step=1)
        assert dict(r) == {"trackId": "loss", "index": "1", "bufferedDataPoints": "2", "chunkSize": 10000}
        assert r == {"trackId": "loss", "index": "1", "bufferedDataPoints": "2", "chunkSize": 10000}
        other = s.track("mixed")
        other.append(value=1, step=2**62, flag=True, none=None, text="é", nested={"a": [1, 2.5, "x"]})
        other.append(step=3, value=float("nan"))
        other.append(value=float("inf"), big=-(2**63))
        batch = other.append_batch([{"value": 0.1}, {"value": 0.2, "epoch": 1}])
        assert batch["count"] == 2 and batch["startIndex"] == "3" and batch["endIndex"] == "4"
        data = [p["data"] for p in other.read(start_index=0, limit=10)["data"]]
    assert data[0] == {"value": 1, "step": 2**62, "flag": True, "none": None, "text": "é", "nested": {"a": [1, 2.5, "x"]}}
    assert type(data[0]["value"]) is int
    assert list(data[1]) == ["step", "value"] and math.isnan(data[1]["value"])
    assert data[2] == {"value": math.inf, "big": -(2**63)}
    assert data[3:] == [{"value": 0.1}, {"value": 0.2, "epoch": 1}]
    shown = command("cat", "ws/s", "--track", "loss", "--root", str(root))
    assert '"value": 0.25, "step": 1' in shown


def test_log_metrics_appends_what_one_append_a_metric_appends(root):
    """One call for a step's metrics writes, track by track, the points `track(name).append(value=float(v),
    step=step)` writes; NumPy numbers and tensors of one value are numbers; a value that is none stops
    the call with TypeError, the metrics before it kept, and the session goes on."""
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    with session(root, name="one-call") as s:
        for step in range(3):
            s.log_metrics({"loss": 1.0 / (step + 1), "acc": step, "lr": np.float32(0.5), "grad": torch.tensor(2.5)}, step=step)
        s.log_metrics({}, step=9)
        s.log_metrics({"loss": 0.2}, step=np.int64(3))
        with pytest.raises(TypeError, match="metric bad is a str"):
            s.log_metrics({"acc": 7, "bad": "high", "never": 1.0}, step=4)
        with pytest.raises(TypeError):
            s.log_metrics({"loss": 0.1}, step=1.5)
        with pytest.raises(TypeError):
            s.log_metrics([("loss", 0.1)], step=5)
        s.log_metrics({"loss": 0.1}, step=5)
        ours = {name: [p["data"] for p in s.track(name).read(limit=100)["data"]] for name in ("loss", "acc", "lr", "grad")}
        assert "never" not in [t["name"] for t in s.track("loss").list_all()]
    with session(root, name="by-hand") as s:
        for step in range(3):
            for name, v in {"loss": 1.0 / (step + 1), "acc": step, "lr": np.float32(0.5), "grad": torch.tensor(2.5)}.items():
                s.track(name).append(value=float(v), step=step)
        s.track("loss").append(value=0.2, step=3)
        s.track("acc").append(value=7.0, step=4)
        s.track("loss").append(value=0.1, step=5)
        by_hand = {name: [p["data"] for p in s.track(name).read(limit=100)["data"]] for name in ("loss", "acc", "lr", "grad")}
    assert ours == by_hand
    assert ours["acc"] == [{"value": 0.0, "step": 0}, {"value": 1.0, "step": 1}, {"value": 2.0, "step": 2}, {"value": 7.0, "step": 4}]
    with pytest.raises(dl.NotOpenError):
        session(root, name="closed").log_metrics({"loss": 0.1}, step=0)


def test_parameters_logs_and_fields_are_stored(root):
    with session(root, description="d", tags=["a", "b"], folder="/f", metadata={"k": 1}) as s:
        s.parameters().set(lr=0.1, model={"layers": 4, "act": "relu"})
        s.parameters().set(lr=0.2)
        assert s.parameters().get() == {"lr": 0.2, "model.layers": 4, "model.act": "relu"}
        assert s.parameters().get(flatten=False) == {"lr": 0.2, "model": {"layers": 4, "act": "relu"}}
        s.log("plain")
        s.log("with", level="warn", metadata={"a": 1}, b=2)
        s.log(metadata={"epoch": 3}).error("built", code=7)
        assert s.data["description"] == "d" and s.data["tags"] == ["a", "b"] and s.data["folder"] == "/f"
    shown = command("show", "ws/s", "--root", str(root))
    assert "[warn] with" in shown and '{"a": 1, "b": 2}' in shown
    assert "[error] built" in shown and '{"epoch": 3, "code": 7}' in shown


def test_files_are_stored_listed_downloaded_updated_and_deleted(root, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(100_000))
    with session(root) as s:
        stored = s.files().upload(str(source), path="/models", tags=["ckpt"], metadata={"epoch": 1})
        assert stored["filename"] == "weights.bin" and stored["path"] == "/models" and stored["sizeBytes"] == 100_000
        assert [f["id"] for f in s.files().list(path="/models")] == [stored["id"]]
        assert s.files().list(tags=["other"]) == []
        out = s.file(file_id=stored["id"], dest_path=str(tmp_path / "back.bin")).download()
        assert open(out, "rb").read() == source.read_bytes()
        updated = s.file(file_id=stored["id"], description="best").update()
        assert updated["description"] == "best" and updated["tags"] == ["ckpt"]
        assert s.file(file_id=stored["id"]).delete()["id"] == stored["id"]
        assert s.files().list() == []
        with pytest.raises(ValueError):
            s.files().upload(str(tmp_path / "missing.bin"))
        with pytest.raises(dl.NotFoundError):
            s.file(file_id="nope").download()


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"value": 2**64}, OverflowError),
        ({"value": b"bytes"}, TypeError),
        ({"value": object()}, TypeError),
        ({"value": {1: "an int key becomes a str, as json.dumps makes it"}}, None),
        ({"value": {(1, 2): "a tuple key"}}, TypeError),
        ({"value": {"nan": float("nan")}, "x": [float("inf")]}, None),
    ],
)
def test_what_cannot_be_stored_is_refused_and_the_session_goes_on(root, fields, error):
    with session(root) as s:
        t = s.track("t")
        if error is None:
            t.append(**fields)
        else:
            with pytest.raises(error):
                t.append(**fields)
        t.append(value=1.0, step=1)
        assert s.track("t").stats()["totalDataPoints"] == ("2" if error is None else "1")


def test_nesting_past_what_the_store_keeps_is_refused_not_a_crash(root):
    deep = []
    for _ in range(1000):
        deep = [deep]
    with session(root) as s:
        with pytest.raises((dl.DreamlakeError, ValueError, RecursionError)):
            s.track("t").append(value=deep)
        with pytest.raises((dl.DreamlakeError, ValueError, RecursionError)):
            s.log("deep", metadata={"d": deep})
        s.track("t").append(value=1.0, step=0)


def test_wrong_calls_are_exceptions(root):
    s = session(root)
    with pytest.raises(dl.NotOpenError) as e:
        s.log("before open")
    assert isinstance(e.value, RuntimeError) and e.value.code == 2
    with pytest.raises(dl.NotOpenError):
        s.track("t")
    s.open()
    t = s.track("t")
    with pytest.raises(TypeError):
        t.append(1.0)
    with pytest.raises(ValueError):
        s.log("x", level="loud")
    with pytest.raises(TypeError):
        s.log(b"bytes")
    with pytest.raises(dl.InvalidNameError):
        s.track("").append(value=1.0, step=0)  # a track's name is checked when it is defined, by its first append
    s.close()
    s.close()  # harmless
    with pytest.raises(dl.NotOpenError):
        t.append(value=1.0, step=1)
    with pytest.raises(dl.InvalidNameError) as e:
        session(root, name="../escape")
    assert e.value.message and isinstance(e.value, ValueError)
    with pytest.raises(dl.InvalidNameError):
        session(root, name="nul\x00name")


def test_threads_append_at_once_and_every_point_is_kept(root):
    with session(root) as s:
        def work(k):
            t = s.track("shared")
            for i in range(20_000):
                t.append(value=float(k), step=i)
            s.log(f"thread {k} done")

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert s.track("shared").stats()["totalDataPoints"] == str(8 * 20_000)
    command("verify", "--root", str(root))


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_forked_child_is_refused_the_parents_session_and_writes_its_own(root):
    with session(root) as s:
        t = s.track("loss")
        t.append(value=1.0, step=0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                try:
                    t.append(value=2.0, step=1)
                    outcome = "the parent's session wrote"
                except dl.NotOpenError as e:
                    outcome = "refused: " + e.message
                with session(root, name="child") as own:
                    own.track("loss").append(value=3.0, step=0)
                os.write(write, outcome.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        said = os.read(read, 4096).decode()
        os.close(read)
        assert status == 0, said
        assert said.startswith("refused: ") and "fork" in said
        t.append(value=4.0, step=2)
    with session(root) as s:
        assert [p["data"]["value"] for p in s.track("loss").read()["data"]] == [1.0, 4.0]
    with session(root, name="child") as c:
        assert c.track("loss").stats()["totalDataPoints"] == "1"
    command("verify", "--root", str(root))
