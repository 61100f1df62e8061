# strobe's own Core module for perf scripts: the helpers perf's scripts
# import with `from Core import *`, for machines without perf's copy.
# strobe calls define_* from each event's print format, as perf does, so
# that flag_str and symbol_str name a field's values.

from collections import defaultdict


def autodict():
    """A dictionary that makes nested dictionaries on first access."""
    return defaultdict(autodict)


flag_fields = autodict()
symbolic_fields = autodict()


def define_flag_field(event_name, field_name, delim):
    flag_fields[event_name][field_name]['delim'] = delim


def define_flag_value(event_name, field_name, value, field_str):
    flag_fields[event_name][field_name]['values'][value] = field_str


def define_symbolic_field(event_name, field_name):
    # Nothing to do: the values say it all.
    pass


def define_symbolic_value(event_name, field_name, value, field_str):
    symbolic_fields[event_name][field_name]['values'][value] = field_str


def flag_str(event_name, field_name, value):
    """The names of the flags set in value, joined by the field's delimiter."""
    string = ""
    if flag_fields[event_name][field_name]:
        print_delim = False
        for idx in sorted(flag_fields[event_name][field_name]['values']):
            if not value and not idx:
                string += flag_fields[event_name][field_name]['values'][idx]
                break
            if idx and (value & idx) == idx:
                if print_delim and flag_fields[event_name][field_name]['delim']:
                    string += " " + flag_fields[event_name][field_name]['delim'] + " "
                string += flag_fields[event_name][field_name]['values'][idx]
                print_delim = True
                value &= ~idx
    return string


def symbol_str(event_name, field_name, value):
    """The name of value in the field's symbolic table, or ""."""
    string = ""
    if symbolic_fields[event_name][field_name]:
        for idx in sorted(symbolic_fields[event_name][field_name]['values']):
            if not value and not idx:
                string = symbolic_fields[event_name][field_name]['values'][idx]
                break
            if value == idx:
                string = symbolic_fields[event_name][field_name]['values'][idx]
                break
    return string


trace_flags = {0x00: "NONE",
               0x01: "IRQS_OFF",
               0x02: "IRQS_NOSUPPORT",
               0x04: "NEED_RESCHED",
               0x08: "HARDIRQ",
               0x10: "SOFTIRQ"}


def trace_flag_str(value):
    string = ""
    print_delim = False
    for idx in trace_flags:
        if not value and not idx:
            string += "NONE"
            break
        if idx and (value & idx) == idx:
            if print_delim:
                string += " | "
            string += trace_flags[idx]
            print_delim = True
            value &= ~idx
    return string


def taskState(state):
    states = {0: "R", 1: "S", 2: "D", 64: "DEAD"}
    return states.get(state, "Unknown")


class EventHeaders:
    def __init__(self, common_cpu, common_secs, common_nsecs,
                 common_pid, common_comm, common_callchain):
        self.cpu = common_cpu
        self.secs = common_secs
        self.nsecs = common_nsecs
        self.pid = common_pid
        self.comm = common_comm
        self.callchain = common_callchain

    def ts(self):
        return (self.secs * (10 ** 9)) + self.nsecs

    def ts_format(self):
        return "%d.%d" % (self.secs, int(self.nsecs / 1000))
