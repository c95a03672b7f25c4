"""Schemathesis against the running server's `/openapi.json`: generated requests, valid and
invalid, to every documented operation, once with the admin token and once with a caller key.

Checks: no 5xx answer (`not_a_server_error`), every answer's status is documented for its
operation (`status_code_conformance`) and its body matches the documented schema
(`response_schema_conformance`). Seeded and bounded (`MAX_EXAMPLES` per operation, 60 by default: each
run takes about 1.5 minutes over ~100 operations; raise TOLLGATE_SCHEMA_EXAMPLES for a deeper
search, e.g. 1000 before a release), so a run is
deterministic in what it sends; each run gets a server of its own because the admin run creates,
changes and deletes whatever it finds. A failure prints Schemathesis' report, with a `curl` line
for each failing request.

Run alone: `bash tests/sdk/run.sh -k schema` (see docs/security.md, "API contract")."""

import os
import subprocess
import sys

import pytest

from conftest import ADMIN, call, running_server

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
MAX_EXAMPLES = int(os.environ.get("TOLLGATE_SCHEMA_EXAMPLES", "60"))
SEED = int(os.environ.get("TOLLGATE_SCHEMA_SEED", "20261129"))


def schemathesis(base, token):
    st = os.path.join(os.path.dirname(sys.executable), "st")
    cmd = [
        st, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", f"{base}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
    ]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schema_hooks", PYTHONPATH=HERE)
    run = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=1500)
    return run.returncode, run.stdout + run.stderr


def calls_answered(base, key_id):
    """How many of the key's calls the mock upstream answered (status `ok`), by model."""
    data = call(base, "GET", f"/admin/usage?key={key_id}&status=ok&limit=1000")["data"]
    return {m: sum(1 for r in data if r["model"] == m) for m in ("sdk-oa", "sdk-an")}


@pytest.mark.parametrize("who", ["key", "admin"])
def test_openapi_contract(who):
    with running_server() as server:
        base = server["base"]
        key = call(base, "POST", "/admin/keys", {"name": "schemathesis"})
        code, report = schemathesis(base, ADMIN if who == "admin" else key["key"])
        answered = calls_answered(base, key["id"]) if who == "key" else None
    print(report)
    assert code == 0, f"Schemathesis found failures with the {who} token (report above)"
    if answered is not None:
        # The hooks make some generated calls valid enough for the mock upstream to answer them.
        assert all(answered.values()), f"no call reached the mock upstream: {answered}"
