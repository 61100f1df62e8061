//! Event specifications as users type them: `cpu-clock`, `cycles:u`, `-e a,b`.

use crate::tracefs::{Tracefs, TracepointName};
use perf_event_open_sys::bindings as b;

/// A parsed event specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// The name as written by the user, modifiers included (`cycles:u`).
    pub name: String,
    /// `PERF_TYPE_*`.
    pub type_: u32,
    /// The event config for that type.
    pub config: u64,
    /// `:k` — count kernel execution only.
    pub exclude_user: bool,
    /// `:u` — count user execution only.
    pub exclude_kernel: bool,
    /// For a tracepoint (`PERF_TYPE_TRACEPOINT`), which one.
    pub tracepoint: Option<TracepointName>,
    /// An ftrace filter for a tracepoint (`--filter`), applied by the kernel.
    pub filter: Option<String>,
}

/// Why an event specification was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No event of that name exists.
    #[error("unknown event `{name}`{}: `strobe record --help` lists the events", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownEvent {
        /// The name given.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
    },
    /// A modifier letter is not supported.
    #[error("unknown modifier `{modifier}` in `{spec}`: supported modifiers are :u (user) and :k (kernel)")]
    UnknownModifier {
        /// The whole spec.
        spec: String,
        /// The offending letter.
        modifier: char,
    },
    /// The list was empty, or had an empty element.
    #[error("empty event name in `{0}`")]
    Empty(String),
}

/// Software events, by every name perf accepts for them.
const SOFTWARE: &[(&str, u32, &str)] = &[
    (
        "cpu-clock",
        b::PERF_COUNT_SW_CPU_CLOCK,
        "CPU clock, a high-resolution per-CPU timer",
    ),
    (
        "task-clock",
        b::PERF_COUNT_SW_TASK_CLOCK,
        "clock count specific to the task that is running",
    ),
    ("page-faults", b::PERF_COUNT_SW_PAGE_FAULTS, "page faults"),
    ("faults", b::PERF_COUNT_SW_PAGE_FAULTS, "page faults"),
    (
        "context-switches",
        b::PERF_COUNT_SW_CONTEXT_SWITCHES,
        "context switches",
    ),
    ("cs", b::PERF_COUNT_SW_CONTEXT_SWITCHES, "context switches"),
    (
        "cpu-migrations",
        b::PERF_COUNT_SW_CPU_MIGRATIONS,
        "migrations of a task to another CPU",
    ),
    (
        "migrations",
        b::PERF_COUNT_SW_CPU_MIGRATIONS,
        "migrations of a task to another CPU",
    ),
    (
        "minor-faults",
        b::PERF_COUNT_SW_PAGE_FAULTS_MIN,
        "page faults served without I/O",
    ),
    (
        "major-faults",
        b::PERF_COUNT_SW_PAGE_FAULTS_MAJ,
        "page faults that needed I/O",
    ),
    (
        "alignment-faults",
        b::PERF_COUNT_SW_ALIGNMENT_FAULTS,
        "unaligned accesses fixed up by the kernel",
    ),
    (
        "emulation-faults",
        b::PERF_COUNT_SW_EMULATION_FAULTS,
        "instructions emulated by the kernel",
    ),
    (
        "dummy",
        b::PERF_COUNT_SW_DUMMY,
        "placeholder that counts nothing, for side-band records",
    ),
];

/// Generic hardware events, by every name perf accepts for them.
const HARDWARE: &[(&str, u32, &str)] = &[
    ("cpu-cycles", b::PERF_COUNT_HW_CPU_CYCLES, "CPU cycles"),
    ("cycles", b::PERF_COUNT_HW_CPU_CYCLES, "CPU cycles"),
    (
        "instructions",
        b::PERF_COUNT_HW_INSTRUCTIONS,
        "retired instructions",
    ),
    (
        "cache-references",
        b::PERF_COUNT_HW_CACHE_REFERENCES,
        "last-level cache accesses",
    ),
    (
        "cache-misses",
        b::PERF_COUNT_HW_CACHE_MISSES,
        "last-level cache misses",
    ),
    (
        "branch-instructions",
        b::PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
        "retired branch instructions",
    ),
    (
        "branches",
        b::PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
        "retired branch instructions",
    ),
    (
        "branch-misses",
        b::PERF_COUNT_HW_BRANCH_MISSES,
        "mispredicted branches",
    ),
    ("bus-cycles", b::PERF_COUNT_HW_BUS_CYCLES, "bus cycles"),
    (
        "stalled-cycles-frontend",
        b::PERF_COUNT_HW_STALLED_CYCLES_FRONTEND,
        "cycles stalled in the front end",
    ),
    (
        "idle-cycles-frontend",
        b::PERF_COUNT_HW_STALLED_CYCLES_FRONTEND,
        "cycles stalled in the front end",
    ),
    (
        "stalled-cycles-backend",
        b::PERF_COUNT_HW_STALLED_CYCLES_BACKEND,
        "cycles stalled in the back end",
    ),
    (
        "idle-cycles-backend",
        b::PERF_COUNT_HW_STALLED_CYCLES_BACKEND,
        "cycles stalled in the back end",
    ),
    (
        "ref-cycles",
        b::PERF_COUNT_HW_REF_CPU_CYCLES,
        "reference cycles, unaffected by frequency scaling",
    ),
];

/// Generic hardware cache events (`PERF_TYPE_HW_CACHE`), by perf's names:
/// config is cache id | operation << 8 | result << 16. Only the
/// combinations perf lists are named (no stores to the instruction cache).
const HW_CACHE: &[(&str, u64, &str)] = &[
    ("L1-dcache-loads", 0x0, "level-1 data cache: reads"),
    (
        "L1-dcache-load-misses",
        0x10000,
        "level-1 data cache: reads that missed",
    ),
    ("L1-dcache-stores", 0x100, "level-1 data cache: writes"),
    (
        "L1-dcache-store-misses",
        0x10100,
        "level-1 data cache: writes that missed",
    ),
    (
        "L1-dcache-prefetches",
        0x200,
        "level-1 data cache: prefetches",
    ),
    (
        "L1-dcache-prefetch-misses",
        0x10200,
        "level-1 data cache: prefetches that missed",
    ),
    ("L1-icache-loads", 0x1, "level-1 instruction cache: reads"),
    (
        "L1-icache-load-misses",
        0x10001,
        "level-1 instruction cache: reads that missed",
    ),
    (
        "L1-icache-prefetches",
        0x201,
        "level-1 instruction cache: prefetches",
    ),
    (
        "L1-icache-prefetch-misses",
        0x10201,
        "level-1 instruction cache: prefetches that missed",
    ),
    ("LLC-loads", 0x2, "last-level cache: reads"),
    (
        "LLC-load-misses",
        0x10002,
        "last-level cache: reads that missed",
    ),
    ("LLC-stores", 0x102, "last-level cache: writes"),
    (
        "LLC-store-misses",
        0x10102,
        "last-level cache: writes that missed",
    ),
    ("LLC-prefetches", 0x202, "last-level cache: prefetches"),
    (
        "LLC-prefetch-misses",
        0x10202,
        "last-level cache: prefetches that missed",
    ),
    ("dTLB-loads", 0x3, "data TLB: reads"),
    ("dTLB-load-misses", 0x10003, "data TLB: reads that missed"),
    ("dTLB-stores", 0x103, "data TLB: writes"),
    ("dTLB-store-misses", 0x10103, "data TLB: writes that missed"),
    ("dTLB-prefetches", 0x203, "data TLB: prefetches"),
    (
        "dTLB-prefetch-misses",
        0x10203,
        "data TLB: prefetches that missed",
    ),
    ("iTLB-loads", 0x4, "instruction TLB: reads"),
    (
        "iTLB-load-misses",
        0x10004,
        "instruction TLB: reads that missed",
    ),
    ("branch-loads", 0x5, "branch prediction unit: reads"),
    (
        "branch-load-misses",
        0x10005,
        "branch prediction unit: reads that missed",
    ),
    ("node-loads", 0x6, "local memory (NUMA node): reads"),
    (
        "node-load-misses",
        0x10006,
        "local memory (NUMA node): reads that missed",
    ),
    ("node-stores", 0x106, "local memory (NUMA node): writes"),
    (
        "node-store-misses",
        0x10106,
        "local memory (NUMA node): writes that missed",
    ),
    (
        "node-prefetches",
        0x206,
        "local memory (NUMA node): prefetches",
    ),
    (
        "node-prefetch-misses",
        0x10206,
        "local memory (NUMA node): prefetches that missed",
    ),
];

/// One named event for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedEvent {
    /// Name.
    pub name: &'static str,
    /// `PERF_TYPE_*`.
    pub type_: u32,
    /// One-line description.
    pub description: &'static str,
}

/// Every software and generic hardware event name strobe knows.
pub fn named_events() -> impl Iterator<Item = NamedEvent> {
    SOFTWARE
        .iter()
        .map(|&(name, _, description)| NamedEvent {
            name,
            type_: b::PERF_TYPE_SOFTWARE,
            description,
        })
        .chain(HARDWARE.iter().map(|&(name, _, description)| NamedEvent {
            name,
            type_: b::PERF_TYPE_HARDWARE,
            description,
        }))
        .chain(HW_CACHE.iter().map(|&(name, _, description)| NamedEvent {
            name,
            type_: b::PERF_TYPE_HW_CACHE,
            description,
        }))
}

/// Edit distance between two short strings (Levenshtein).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + (ca != cb) as usize)
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known event name closest to `name`, if within a few typos.
fn closest_name(name: &str) -> Option<String> {
    closest(name, named_events().map(|e| e.name.to_string()))
}

/// Of `candidates`, the one closest to `name`, if within a few typos.
pub fn closest(name: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(name, &c), c))
        // A third of the name's length in typos, so short names are not
        // "corrected" into unrelated ones.
        .filter(|(d, _)| *d <= (name.len() / 3).max(1))
        .min()
        .map(|(_, n)| n)
}

impl EventSpec {
    /// Parses one event, such as `cycles:u`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let (name, modifiers) = match spec.split_once(':') {
            Some((n, m)) => (n, m),
            None => (spec, ""),
        };
        if name.is_empty() {
            return Err(SpecError::Empty(spec.to_string()));
        }
        let lower = name.to_ascii_lowercase();
        let (type_, config) = if let Some(&(_, c, _)) = SOFTWARE.iter().find(|e| e.0 == lower) {
            (b::PERF_TYPE_SOFTWARE, c as u64)
        } else if let Some(&(_, c, _)) = HARDWARE.iter().find(|e| e.0 == lower) {
            (b::PERF_TYPE_HARDWARE, c as u64)
        } else if let Some(&(_, c, _)) = HW_CACHE.iter().find(|e| e.0.eq_ignore_ascii_case(name)) {
            (b::PERF_TYPE_HW_CACHE, c)
        } else {
            return Err(SpecError::UnknownEvent {
                name: name.to_string(),
                suggestion: closest_name(&lower),
            });
        };
        let (mut user, mut kernel) = (false, false);
        for m in modifiers.chars() {
            match m {
                'u' => user = true,
                'k' => kernel = true,
                other => {
                    return Err(SpecError::UnknownModifier {
                        spec: spec.to_string(),
                        modifier: other,
                    })
                }
            }
        }
        // `:u` alone excludes the kernel; `:k` alone excludes user space;
        // both, or neither, count everything.
        let restrict = user != kernel;
        Ok(EventSpec {
            name: spec.to_string(),
            type_,
            config,
            exclude_user: restrict && kernel,
            exclude_kernel: restrict && user,
            tracepoint: None,
            filter: None,
        })
    }

    /// A tracepoint event, with the id tracefs gave it.
    pub fn tracepoint(tracepoint: TracepointName, id: u32) -> Self {
        EventSpec {
            name: tracepoint.to_string(),
            type_: b::PERF_TYPE_TRACEPOINT,
            config: id as u64,
            exclude_user: false,
            exclude_kernel: false,
            tracepoint: Some(tracepoint),
            filter: None,
        }
    }

    /// Whether the spec names a tracepoint (`system:event`) rather than a
    /// named event with modifiers (`cycles:u`).
    pub fn looks_like_tracepoint(spec: &str) -> bool {
        match spec.trim().split_once(':') {
            Some((name, rest)) => {
                let lower = name.to_ascii_lowercase();
                let named = SOFTWARE.iter().chain(HARDWARE).any(|e| e.0 == lower);
                // `cpu-clok:u` is a misspelt named event with a modifier,
                // not a tracepoint: tracepoint names are not a modifier's
                // letters, and contain no dash.
                let modifiers_only = rest.chars().all(|c| "ukhGHpPS".contains(c));
                let misspelt_named = modifiers_only && name.contains('-');
                !(named || rest.is_empty() || misspelt_named)
            }
            None => spec.contains('/') && !spec.ends_with('/'),
        }
    }

    /// Parses a comma-separated `-e` list in which tracepoints (with globs,
    /// `sched:*`) are looked up in tracefs. tracefs is only opened (and
    /// mounted) when the list names a tracepoint.
    pub fn resolve_list(list: &str) -> crate::Result<Vec<Self>> {
        let mut tracefs: Option<Tracefs> = None;
        let mut specs = Vec::new();
        for part in list.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(SpecError::Empty(list.to_string()).into());
            }
            if !Self::looks_like_tracepoint(part) {
                specs.push(Self::parse(part)?);
                continue;
            }
            let fs = match &mut tracefs {
                Some(fs) => fs,
                None => tracefs.insert(Tracefs::open()?),
            };
            for tracepoint in fs.resolve(part)? {
                let id_file = std::path::Path::new("events")
                    .join(&tracepoint.system)
                    .join(&tracepoint.name)
                    .join("id");
                let id = fs.read(&id_file)?.trim().parse().map_err(|_| {
                    crate::Error::UnknownTracepoint {
                        pattern: tracepoint.to_string(),
                        suggestion: None,
                    }
                })?;
                specs.push(Self::tracepoint(tracepoint, id));
            }
        }
        Ok(specs)
    }

    /// Whether this is a tracepoint.
    pub fn is_tracepoint(&self) -> bool {
        self.type_ == b::PERF_TYPE_TRACEPOINT
    }

    /// Parses a comma-separated list, as given to `-e`.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, SpecError> {
        list.split(',')
            .map(|part| {
                if part.trim().is_empty() {
                    Err(SpecError::Empty(list.to_string()))
                } else {
                    Self::parse(part)
                }
            })
            .collect()
    }

    /// Whether this is a hardware event (generic or cache), which needs a PMU.
    pub fn is_hardware(&self) -> bool {
        self.type_ == b::PERF_TYPE_HARDWARE || self.type_ == b::PERF_TYPE_HW_CACHE
    }

    /// The `cpu-clock` event, strobe's fallback when there is no PMU.
    pub fn cpu_clock() -> Self {
        Self::parse("cpu-clock").expect("cpu-clock is a known event")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_and_hardware_names() {
        let e = EventSpec::parse("cpu-clock").unwrap();
        assert_eq!((e.type_, e.config), (b::PERF_TYPE_SOFTWARE, 0));
        let e = EventSpec::parse("cs").unwrap();
        assert_eq!(e.config, b::PERF_COUNT_SW_CONTEXT_SWITCHES as u64);
        let e = EventSpec::parse("instructions").unwrap();
        assert!(e.is_hardware());
        assert_eq!(e.config, 1);
    }

    #[test]
    fn modifiers() {
        let u = EventSpec::parse("cycles:u").unwrap();
        assert!(u.exclude_kernel && !u.exclude_user);
        let k = EventSpec::parse("cpu-clock:k").unwrap();
        assert!(k.exclude_user && !k.exclude_kernel);
        let both = EventSpec::parse("cpu-clock:uk").unwrap();
        assert!(!both.exclude_user && !both.exclude_kernel);
        assert!(matches!(
            EventSpec::parse("cycles:z"),
            Err(SpecError::UnknownModifier { modifier: 'z', .. })
        ));
    }

    #[test]
    fn hardware_cache_events() {
        // perf's encodings: L1D=0, LLC=2, dTLB=3; load=0, store=1; miss=1.
        let e = EventSpec::parse("L1-dcache-load-misses").unwrap();
        assert_eq!((e.type_, e.config), (b::PERF_TYPE_HW_CACHE, 0x10000));
        assert!(e.is_hardware());
        assert_eq!(EventSpec::parse("LLC-stores").unwrap().config, 0x102);
        assert_eq!(
            EventSpec::parse("dtlb-load-misses:u").unwrap().config,
            0x10003
        );
        assert_eq!(EventSpec::parse("branch-loads").unwrap().config, 0x5);
        assert!(EventSpec::parse("L1-icache-stores").is_err());
        assert_eq!(
            named_events()
                .filter(|e| e.type_ == b::PERF_TYPE_HW_CACHE)
                .count(),
            32
        );
    }

    #[test]
    fn tracepoint_or_named() {
        assert!(EventSpec::looks_like_tracepoint("sched:sched_switch"));
        assert!(EventSpec::looks_like_tracepoint("syscalls:sys_enter_*"));
        assert!(EventSpec::looks_like_tracepoint("sched/sched_switch"));
        assert!(!EventSpec::looks_like_tracepoint("cycles:u"));
        assert!(!EventSpec::looks_like_tracepoint("cpu-clock"));
        assert!(!EventSpec::looks_like_tracepoint("cpu-clok:u"));
    }

    #[test]
    fn lists_and_errors() {
        let list = EventSpec::parse_list("cpu-clock,page-faults:u").unwrap();
        assert_eq!(list.len(), 2);
        assert!(matches!(
            EventSpec::parse_list("cpu-clock,,x"),
            Err(SpecError::Empty(_))
        ));
        let err = EventSpec::parse("cpu-clok").unwrap_err().to_string();
        assert_eq!(err, "unknown event `cpu-clok` (did you mean `cpu-clock`?): `strobe record --help` lists the events");
        for far in ["zzzzzzzzzz", "foo", "xyz"] {
            let err = EventSpec::parse(far).unwrap_err().to_string();
            assert!(!err.contains("did you mean"), "{err}");
        }
    }
}
