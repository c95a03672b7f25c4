"""Starts the real `tollgate` binary on a free port with a fresh database for the SDK tests."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ADMIN = "sdk-admin-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    binary = os.environ["TOLLGATE_BIN"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tmp = tempfile.mkdtemp()
    port = free_port()
    env = dict(os.environ)
    env.update(
        TOLLGATE_LISTEN=f"127.0.0.1:{port}",
        TOLLGATE_DATABASE_URL=f"sqlite://{tmp}/sdk.db",
        TOLLGATE_ADMIN_TOKEN=ADMIN,
        TOLLGATE_SEEDS_DIR=os.path.join(root, "seeds"),
        TOLLGATE_LOG="warn",
    )
    proc = subprocess.Popen([binary, "serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("tollgate did not start")
    yield {"base": base, "admin": ADMIN, "tmp": tmp}
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture
def base_url(server):
    return server["base"]


@pytest.fixture
def api_key(server):
    # The catalog is public; gateway tests replace this with a real key.
    return "unused"
