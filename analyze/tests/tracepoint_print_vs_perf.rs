//! strobe's tracepoint text against `perf script`'s, on the same perf.data.
//!
//! `perf record` traces the sched, raw_syscalls, kmem, irq, timer and signal
//! tracepoints machine-wide around a small shell workload; `perf script -F
//! cpu,time,event,trace` prints each sample's text through libtraceevent.
//! The test reads the same samples with `linux-perf-data`, formats each raw
//! payload with the format of its tracepoint read from this machine's
//! tracefs (by the attribute's `config`, the tracepoint id), and requires
//! every line to equal perf's, whitespace runs aside. `%pS` resolves
//! through /proc/kallsyms, as perf does for a perf.data without kallsyms.
//!
//! Needs root and perf. Under CI=true it never skips.

use linux_perf_data::{PerfFileReader, PerfFileRecord};
use linux_perf_event_reader::{EventRecord, PerfEventType};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use strobe_analyze::symbols::SymbolTable;
use strobe_probe::tracefs::format::{KernelSymbolizer, TracepointFormat};

#[path = "../../probe/tests/support/mod.rs"]
mod support;
use support::{in_ci, tracefs};

const SYSTEMS: [&str; 6] = ["sched", "raw_syscalls", "kmem", "irq", "timer", "signal"];

/// Whether the test may run: it needs root and perf. Under CI=true a
/// missing privilege or tool is a failure, never a skip.
fn may_run(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let perf = Command::new("perf").arg("version").output().is_ok();
    let missing = match (root, perf) {
        (true, true) => return true,
        (false, _) => "root",
        (true, false) => "perf",
    };
    assert!(
        !in_ci(),
        "{test} needs {missing}, and CI=true forbids skipping"
    );
    eprintln!("skipping {test}: needs {missing}");
    false
}

/// Recordings see the whole machine, so the tests here run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// perf without libtraceevent plugins, which would replace the print fmt
/// of some events (sched_switch, kmalloc, hrtimer) with their own text.
fn perf() -> Command {
    let mut command = Command::new("perf");
    command.env_remove("TRACEEVENT_PLUGIN_DIR");
    command
}

/// `perf record`; perf 6.1 here now and then aborts in its build-id code
/// after recording, and one retry covers that.
fn perf_record(args: &[&str], dir: &Path) -> Output {
    let attempt = || {
        perf()
            .args(["record", "--no-buildid"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run perf record")
    };
    let out = attempt();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("build-id") {
        return attempt();
    }
    out
}

/// The formats of the traced systems, by tracepoint id.
fn formats(events: &Path, systems: &[&str]) -> HashMap<u64, TracepointFormat> {
    let mut formats = HashMap::new();
    for &system in systems {
        let dir = events.join(system);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path().join("format");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let format = TracepointFormat::parse(system, &text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            formats.insert(u64::from(format.id), format);
        }
    }
    formats
}

/// Kernel symbols from /proc/kallsyms, chosen among aliases as perf
/// chooses, and kernel strings from tracefs's printk_formats, which perf
/// stores in perf.data's tracing data.
struct HostKernel {
    symbols: SymbolTable,
    strings: HashMap<u64, String>,
}

impl HostKernel {
    fn load() -> Self {
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("read /proc/kallsyms");
        let mut symbols = Vec::new();
        for line in kallsyms.lines() {
            let mut parts = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            match u64::from_str_radix(addr, 16) {
                Ok(0) | Err(_) => continue,
                Ok(addr) => symbols.push((addr, 0, name.to_string())),
            }
        }
        // Of aliases at one address perf shows the last in kallsyms order;
        // the table keeps the first of equal starts after a stable sort.
        symbols.reverse();
        symbols.sort_by_key(|s| s.0);
        let mut strings = HashMap::new();
        let printk = tracefs().join("printk_formats");
        for line in std::fs::read_to_string(printk).unwrap_or_default().lines() {
            // `0xffffffff82a1b2c3 : "text\n"`, quotes and final `\n` dropped
            // as libtraceevent drops them.
            let Some((addr, text)) = line.split_once(':') else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr.trim().trim_start_matches("0x"), 16) else {
                continue;
            };
            let text = text.strip_prefix(' ').unwrap_or(text);
            let text = text.strip_prefix('"').unwrap_or(text);
            let text = text.strip_suffix('"').unwrap_or(text);
            let text = text.strip_suffix("\\n").unwrap_or(text);
            strings.insert(addr, text.to_string());
        }
        HostKernel {
            symbols: SymbolTable::new(symbols),
            strings,
        }
    }
}

impl KernelSymbolizer for HostKernel {
    fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
        self.symbols.lookup(addr)
    }

    fn printk_string(&self, addr: u64) -> Option<&str> {
        self.strings.get(&addr).map(String::as_str)
    }
}

/// A sample's identity in both outputs: CPU, time in ns, event name.
type Key = (u32, u64, String);

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses `[CPU] SECS.NSECS: SYSTEM:EVENT: TEXT` lines; a line that does not
/// start like that continues the previous sample's text.
fn parse_perf_script(output: &str) -> BTreeMap<Key, Vec<String>> {
    let mut lines: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut last: Option<Key> = None;
    for line in output.lines() {
        let parsed = (|| {
            let rest = line.trim_start().strip_prefix('[')?;
            let (cpu, rest) = rest.split_once(']')?;
            let rest = rest.trim_start();
            let (time, rest) = rest.split_once(": ")?;
            let (secs, nsecs) = time.split_once('.')?;
            let time = secs.parse::<u64>().ok()? * 1_000_000_000 + nsecs.parse::<u64>().ok()?;
            let rest = rest.trim_start();
            let (event, text) = rest
                .split_once(": ")
                .unwrap_or((rest.trim_end_matches(':'), ""));
            Some((
                (cpu.parse().ok()?, time, event.to_string()),
                text.to_string(),
            ))
        })();
        match parsed {
            Some((key, text)) => {
                lines.entry(key.clone()).or_default().push(text);
                last = Some(key);
            }
            None => {
                if let Some(text) = last
                    .as_ref()
                    .and_then(|k| lines.get_mut(k))
                    .and_then(|v| v.last_mut())
                {
                    text.push('\n');
                    text.push_str(line);
                }
            }
        }
    }
    lines
}

/// Records `systems` machine-wide around `workload` (run by `sh -c` in
/// the test's directory), leaving out perf's own events if `exclude_perf`,
/// and compares strobe's text of every sample with perf script's.
/// Fails with a report of the event types that differ.
fn compare_with_perf_script(test: &str, systems: &[&str], exclude_perf: bool, workload: &str) {
    let _serial = serial();
    let events = tracefs().join("events");
    let formats = formats(&events, systems);
    let dir = scratch(test);
    let data = dir.join("perf.data");
    let data_arg = data.to_str().unwrap();
    let mut args = Vec::new();
    for system in systems {
        args.push("-e".to_string());
        args.push(format!("{system}:*"));
        if exclude_perf {
            // It filters only the `-e` before it.
            args.push("--exclude-perf".to_string());
        }
    }
    args.extend(
        [
            "--sample-cpu",
            "-T",
            "-a",
            "-o",
            data_arg,
            "--",
            "sh",
            "-c",
            workload,
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = perf_record(&args, &dir);
    assert!(
        out.status.success(),
        "perf record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let script = perf()
        .args([
            "script",
            "-i",
            data_arg,
            "--ns",
            "-F",
            "cpu,time,event,trace",
        ])
        .output()
        .expect("run perf script");
    assert!(
        script.status.success(),
        "perf script failed: {}",
        String::from_utf8_lossy(&script.stderr)
    );
    let expected = parse_perf_script(&String::from_utf8_lossy(&script.stdout));

    let kernel = HostKernel::load();
    let bytes = std::fs::read(&data).expect("read perf.data");
    let PerfFileReader {
        mut perf_file,
        mut record_iter,
    } = PerfFileReader::parse_file(std::io::Cursor::new(&bytes[..])).expect("parse perf.data");
    let attr_ids: Vec<Option<u64>> = perf_file
        .event_attributes()
        .iter()
        .map(|a| match a.attr.type_ {
            PerfEventType::Tracepoint(id) => Some(id),
            _ => None,
        })
        .collect();
    let mut ours: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut unknown_ids = BTreeMap::new();
    while let Some(record) = record_iter
        .next_record(&mut perf_file)
        .expect("read a record")
    {
        let PerfFileRecord::EventRecord { attr_index, record } = record else {
            continue;
        };
        let Some(Some(id)) = attr_ids.get(attr_index) else {
            continue;
        };
        let Ok(EventRecord::Sample(sample)) = record.parse() else {
            continue;
        };
        let (Some(raw), Some(cpu), Some(time)) = (sample.raw, sample.cpu, sample.timestamp) else {
            panic!("a tracepoint sample without raw data, CPU or time");
        };
        let Some(format) = formats.get(id) else {
            *unknown_ids.entry(*id).or_insert(0) += 1;
            continue;
        };
        let raw = raw.as_slice();
        let key = (cpu, time, format!("{}:{}", format.system, format.name));
        ours.entry(key)
            .or_default()
            .push(format.format_event(&raw, &kernel));
    }
    assert!(
        unknown_ids.is_empty(),
        "samples of ids with no format: {unknown_ids:?}"
    );

    // Compare per sample; per event type, count and keep a few examples.
    #[derive(Default)]
    struct Tally {
        samples: usize,
        mismatches: usize,
        examples: Vec<String>,
    }
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut missing_in_perf = 0;
    for (key, mut texts) in ours {
        let t = tally.entry(key.2.clone()).or_default();
        t.samples += texts.len();
        let Some(perf_texts) = expected.get(&key) else {
            missing_in_perf += texts.len();
            continue;
        };
        let mut perf_texts: Vec<String> = perf_texts.iter().map(|s| normalize(s)).collect();
        texts.iter_mut().for_each(|s| *s = normalize(s));
        perf_texts.sort();
        texts.sort();
        if perf_texts != texts {
            t.mismatches += texts.len();
            if t.examples.len() < 3 {
                t.examples.push(format!(
                    "  at {}.{:09} cpu {}\n    perf:   {:?}\n    strobe: {:?}",
                    key.1 / 1_000_000_000,
                    key.1 % 1_000_000_000,
                    key.0,
                    perf_texts,
                    texts
                ));
            }
        }
    }
    let total: usize = tally.values().map(|t| t.samples).sum();
    let mismatched: usize = tally.values().map(|t| t.mismatches).sum();
    eprintln!(
        "{total} samples of {} event types compared with perf script",
        tally.len()
    );
    let mut report = String::new();
    for (event, t) in &tally {
        eprintln!("  {event}: {} samples, {} differ", t.samples, t.mismatches);
        if t.mismatches > 0 {
            report.push_str(&format!(
                "{event}: {} of {} differ\n",
                t.mismatches, t.samples
            ));
            for example in &t.examples {
                report.push_str(example);
                report.push('\n');
            }
        }
    }
    assert!(total > 1000, "only {total} samples were recorded");
    let perf_total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(
        perf_total, total,
        "perf script printed {perf_total} tracepoint samples, strobe read {total}"
    );
    assert_eq!(
        missing_in_perf, 0,
        "{missing_in_perf} samples read from perf.data are not in perf script's output"
    );
    assert!(
        mismatched == 0,
        "strobe's text differs from perf's:\n{report}"
    );
}

#[test]
fn tracepoint_text_matches_perf_script() {
    const TEST: &str = "tracepoint_text_matches_perf_script";
    if !may_run(TEST) {
        return;
    }
    // A workload that forks, execs, sleeps, takes a signal, allocates and
    // does I/O, so that every traced system has events.
    let workload = "trap 'true' USR1; for i in 1 2 3; do ls -la / >/dev/null; done; \
                    sleep 0.05; kill -USR1 $$; \
                    dd if=/dev/zero of=/dev/null bs=64k count=200 2>/dev/null; \
                    cat /proc/self/status >/dev/null; sleep 0.02";
    compare_with_perf_script(TEST, &SYSTEMS, false, workload);
}

/// Subsystems with richer print fmts: `__get_str`, dynamic arrays, `%pS`
/// on work functions, device numbers, GFP and inode flags, socket
/// addresses, every syscall's own format, and maple_tree's format strings
/// with a literal tab in them.
#[test]
fn more_tracepoint_systems_match_perf_script() {
    const TEST: &str = "more_tracepoint_systems_match_perf_script";
    if !may_run(TEST) {
        return;
    }
    let systems = [
        "syscalls",
        "workqueue",
        "writeback",
        "block",
        "ext4",
        "jbd2",
        "filemap",
        "pagemap",
        "vmscan",
        "compaction",
        "migrate",
        "mmap",
        "net",
        "skb",
        "sock",
        "tcp",
        "udp",
        "napi",
        "qdisc",
        "neigh",
        "fib",
        "rcu",
        "task",
        "power",
        "ipi",
        "x86_fpu",
        "exceptions",
        "tlb",
        "cgroup",
        "iomap",
        "readahead",
        "filelock",
        "percpu",
        "rseq",
        "vmalloc",
        "memcg",
        "alarmtimer",
        "huge_memory",
        "csd",
        "cpuhp",
        "printk",
        "oom",
        "maple_tree",
    ];
    // Files written and synced on the test's directory's file system, a
    // TCP connection over loopback, a few processes and a lock.
    let workload = "for i in 1 2 3 4; do dd if=/dev/urandom of=f$i bs=64k count=4 conv=fsync 2>/dev/null; done; \
                    cat f1 f2 >/dev/null; flock f3 true; rm -f f1 f2 f3 f4; sync; \
                    python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); \
                    c=socket.create_connection(s.getsockname()); a,_=s.accept(); c.sendall(b\"x\"*65536); \
                    a.recv(65536); c.close(); a.close()' 2>/dev/null; \
                    ls -R /proc/sys/kernel >/dev/null 2>&1; sleep 0.05";
    // perf's own writes of its output would be most of the samples.
    compare_with_perf_script(TEST, &systems, true, workload);
}
