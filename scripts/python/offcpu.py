"""Off-CPU time by stack: how long threads waited, and where they blocked.

Each time a thread is switched out (sched:sched_switch, with call chains)
its stack is kept; when it is switched back in, the time in between is
added to that stack. The output is folded stacks with microseconds, ready
for a flame graph (flamegraph.pl --countname=us).

Record:  strobe record -g -e sched:sched_switch -a -- sleep 5
Run:     strobe script -s offcpu
"""

from collections import Counter

import strobe

switched_out = {}
waited = Counter()


@strobe.on("sched:sched_switch")
def switch(e):
    # The event's thread is the one leaving the CPU (prev_pid).
    stack = [f.sym or "[unknown]" for f in reversed(e.callchain)]
    switched_out[e.prev_pid] = (e.time, e.prev_comm, tuple(stack))
    out = switched_out.pop(e.next_pid, None)
    if out is not None and e.next_pid != 0:
        start, comm, stack = out
        waited[(comm,) + stack] += (e.time - start) // 1000


def trace_end():
    for stack, micros in sorted(waited.items()):
        print("%s %d" % (";".join(s.replace(";", ":") for s in stack), micros))
