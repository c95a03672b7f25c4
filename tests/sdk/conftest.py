"""Starts the real `tollgate` binary on a free port with a fresh database, and a mock upstream
with one provider of each kind behind it, for the SDK tests."""

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

import mock_upstream

ADMIN = "sdk-admin-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=ADMIN):
    req = urllib.request.Request(f"{base}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def running_server():
    """A fresh `tollgate serve` with its own database, the mock upstream behind two providers
    (one of each kind), a model on each and a caller key; yields {"base", "key", "upstream"}
    (the mock upstream server, whose `requests` are what it received)."""
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
    upstream, upstream_url = mock_upstream.start()
    try:
        call(base, "POST", "/admin/providers", {"id": "sdk-openai", "kind": "openai", "base_url": f"{upstream_url}/v1"})
        call(base, "POST", "/admin/providers", {"id": "sdk-anthropic", "kind": "anthropic", "base_url": upstream_url})
        price = {"input_per_mtok": "2.00", "output_per_mtok": "6.00"}
        call(base, "POST", "/admin/models", {"id": "sdk-oa", "name": "SDK OA", "provider": "sdk-openai", "price": price,
                                             "capabilities": ["chat", "streaming", "tools"]})
        call(base, "POST", "/admin/models", {"id": "sdk-an", "name": "SDK AN", "provider": "sdk-anthropic", "price": price,
                                             "capabilities": ["chat", "streaming", "tools"]})
        key = call(base, "POST", "/admin/keys", {"name": "sdk"})["key"]
        yield {"base": base, "key": key, "upstream": upstream}
    finally:
        upstream.shutdown()
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == 0, f"tollgate exited with {code}"


@pytest.fixture(scope="session")
def server():
    with running_server() as s:
        yield s


@pytest.fixture
def base_url(server):
    return server["base"]


@pytest.fixture
def api_key(server):
    return server["key"]


@pytest.fixture
def generation(server):
    def get(request_id):
        req = urllib.request.Request(f"{server['base']}/v1/generations/{request_id}",
                                     headers={"authorization": f"Bearer {server['key']}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["data"]
    return get


@pytest.fixture
def upstream_request(server):
    """The last request ({"path", "body"}) the mock upstream received whose body contains `marker`."""
    def find(marker):
        upstream = server["upstream"]
        with upstream.lock:
            seen = [r for r in upstream.requests if marker in json.dumps(r["body"])]
        assert seen, f"the upstream received no request containing {marker!r}"
        return seen[-1]
    return find
