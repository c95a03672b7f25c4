#!/usr/bin/env python3
"""Concurrent streams and time to first token through the gateway (issue 14's streaming and
memory targets).

Starts a slow streaming upstream (asyncio, this script: each answer is CHUNKS SSE chunks
INTERVAL s apart, then a usage chunk and [DONE]) and the release `tollgate` on a fresh SQLite
file, then:
1. time to first token: SEQ sequential streams straight to the upstream, through the bare Rust
   hop (bench/rust_hop.rs, when built beside the binary: the floor of this stack) and through
   the gateway, alternately in rounds; the time from sending the request to the first content
   chunk, p50/p90/p99 of each and the differences (the gateway's added time to first token);
2. N streams open at once through the gateway: the gateway's peak RSS (VmRSS sampled every
   50 ms; VmHWM at the end), and that every stream ended with [DONE] and has its usage record.

    python3 bench/streams.py [--streams 1000] [--seq 300] [--bin target/release/tollgate] [--hop PATH]
"""
import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ADMIN = "bench-admin"
CHUNKS, INTERVAL = 20, 0.1


def chunk(obj):
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


async def upstream(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            close = b"connection: close" in head.lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(await reader.readexactly(length))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}

            def send(data):
                writer.write(b"%x\r\n" % len(data) + data + b"\r\n")

            delay = body.get("metadata", {}).get("interval", INTERVAL) if isinstance(body.get("metadata"), dict) else INTERVAL
            for i in range(CHUNKS):
                send(chunk({**base, "choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}))
                await writer.drain()
                await asyncio.sleep(float(delay))
            send(chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            send(chunk({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS * 2,
                                                          "total_tokens": 12 + CHUNKS * 2}}))
            send(b"data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        # A kept-alive connection of the gateway's pool is cancelled when the run ends.
        pass
    finally:
        writer.close()


async def stream(port, key, model, interval):
    """One streamed call; (seconds to the first content chunk, ended with [DONE])."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"model": model, "stream": True, "max_tokens": 256,
                       "messages": [{"role": "user", "content": "Count."}]}).encode()
    if interval is not None:
        body = json.dumps({"model": model, "stream": True, "max_tokens": 256, "metadata": {"interval": str(interval)},
                           "messages": [{"role": "user", "content": "Count."}]}).encode()
    auth = f"authorization: Bearer {key}\r\n".encode() if key else b""
    start = time.perf_counter()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + auth +
                 b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    first, data = None, b""
    while True:
        got = await reader.read(65536)
        if not got:
            break
        data += got
        if first is None and b'"content"' in data:
            first = time.perf_counter() - start
        if b"[DONE]" in data and data.endswith(b"0\r\n\r\n"):
            break
    writer.close()
    return first, b"[DONE]" in data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    return 0


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--seq", type=int, default=300)
    ap.add_argument("--bin", default=os.environ.get("TOLLGATE_BIN", "target/release/tollgate"))
    ap.add_argument("--hop", default=None, help="the bare Rust hop (default: examples/rust_hop beside --bin)")
    a = ap.parse_args()
    hop_bin = a.hop or os.path.join(os.path.dirname(a.bin), "examples", "rust_hop")
    server = await asyncio.start_server(upstream, "127.0.0.1", 0, backlog=4096)
    up_port = server.sockets[0].getsockname()[1]
    db = tempfile.mkdtemp(prefix="tg-streams-")
    port = free_port()
    env = dict(os.environ, TOLLGATE_LISTEN=f"127.0.0.1:{port}", TOLLGATE_DATABASE_URL=f"sqlite://{db}/t.db",
               TOLLGATE_ADMIN_TOKEN=ADMIN, TOLLGATE_LOG="warn")
    gw = subprocess.Popen([a.bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hop, hop_port = None, free_port()
    if os.access(hop_bin, os.X_OK):
        hop = subprocess.Popen([hop_bin, f"127.0.0.1:{hop_port}", f"http://127.0.0.1:{up_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        print(f"(no bare Rust hop at {hop_bin}: build it with cargo build --release --examples)")
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                await asyncio.sleep(0.1)
        admin(port, "/admin/providers", {"id": "slow", "kind": "openai", "base_url": f"http://127.0.0.1:{up_port}/v1"})
        admin(port, "/admin/models", {"id": "slow-model", "name": "Slow", "provider": "slow",
                                      "price": {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}})
        key = admin(port, "/admin/keys", {"name": "streams"})["key"]
        # 1. Time to first token, sequential, chunks 1 ms apart (short streams), the paths
        # alternating in rounds of 20 so that a busy spell of the machine falls on all of them.
        paths = [("direct", up_port, None), ("gateway", port, key)]
        if hop:
            paths.insert(1, ("rust hop", hop_port, None))
        for _ in range(20):
            for _, p, k in paths:
                await stream(p, k, "slow-model", 0.001)
        times = {name: [] for name, _, _ in paths}
        for _ in range(0, a.seq, 20):
            for name, p, k in paths:
                times[name] += [(await stream(p, k, "slow-model", 0.001))[0] for _ in range(20)]
        print(f"time to first token, {a.seq} sequential streams per path (ms):")
        for name, xs in times.items():
            print(f"  {name:8} p50 {pct(xs, .5)*1e3:.3f}  p90 {pct(xs, .9)*1e3:.3f}  p99 {pct(xs, .99)*1e3:.3f}")

        def added(over, under):
            return "  ".join(f"p{int(q*100)} {(pct(times[over], q) - pct(times[under], q))*1e3:.3f}" for q in (.5, .9, .99))
        print("  added by the gateway      " + added("gateway", "direct"))
        if hop:
            print("  added by the bare hop     " + added("rust hop", "direct"))
            print("  gateway over the bare hop " + added("gateway", "rust hop"))
        # 2. Many streams at once.
        rss_before = status(gw.pid, "VmRSS")
        peak = rss_before
        tasks = [asyncio.create_task(stream(port, key, "slow-model", None)) for _ in range(a.streams)]
        while not all(t.done() for t in tasks):
            peak = max(peak, status(gw.pid, "VmRSS"))
            await asyncio.sleep(0.05)
        results = [t.result() for t in tasks]
        done = sum(1 for _, ok in results if ok)
        await asyncio.sleep(0.5)
        print(f"{a.streams} streams at once ({CHUNKS} chunks {INTERVAL*1e3:.0f} ms apart, ~{CHUNKS*INTERVAL:.0f} s each): "
              f"{done} ended with [DONE]; gateway RSS {rss_before} MB before, peak {peak} MB (VmHWM {status(gw.pid, 'VmHWM')} MB)")
        records = subprocess.run(["sqlite3", f"{db}/t.db", "SELECT COUNT(*) FROM usage_records WHERE status = 'ok'"],
                                 capture_output=True, text=True).stdout.strip()
        expected = 20 + a.seq + a.streams
        print(f"usage records with status ok: {records} of {expected}")
        if records != str(expected) or done != a.streams:
            raise SystemExit("FAILURE: a stream did not end or a record is missing")
    finally:
        gw.terminate()
        gw.wait(timeout=30)
        if hop:
            hop.terminate()
            hop.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
