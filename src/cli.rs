//! Command-line definitions. Each flag is defined once, with its help.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use strobe_probe::CpuList;
use strobe_record::Targets;

/// strobe: record and analyze Linux performance data, perf-style.
#[derive(Debug, Parser)]
#[command(name = "strobe", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record samples into a strobe file (like `perf record`).
    #[command(after_help = RECORD_EXAMPLES)]
    Record(RecordArgs),
    /// Show where the samples of a recording went (like `perf report --stdio`).
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Show a recording's metadata (like `perf report --header-only`).
    #[command(after_help = INFO_EXAMPLES)]
    Info(InfoArgs),
    /// Print every event of a recording (like `perf script`).
    #[command(after_help = SCRIPT_EXAMPLES)]
    Script(ScriptArgs),
    /// Trace through the kernel's ftrace ring buffer: tracepoints and the
    /// function tracers, in a tracefs instance of strobe's own (like `trace-cmd record`).
    #[command(after_help = TRACE_EXAMPLES)]
    Trace(TraceArgs),
    /// List the events strobe can record (like `perf list`).
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// Count events while a command runs, or system-wide (like `perf stat`).
    #[command(after_help = STAT_EXAMPLES)]
    Stat(StatArgs),
    /// Run the micro-benchmarks perf bench has, with its definitions (like `perf bench`).
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Compare two recordings (like `perf diff`) or two results files, with a verdict per metric.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Add, list and delete dynamic probes: kprobes, kretprobes and uprobes (like `perf probe`).
    #[command(after_help = PROBE_EXAMPLES)]
    Probe(ProbeArgs),
    /// Record and analyze the kernel's slab and page allocators (like `perf kmem`).
    #[command(after_help = KMEM_EXAMPLES)]
    Kmem(KmemArgs),
    /// Explore a recording in the terminal: report, flame graph, timeline,
    /// events and header (like `perf report`'s TUI).
    #[command(after_help = TUI_EXAMPLES)]
    Tui(TuiArgs),
}

const KMEM_EXAMPLES: &str = "\
Examples:
  strobe kmem record -- ./my-program          the slab allocator's events of a command
  strobe kmem record -a -- sleep 5            of the whole system for 5 s (as perf kmem record)
  strobe kmem record --slab --page -- ./app   both allocators, the page one with call chains
  strobe kmem stat                            the slab summary of strobe.data (or perf.data)
  strobe kmem stat --caller -l 10             also the ten most fragmenting call sites
  strobe kmem stat --alloc -s bytes,hit       also every allocation pointer, by bytes
  strobe kmem stat --page --caller --json     the page allocator by call site, as JSON
  strobe kmem stat --caller --sym '^ext4_'    only allocations from ext4's call sites

Options of stat may come before or after `stat` (`strobe kmem --caller stat`
is `strobe kmem stat --caller`). Sort keys (-s): slab: frag, hit, bytes,
callsite, ptr, pingpong; page: page, callsite, bytes, hit, order, migtype, gfp.";

#[derive(Debug, Args)]
pub struct KmemArgs {
    #[command(subcommand)]
    pub action: KmemAction,
    /// The options of `stat`, given before it (as perf kmem takes them).
    #[command(flatten)]
    pub stat: KmemStatArgs,
}

#[derive(Debug, Subcommand)]
pub enum KmemAction {
    /// Record the allocators' tracepoints into a strobe file.
    Record(KmemRecordArgs),
    /// Analyze a recording: summaries, and tables per call site or pointer.
    Stat(KmemStatArgs),
}

#[derive(Debug, Args)]
pub struct KmemRecordArgs {
    /// Record the slab allocator's events (the default without --page).
    #[arg(long)]
    pub slab: bool,
    /// Record the page allocator's events (with call chains).
    #[arg(long)]
    pub page: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Ring-buffer size per CPU: pages (a power of two) or a size such as 4M.
    #[arg(
        short = 'm',
        long = "mmap-pages",
        value_name = "PAGES|SIZE",
        default_value = "4M"
    )]
    pub mmap_pages: String,
    /// Output file; an existing file is renamed to FILE.old.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "strobe.data"
    )]
    pub output: PathBuf,
    /// Compress data chunks with zstd.
    #[arg(long = "compress")]
    pub compress: bool,
    /// Print nothing but errors.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// The command to run while recording, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct KmemStatArgs {
    /// The recording to read: a strobe file or a perf.data file
    /// [default: strobe.data, else perf.data].
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Analyze the slab allocator (the default without --page).
    #[arg(long)]
    pub slab: bool,
    /// Analyze the page allocator.
    #[arg(long)]
    pub page: bool,
    /// Show the table per call site.
    #[arg(long)]
    pub caller: bool,
    /// Show the table per allocation (pointer, or page).
    #[arg(long)]
    pub alloc: bool,
    /// Sort keys (comma list); see the list below.
    #[arg(short = 's', long = "sort", value_name = "KEYS")]
    pub sort: Option<String>,
    /// Show at most N rows per table.
    #[arg(short = 'l', long = "line", value_name = "N")]
    pub lines: Option<usize>,
    /// Print JSON (schema in the book) instead of text.
    #[arg(long)]
    pub json: bool,
    /// The kernel's page size, for the page allocator's bytes [default: this machine's].
    #[arg(long = "page-size", value_name = "BYTES")]
    pub page_size: Option<u64>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

const PROBE_EXAMPLES: &str = "\
Examples:
  strobe probe do_sys_openat2 'dfd=%di:s32' 'filename=+0(%si):string'
                                      a kprobe with two arguments, as probe:do_sys_openat2
  strobe probe 'do_sys_openat2%return' '$retval'
                                      a kretprobe with the return value
  strobe probe 'my:opt=ksys_read+0x10'
                                      a probe past a function's entry, which the kernel
                                      can optimise into a jump
  strobe probe -x ./server handle_request
  strobe probe -x /lib/x86_64-linux-gnu/libc.so.6 'malloc size=$arg1'
                                      uprobes on an executable's or a library's function
  strobe probe -x ./server 'handle_request%return' '$retval'
  strobe probe --list                 every probe, with each kprobe's state (OPTIMIZED, FTRACE, ...)
  strobe probe --del 'probe:*'        delete probes by glob
  strobe probe --optimize off         turn the kprobe jump optimiser off
  strobe record -e probe:do_sys_openat2 -a -- sleep 1
                                      record a probe's hits
  strobe record -e kprobe:do_sys_openat2 -e 'uprobe:./server:handle_request' -a -- sleep 1
                                      ephemeral probes, gone when the recording ends

Definitions: [[GROUP:]EVENT=]FUNC[+OFFS|%return] [ARG...]
Arguments:   [NAME=]%REG | +OFFS(FETCH) | $retval | $argN | $stackN | $comm | @SYMBOL
             with :u8..u64, :s8..s64, :x8..x64, :string, :ustring or :symbol";

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Add the probe DEFINITION (the `--add` is optional, as in perf).
    #[arg(short = 'a', long = "add", value_name = "DEFINITION")]
    pub add: Option<String>,
    /// The probe definition, then the arguments to fetch.
    #[arg(value_name = "DEFINITION [ARG]", allow_hyphen_values = true)]
    pub words: Vec<String>,
    /// Probe this executable or shared object (uprobes) instead of the kernel.
    #[arg(short = 'x', long = "exec", value_name = "BINARY")]
    pub exec: Option<PathBuf>,
    /// List the probes, with each kernel probe's state.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
    /// Delete the probes whose GROUP:EVENT (or EVENT) matches GLOB.
    #[arg(short = 'd', long = "del", value_name = "GLOB")]
    pub del: Vec<String>,
    /// Print the definition strobe would write to tracefs, and add nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// When the event's name is taken, add it as EVENT_1 (EVENT_2, ...).
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Turn the kprobe jump optimiser on or off (/proc/sys/debug/kprobes-optimization).
    #[arg(long = "optimize", value_name = "on|off", value_parser = ["on", "off"])]
    pub optimize: Option<String>,
    /// With --list: print JSON, an array with one object per probe.
    #[arg(long)]
    pub json: bool,
    /// Check registers and write the definition for another architecture's
    /// kernel (x86_64, arm64, powerpc64); with --dry-run.
    #[arg(long = "arch", value_name = "ARCH", requires = "dry_run")]
    pub arch: Option<String>,
}

const BENCH_EXAMPLES: &str = "\
Examples:
  strobe bench sched pipe                     two tasks passing a token over pipes
  strobe bench -f simple syscall basic        just the number
  strobe bench --repeat 5 --json -o r.json sched messaging -g 4
                                              five runs, every value kept for strobe diff
  strobe bench mem memcpy -s 4KB -l 1000      copy throughput for a size
  strobe bench all                            every benchmark with its defaults
  strobe bench list                           the suites and benchmarks";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Output format: `default` (perf's layout) or `simple` (the number only).
    #[arg(
        short = 'f',
        long = "format",
        value_name = "FORMAT",
        default_value = "default"
    )]
    pub format: String,
    /// Run the benchmark N times; results files keep every run.
    #[arg(short = 'r', long = "repeat", value_name = "N", default_value_t = 1)]
    pub repeat: usize,
    /// Write a results file (JSON, schema strobe-results/1) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the output to FILE.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The suite (sched, syscall, mem, futex), `all`, or `list`.
    #[arg(value_name = "SUITE")]
    pub suite: String,
    /// The benchmark in the suite, then its own options (e.g. `pipe -l 100000`).
    #[arg(
        value_name = "BENCH",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub bench: Vec<String>,
}

const DIFF_EXAMPLES: &str = "\
Examples:
  strobe diff base.data new.data              delta of each symbol's share (perf diff)
  strobe diff -c ratio perf.data.old perf.data
  strobe diff -c wdiff:1,2 --sym '^hash' a.data b.data
  strobe diff base.json head.json             per metric: means, change, confidence, verdict
  strobe diff --format markdown base.json head.json >> $GITHUB_STEP_SUMMARY
  strobe diff --fail-on-regression 5 base.json head.json
                                              exit 1 on a significant regression over 5%

Recordings are strobe files or perf.data; results files come from
`strobe stat --json -o FILE` and `strobe bench --json -o FILE`.";

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline: a recording or a results file.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The new one, of the same kind.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Recordings: what to compute per entry: delta-abs (the delta of percentages, sorted by its
    /// absolute value, as perf diff), delta, ratio, or wdiff:WB,WA.
    #[arg(
        short = 'c',
        long = "compute",
        value_name = "COMPUTE",
        default_value = "delta-abs"
    )]
    pub compute: String,
    /// Recordings: columns to match entries by (comma list of dso, sym, comm).
    #[arg(
        short = 's',
        long = "sort",
        value_name = "KEYS",
        default_value = "dso,sym"
    )]
    pub sort: String,
    /// Output format: text, markdown or json.
    #[arg(long = "format", value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Results files: exit 1 when a metric regresses by more than PCT percent with significance.
    #[arg(long = "fail-on-regression", value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
    /// Results files: changes smaller than PCT percent count as unchanged.
    #[arg(long = "noise", value_name = "PCT", default_value_t = 2.0)]
    pub noise: f64,
    /// Results files: the confidence level of the test and interval.
    #[arg(long = "confidence", value_name = "LEVEL", default_value_t = 0.95)]
    pub confidence: f64,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// What `record` and `stat` attach to: CPUs, processes or threads (a
/// command comes after `--`).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Every task on every CPU (system-wide).
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,
    /// Only these CPUs, e.g. 0-3,6 (implies system-wide).
    #[arg(short = 'C', long = "cpu", value_name = "CPUS")]
    pub cpus: Option<String>,
    /// Existing processes (comma list), all their threads.
    #[arg(short = 'p', long = "pid", value_name = "PIDS", value_delimiter = ',')]
    pub pids: Vec<i32>,
    /// Existing threads (comma list).
    #[arg(short = 't', long = "tid", value_name = "TIDS", value_delimiter = ',')]
    pub tids: Vec<i32>,
}

impl TargetArgs {
    /// The targets, checked against the command: either tasks (`-p`,
    /// `-t`) or a command, and something to attach to. `verb` is the
    /// subcommand (`record`, `count`) for the messages. The workload's pid
    /// is filled in once it is forked.
    pub fn targets(&self, command: &[String], verb: &str) -> anyhow::Result<Targets> {
        let cpus = self.cpus.as_deref().map(CpuList::parse).transpose()?;
        let system_wide = self.all_cpus || cpus.is_some();
        let has_tasks = !self.pids.is_empty() || !self.tids.is_empty();
        if has_tasks && !command.is_empty() {
            anyhow::bail!("give either -p/-t or a command after --, not both");
        }
        if !has_tasks && command.is_empty() && !system_wide {
            anyhow::bail!(
                "nothing to {verb}: give a command after --, or -a, -C, -p or -t (see --help)"
            );
        }
        Ok(Targets {
            system_wide,
            cpus,
            pids: self.pids.clone(),
            tids: self.tids.clone(),
            workload: None,
        })
    }
}

const STAT_EXAMPLES: &str = "\
Examples:
  strobe stat -- make -j2                     the default counters for a build
  strobe stat -r 5 --json -- ./bench          five runs, mean and error, as JSON
  strobe stat -e '{cycles,instructions}:u' -- ./app
                                              a group, counted together, user space only
  strobe stat -e INST_RETIRED.ANY,cpu/event=0x3c,umask=0x1/ -- ./app
                                              a CPU table event and a raw PMU encoding
  strobe stat -a -A -I 1000 -e context-switches
                                              system-wide, per CPU, every second
  strobe stat -x, -e task-clock,page-faults -- ./app
                                              CSV in perf's column order

Without a hardware PMU (most VMs), hardware events print <not supported>.";

#[derive(Debug, Args)]
pub struct StatArgs {
    /// Events to count (repeatable, or a comma list): software, hardware and
    /// cache events, groups {a,b}, raw rNNNN, pmu/term=value,.../, CPU table
    /// events (strobe list pmu), tracepoints; modifiers :u :k :h :G :H :p :S.
    #[arg(short = 'e', long = "event", value_name = "EVENT")]
    pub events: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run the command N times and print the mean, with the relative
    /// standard error of the mean.
    #[arg(short = 'r', long = "repeat", value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Print the counts every MS milliseconds.
    #[arg(short = 'I', long = "interval-print", value_name = "MS")]
    pub interval_ms: Option<u64>,
    /// Print each CPU's counts instead of their sum (with -a or -C).
    #[arg(short = 'A', long = "no-aggr")]
    pub no_aggr: bool,
    /// CSV output with this separator, in perf's column order.
    #[arg(short = 'x', long = "field-separator", value_name = "SEP")]
    pub separator: Option<String>,
    /// Print one JSON document (schema in the book).
    #[arg(long, conflicts_with = "separator")]
    pub json: bool,
    /// Write the counts to FILE instead of standard error.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Use this CPU's event table for named events instead of the detected
    /// one (`strobe list cpus` names them).
    #[arg(long = "event-table", value_name = "NAME")]
    pub event_table: Option<String>,
    /// The command to count, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

const SCRIPT_EXAMPLES: &str = "\
Examples:
  strobe script                              every event of strobe.data (or perf.data)
  strobe script -i trace.data --comm '^cc1'  only the events of cc1 processes
  strobe script -F comm,tid,time,prev_state,next_comm
                                             chosen columns and tracepoint fields
  strobe script --json | jq .fields          one JSON object per event
  strobe script -s syscall-counts.py         run a perf Python script (perf's hooks)
  strobe script -s my.py -i perf.data -- --top 10
                                             arguments after -- go to the script's sys.argv
  strobe script -g python                    write a skeleton script for the recording's events
  strobe script -l                           list the scripts shipped with strobe

Columns for -F: comm, tid, pid, cpu, time, period, event, trace, ip, sym, dso,
and any tracepoint field by name (shown as name=value).";

#[derive(Debug, Args)]
pub struct ScriptArgs {
    /// The recording to read: a strobe file or a perf.data file
    /// [default: strobe.data, else perf.data].
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Columns to print (comma list), tracepoint field names included.
    #[arg(short = 'F', long = "fields", value_name = "COLUMNS")]
    pub fields: Option<String>,
    /// One JSON object per line (schema in the book) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run a Python script with perf's hooks (or strobe's API) over the
    /// events; a name without a slash may be one of the shipped scripts.
    #[arg(short = 's', long = "script", value_name = "SCRIPT")]
    pub script: Option<PathBuf>,
    /// Arguments for the script (its sys.argv after its name).
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub script_args: Vec<String>,
    /// Write a skeleton script for the recording's events (`python`).
    #[arg(short = 'g', long = "gen-script", value_name = "LANG")]
    pub gen_script: Option<String>,
    /// List the scripts shipped with strobe.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

const TRACE_EXAMPLES: &str = "\
Examples:
  strobe trace -e sched:sched_switch -- ./pingpong   context switches of a command
  strobe trace -e 'syscalls:sys_enter_*' -a -- sleep 5
                                                     every syscall entry, system-wide
  strobe trace -e raw_syscalls:sys_enter --filter 'id == 39' -p 1234
  strobe trace --func 'vfs_*' -- cat /etc/hostname   function entries, with the caller
  strobe trace --graph --func vfs_read -- cat FILE   entries and exits, with durations
  strobe trace --live -e sched:sched_wakeup -a       print events as they happen

strobe trace records into an instance of its own under tracefs/instances and
removes it at the end, so the global tracing state is never touched.";

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Tracepoint to enable, SYSTEM:EVENT with globs (repeatable, or a comma list).
    #[arg(short = 'e', long = "event", value_name = "EVENT")]
    pub events: Vec<String>,
    /// Kernel filter for the tracepoints of the preceding -e.
    #[arg(long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Each -e list with its --filter (filled from the parsed matches).
    #[arg(skip)]
    pub event_lists: Vec<(String, Option<String>)>,
    /// Run the function tracer on the functions matching GLOB (repeatable).
    #[arg(long = "func", value_name = "GLOB")]
    pub func: Vec<String>,
    /// Never trace the functions matching GLOB (repeatable).
    #[arg(long = "notrace", value_name = "GLOB")]
    pub notrace: Vec<String>,
    /// The function_graph tracer: entries and exits with durations.
    #[arg(long = "graph")]
    pub graph: bool,
    /// Trace every task on every CPU (the default without a command or -p).
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,
    /// Trace only these CPUs, e.g. 0-3,6.
    #[arg(short = 'C', long = "cpu", value_name = "CPUS")]
    pub cpus: Option<String>,
    /// Trace these processes (comma list) and their children.
    #[arg(short = 'p', long = "pid", value_name = "PIDS", value_delimiter = ',')]
    pub pids: Vec<i32>,
    /// Ring buffer per CPU, e.g. 4M (tracefs buffer_size_kb) [default: the kernel's].
    #[arg(short = 'b', long = "buffer-size", value_name = "SIZE")]
    pub buffer_size: Option<String>,
    /// Sub-buffer (page) size of the ring buffer, e.g. 8K, up to 128 pages
    /// (tracefs buffer_subbuf_size_kb, Linux 6.8 and later) [default: one page].
    /// Larger sub-buffers hold larger events and cost fewer page swaps.
    #[arg(long = "subbuf-size", value_name = "SIZE")]
    pub subbuf_size: Option<String>,
    /// Output file; an existing file is renamed to FILE.old.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "strobe.data"
    )]
    pub output: PathBuf,
    /// Print events as they happen instead of writing a file.
    #[arg(long)]
    pub live: bool,
    /// The trace clock [default: local, the cheapest, as trace-cmd's]: mono
    /// for CLOCK_MONOTONIC, the clock of strobe record, so that times line
    /// up with its recordings; or any clock tracefs trace_clock lists.
    #[arg(long, value_name = "CLOCK")]
    pub clock: Option<String>,
    /// Compress page chunks with zstd.
    #[arg(long = "compress")]
    pub compress: bool,
    /// Print nothing but errors (no closing line).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// The command to trace, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

const LIST_EXAMPLES: &str = "\
Examples:
  strobe list                     everything
  strobe list sw                  software events (hw, tracepoint, probe likewise)
  strobe list 'sched:*'           tracepoints matching a glob
  strobe list 'sys_enter_(read|write)$'
                                  or a regular expression
  strobe list tracepoint --json";

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Event classes (sw, hw, cache, tracepoint, probe) and/or a glob or regular
    /// expression on the names.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Print JSON: an array with one object per event.
    #[arg(long)]
    pub json: bool,
    /// With `pmu`: show this CPU's event table instead of the detected one
    /// (`strobe list cpus` names them).
    #[arg(long = "cpu", value_name = "NAME")]
    pub cpu: Option<String>,
}

const REPORT_EXAMPLES: &str = "\
Examples:
  strobe report                         the hottest commands, shared objects and symbols of strobe.data
  strobe report -i run.data --sort sym  by symbol only
  strobe report --sort comm,pid -n      by process, with sample counts
  strobe report --comm '^postgres' --sym 'hash|sort' --time 2,5
                                        only postgres samples in hashing or sorting, 2 s to 5 s in
  strobe report --no-children --json    Self only, as JSON
  strobe report --flamegraph flame.svg  also draw a flame graph (open it in a browser)";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The recording to read: a strobe file or a perf.data file
    /// [default: strobe.data, else perf.data].
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Columns to group samples by: comm, pid, tid, dso, sym, srcline, cpu (comma list).
    #[arg(
        short = 's',
        long = "sort",
        value_name = "KEYS",
        default_value = "comm,dso,sym"
    )]
    pub sort: String,
    /// Show the number of samples of each row.
    #[arg(short = 'n', long = "show-nr-samples")]
    pub show_samples: bool,
    /// Plain text output, also on a terminal.
    #[arg(long, overrides_with = "tui")]
    pub stdio: bool,
    /// The interactive interface (`strobe tui`): the default when standard
    /// output is a terminal and no filter, --json or --flamegraph is given.
    #[arg(long, conflicts_with_all = ["json", "flamegraph"])]
    pub tui: bool,
    /// Hide rows below this percentage.
    #[arg(long = "percent-limit", value_name = "PCT", default_value_t = 0.0)]
    pub percent_limit: f64,
    /// With call chains, show Children (time in a function and its callees)
    /// beside Self; the default when the recording has call chains.
    #[arg(long, overrides_with = "no_children")]
    pub children: bool,
    /// Show only Self, even when the recording has call chains.
    #[arg(long = "no-children")]
    pub no_children: bool,
    /// Call-graph trees under each row: ORDER[,MIN_PERCENT], ORDER being
    /// callee (from the sampled function out to its callers) or caller, or
    /// `none`. Text output shows them by default when the recording has call
    /// chains (callee,0.5), as perf does; JSON only when asked.
    #[arg(short = 'g', long = "call-graph", value_name = "ORDER[,MIN]", num_args = 0..=1, default_missing_value = "callee")]
    pub call_graph: Option<String>,
    /// Print JSON (schema in the book) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write a flame graph of the samples (after filters) to FILE, as SVG.
    #[arg(long, value_name = "FILE")]
    pub flamegraph: Option<PathBuf>,
    /// With filters: percentages of all samples (absolute, as perf) or of
    /// the samples that passed (relative).
    #[arg(long, value_name = "absolute|relative", default_value = "absolute", value_parser = ["absolute", "relative"])]
    pub percentage: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

impl KmemStatArgs {
    /// These options (given after `stat`) with those given before it: a
    /// flag set in either place is set, a value given after `stat` wins.
    pub fn merged_with(self, before: KmemStatArgs) -> KmemStatArgs {
        let (f, b) = (self.filter, before.filter);
        KmemStatArgs {
            input: self.input.or(before.input),
            slab: self.slab || before.slab,
            page: self.page || before.page,
            caller: self.caller || before.caller,
            alloc: self.alloc || before.alloc,
            sort: self.sort.or(before.sort),
            lines: self.lines.or(before.lines),
            json: self.json || before.json,
            page_size: self.page_size.or(before.page_size),
            filter: FilterArgs {
                comm: f.comm.or(b.comm),
                dso: f.dso.or(b.dso),
                sym: f.sym.or(b.sym),
                pids: f.pids.or(b.pids),
                tids: f.tids.or(b.tids),
                cpus: f.cpus.or(b.cpus),
                time: f.time.or(b.time),
            },
        }
    }
}

/// The sample filters every analyzer command takes.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only samples whose command name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub comm: Option<String>,
    /// Only samples in shared objects matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub dso: Option<String>,
    /// Only samples in symbols matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub sym: Option<String>,
    /// Only these processes (comma list).
    #[arg(long = "pid", value_name = "PIDS")]
    pub pids: Option<String>,
    /// Only these threads (comma list).
    #[arg(long = "tid", value_name = "TIDS")]
    pub tids: Option<String>,
    /// Only these CPUs (e.g. 0-3,6).
    #[arg(long = "cpu", value_name = "CPUS")]
    pub cpus: Option<String>,
    /// Only samples in this window, in seconds from the first sample: START,END (either may be empty).
    #[arg(long, value_name = "START,END")]
    pub time: Option<String>,
}

impl FilterArgs {
    /// The library's view of these options.
    pub fn spec(&self) -> strobe_analyze::filter::FilterSpec {
        strobe_analyze::filter::FilterSpec {
            comm: self.comm.clone(),
            dso: self.dso.clone(),
            sym: self.sym.clone(),
            pids: self.pids.clone(),
            tids: self.tids.clone(),
            cpus: self.cpus.clone(),
            time: self.time.clone(),
        }
    }
}

const RECORD_EXAMPLES: &str = "\
Examples:
  strobe record -g -- ./my-program arg      profile a command, with call chains
  strobe record -a -g -- sleep 10           the whole system for ten seconds
  strobe record -p 1234                     attach to a running process until it exits or Ctrl-C
  strobe record -e page-faults:u -c 1 -- make   every user-space page fault of a build
  strobe record -a --ring 64M               flight recorder: keep the newest 64 MiB;
                                            kill -USR2 writes a finished copy, strobe.data.N

Events (-e NAME[:u|:k]):
  software: cpu-clock, task-clock, page-faults (faults), minor-faults, major-faults,
            context-switches (cs), cpu-migrations (migrations), alignment-faults,
            emulation-faults, dummy
  hardware: cycles (cpu-cycles), instructions, cache-references, cache-misses,
            branches (branch-instructions), branch-misses, bus-cycles, ref-cycles,
            stalled-cycles-frontend (idle-cycles-frontend),
            stalled-cycles-backend (idle-cycles-backend)
  cache:    L1-dcache-loads, L1-dcache-load-misses, LLC-loads, LLC-load-misses,
            dTLB-load-misses, iTLB-load-misses, branch-load-misses, ... (strobe list cache)
  tracepoints: SYSTEM:EVENT, globs allowed (strobe list tracepoint)
  The default is cycles; without a hardware PMU strobe samples cpu-clock and says so.";

const INFO_EXAMPLES: &str = "\
Examples:
  strobe info                  describe strobe.data
  strobe info -i run.data --json";

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Event to sample (repeatable, or a comma list): cpu-clock, page-faults,
    /// cycles:pp, raw rNNNN, pmu/term=value,.../, CPU table events (strobe list
    /// pmu), or tracepoints as SYSTEM:EVENT with globs (sched:*, syscalls:sys_enter_*)
    #[arg(short = 'e', long = "event", value_name = "EVENT")]
    pub events: Vec<String>,
    /// Kernel filter for the tracepoints of the preceding -e, e.g. 'prev_pid == 1 && next_comm ~ "cc*"'
    #[arg(long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Each -e list with the --filter that follows it, in command-line order
    /// (filled from the parsed matches, since a filter belongs to the -e before it).
    #[arg(skip)]
    pub event_lists: Vec<(String, Option<String>)>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Samples per second.
    #[arg(
        short = 'F',
        long = "freq",
        value_name = "HZ",
        default_value_t = 4000,
        conflicts_with = "period"
    )]
    pub freq: u64,
    /// Sample once every N events instead of at a frequency.
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub period: Option<u64>,
    /// Record call chains (frame pointers, kernel and user).
    #[arg(short = 'g')]
    pub call_graph: bool,
    /// Call-graph method; only `fp` (frame pointers) is supported so far.
    #[arg(long = "call-graph", value_name = "fp")]
    pub call_graph_mode: Option<String>,
    /// Ring-buffer size per CPU: pages (a power of two) or a size such as 512K, 2M.
    #[arg(short = 'm', long = "mmap-pages", value_name = "PAGES|SIZE")]
    pub mmap_pages: Option<String>,
    /// Output file; an existing file is renamed to FILE.old.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "strobe.data"
    )]
    pub output: PathBuf,
    /// Flight-recorder mode: keep at most SIZE bytes (e.g. 64M), newest data overwriting oldest.
    #[arg(long = "ring", value_name = "SIZE")]
    pub ring: Option<String>,
    /// Compress data chunks with zstd.
    #[arg(long = "compress")]
    pub compress: bool,
    /// Keep the whole kallsyms table (about 1 MiB compressed), not only the
    /// kernel symbols the samples need.
    #[arg(long = "full-kallsyms")]
    pub full_kallsyms: bool,
    /// Print nothing but errors (no notices, no closing line).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Use this CPU's event table for named events instead of the detected
    /// one (`strobe list cpus` names them).
    #[arg(long = "event-table", value_name = "NAME")]
    pub event_table: Option<String>,
    /// The command to profile, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The file to describe.
    #[arg(
        short = 'i',
        long = "input",
        value_name = "FILE",
        default_value = "strobe.data"
    )]
    pub input: PathBuf,
    /// The file to describe (instead of -i).
    #[arg(value_name = "FILE", conflicts_with = "input")]
    pub file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn record_parses_perf_style_flags() {
        let cli = Cli::try_parse_from([
            "strobe",
            "record",
            "-a",
            "-g",
            "-F",
            "999",
            "-e",
            "cpu-clock,page-faults",
            "-o",
            "x.data",
            "--",
            "sleep",
            "1",
        ])
        .unwrap();
        let Command::Record(args) = cli.command else {
            panic!("not record")
        };
        assert!(args.target.all_cpus && args.call_graph);
        assert_eq!(args.freq, 999);
        assert_eq!(args.command, ["sleep", "1"]);
        assert_eq!(args.output, PathBuf::from("x.data"));
    }

    fn kmem_stat(args: &[&str]) -> KmemStatArgs {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Kmem(kmem) = cli.command else {
            panic!("not kmem")
        };
        let KmemAction::Stat(stat) = kmem.action else {
            panic!("not stat")
        };
        stat.merged_with(kmem.stat)
    }

    #[test]
    fn kmem_stat_options_before_and_after_stat_are_the_same() {
        let after = kmem_stat(&[
            "strobe", "kmem", "stat", "--caller", "--page", "-s", "hit", "-l", "5", "--sym", "ext4",
        ]);
        let before = kmem_stat(&[
            "strobe", "kmem", "--caller", "--page", "-s", "hit", "-l", "5", "--sym", "ext4", "stat",
        ]);
        let split = kmem_stat(&[
            "strobe", "kmem", "--caller", "-l", "5", "stat", "--page", "-s", "hit", "--sym", "ext4",
        ]);
        for args in [&before, &split] {
            assert_eq!(format!("{args:?}"), format!("{after:?}"));
        }
        assert!(after.caller && after.page && !after.alloc);
        assert_eq!(after.lines, Some(5));
    }

    #[test]
    fn freq_and_count_conflict() {
        assert!(Cli::try_parse_from(["strobe", "record", "-F", "10", "-c", "5"]).is_err());
    }
}

const TUI_EXAMPLES: &str = "\
Examples:
  strobe tui                    explore strobe.data (or perf.data)
  strobe tui run.data           another recording
  strobe report --tui -i perf.data
Keys: 1-5 switch views, / filters, Enter opens call chains, ? shows them all, q quits.";

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// The recording: a strobe file or a perf.data file
    /// [default: strobe.data, else perf.data].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The recording (instead of FILE).
    #[arg(
        short = 'i',
        long = "input",
        value_name = "FILE",
        conflicts_with = "file"
    )]
    pub input: Option<PathBuf>,
    /// Load the file, then time the first screen and a sequence of keys
    /// drawn off-screen, and print the times (a benchmark).
    #[arg(long, hide = true)]
    pub bench_keys: bool,
    /// Panic once the file is loaded (tests check the terminal is restored).
    #[arg(long, hide = true)]
    pub test_panic: bool,
}
