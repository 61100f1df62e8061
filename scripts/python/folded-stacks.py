"""Folded stacks for flame graphs: `comm;outer;...;inner count` per stack.

Record:  strobe record -g -a -- sleep 5
Run:     strobe script -s folded-stacks > out.folded
         flamegraph.pl out.folded > flame.svg
"""

from collections import Counter

import strobe

stacks = Counter()


@strobe.on("*")
def sample(e):
    frames = [f.sym or "[unknown]" for f in reversed(e.callchain)]
    if not frames and e.sym is not None:
        frames = [e.sym]
    key = ";".join([e.comm.replace(" ", "_")] + [f.replace(";", ":") for f in frames])
    stacks[key] += 1


def trace_end():
    for key in sorted(stacks):
        print("%s %d" % (key, stacks[key]))
