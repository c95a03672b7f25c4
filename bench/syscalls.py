#!/usr/bin/env python3
"""Reads `perf script -F comm,trace` of `raw_syscalls:sys_enter` events on stdin and prints, per
call (argv[1] calls), how many system calls of each name each kind of thread made. Used by
`SYSCALLS=1 bench/switches`. Names come from the kernel headers' syscall table when they are
installed (linux-libc-dev), else the number is printed."""
import collections
import re
import sys

from switches import kind


def names() -> dict:
    table = {}
    try:
        with open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h") as header:
            for line in header:
                m = re.match(r"#define __NR_(\w+) (\d+)", line)
                if m:
                    table[int(m.group(2))] = m.group(1)
    except OSError:
        pass
    return table


def main() -> None:
    calls = int(sys.argv[1])
    table = names()
    counts = collections.Counter()
    for line in sys.stdin:
        m = re.search(r"NR (\d+)", line)
        if not m or not line.split():
            continue
        nr = int(m.group(1))
        counts[(kind(line.split()[0]), table.get(nr, f"#{nr}"))] += 1
    print(f"{'thread':<22} {'system call':<16} {'per call':>8}")
    for (thread, name), n in counts.most_common():
        if n / calls >= 0.01:
            print(f"{thread:<22} {name:<16} {n / calls:>8.2f}")
    print(f"{'all threads':<22} {'':<16} {sum(counts.values()) / calls:>8.2f}")


if __name__ == "__main__":
    main()
