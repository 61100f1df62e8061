"""System calls counted by process and by name.

Record:  strobe record -e 'syscalls:sys_enter_*' -a -- sleep 5
         (or -e raw_syscalls:sys_enter, which names calls by number)
Run:     strobe script -s syscall-summary [COMM]
"""

import sys
from collections import Counter

import strobe

only_comm = sys.argv[1] if len(sys.argv) > 1 else None
by_process = Counter()
by_name = Counter()


def count(process, name):
    by_process[process] += 1
    by_name[name] += 1


@strobe.on("syscalls:sys_enter_*")
def named_entry(e):
    if only_comm is None or e.comm == only_comm:
        count((e.comm, e.pid), e.name.split(":sys_enter_", 1)[1])


@strobe.on("raw_syscalls:sys_enter")
def raw_entry(e):
    if only_comm is None or e.comm == only_comm:
        count((e.comm, e.pid), str(e.id))


def trace_end():
    print("%-24s %8s  %10s" % ("process", "pid", "syscalls"))
    for (comm, pid), n in sorted(by_process.items(), key=lambda kv: (-kv[1], kv[0])):
        print("%-24s %8d  %10d" % (comm, pid, n))
    print()
    print("%-24s %10s" % ("syscall", "count"))
    for name, n in sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0])):
        print("%-24s %10d" % (name, n))
