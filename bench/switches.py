#!/usr/bin/env python3
"""Reads `perf script -F comm,trace,ip,sym` of `sched:sched_switch` events (with call stacks) on
stdin and prints, per call (argv[1] calls), how often each kind of thread left the CPU and why.
Used by bench/switches.

Why a thread left the CPU, from the event's `prev_state` and the stack it slept in:
- preempted: still runnable (`R`), another thread took its CPU;
- disk: uninterruptible sleep (`D`): fsync, or a write waiting on a page under writeback;
- sockets: asleep in `epoll_wait`, the runtime's I/O driver waiting for network events;
- database command: sqlx's SQLite thread waiting for its next command (a blocking channel
  receive);
- parked: any other sleep, e.g. a runtime worker parked on its condition variable (futex)
  while another worker holds the I/O driver.
"""
import collections
import sys


def kind(comm: str) -> str:
    if comm.startswith("sqlx-sqlite"):
        return "sqlx SQLite thread"
    if comm.startswith("tokio"):
        return "runtime worker"
    return comm


def why(state: str, comm: str, stack: list) -> str:
    if state.startswith("R"):
        return "preempted"
    if state.startswith("D"):
        return "disk"
    text = " ".join(stack)
    if "epoll" in text:
        return "sockets (epoll_wait)"
    if comm.startswith("sqlx-sqlite"):
        return "database command"
    return "parked (futex)"


def events(lines):
    """Yields (comm, prev_state, stack symbols) per event."""
    head, stack = None, []
    for line in lines:
        if not line.strip():
            if head:
                yield head + (stack,)
            head, stack = None, []
        elif head is None:
            words = line.split()
            state = next((w.split("=", 1)[1] for w in words if w.startswith("prev_state=")), "?")
            head = (words[0], state)
        else:
            stack.append(line.strip())
    if head:
        yield head + (stack,)


def main() -> None:
    calls = int(sys.argv[1])
    if calls <= 0:
        sys.exit("no calls were answered: nothing to divide by")
    counts = collections.Counter()
    for comm, state, stack in events(sys.stdin):
        counts[(kind(comm), why(state, comm, stack))] += 1
    total = sum(counts.values())
    print(f"{'thread':<22} {'left the CPU because':<24} {'per call':>9}")
    for (thread, reason), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{thread:<22} {reason:<24} {n / calls:>9.2f}")
    print(f"{'all threads':<22} {'':<24} {total / calls:>9.2f}")


if __name__ == "__main__":
    main()
