//! Dynamic probes: kprobes, kretprobes and uprobes.
//!
//! Two ways to make one. Persistent probes are lines in tracefs
//! `kprobe_events` and `uprobe_events` ([`ProbeEvents`]); they become
//! tracepoints under `events/GROUP/EVENT` that every tool can record, until
//! they are deleted. Ephemeral probes live as long as one perf event: the
//! kprobe and uprobe PMUs take the function (or the file) through
//! `config1` and the offset through `config2` ([`pmu_probe`]).
//!
//! Jump optimisation: a kprobe is a breakpoint until the kernel's optimiser
//! replaces it with a jump, which `kprobes/list` in debugfs shows as
//! `[OPTIMIZED]`; [`kprobe_states`] reads that list and
//! [`set_optimization`] turns the optimiser on and off.

pub mod definition;
pub mod elf;

pub use definition::{Arch, DefinitionError, Location, ProbeArg, ProbeDefinition, ProbeKind};

use crate::pmu::sysfs;
use crate::spec::EventSpec;
use crate::tracefs::{glob_match, Tracefs};
use crate::{Error, Result};
use std::ffi::CString;
use std::path::Path;

/// The tracefs file kprobes are defined in.
const KPROBE_EVENTS: &str = "kprobe_events";
/// The tracefs file uprobes are defined in.
const UPROBE_EVENTS: &str = "uprobe_events";
/// The optimiser's switch.
pub const OPTIMIZATION_SYSCTL: &str = "/proc/sys/debug/kprobes-optimization";
/// Where debugfs is mounted.
const DEBUGFS: &str = "/sys/kernel/debug";

/// What a kernel without kprobes still offers, for the error that says so.
const WITHOUT_KPROBES: &str = "uprobes (strobe probe -x BINARY FUNC), tracepoints (strobe list tracepoint) and software events still work";

/// A probe that exists in tracefs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingProbe {
    /// `p` or `r` (with kretprobes' optional maxactive, `r16`).
    pub kind: ProbeKind,
    /// The group.
    pub group: String,
    /// The event.
    pub event: String,
    /// Where it is, as tracefs shows it (`ksys_read+16`, `/bin/x:0x...`).
    pub target: String,
    /// The fetched arguments, as tracefs shows them.
    pub args: Vec<String>,
    /// Whether it is a uprobe.
    pub user: bool,
}

impl ExistingProbe {
    /// `GROUP:EVENT`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.group, self.event)
    }

    /// The line tracefs shows for it.
    pub fn line(&self) -> String {
        let letter = match self.kind {
            ProbeKind::Entry => 'p',
            ProbeKind::Return => 'r',
        };
        let mut line = format!("{letter}:{}/{} {}", self.group, self.event, self.target);
        for arg in &self.args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }

    /// For a kprobe on `SYMBOL+OFFSET`, the symbol and offset.
    pub fn kernel_location(&self) -> Option<(String, u64)> {
        if self.user {
            return None;
        }
        Some(split_symbol_offset(&self.target))
    }
}

/// Parses one line of `kprobe_events` or `uprobe_events`:
/// `p:GROUP/EVENT TARGET ARGS...`.
pub fn parse_probe_line(line: &str, user: bool) -> Option<ExistingProbe> {
    let mut words = line.split_whitespace();
    let head = words.next()?;
    let (letter, name) = head.split_once(':')?;
    let kind = match letter.chars().next()? {
        'p' => ProbeKind::Entry,
        'r' => ProbeKind::Return,
        _ => return None,
    };
    let (group, event) = name.split_once('/')?;
    let target = words.next()?.to_string();
    Some(ExistingProbe {
        kind,
        group: group.to_string(),
        event: event.to_string(),
        target,
        args: words.map(str::to_string).collect(),
        user,
    })
}

fn split_symbol_offset(target: &str) -> (String, u64) {
    match target.split_once('+') {
        Some((symbol, offset)) => {
            let offset = match offset.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).unwrap_or(0),
                None => offset.parse().unwrap_or(0),
            };
            (symbol.to_string(), offset)
        }
        None => (target.to_string(), 0),
    }
}

/// The persistent probes of a tracefs.
#[derive(Debug)]
pub struct ProbeEvents<'a> {
    fs: &'a Tracefs,
}

impl<'a> ProbeEvents<'a> {
    /// The probes of `fs`.
    pub fn new(fs: &'a Tracefs) -> Self {
        ProbeEvents { fs }
    }

    /// Whether this kernel has kprobe events (CONFIG_KPROBE_EVENTS).
    pub fn kprobes_available(&self) -> bool {
        self.fs.root().join(KPROBE_EVENTS).exists()
    }

    /// Whether this kernel has uprobe events (CONFIG_UPROBE_EVENTS).
    pub fn uprobes_available(&self) -> bool {
        self.fs.root().join(UPROBE_EVENTS).exists()
    }

    /// Fails, saying what still works, unless the kernel has what
    /// `definition` needs.
    pub fn check_available(&self, user: bool) -> Result<()> {
        if user && !self.uprobes_available() {
            return Err(Error::NoUprobes);
        }
        if !user && !self.kprobes_available() {
            return Err(no_kprobes());
        }
        Ok(())
    }

    /// Every kprobe and uprobe, kprobes first, in tracefs's order.
    pub fn list(&self) -> Vec<ExistingProbe> {
        let mut probes = Vec::new();
        for (file, user) in [(KPROBE_EVENTS, false), (UPROBE_EVENTS, true)] {
            if let Ok(text) = self.fs.read(file) {
                probes.extend(text.lines().filter_map(|l| parse_probe_line(l, user)));
            }
        }
        probes
    }

    /// Adds a probe. Its name must be free (perf's rule: `force` picks the
    /// first free `EVENT_N` instead). Returns the definition as added, with
    /// its final name.
    pub fn add(&self, definition: &ProbeDefinition, force: bool) -> Result<ProbeDefinition> {
        let user = definition.is_user();
        self.check_available(user)?;
        let mut definition = definition.clone();
        let taken: Vec<String> = self.list().iter().map(ExistingProbe::name).collect();
        if taken.contains(&definition.name()) {
            if !force {
                return Err(Error::ProbeExists(definition.name()));
            }
            let base = definition.event.clone();
            definition.event = (1..)
                .map(|n| format!("{base}_{n}"))
                .find(|e| !taken.contains(&format!("{}:{e}", definition.group)))
                .expect("some suffix is free");
        }
        let line = definition
            .tracefs_line()
            .map_err(|e| Error::Probe(e.to_string()))?;
        let file = if user { UPROBE_EVENTS } else { KPROBE_EVENTS };
        self.fs.append(file, &line).map_err(|e| match e {
            // The kernel says only EINVAL or ENOENT; its error_log says why.
            Error::Tracefs { source, .. } => Error::ProbeRejected {
                line: line.clone(),
                reason: self.last_error(&source),
            },
            e => e,
        })?;
        Ok(definition)
    }

    /// The newest entry of tracefs `error_log`, or the OS error.
    fn last_error(&self, os: &std::io::Error) -> String {
        let log = self.fs.read("error_log").unwrap_or_default();
        // The newest error's lines come last: "[time] trace_kprobe: error: REASON",
        // "  Command: ...", and a caret line.
        log.lines()
            .rev()
            .find_map(|l| {
                l.split_once("error: ")
                    .map(|(_, reason)| reason.trim().to_string())
            })
            .unwrap_or_else(|| os.to_string())
    }

    /// Deletes the probes whose `GROUP:EVENT` (or `EVENT`) matches `glob`,
    /// returning their names. A probe that a recording is using cannot be
    /// deleted; that error names it.
    pub fn delete(&self, glob: &str) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for probe in self.list() {
            let name = probe.name();
            let matches = if glob.contains(':') {
                glob_match(glob, &name)
            } else {
                glob_match(glob, &probe.event)
            };
            if !matches {
                continue;
            }
            let file = if probe.user {
                UPROBE_EVENTS
            } else {
                KPROBE_EVENTS
            };
            let line = format!("-:{}/{}", probe.group, probe.event);
            self.fs
                .append(file, &line)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::EBUSY) => Error::ProbeBusy(name.clone()),
                    _ => e,
                })?;
            deleted.push(name);
        }
        Ok(deleted)
    }
}

fn no_kprobes() -> Error {
    Error::NoKprobes(WITHOUT_KPROBES)
}

/// The state of one kernel probe, from debugfs `kprobes/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KprobeState {
    /// `k` (kprobe) or `r` (kretprobe).
    pub kind: ProbeKind,
    /// The symbol.
    pub symbol: String,
    /// Bytes past it.
    pub offset: u64,
    /// The kernel's flags for it: `GONE`, `DISABLED`, `OPTIMIZED`, `FTRACE`.
    pub flags: Vec<String>,
}

impl KprobeState {
    /// One word for the probe's state: the kernel's flags (`OPTIMIZED`,
    /// `FTRACE`, `DISABLED`, `GONE`, joined by `,` when several apply), or
    /// `BREAKPOINT` for an enabled probe that is neither optimised nor on
    /// an ftrace site.
    pub fn state(&self) -> String {
        if self.flags.is_empty() {
            "BREAKPOINT".to_string()
        } else {
            self.flags.join(",")
        }
    }
}

/// Parses debugfs `kprobes/list`: `ADDRESS  k  SYMBOL+0xOFFSET  [MODULE]  [FLAGS]...`.
pub fn parse_kprobe_list(text: &str) -> Vec<KprobeState> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let _address = words.next()?;
            let kind = match words.next()? {
                "k" => ProbeKind::Entry,
                "r" => ProbeKind::Return,
                _ => return None,
            };
            let (symbol, offset) = split_symbol_offset(words.next()?);
            let mut flags = Vec::new();
            for word in words {
                // `[DISABLED][FTRACE]` is one word; a module's name is
                // printed before the flags, without brackets.
                for flag in word.split(['[', ']']) {
                    if matches!(flag, "GONE" | "DISABLED" | "OPTIMIZED" | "FTRACE") {
                        flags.push(flag.to_string());
                    }
                }
            }
            Some(KprobeState {
                kind,
                symbol,
                offset,
                flags,
            })
        })
        .collect()
}

/// The states of the kernel's probes, from debugfs `kprobes/list`
/// (mounting debugfs at /sys/kernel/debug when it is not there).
pub fn kprobe_states() -> Result<Vec<KprobeState>> {
    let list = Path::new(DEBUGFS).join("kprobes/list");
    if !list.exists() && !Path::new(DEBUGFS).join("kprobes").is_dir() {
        // Mounting fails harmlessly when debugfs is there but has no
        // kprobes directory (a kernel without kprobes).
        let _ = crate::sys::mount_fs("debugfs", Path::new(DEBUGFS));
    }
    match std::fs::read_to_string(&list) {
        Ok(text) => Ok(parse_kprobe_list(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_kprobes()),
        Err(source) => Err(Error::Tracefs {
            action: "read",
            path: list,
            source,
            hint: "; reading kprobes/list needs root".into(),
        }),
    }
}

/// The state of the probe on `symbol+offset`. A probe on a function's
/// first instruction may sit a few bytes further (after `endbr64`), so an
/// exact match is preferred and the nearest one within 16 bytes past it
/// taken otherwise.
pub fn state_of<'s>(
    states: &'s [KprobeState],
    kind: ProbeKind,
    symbol: &str,
    offset: u64,
) -> Option<&'s KprobeState> {
    states
        .iter()
        .filter(|s| {
            s.kind == kind && s.symbol == symbol && s.offset >= offset && s.offset - offset <= 16
        })
        .min_by_key(|s| s.offset - offset)
}

/// Whether the kprobe optimiser is on; `None` when the kernel has no
/// optimiser (CONFIG_OPTPROBES) or no kprobes.
pub fn optimization() -> Option<bool> {
    let text = std::fs::read_to_string(OPTIMIZATION_SYSCTL).ok()?;
    Some(text.trim() != "0")
}

/// Turns the kprobe optimiser on or off.
pub fn set_optimization(on: bool) -> Result<()> {
    let path = Path::new(OPTIMIZATION_SYSCTL);
    if !path.exists() {
        return Err(
            if Path::new("/proc/sys/debug").is_dir() && kprobe_states().is_ok() {
                Error::Probe(
                    "this kernel has kprobes but no jump optimisation (CONFIG_OPTPROBES)".into(),
                )
            } else {
                no_kprobes()
            },
        );
    }
    std::fs::write(path, if on { "1" } else { "0" }).map_err(|source| Error::Tracefs {
        action: "write",
        path: path.to_path_buf(),
        source,
        hint: "; setting it needs root".into(),
    })
}

/// An ephemeral probe spec, `kprobe:FUNC[+OFFS|%return]` or
/// `uprobe:BINARY:FUNC[+OFFS|%return]`, as given to `record -e`; `None`
/// when `spec` is neither.
pub fn is_pmu_probe_spec(spec: &str) -> bool {
    spec.starts_with("kprobe:") || spec.starts_with("uprobe:")
}

/// Makes the event for an ephemeral probe through the kprobe or uprobe
/// PMU. `sysfs_root` is where `bus/event_source/devices` is.
pub fn pmu_probe(spec: &str, sysfs_root: &Path) -> Result<EventSpec> {
    let (pmu_name, rest) = spec.split_once(':').ok_or_else(|| {
        Error::Probe(format!("`{spec}` is not kprobe:FUNC or uprobe:BINARY:FUNC"))
    })?;
    let user = pmu_name == "uprobe";
    let (binary, target) = if user {
        let (binary, function) = rest.rsplit_once(':').ok_or_else(|| {
            Error::Probe(format!(
                "`{spec}` names no function: write uprobe:BINARY:FUNC"
            ))
        })?;
        let path = std::fs::canonicalize(binary).map_err(|e| {
            Error::Probe(format!("cannot find the binary {binary} of `{spec}`: {e}"))
        })?;
        (Some(path.to_string_lossy().into_owned()), function)
    } else {
        (None, rest)
    };
    let arch = Arch::host().unwrap_or(Arch::X86_64);
    let mut definition = ProbeDefinition::parse(target, &[], binary.as_deref(), arch)
        .map_err(|e| Error::Probe(e.to_string()))?;
    resolve(&mut definition)?;

    let pmu = match sysfs::find(sysfs_root, pmu_name) {
        Ok(pmu) => pmu,
        Err(_) if !user => return Err(no_kprobes()),
        Err(_) => return Err(Error::NoUprobes),
    };
    let retprobe = match definition.kind {
        ProbeKind::Entry => 0,
        ProbeKind::Return => {
            let encoding = pmu
                .encode(&[crate::pmu::Term {
                    name: "retprobe".into(),
                    value: 1,
                }])
                .map_err(|source| Error::Pmu {
                    context: Some(pmu_name.to_string()),
                    source,
                })?;
            encoding.config
        }
    };
    let (target_text, offset) = match &definition.location {
        Location::Kernel { symbol, offset } => (symbol.clone(), *offset),
        Location::User {
            path, file_offset, ..
        } => (path.clone(), file_offset.unwrap_or(0)),
    };
    let target =
        CString::new(target_text).map_err(|_| Error::Probe(format!("`{spec}` has a NUL byte")))?;
    let name = match definition.kind {
        ProbeKind::Entry => spec.to_string(),
        ProbeKind::Return => spec.to_string(),
    };
    let mut event = EventSpec::with_config(&name, pmu.type_, retprobe);
    event.config2 = offset;
    event.pmu_probe = Some(crate::spec::PmuProbe {
        target,
        format: pmu_probe_format(&definition),
        user,
    });
    Ok(event)
}

/// Resolves a uprobe's function to its offset in the file; kernel probes
/// need nothing.
pub fn resolve(definition: &mut ProbeDefinition) -> Result<()> {
    if let Location::User {
        path,
        function,
        offset,
        file_offset,
    } = &mut definition.location
    {
        let data =
            std::fs::read(&*path).map_err(|e| Error::Probe(format!("cannot read {path}: {e}")))?;
        *file_offset = Some(
            elf::function_file_offset(&data, path, function, *offset)
                .map_err(|e| Error::Probe(e.to_string()))?,
        );
    }
    Ok(())
}

/// The format of an ephemeral probe's raw samples, written as tracefs
/// writes the format of a kprobe or uprobe event without arguments, so that
/// the analyzers decode it like any other: the common fields, then the
/// probed address (entry) or the function and the return address (return).
fn pmu_probe_format(definition: &ProbeDefinition) -> String {
    let common = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                  \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
                  \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
                  \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n";
    let (fields, print) = match definition.kind {
        ProbeKind::Entry => (
            "\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n",
            "\"(%lx)\", REC->__probe_ip",
        ),
        ProbeKind::Return => (
            "\tfield:unsigned long __probe_func;\toffset:8;\tsize:8;\tsigned:0;\n\
             \tfield:unsigned long __probe_ret_ip;\toffset:16;\tsize:8;\tsigned:0;\n",
            "\"(%lx <- %lx)\", REC->__probe_func, REC->__probe_ret_ip",
        ),
    };
    format!(
        "name: {}\nID: 0\nformat:\n{common}\n{fields}\nprint fmt: {print}\n",
        definition.event
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kprobe_list_lines_parse_with_modules_and_joined_flags() {
        let text = "ffffffff8139c1a4  k  ksys_read+0x4    [FTRACE]\n\
                    ffffffff8139c1b0  k  ksys_read+0x10    [OPTIMIZED]\n\
                    ffffffff812c5a10  r  do_sys_openat2+0x0    [DISABLED][FTRACE]\n\
                    ffffffffc0a8e000  k  xfs_read+0x8  xfs \n\
                    0000000000000000  k  gone_fn+0x0    [GONE]\n";
        let states = parse_kprobe_list(text);
        assert_eq!(states.len(), 5);
        assert_eq!(states[0].state(), "FTRACE");
        assert_eq!(states[1].offset, 16);
        assert_eq!(states[2].kind, ProbeKind::Return);
        assert_eq!(states[2].state(), "DISABLED,FTRACE");
        assert_eq!(states[3].state(), "BREAKPOINT");
        assert_eq!(states[4].state(), "GONE");
        // An entry probe sits after endbr64; an exact match wins.
        assert_eq!(
            state_of(&states, ProbeKind::Entry, "ksys_read", 0)
                .unwrap()
                .offset,
            4
        );
        assert_eq!(
            state_of(&states, ProbeKind::Entry, "ksys_read", 16)
                .unwrap()
                .state(),
            "OPTIMIZED"
        );
        assert!(state_of(&states, ProbeKind::Entry, "ksys_read", 32).is_none());
    }

    #[test]
    fn probe_lines_parse_both_kinds() {
        let k = parse_probe_line(
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string",
            false,
        )
        .unwrap();
        assert_eq!(k.name(), "probe:do_sys_openat2");
        assert_eq!(k.args.len(), 2);
        assert_eq!(k.kernel_location(), Some(("do_sys_openat2".into(), 0)));
        assert_eq!(
            k.line(),
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string"
        );
        let r = parse_probe_line("r16:kprobes/ret ksys_read+5", false).unwrap();
        assert_eq!(r.kind, ProbeKind::Return);
        assert_eq!(r.kernel_location(), Some(("ksys_read".into(), 5)));
        let u =
            parse_probe_line("p:probe_uprobed/hot /tmp/uprobed:0x00000000000011b0", true).unwrap();
        assert!(u.user && u.kernel_location().is_none());
        assert!(parse_probe_line("garbage", false).is_none());
    }

    #[test]
    fn pmu_probe_formats_parse() {
        for kind in ["f", "f%return"] {
            let d = ProbeDefinition::parse(kind, &[], None, Arch::X86_64).unwrap();
            let text = pmu_probe_format(&d);
            let format = crate::tracefs::format::TracepointFormat::parse("kprobe", &text).unwrap();
            assert!(
                format.fields.iter().any(|f| f.name.starts_with("__probe_")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_tracefs_without_kprobe_events_says_what_still_works() {
        let dir = std::env::temp_dir().join(format!("strobe-dyn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(UPROBE_EVENTS), "").unwrap();
        let fs = Tracefs::at(&dir);
        let events = ProbeEvents::new(&fs);
        let d = ProbeDefinition::parse("do_sys_openat2", &[], None, Arch::X86_64).unwrap();
        let e = events.add(&d, false).unwrap_err().to_string();
        assert!(e.contains("CONFIG_KPROBES") && e.contains("uprobes"), "{e}");
        assert!(e.lines().count() == 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
