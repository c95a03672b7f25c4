#!/usr/bin/env python3
"""Where a streamed call's time to first token goes, per stream, from a `perf trace -T` log of
a proxy (Tollgate or bench/rust_hop.rs) serving bench/streams.py's sequential streams.

Wrap the binary so that streams.py starts it under `perf trace`, e.g. /tmp/tg/tollgate:

    #!/bin/sh
    exec perf trace -T -o /tmp/tg/tg.ptrace -- /path/to/target/release/tollgate "$@"

(and the same for examples/rust_hop as /tmp/tg/rust_hop), then

    python3 bench/streams.py --bin /tmp/tg/tollgate --hop /tmp/tg/rust_hop --streams 1 --seq 40
    python3 bench/trace_phases.py /tmp/tg/tg.ptrace

For each accepted connection it finds the request's read, the write upstream, the upstream's
first read and first chunk (a read of 160 bytes or more), and the first write back after it,
and prints p50/p90/mean of the gaps between them.
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s*(\d+\.\d+) \(\s*([\d.]*) ms\): (\S+)\s+(\w+)\((.*)\)\s+= (-?\d+)")
GAPS = [("req", "up_write"), ("up_write", "up_first"), ("up_first", "up_chunk"),
        ("up_chunk", "out_chunk"), ("req", "out_chunk")]


def events(path):
    """(milliseconds, system call, fd or None, return value), in time order."""
    out = []
    for line in open(path):
        m = LINE.match(line)
        if not m or "continued" in line:
            continue
        ts, _, _, call, args, ret = m.groups()
        fd = re.search(r"fd: (\d+)", args)
        out.append((float(ts), call, int(fd.group(1)) if fd else None, int(ret)))
    out.sort()
    return out


def stream(after, client):
    """The phases of the stream on the accepted connection `client`, or None if unfinished."""
    ph, up = {}, None
    for ts, call, fd, ret in after:
        if call == "accept4" and ret > 0:
            return None
        if call == "recvfrom" and fd == client and ret > 24 and "req" not in ph:
            ph["req"] = ts
        elif call in ("writev", "sendto", "write") and "req" in ph and up is None and fd != client and ret > 100:
            up, ph["up_write"] = fd, ts
        elif call == "recvfrom" and up is not None and fd == up and ret > 0:
            ph.setdefault("up_first", ts)
            if ret >= 160:
                ph.setdefault("up_chunk", ts)
        elif call == "writev" and fd == client and "up_chunk" in ph:
            ph["out_chunk"] = ts
            return ph
    return None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * q))]


def main():
    ev = events(sys.argv[1])
    rows = [r for i, (_, call, _, ret) in enumerate(ev) if call == "accept4" and ret > 0
            for r in [stream(ev[i + 1:], ret)] if r]
    print(f"{len(rows)} streams")
    for a, b in GAPS:
        xs = [(r[b] - r[a]) * 1e3 for r in rows]  # perf trace stamps are in ms
        print(f"  {a:>9} -> {b:<9} p50 {pct(xs, .5):7.1f} us  p90 {pct(xs, .9):7.1f}  mean {statistics.mean(xs):7.1f}")


if __name__ == "__main__":
    main()
