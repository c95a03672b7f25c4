#!/usr/bin/env python3
"""Instructions per gateway call, under valgrind's callgrind (repeatable on a noisy machine).

Starts a fixed-answer upstream (this script, in a thread), the release `tollgate` binary under
`valgrind --tool=callgrind` on a fresh SQLite file, configures a provider, a model and a key
through the admin API, warms up, zeroes the counters, sends N sequential non-streaming chat
completions over one keep-alive connection, dumps the counters and prints instructions per call
(whole process: every thread, the metering writer's commit included). The profile is left in
the output directory for `callgrind_annotate`.

    python3 bench/callgrind.py [--calls 2000] [--budget] [--stream] [--out DIR]
    python3 bench/callgrind.py --hop [--stream]   # the bare Rust hop (bench/rust_hop.rs) instead

With `--hop` the process measured is `target/release/examples/rust_hop`, the crates Tollgate is
built from forwarding bytes and nothing else: the floor under Tollgate's own instructions.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN = "bench-admin"
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench-upstream",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the benchmark upstream."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34,
              "prompt_tokens_details": {"cached_tokens": 0}},
}).encode()
CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hello from"}}]},
    {"choices": [{"index": 0, "delta": {"content": " the benchmark upstream."}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34}},
]
STREAM = b"".join(
    b"data: " + json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                            "model": "bench-upstream", **c}).encode() + b"\n\n" for c in CHUNKS
) + b"data: [DONE]\n\n"


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        payload, kind = (STREAM, "text/event-stream") if body.get("stream") else (ANSWER, "application/json")
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn, method, path, body, token):
    conn.request(method, path, json.dumps(body), {"authorization": f"Bearer {token}",
                                                  "content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data and not data.startswith(b"data:") else data


def configure(conn, upstream_port, budget):
    """The bench provider, model and key; returns the key."""
    request(conn, "POST", "/admin/providers",
            {"id": "bench", "kind": "openai", "base_url": f"http://127.0.0.1:{upstream_port}/v1"}, ADMIN)
    request(conn, "POST", "/admin/models", {"id": "bench-model", "name": "Bench", "provider": "bench",
                                            "price": {"input_per_mtok": "2.00", "output_per_mtok": "6.00"}}, ADMIN)
    key_body = {"name": "bench"}
    if budget:
        key_body["budget"] = {"limit_usd": "1000000", "period": "monthly", "mode": "hard"}
    return request(conn, "POST", "/admin/keys", key_body, ADMIN)["key"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--budget", action="store_true")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--hop", action="store_true", help="measure bench/rust_hop.rs instead")
    ap.add_argument("--bin", default=os.environ.get("TOLLGATE_BIN", "target/release/tollgate"))
    a = ap.parse_args()
    if a.hop and a.budget:
        sys.exit("--hop has no keys: --budget does not apply")
    out = a.out or tempfile.mkdtemp(prefix="tg-callgrind-")
    os.makedirs(out, exist_ok=True)
    for f in glob.glob(os.path.join(out, "callgrind.out*")):
        os.remove(f)
    up = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    db = tempfile.mkdtemp(prefix="tg-cg-db-")
    port = free_port()
    env = dict(os.environ, TOLLGATE_LISTEN=f"127.0.0.1:{port}", TOLLGATE_DATABASE_URL=f"sqlite://{db}/t.db",
               TOLLGATE_ADMIN_TOKEN=ADMIN, TOLLGATE_LOG="warn")
    command = [a.bin, "serve"]
    if a.hop:
        command = [os.path.join(os.path.dirname(a.bin), "examples", "rust_hop"), f"127.0.0.1:{port}",
                   f"http://127.0.0.1:{up.server_port}"]
    gw = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p",
                           "--trace-children=no", *command],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(f"{out}/valgrind.log", "w"))
    conn = None
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            break
        except OSError:
            conn = None
            time.sleep(0.2)
    if conn is None:
        gw.kill()
        sys.exit("the gateway did not start under valgrind")
    key = "none" if a.hop else configure(conn, up.server_port, a.budget)
    call = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}
    if a.stream:
        call["stream"] = True
    for _ in range(200):  # warm-up: caches, pools, the page cache
        request(conn, "POST", "/v1/chat/completions", call, key)
    subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
    for _ in range(a.calls):
        request(conn, "POST", "/v1/chat/completions", call, key)
    time.sleep(1.0)  # the writer's last batch
    subprocess.run(["callgrind_control", "-d", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
    # Only the dump (`callgrind.out.PID.N`): valgrind also creates `callgrind.out.PID` at start
    # and writes the shutdown into it at exit, after this list is used.
    dumped = sorted(f for f in glob.glob(os.path.join(out, "callgrind.out.*"))
                    if re.fullmatch(r"callgrind\.out\.\d+\.\d+", os.path.basename(f)))
    gw.terminate()
    gw.wait(timeout=120)
    shutil.rmtree(db, ignore_errors=True)
    # The dump holds the measured calls only (the counters were zeroed before them); the
    # process's exit writes a second file with the shutdown, which is not counted.
    total = 0
    for f in dumped:
        with open(f) as fh:
            for line in fh:
                if line.startswith("summary:"):
                    total += int(line.split()[1])
    print(f"calls: {a.calls}{' (budgeted key)' if a.budget else ''}{' (streamed)' if a.stream else ''}"
          f"{' through the bare Rust hop' if a.hop else ''}")
    print(f"instructions: {total:,}")
    print(f"instructions per call: {total // a.calls:,}")
    background = checkpoint_share(dumped)
    if background is not None:
        print(f"  of which the WAL checkpoint and its restart: {background // a.calls:,} "
              f"(without them: {(total - background) // a.calls:,})")
    print(f"profile: {out} (callgrind_annotate {out}/callgrind.out.*)")


def checkpoint_share(dumped):
    """Instructions of the WAL checkpoint beside the writer (the task, SQLite's checkpoint) and of
    the WAL restart after it (zeroing the WAL index's first hash block in `walIndexAppend`).
    Their count per call depends on how many checkpoints fall between sequential calls, which
    under valgrind (milliseconds per call) is nearly every call, so builds are compared without
    them (docs/benchmarks.md, "The WAL checkpoint's interval"). None without callgrind_annotate."""
    if not shutil.which("callgrind_annotate"):
        return None
    inclusive = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", *dumped],
                               capture_output=True, text=True).stdout
    calling = subprocess.run(["callgrind_annotate", "--tree=calling", "--threshold=100", *dumped],
                             capture_output=True, text=True).stdout

    def count(line):
        return int(line.split()[0].replace(",", ""))

    share = sum(count(l) for l in inclusive.splitlines()
                if l.strip() and l.strip()[0].isdigit()
                and (":sqlite3WalCheckpoint " in l or "metering::writer::checkpoint::{{closure}} " in l))
    within = False
    for line in calling.splitlines():
        if "*  ???:walIndexAppend " in line:
            within = True
        elif "*  " in line or not line.strip():
            within = within and bool(line.strip())
        elif within and "> " in line and "memset" in line:
            share += count(line)
    return share


if __name__ == "__main__":
    main()
