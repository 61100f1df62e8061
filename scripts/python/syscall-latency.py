"""A histogram of system call latency, in powers of two of microseconds.

Record:  strobe record -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit -a -- sleep 5
Run:     strobe script -s syscall-latency [COMM]
"""

import sys
from collections import Counter

import strobe

only_comm = sys.argv[1] if len(sys.argv) > 1 else None
entered = {}
buckets = Counter()
calls = 0


@strobe.on("raw_syscalls:sys_enter")
def enter(e):
    if only_comm is None or e.comm == only_comm:
        entered[e.tid] = e.time


@strobe.on("raw_syscalls:sys_exit")
def leave(e):
    global calls
    start = entered.pop(e.tid, None)
    if start is None:
        return
    micros = (e.time - start) // 1000
    # Bucket b holds latencies in [2**(b-1), 2**b) microseconds; 0 is < 1 us.
    buckets[micros.bit_length()] += 1
    calls += 1


def trace_end():
    print("%22s  %10s" % ("latency (us)", "calls"))
    if not buckets:
        return
    widest = max(buckets.values())
    for b in range(0, max(buckets) + 1):
        low = 0 if b == 0 else 2 ** (b - 1)
        high = 1 if b == 0 else 2 ** b
        n = buckets.get(b, 0)
        bar = "#" * (40 * n // widest)
        print("%10d -> %-9d  %10d  %s" % (low, high, n, bar))
    print("%22s  %10d" % ("total", calls))
