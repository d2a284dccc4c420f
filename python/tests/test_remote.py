"""Remote mode, Python dreamlake's `remote=` with `user_name=` or `api_key=`, against `dreamlake serve`:
what a training process sends is what the server stores, appends never wait for it, and a refusal is
an exception that says so."""
import numpy as np
import pytest

import dreamlake_engine as dl
from conftest import command


def test_a_remote_session_sends_everything_the_server_then_holds(tmp_path, server, monkeypatch):
    monkeypatch.setenv("DREAMLAKE_SPOOL", str(tmp_path / "spool"))
    model = tmp_path / "model.pth"
    model.write_bytes(b"weights" * 1000)
    with dl.Session(name="run", workspace="ws", remote=server.url, user_name="alice", description="remote",
                    tags=["a", "b"]) as session:
        session.log("started", level="info", metadata={"gpu": 0})
        session.parameters().set(lr=0.001, model={"layers": 4})
        loss = session.track("loss")
        for step in range(10_000):
            loss.append(value=1.0 / (step + 1), step=step)
        session.track("acc").append_batch([{"value": 0.5, "epoch": 1}, {"value": 0.75, "epoch": 2}])
        session.track("lr").append_arrays(value=np.linspace(0.1, 0.2, 500), step=np.arange(500))
        stored = session.files().upload(str(model), path="/models")
        assert stored["sizeBytes"] == 7000
    # Read back through the server by another session object (remote-only reads ask the server).
    with dl.Session(name="run", workspace="ws", remote=server.url, api_key=server.key("alice")) as again:
        assert [p["data"]["step"] for p in again.track("loss").read(start_index=9_998, limit=10)["data"]] == [9_998, 9_999]
        assert again.track("loss").stats()["totalDataPoints"] == "10000"
        assert again.parameters().get() == {"lr": 0.001, "model.layers": 4}
        assert [f["filename"] for f in again.files().list()] == ["model.pth"]
    # The server's store holds it as any store: the command reads it (once the server closed it: a
    # server commits what it took within its durability interval, as any writer).
    server.stop()
    assert ": sound" in command("verify", "--root", str(server.store), "ws/run")
    last = command("cat", "ws/run", "--track", "loss", "--root", str(server.store)).splitlines()[-1]
    assert '"step": 9999' in last
    assert len(command("cat", "ws/run", "--track", "lr", "--root", str(server.store)).splitlines()) == 500
    logs = command("cat", "ws/run", "--logs", "--root", str(server.store))
    assert "started" in logs


def test_with_a_local_path_the_session_is_kept_there_too(tmp_path, server):
    local = tmp_path / "local"
    with dl.Session(name="hybrid", workspace="ws", remote=server.url, user_name="bob", local_path=str(local)) as session:
        for step in range(100):
            session.track("loss").append(value=float(step), step=step)
    server.stop()
    command("verify", "--root", str(local), "ws/hybrid")
    command("verify", "--root", str(server.store), "ws/hybrid")
    here = command("cat", "ws/hybrid", "--track", "loss", "--root", str(local))
    there = command("cat", "ws/hybrid", "--track", "loss", "--root", str(server.store))
    assert len(here.splitlines()) == len(there.splitlines()) == 100


def test_a_key_the_server_refuses_is_a_remote_error_at_open(tmp_path, server, monkeypatch):
    monkeypatch.setenv("DREAMLAKE_SPOOL", str(tmp_path / "spool"))
    session = dl.Session(name="run", workspace="ws", remote=server.url, api_key="your-api-key-here")
    with pytest.raises(dl.RemoteError) as refused:
        session.open()
    assert "refused" in str(refused.value)
    assert not session._is_open


def test_remote_mode_needs_a_key_or_a_user_name_and_a_url(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMLAKE_SPOOL", str(tmp_path / "spool"))
    with pytest.raises(ValueError, match="api_key or user_name"):
        dl.Session(name="run", workspace="ws", remote="http://127.0.0.1:9")
    with pytest.raises(dl.DreamlakeError, match="not an http"):
        dl.Session(name="run", workspace="ws", remote="ftp://example.org", user_name="alice")
    with pytest.raises(dl.InvalidArgumentError, match="rank"):
        dl.Session(name="run", workspace="ws", remote="http://127.0.0.1:9", user_name="alice", rank=1)
