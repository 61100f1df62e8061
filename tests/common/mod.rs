//! Helpers shared by the end-to-end tests: running strobe, building the
//! bundled workloads, and reading recordings back.

#![allow(dead_code)]

pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use strobe_analyze::decode::Decoder;
use strobe_analyze::perf_records::EventRecord;
use strobe_record::format::reader::StrobeFile;

/// The strobe binary under test.
pub fn strobe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strobe"))
}

/// Recordings see the whole machine, so tests that record run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the test may run: it needs root (perf events on every CPU,
/// kallsyms). Under CI=true a missing privilege is a failure, never a skip.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test} needs root, and CI=true forbids skipping"
        );
        eprintln!("skipping {test}: needs root");
    }
    root
}

/// A scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `tests/workloads/NAME.c` once per test run, as its README says.
pub fn workload(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("workloads")
        .join(name);
    if !built.iter().any(|b| b == name) {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/workloads")
            .join(format!("{name}.c"));
        let status = Command::new("cc")
            .args(["-O2", "-g", "-fno-omit-frame-pointer", "-no-pie", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cc runs");
        assert!(status.success(), "building {name} failed");
        built.push(name.to_string());
    }
    out
}

/// Runs a command and returns its output, failing the test with stderr on a spawn error.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A sample as the tests look at it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub pid: i32,
    pub tid: i32,
    pub ip: u64,
    pub time: u64,
    pub cpu: Option<u32>,
    pub callchain: Vec<u64>,
}

/// Side-band and sample records of a recording, decoded.
#[derive(Debug, Default)]
pub struct Recording {
    pub samples: Vec<Sample>,
    /// (pid, tid, comm, synthesized)
    pub comms: Vec<(i32, i32, String, bool)>,
    /// (pid, path, synthesized)
    pub mmaps: Vec<(i32, String, bool)>,
    pub lost: u64,
}

/// Decodes every record of the file at `path`.
pub fn load(path: &Path) -> Recording {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file = StrobeFile::parse(&bytes).expect("the recording parses");
    let decoder = Decoder::new(&file.session).expect("the events decode");
    let mut rec = Recording::default();
    decoder.for_each(&file, |d| {
        let synthesized = d.cpu.is_none();
        match d.record {
            EventRecord::Sample(s) => rec.samples.push(Sample {
                pid: s.pid.unwrap_or(-1),
                tid: s.tid.unwrap_or(-1),
                ip: s.ip.unwrap_or(0),
                time: s.timestamp.unwrap_or(0),
                cpu: d.cpu,
                callchain: s
                    .callchain
                    .map(|c| (0..c.len()).filter_map(|i| c.get(i)).collect())
                    .unwrap_or_default(),
            }),
            EventRecord::Comm(c) => {
                let name = String::from_utf8_lossy(&c.name.as_slice()).into_owned();
                rec.comms.push((c.pid, c.tid, name, synthesized));
            }
            EventRecord::Mmap2(m) => {
                let path = String::from_utf8_lossy(&m.path.as_slice()).into_owned();
                rec.mmaps.push((m.pid, path, synthesized));
            }
            EventRecord::Lost(l) => rec.lost += l.count,
            _ => {}
        }
    });
    rec
}

/// `strobe info --json FILE`, parsed.
pub fn info_json(path: &Path) -> serde_json::Value {
    let out = run(strobe().args(["info", "--json"]).arg(path));
    assert!(
        out.status.success(),
        "strobe info failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("info --json prints JSON")
}

/// The [start, end) address range of each named function in an ELF file.
pub fn function_ranges(binary: &Path, names: &[&str]) -> Vec<(String, u64, u64)> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(binary).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    names
        .iter()
        .map(|&name| {
            let sym = elf
                .symbols()
                .find(|s| s.name() == Ok(name))
                .unwrap_or_else(|| panic!("{name} not in {}", binary.display()));
            (name.to_string(), sym.address(), sym.address() + sym.size())
        })
        .collect()
}

/// Cached check that is cheap to call from many tests.
pub fn online_cpus() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Records `strobe record -a ARGS -o DIR/NAME -- sh -c 'cpu_bound S & cpu_bound S; wait'`:
/// both CPUs busy for `seconds`. Returns the file and strobe's output.
pub fn record_two_busy(dir: &Path, name: &str, seconds: &str, args: &[&str]) -> (PathBuf, Output) {
    let cpu_bound = workload("cpu_bound");
    let data = dir.join(name);
    let script = format!("{0} {seconds} & {0} {seconds}; wait", cpu_bound.display());
    let out = run(strobe()
        .args(["record", "-a"])
        .args(args)
        .arg("-o")
        .arg(&data)
        .args(["--", "sh", "-c", &script]));
    assert!(
        out.status.success(),
        "strobe record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (data, out)
}

/// Runs `perf record ARGS`. perf 6.1 here now and then aborts in its
/// build-id code after recording ("assertion failed at util/build-id.c");
/// `--no-buildid` avoids most of that code, and one retry covers the rest.
pub fn perf_record(args: &[&std::ffi::OsStr]) -> Output {
    let attempt = || {
        run(Command::new("perf")
            .args(["record", "--no-buildid"])
            .args(args))
    };
    let out = attempt();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("build-id") {
        return attempt();
    }
    out
}

/// `strobe record ARGS -o DATA -- PROGRAM SECONDS`, which must succeed.
pub fn record_into(data: &Path, args: &[&str], program: &Path, seconds: &str) {
    let out = run(strobe()
        .arg("record")
        .args(args)
        .arg("-o")
        .arg(data)
        .arg("--")
        .arg(program)
        .arg(seconds));
    assert!(
        out.status.success(),
        "strobe record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `strobe script --json -i FILE`, one value per event.
pub fn script_json(path: &Path) -> Vec<serde_json::Value> {
    let out = run(strobe().args(["script", "--json", "-i"]).arg(path));
    assert!(
        out.status.success(),
        "strobe script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}
