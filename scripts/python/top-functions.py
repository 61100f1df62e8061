"""The functions where most samples landed, with their share.

Record:  strobe record -a -- sleep 5   (any sampling event)
Run:     strobe script -s top-functions [N]
"""

import sys
from collections import Counter

import strobe

limit = int(sys.argv[1]) if len(sys.argv) > 1 else 20
periods = Counter()
total = 0


@strobe.on("*")
def sample(e):
    global total
    if e.sym is None and e.dso is None and e.ip == 0:
        return  # a tracepoint, not a sample of code
    periods[(e.sym or "[unknown]", e.dso or "[unknown]")] += e.period
    total += e.period


def trace_end():
    print("%8s  %-40s %s" % ("share", "function", "object"))
    for (sym, dso), period in sorted(periods.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        print("%7.2f%%  %-40s %s" % (100.0 * period / total, sym, dso))
