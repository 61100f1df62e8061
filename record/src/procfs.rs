//! What the collector learns from /proc and /sys: system information, the
//! kallsyms and modules snapshot, and COMM/MMAP2 records synthesized for
//! processes that were running before the recording started.

use crate::format::SessionMeta;
use std::fs;
use std::path::Path;

/// Fills the host fields of `meta` (host name, kernel, CPU model, memory).
pub fn describe_host(meta: &mut SessionMeta) {
    // SAFETY: utsname is plain data; uname fills it or fails.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } == 0 {
        let field = |f: &[libc::c_char]| {
            let bytes: Vec<u8> = f
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        meta.hostname = field(&uts.nodename);
        meta.kernel_release = field(&uts.release);
        meta.kernel_version = field(&uts.version);
        meta.arch = field(&uts.machine);
    }
    if let Ok(cpuinfo) = fs::read_to_string("/proc/cpuinfo") {
        meta.cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                matches!(key.trim(), "model name" | "cpu" | "Hardware")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
    }
    if let Ok(meminfo) = fs::read_to_string("/proc/meminfo") {
        meta.mem_total_kib = meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
    }
}

/// One executable mapping of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Start address.
    pub start: u64,
    /// End address.
    pub end: u64,
    /// File offset of the start.
    pub pgoff: u64,
    /// Device major.
    pub major: u32,
    /// Device minor.
    pub minor: u32,
    /// Inode.
    pub inode: u64,
    /// Path, or a pseudo-name such as `[vdso]`.
    pub path: String,
}

/// Parses the executable mappings from the text of `/proc/PID/maps`.
pub fn parse_exec_maps(text: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(off), Some(dev), Some(inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        if perms.as_bytes().get(2) != Some(&b'x') {
            continue;
        }
        let path = fields.collect::<Vec<_>>().join(" ");
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        let (Some(start), Some(end), Some(pgoff), Some(major), Some(minor), Ok(inode)) = (
            hex(start),
            hex(end),
            hex(off),
            hex(major),
            hex(minor),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        out.push(Mapping {
            start,
            end,
            pgoff,
            major: major as u32,
            minor: minor as u32,
            inode,
            path,
        });
    }
    out
}

/// Encodes perf records the way the kernel would have, with the sample-id
/// trailer that `sample_type` implies, for processes that already ran.
#[derive(Debug, Clone)]
pub struct RecordSynthesizer {
    sample_type: u64,
    id: u64,
    /// The encoded records.
    pub out: Vec<u8>,
}

const PERF_RECORD_COMM: u32 = 3;
const PERF_RECORD_MMAP2: u32 = 10;
const PERF_RECORD_MISC_USER: u16 = 2;

impl RecordSynthesizer {
    /// Records will carry `id` (an id of the recording's first event).
    pub fn new(sample_type: u64, id: u64) -> Self {
        RecordSynthesizer {
            sample_type,
            id,
            out: Vec::new(),
        }
    }

    fn begin(&mut self, kind: u32, misc: u16) -> usize {
        let at = self.out.len();
        self.out.extend_from_slice(&kind.to_le_bytes());
        self.out.extend_from_slice(&misc.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        at
    }

    fn push_str(&mut self, s: &[u8]) {
        self.out.extend_from_slice(s);
        // NUL-terminate and pad to 8 bytes, as the kernel does.
        let padded = (s.len() + 8) & !7;
        self.out.resize(self.out.len() + padded - s.len(), 0);
    }

    fn end(&mut self, at: usize, pid: i32, tid: i32) {
        use strobe_probe::attr::sample::*;
        let has = |bit| self.sample_type & bit != 0;
        if has(TID) {
            self.out.extend_from_slice(&pid.to_le_bytes());
            self.out.extend_from_slice(&tid.to_le_bytes());
        }
        if has(TIME) {
            self.out.extend_from_slice(&0u64.to_le_bytes());
        }
        if has(ID) {
            self.out.extend_from_slice(&self.id.to_le_bytes());
        }
        if has(STREAM_ID) {
            self.out.extend_from_slice(&self.id.to_le_bytes());
        }
        if has(CPU) {
            self.out.extend_from_slice(&0u64.to_le_bytes());
        }
        if has(IDENTIFIER) {
            self.out.extend_from_slice(&self.id.to_le_bytes());
        }
        let size = (self.out.len() - at) as u16;
        self.out[at + 6..at + 8].copy_from_slice(&size.to_le_bytes());
    }

    /// A COMM record.
    pub fn comm(&mut self, pid: i32, tid: i32, comm: &str) {
        let at = self.begin(PERF_RECORD_COMM, 0);
        self.out.extend_from_slice(&pid.to_le_bytes());
        self.out.extend_from_slice(&tid.to_le_bytes());
        let name = comm.as_bytes();
        self.push_str(&name[..name.len().min(15)]);
        self.end(at, pid, tid);
    }

    /// An MMAP2 record.
    pub fn mmap2(&mut self, pid: i32, map: &Mapping) {
        let at = self.begin(PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER);
        for v in [pid, pid] {
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [map.start, map.end - map.start, map.pgoff] {
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        self.out.extend_from_slice(&map.major.to_le_bytes());
        self.out.extend_from_slice(&map.minor.to_le_bytes());
        self.out.extend_from_slice(&map.inode.to_le_bytes());
        self.out.extend_from_slice(&0u64.to_le_bytes()); // inode generation
        self.out
            .extend_from_slice(&((libc::PROT_READ | libc::PROT_EXEC) as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(libc::MAP_PRIVATE as u32).to_le_bytes());
        self.push_str(map.path.as_bytes());
        self.end(at, pid, pid);
    }

    /// COMM for every thread of `pid` and MMAP2 for its executable mappings.
    /// Processes that vanish meanwhile are skipped. Returns the mapped paths.
    pub fn process(&mut self, pid: i32) -> Vec<String> {
        let base = format!("/proc/{pid}");
        let Ok(comm) = fs::read_to_string(format!("{base}/comm")) else {
            return Vec::new();
        };
        let tids = thread_ids(pid);
        for &tid in if tids.is_empty() {
            std::slice::from_ref(&pid)
        } else {
            &tids[..]
        } {
            let name = fs::read_to_string(format!("{base}/task/{tid}/comm"))
                .unwrap_or_else(|_| comm.clone());
            self.comm(pid, tid, name.trim_end_matches('\n'));
        }
        let maps = fs::read_to_string(format!("{base}/maps")).unwrap_or_default();
        let mut paths = Vec::new();
        for map in parse_exec_maps(&maps) {
            self.mmap2(pid, &map);
            if map.path.starts_with('/') {
                paths.push(map.path);
            }
        }
        paths
    }
}

/// The thread ids of `pid` (empty if it has gone).
pub fn thread_ids(pid: i32) -> Vec<i32> {
    let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    tids.sort_unstable();
    tids
}

/// The process (thread-group leader) a thread belongs to.
pub fn process_of_thread(tid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:")?.trim().parse().ok())
}

/// Every process id in /proc.
pub fn all_pids() -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// Reads a /proc text file whole (kallsyms, modules); empty if unreadable.
pub fn read_text(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_maps_are_parsed() {
        let text = "\
00400000-00401000 r--p 00000000 08:01 123 /usr/bin/x
00401000-00402000 r-xp 00001000 08:01 123 /usr/bin/x
7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]
7ffd4000-7ffd5000 rw-p 00000000 00:00 0
";
        let maps = parse_exec_maps(text);
        assert_eq!(maps.len(), 2);
        assert_eq!(
            maps[0],
            Mapping {
                start: 0x401000,
                end: 0x402000,
                pgoff: 0x1000,
                major: 8,
                minor: 1,
                inode: 123,
                path: "/usr/bin/x".into()
            }
        );
        assert_eq!(maps[1].path, "[vdso]");
    }

    #[test]
    fn synthesized_records_have_kernel_layout() {
        use strobe_probe::attr::sample::*;
        let mut s = RecordSynthesizer::new(IDENTIFIER | IP | TID | TIME | CPU | PERIOD, 77);
        s.comm(10, 11, "worker");
        // header 8 + pid/tid 8 + "worker\0" padded to 8 + trailer 32.
        assert_eq!(u16::from_le_bytes([s.out[6], s.out[7]]), 56);
        assert_eq!(&s.out[16..22], b"worker");
        assert_eq!(u64::from_le_bytes(s.out[48..56].try_into().unwrap()), 77);
        assert_eq!(s.out.len() % 8, 0);
    }
}
