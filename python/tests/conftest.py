"""What the tests of dreamlake_engine share: a fresh folder per test, the `dreamlake` command
(DREAMLAKE_COMMAND, which scripts/python-test sets; the installed package itself needs no Swift),
and Python dreamlake 0.2.4's interpreter (DREAMLAKE_REFERENCE_PYTHON) for side-by-side runs."""
import json
import os
import re
import signal
import subprocess

import pytest


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs"


def command(*args):
    """Runs the `dreamlake` command; returns its standard output (raises on a non-zero exit)."""
    binary = os.environ.get("DREAMLAKE_COMMAND")
    if not binary:
        pytest.fail("DREAMLAKE_COMMAND is not set: run the tests with scripts/python-test")
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"dreamlake {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def reference_python():
    path = os.environ.get("DREAMLAKE_REFERENCE_PYTHON")
    if not path:
        pytest.fail("DREAMLAKE_REFERENCE_PYTHON is not set: run the tests with scripts/python-test")
    return path


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Server:
    """`dreamlake serve` over the folder `store` on a free loopback port, without a secret of its own, so
    that it takes the keys Python dreamlake makes for `user_name=` (as its own server does on loopback)."""

    PYTHON_CLIENT_SECRET = "your-secret-key-change-this-in-production"

    def __init__(self, store):
        binary = os.environ.get("DREAMLAKE_COMMAND")
        if not binary:
            pytest.fail("DREAMLAKE_COMMAND is not set: run the tests with scripts/python-test")
        environment = {k: v for k, v in os.environ.items() if k != "DREAMLAKE_JWT_SECRET"}
        self.store = store
        self.process = subprocess.Popen(
            [binary, "serve", "--root", str(store), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        )
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not found:
            self.process.kill()
            raise AssertionError(f"the server did not start: {line!r} {self.process.stderr.read()}")
        self.url = f"http://127.0.0.1:{found.group(1)}"

    def key(self, user):
        """An API key for `user` that this server takes."""
        return command("token", "--user", user, "--secret", self.PYTHON_CLIENT_SECRET).strip()

    def stop(self):
        """Stops it as an operator would (SIGTERM: it closes its sessions, so all it took is committed) and
        checks that it exited cleanly. Stopping it again does nothing."""
        if self.process.returncode is not None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, errors = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, f"dreamlake serve exited {self.process.returncode}: {errors}"


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "server-store")
    yield running
    running.stop()
