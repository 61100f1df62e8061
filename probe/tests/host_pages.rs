//! Decodes real ftrace sub-buffers read from `trace_pipe_raw` of a private
//! tracefs instance, and checks them against the instance's `trace` file.
//!
//! These tests need root (tracefs is root-only). Under CI=true they never
//! skip: a missing privilege or kernel feature is a failure. They use only
//! trace events, which work under kernel lockdown, not the function tracer.

use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use strobe_probe::tracefs::page::{Missed, Page, PageLayout};

mod support;
use support::{have_root, in_ci, tracefs};

/// The events the instance records, as `system/event`.
const EVENTS: [&str; 2] = ["sched/sched_switch", "raw_syscalls/sys_enter"];

/// The instances share the machine's syscalls and CPUs; one at a time keeps
/// each test's buffer to itself and its workload.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tracefs instance, removed when dropped, even when the test panics.
struct Instance {
    path: PathBuf,
}

impl Instance {
    fn create(name: &str) -> Instance {
        let path = tracefs().join("instances").join(name);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Instance { path }
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.path.join(file);
        fs::write(&path, value)
            .unwrap_or_else(|e| panic!("write {value:?} to {}: {e}", path.display()));
    }

    fn read(&self, file: &str) -> String {
        let path = self.path.join(file);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Reads a file the kernel serves to one read() only, as it does
    /// `events/header_page`: `fs::read_to_string` would get its first 32
    /// bytes and then end of file.
    fn read_in_one_call(&self, file: &str) -> String {
        let path = self.path.join(file);
        let mut buffer = vec![0u8; 64 * 1024];
        let len = fs::File::open(&path)
            .and_then(|mut f| f.read(&mut buffer))
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        buffer.truncate(len);
        String::from_utf8(buffer).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn has(&self, file: &str) -> bool {
        self.path.join(file).exists()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Best effort: the instance must go whatever state the test left it
        // in, and a second panic here would abort the test binary.
        let _ = fs::write(self.path.join("tracing_on"), "0");
        let _ = fs::write(self.path.join("events/enable"), "0");
        for _ in 0..50 {
            match fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == ErrorKind::NotFound => return,
                // EBUSY while the kernel still holds a reader of the buffer.
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        eprintln!("could not remove {}", self.path.display());
    }
}

struct Scenario {
    /// Part of the instance name, to tell the tests' instances apart.
    tag: &'static str,
    buffer_kb: u32,
    subbuf_kb: Option<u32>,
    /// How many short processes the workload starts.
    spawns: usize,
}

#[derive(Debug, Default)]
struct Outcome {
    sub_buffer_size: usize,
    pages: usize,
    decoded: usize,
    pages_with_missed: usize,
    trace_lines: usize,
    trace_lost_lines: usize,
}

/// Syscalls and context switches: short processes, and short sleeps.
fn workload(spawns: usize) {
    for _ in 0..spawns {
        let status = Command::new("true").status().expect("run true");
        assert!(status.success());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Events the `trace` file shows, and its `[LOST n EVENTS]` lines.
fn count_trace_lines(trace: &str) -> (usize, usize) {
    let mut events = 0;
    let mut lost = 0;
    for line in trace.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains("[LOST ") {
            lost += 1;
        } else {
            events += 1;
        }
    }
    (events, lost)
}

fn run(scenario: &Scenario) -> Outcome {
    let instance = Instance::create(&format!(
        "strobe-pagetest-{}-{}",
        std::process::id(),
        scenario.tag
    ));
    instance.write("tracing_on", "0");
    instance.write("buffer_size_kb", &scenario.buffer_kb.to_string());
    if let Some(kb) = scenario.subbuf_kb {
        instance.write("buffer_subbuf_size_kb", &kb.to_string());
    }
    let mut ids = Vec::new();
    for event in EVENTS {
        let id = instance.read(&format!("events/{event}/id"));
        ids.push(
            id.trim()
                .parse::<u16>()
                .unwrap_or_else(|_| panic!("events/{event}/id is not a number: {id:?}")),
        );
        instance.write(&format!("events/{event}/enable"), "1");
    }

    instance.write("tracing_on", "1");
    workload(scenario.spawns);
    instance.write("tracing_on", "0");

    // `trace` reads without consuming, so it must come before
    // trace_pipe_raw, which does.
    let (trace_lines, trace_lost_lines) = count_trace_lines(&instance.read("trace"));

    let layout = PageLayout::parse(&instance.read_in_one_call("events/header_page")).unwrap();
    let sub_buffer_size = if instance.has("buffer_subbuf_size_kb") {
        let kb = instance.read("buffer_subbuf_size_kb");
        kb.trim().parse::<usize>().expect("buffer_subbuf_size_kb") * 1024
    } else {
        // SAFETY: sysconf has no preconditions.
        unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
    };
    if let Some(kb) = scenario.subbuf_kb {
        assert_eq!(sub_buffer_size, kb as usize * 1024, "buffer_subbuf_size_kb");
    }

    let mut outcome = Outcome {
        sub_buffer_size,
        trace_lines,
        trace_lost_lines,
        ..Outcome::default()
    };
    let mut cpus: Vec<PathBuf> = fs::read_dir(instance.path.join("per_cpu"))
        .expect("read per_cpu")
        .map(|entry| entry.expect("per_cpu entry").path())
        .collect();
    cpus.sort();
    // The buffer holds at most buffer_kb per CPU; anything beyond means the
    // reads never end, which must fail rather than hang.
    let max_pages = (scenario.buffer_kb as usize * 1024 / sub_buffer_size + 8) * 4;
    for cpu in &cpus {
        let path = cpu.join("trace_pipe_raw");
        let mut file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut buffer = vec![0u8; sub_buffer_size];
        let mut last_ts = 0u64;
        for index in 0.. {
            assert!(index < max_pages, "{} never ran dry", path.display());
            let len = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(len) => len,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read {}: {e}", path.display()),
            };
            assert_eq!(len, sub_buffer_size, "a read returns one whole sub-buffer");
            let where_ = format!("{} page {index}", path.display());
            let page =
                Page::parse(&layout, &buffer[..len]).unwrap_or_else(|e| panic!("{where_}: {e}"));
            outcome.pages += 1;
            if page.missed_events() != Missed::None {
                outcome.pages_with_missed += 1;
            }
            assert!(
                page.timestamp() >= last_ts,
                "{where_}: page time went backwards"
            );
            for event in page.events() {
                let event = event.unwrap_or_else(|e| panic!("{where_}: {e}"));
                assert!(
                    event.timestamp >= last_ts,
                    "{where_}: time went backwards from {last_ts} to {}",
                    event.timestamp
                );
                last_ts = event.timestamp;
                let common_type = u16::from_ne_bytes([event.payload[0], event.payload[1]]);
                assert!(
                    ids.contains(&common_type),
                    "{where_}: common_type {common_type} is none of {ids:?}"
                );
                outcome.decoded += 1;
            }
        }
    }
    eprintln!("{}: {outcome:?}", scenario.tag);
    outcome
}

#[test]
fn root_instance_pages_decode_like_the_trace_file() {
    if !have_root("root_instance_pages_decode_like_the_trace_file") {
        return;
    }
    let _serial = serial();
    let outcome = run(&Scenario {
        tag: "default",
        buffer_kb: 4096,
        subbuf_kb: None,
        spawns: 5,
    });
    assert!(outcome.decoded > 0, "the workload made no events");
    if outcome.pages_with_missed == 0 && outcome.trace_lost_lines == 0 {
        assert_eq!(outcome.decoded, outcome.trace_lines);
    } else {
        // Lost events are a busy machine's doing, not the decoder's; the
        // counts should then still be close.
        let slack = outcome.trace_lines / 100 + 10;
        assert!(
            outcome.decoded.abs_diff(outcome.trace_lines) <= slack,
            "{outcome:?}"
        );
    }
}

#[test]
fn root_linux_6_8_8k_sub_buffers_decode_like_the_trace_file() {
    let test = "root_linux_6_8_8k_sub_buffers_decode_like_the_trace_file";
    if !have_root(test) {
        return;
    }
    let _serial = serial();
    if !tracefs().join("buffer_subbuf_size_kb").exists() {
        assert!(
            !in_ci(),
            "{test} needs Linux 6.8 or later (buffer_subbuf_size_kb)"
        );
        eprintln!("skipping {test}: this kernel has no buffer_subbuf_size_kb");
        return;
    }
    // Some kernels refuse every write to buffer_subbuf_size_kb, even of the
    // size it has (EPERM); tests/vm_trace.rs decodes 8 KiB sub-buffers in
    // the VM's kernel then. The refusal must be the kernel's, for any size.
    let probe = Instance::create(&format!("strobe-pagetest-{}-probe", std::process::id()));
    let current = probe.read("buffer_subbuf_size_kb");
    let refusal = |kb: &str| {
        fs::write(probe.path.join("buffer_subbuf_size_kb"), kb)
            .err()
            .and_then(|e| e.raw_os_error())
    };
    if refusal("8") == Some(libc::EPERM) {
        assert_eq!(refusal(current.trim()), Some(libc::EPERM));
        eprintln!(
            "{test}: this kernel refuses to change sub-buffer sizes; \
             tests/vm_trace.rs decodes 8 KiB sub-buffers in the VM"
        );
        return;
    }
    drop(probe);
    let outcome = run(&Scenario {
        tag: "subbuf8k",
        buffer_kb: 4096,
        subbuf_kb: Some(8),
        spawns: 5,
    });
    assert_eq!(outcome.sub_buffer_size, 8192);
    assert!(outcome.decoded > 0, "the workload made no events");
    if outcome.pages_with_missed == 0 && outcome.trace_lost_lines == 0 {
        assert_eq!(outcome.decoded, outcome.trace_lines);
    } else {
        let slack = outcome.trace_lines / 100 + 10;
        assert!(
            outcome.decoded.abs_diff(outcome.trace_lines) <= slack,
            "{outcome:?}"
        );
    }
}

#[test]
fn root_overflowing_instance_reports_missed_events() {
    if !have_root("root_overflowing_instance_reports_missed_events") {
        return;
    }
    let _serial = serial();
    // A buffer of a few pages per CPU, and far more syscalls than fit: the
    // kernel overwrites the oldest pages and says so in the commit word.
    let outcome = run(&Scenario {
        tag: "overflow",
        buffer_kb: 8,
        subbuf_kb: None,
        spawns: 100,
    });
    assert!(outcome.decoded > 0, "{outcome:?}");
    assert!(
        outcome.pages_with_missed > 0,
        "no sub-buffer reported lost events: {outcome:?}"
    );
}
