# strobe's own Util module for perf scripts: time helpers, running
# statistics, and system call names (from the audit bindings when they are
# installed, as perf's does, else the number).

import errno
import os

NSECS_PER_SEC = 1000000000


def avg(total, n):
    return total / n


def nsecs(secs, nsecs):
    return secs * NSECS_PER_SEC + nsecs


def nsecs_secs(nsecs):
    return nsecs / NSECS_PER_SEC


def nsecs_nsecs(nsecs):
    return nsecs % NSECS_PER_SEC


def nsecs_str(nsecs):
    return "%5u.%09u" % (nsecs_secs(nsecs), nsecs_nsecs(nsecs))


def add_stats(dict, key, value):
    """Keeps (min, max, avg, count) of the values seen for key."""
    if key not in dict:
        dict[key] = (value, value, value, 1)
    else:
        min_, max_, avg_, count = dict[key]
        if value < min_:
            min_ = value
        if value > max_:
            max_ = value
        avg_ = (avg_ + value) / 2
        dict[key] = (min_, max_, avg_, count + 1)


def clear_term():
    print("\x1b[H\x1b[2J")


audit_package_warned = False

try:
    import audit
    machine_to_id = {
        'x86_64': audit.MACH_86_64,
        'aarch64': audit.MACH_AARCH64,
        'alpha': audit.MACH_ALPHA,
        'ia64': audit.MACH_IA64,
        'ppc': audit.MACH_PPC,
        'ppc64': audit.MACH_PPC64,
        'ppc64le': audit.MACH_PPC64LE,
        's390': audit.MACH_S390,
        's390x': audit.MACH_S390X,
        'i386': audit.MACH_X86,
        'i586': audit.MACH_X86,
        'i686': audit.MACH_X86,
    }
    try:
        machine_to_id['armeb'] = audit.MACH_ARMEB
    except Exception:
        pass
    machine_id = machine_to_id[os.uname()[4]]
except Exception:
    if not audit_package_warned:
        audit_package_warned = True
        print("Install the python3-audit package to get syscall names.\n"
              "For example:\n  # apt-get install python3-audit")


def syscall_name(id):
    try:
        return audit.audit_syscall_to_name(id, machine_id)
    except Exception:
        return str(id)


def strerror(nr):
    try:
        return errno.errorcode[abs(nr)]
    except KeyError:
        return "Unknown %d errno" % nr
