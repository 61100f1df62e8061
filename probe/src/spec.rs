//! Event specifications as users type them: `cpu-clock`, `cycles:u`, `-e a,b`.

use crate::pmu::sysfs::{self, SysfsPmu};
use crate::pmu::tables::{self, CpuId, CpuTable};
use crate::pmu::Term;
use crate::tracefs::{Tracefs, TracepointName};
use perf_event_open_sys::bindings as b;

/// A parsed event specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// The name as written by the user, modifiers included (`cycles:u`),
    /// or the `name=` term of a PMU spec.
    pub name: String,
    /// `PERF_TYPE_*`, or a dynamic PMU's type from sysfs.
    pub type_: u32,
    /// The event config for that type.
    pub config: u64,
    /// `config1`, for PMU events that need it (offcore response, load latency).
    pub config1: u64,
    /// `config2`.
    pub config2: u64,
    /// Excludes user-space execution (`:k` and `:h` set it).
    pub exclude_user: bool,
    /// Excludes kernel execution (`:u` and `:h` set it).
    pub exclude_kernel: bool,
    /// Excludes the hypervisor (`:u` and `:k` set it).
    pub exclude_hv: bool,
    /// Excludes guests (`:H`, and `:u`, `:k`, `:p` as in perf).
    pub exclude_guest: bool,
    /// Excludes the host (`:G`).
    pub exclude_host: bool,
    /// Skid constraint for sampling, 0-3 (`:p`, `:pp`, `:ppp`).
    pub precise_ip: u8,
    /// `:S`: the group leader samples and the members are read with it.
    pub sample_read: bool,
    /// Events with the same group number (from `{a,b}`) are scheduled on
    /// the PMU together; the first of them leads.
    pub group: Option<u32>,
    /// A sample period from a `period=` term.
    pub period: Option<u64>,
    /// For a tracepoint (`PERF_TYPE_TRACEPOINT`), which one.
    pub tracepoint: Option<TracepointName>,
    /// An ftrace filter for a tracepoint (`--filter`), applied by the kernel.
    pub filter: Option<String>,
    /// For an ephemeral probe through the kprobe or uprobe PMU
    /// (`kprobe:FUNC`, `uprobe:BINARY:FUNC`), what the kernel reads through
    /// `config1` and how its samples' raw payloads are laid out.
    pub pmu_probe: Option<PmuProbe>,
}

/// What an ephemeral probe's event carries besides its config words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmuProbe {
    /// The kernel function (kprobe) or the file's path (uprobe). The kernel
    /// reads it through a pointer in `config1`, so it lives here, with the
    /// spec, for as long as the event is opened from it.
    pub target: std::ffi::CString,
    /// The tracefs-style format of the raw payload of its samples.
    pub format: String,
    /// Whether it is a uprobe.
    pub user: bool,
}

/// Why an event specification was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No event of that name exists.
    #[error("unknown event `{name}`{}: `strobe list` shows the events", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownEvent {
        /// The name given.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
    },
    /// A modifier letter is not supported.
    #[error("unknown modifier `{modifier}` in `{spec}`: modifiers are u (user), k (kernel), h (hypervisor), G (guest), H (host), p/pp/ppp (precise), P (most precise), S (read the group with the leader's samples)")]
    UnknownModifier {
        /// The whole spec.
        spec: String,
        /// The offending letter.
        modifier: char,
    },
    /// The list was empty, or had an empty element.
    #[error("empty event name in `{0}`")]
    Empty(String),
    /// The name is an event of other CPUs' tables, not of this CPU's.
    #[error("`{name}` is not an event of {}: it is one of {}; `--event-table NAME` uses another CPU's table", this.as_deref().map(|t| format!("this CPU's table ({t})")).unwrap_or_else(|| "this CPU (strobe has no table for it)".into()), tables.join(", "))]
    OtherCpuEvent {
        /// The name given.
        name: String,
        /// The table in use, if any.
        this: Option<String>,
        /// The tables that have the event.
        tables: Vec<String>,
    },
    /// Braces or slashes do not pair up.
    #[error(
        "malformed event list `{0}`: check the pairing of {{ }} and of the slashes in pmu/terms/"
    )]
    Malformed(String),
    /// A PMU term could not be encoded.
    #[error("{spec}: {source}")]
    Pmu {
        /// The spec with the term.
        spec: String,
        /// What was wrong.
        source: crate::pmu::PmuError,
    },
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

/// Edit distance between two short strings (Levenshtein), for "did you
/// mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
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
    /// A spec for `type_`/`config` with no modifiers.
    pub fn with_config(name: &str, type_: u32, config: u64) -> Self {
        EventSpec {
            name: name.to_string(),
            type_,
            config,
            config1: 0,
            config2: 0,
            exclude_user: false,
            exclude_kernel: false,
            exclude_hv: false,
            exclude_guest: false,
            exclude_host: false,
            precise_ip: 0,
            sample_read: false,
            group: None,
            period: None,
            tracepoint: None,
            filter: None,
            pmu_probe: None,
        }
    }

    /// Parses one generic event (software, hardware, cache or raw
    /// `rNNNN`), such as `cycles:u`. Events that need sysfs or tracefs
    /// (PMU terms, CPU tables, tracepoints) go through [`EventResolver`].
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let (name, modifiers) = split_modifiers(spec);
        if name.is_empty() {
            return Err(SpecError::Empty(spec.to_string()));
        }
        let (type_, config) = generic_event(name).ok_or_else(|| SpecError::UnknownEvent {
            name: name.to_string(),
            suggestion: closest_name(&name.to_ascii_lowercase()),
        })?;
        let mut event = EventSpec::with_config(spec, type_, config);
        event.apply_modifiers(spec, modifiers)?;
        Ok(event)
    }

    /// Applies perf's modifier letters, with perf's rules: the first of
    /// `u`, `k`, `h` excludes all three privilege levels and each letter
    /// then includes its own; likewise `G` and `H` for guest and host.
    pub fn apply_modifiers(&mut self, spec: &str, modifiers: &str) -> Result<(), SpecError> {
        let mut levels_chosen = self.exclude_user || self.exclude_kernel || self.exclude_hv;
        let mut virt_chosen = self.exclude_guest || self.exclude_host;
        for m in modifiers.chars() {
            match m {
                'u' | 'k' | 'h' => {
                    if !levels_chosen {
                        levels_chosen = true;
                        self.exclude_user = true;
                        self.exclude_kernel = true;
                        self.exclude_hv = true;
                    }
                    // perf counts the host only once a privilege level is
                    // named, unless G or H said otherwise.
                    if !virt_chosen {
                        self.exclude_guest = true;
                    }
                    match m {
                        'u' => self.exclude_user = false,
                        'k' => self.exclude_kernel = false,
                        _ => self.exclude_hv = false,
                    }
                }
                'G' | 'H' => {
                    if !virt_chosen {
                        virt_chosen = true;
                        self.exclude_guest = true;
                        self.exclude_host = true;
                    }
                    if m == 'G' {
                        self.exclude_guest = false;
                    } else {
                        self.exclude_host = false;
                    }
                }
                'p' => {
                    self.precise_ip = (self.precise_ip + 1).min(3);
                    if !virt_chosen {
                        self.exclude_guest = true;
                    }
                }
                'P' => self.precise_ip = 3,
                'S' => self.sample_read = true,
                other => {
                    return Err(SpecError::UnknownModifier {
                        spec: spec.to_string(),
                        modifier: other,
                    })
                }
            }
        }
        Ok(())
    }

    /// A tracepoint event, with the id tracefs gave it.
    pub fn tracepoint(tracepoint: TracepointName, id: u32) -> Self {
        let mut event =
            EventSpec::with_config(&tracepoint.to_string(), b::PERF_TYPE_TRACEPOINT, id as u64);
        event.tracepoint = Some(tracepoint);
        event
    }

    /// Whether the spec names a tracepoint (`system:event`) rather than a
    /// named event with modifiers (`cycles:u`, `INST_RETIRED.ANY:u`) or a
    /// PMU spec (`cpu/event=0x3c/`).
    pub fn looks_like_tracepoint(spec: &str) -> bool {
        let spec = spec.trim();
        if is_pmu_spec(spec) {
            return false;
        }
        match spec.split_once(':') {
            Some((name, rest)) => {
                let named = generic_event(name).is_some();
                // `cpu-clok:u` is a misspelt named event with a modifier,
                // not a tracepoint: tracepoint names are not a modifier's
                // letters, and contain neither a dash nor a dot.
                let modifiers_only = rest.chars().all(|c| MODIFIERS.contains(c));
                let misspelt_named = modifiers_only && (name.contains('-') || name.contains('.'));
                !(named || rest.is_empty() || misspelt_named)
            }
            None => spec.contains('/') && !spec.ends_with('/'),
        }
    }

    /// Parses a comma-separated `-e` list, looking events up in sysfs, the
    /// CPU's event table and tracefs as needed (see [`EventResolver`]).
    pub fn resolve_list(list: &str) -> crate::Result<Vec<Self>> {
        EventResolver::new().resolve_list(list)
    }

    /// Whether this is a tracepoint.
    pub fn is_tracepoint(&self) -> bool {
        self.type_ == b::PERF_TYPE_TRACEPOINT
    }

    /// Whether the event's samples carry a raw payload with a format, and
    /// every hit is a sample: tracepoints and ephemeral probes.
    pub fn is_trace_event(&self) -> bool {
        self.is_tracepoint() || self.pmu_probe.is_some()
    }

    /// The format of an ephemeral probe's payload.
    pub fn probe_format(&self) -> Option<&str> {
        self.pmu_probe.as_ref().map(|p| p.format.as_str())
    }

    /// Parses a comma-separated list of generic events, as given to `-e`.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, SpecError> {
        let mut events = Vec::new();
        for item in split_list(list)? {
            for (part, group_modifiers) in item.members() {
                let mut event = Self::parse(part)?;
                event.apply_modifiers(part, group_modifiers)?;
                event.name = with_group_modifiers(&event.name, group_modifiers);
                event.group = item.group;
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Whether this event needs the CPU's hardware PMU: generic hardware
    /// and cache events, and raw or table events of the CPU's PMU.
    pub fn is_hardware(&self) -> bool {
        matches!(
            self.type_,
            b::PERF_TYPE_HARDWARE | b::PERF_TYPE_HW_CACHE | b::PERF_TYPE_RAW
        )
    }

    /// The `perf_event_attr` for this event: type, config words,
    /// exclusions and precision; callers add sampling and reading.
    pub fn attr(&self) -> crate::EventAttr {
        // An ephemeral probe's config1 points at its target's name, which
        // lives in this spec.
        let config1 = match &self.pmu_probe {
            Some(probe) => probe.target.as_ptr() as u64,
            None => self.config1,
        };
        crate::EventAttr::new(self.type_, self.config)
            .extra_config(config1, self.config2)
            .exclude(self.exclude_user, self.exclude_kernel)
            .exclude_virtual(self.exclude_hv, self.exclude_guest, self.exclude_host)
            .precise_ip(self.precise_ip)
    }

    /// The `cpu-clock` event, strobe's fallback when there is no PMU.
    pub fn cpu_clock() -> Self {
        Self::parse("cpu-clock").expect("cpu-clock is a known event")
    }
}

/// Names a group member as perf does: the group's modifiers are appended
/// to the member's name (`page-faults` in `{...}:u` is `page-faults:u`).
fn with_group_modifiers(name: &str, modifiers: &str) -> String {
    if modifiers.is_empty() {
        name.to_string()
    } else if name.ends_with('/') || !name.contains(':') {
        format!("{name}:{modifiers}")
    } else {
        format!("{name}{modifiers}")
    }
}

/// The modifier letters perf accepts after `:` (and after a PMU spec's
/// closing slash).
const MODIFIERS: &str = "ukhGHpPS";

/// Splits `name:mods` at the last colon when what follows is modifiers.
fn split_modifiers(spec: &str) -> (&str, &str) {
    match spec.rsplit_once(':') {
        Some((name, mods)) if !name.is_empty() => (name, mods),
        _ => (spec, ""),
    }
}

/// A generic event by name: software, hardware, cache, or raw `rNNNN`.
fn generic_event(name: &str) -> Option<(u32, u64)> {
    let lower = name.to_ascii_lowercase();
    if let Some(&(_, c, _)) = SOFTWARE.iter().find(|e| e.0 == lower) {
        return Some((b::PERF_TYPE_SOFTWARE, c as u64));
    }
    if let Some(&(_, c, _)) = HARDWARE.iter().find(|e| e.0 == lower) {
        return Some((b::PERF_TYPE_HARDWARE, c as u64));
    }
    if let Some(&(_, c, _)) = HW_CACHE.iter().find(|e| e.0.eq_ignore_ascii_case(name)) {
        return Some((b::PERF_TYPE_HW_CACHE, c));
    }
    raw_event(name).map(|config| (b::PERF_TYPE_RAW, config))
}

/// `r1a8` or `r0x1a8`: a raw config for the CPU's PMU, in hexadecimal.
fn raw_event(name: &str) -> Option<u64> {
    let hex = name.strip_prefix('r')?;
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    if hex.is_empty() || hex.len() > 16 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// `pmu/terms/` with optional modifiers after the closing slash.
fn is_pmu_spec(spec: &str) -> bool {
    match (spec.find('/'), spec.rfind('/')) {
        (Some(first), Some(last)) if first > 0 && last > first => {
            let after = spec[last + 1..].trim_start_matches(':');
            after.chars().all(|c| MODIFIERS.contains(c))
        }
        _ => false,
    }
}

/// One element of an `-e` list: an event, or a `{...}` group with the
/// modifiers written after its closing brace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListItem<'a> {
    events: Vec<&'a str>,
    group_modifiers: &'a str,
    group: Option<u32>,
}

impl<'a> ListItem<'a> {
    fn members(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.events.iter().map(move |e| (*e, self.group_modifiers))
    }
}

/// Where the `pmu/terms/` region that starts with the slash at `open`
/// ends: the next slash, when what follows it is only modifiers up to the
/// end of the element. A lone slash (`sched/sched_switch`) opens nothing.
fn terms_end(text: &str, open: usize) -> Option<usize> {
    let close = open + 1 + text[open + 1..].find('/')?;
    let after = &text[close + 1..];
    let element_end = after.find([',', '}']).unwrap_or(after.len());
    after[..element_end]
        .trim_start_matches(':')
        .chars()
        .all(|c| MODIFIERS.contains(c))
        .then_some(close)
}

/// Splits `text` at the commas that separate elements: not those inside
/// `{...}` or between a PMU spec's slashes. `None` if braces do not pair.
fn split_top(text: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut depth = 0u32;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'/' => {
                if let Some(close) = terms_end(text, i) {
                    i = close;
                }
            }
            b'{' => depth += 1,
            b'}' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then(|| {
        parts.push(&text[start..]);
        parts
    })
}

/// Splits an `-e` list into events and `{...}:mods` groups.
fn split_list(list: &str) -> Result<Vec<ListItem<'_>>, SpecError> {
    let malformed = || SpecError::Malformed(list.to_string());
    let empty = || SpecError::Empty(list.to_string());
    let mut items = Vec::new();
    let mut next_group = 0u32;
    for element in split_top(list).ok_or_else(malformed)? {
        let element = element.trim();
        if element.is_empty() {
            return Err(empty());
        }
        let Some(inner_and_mods) = element.strip_prefix('{') else {
            if element.contains(['{', '}']) {
                return Err(malformed());
            }
            items.push(ListItem {
                events: vec![element],
                group_modifiers: "",
                group: None,
            });
            continue;
        };
        let close = inner_and_mods.rfind('}').ok_or_else(malformed)?;
        let inner = &inner_and_mods[..close];
        let modifiers = inner_and_mods[close + 1..].trim();
        let modifiers = match modifiers.strip_prefix(':') {
            Some(m) => m,
            None if modifiers.is_empty() => "",
            None => return Err(malformed()),
        };
        let mut events = Vec::new();
        for member in split_top(inner).ok_or_else(malformed)? {
            let member = member.trim();
            if member.is_empty() {
                return Err(empty());
            }
            if member.contains(['{', '}']) {
                return Err(malformed());
            }
            events.push(member);
        }
        items.push(ListItem {
            events,
            group_modifiers: modifiers,
            group: Some(next_group),
        });
        next_group += 1;
    }
    Ok(items)
}

/// Looks up events that need the system: PMUs in sysfs, the CPU's event
/// table, and tracepoints in tracefs (opened only when the list names one).
#[derive(Debug)]
pub struct EventResolver {
    sysfs_root: std::path::PathBuf,
    table: Option<&'static CpuTable>,
    tracefs: Option<Tracefs>,
}

impl Default for EventResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl EventResolver {
    /// A resolver for this machine: sysfs at its usual place, and the event
    /// table of the CPU it runs on (if strobe has one).
    pub fn new() -> Self {
        EventResolver {
            sysfs_root: crate::pmu::sysfs::DEFAULT_ROOT.into(),
            table: CpuId::detect().and_then(|id| tables::table_for(&id)),
            tracefs: None,
        }
    }

    /// Uses another CPU's event table (`--cpu NAME`).
    pub fn with_table(mut self, table: Option<&'static CpuTable>) -> Self {
        self.table = table;
        self
    }

    /// Reads PMUs from another sysfs tree (tests use fixtures).
    pub fn with_sysfs_root(mut self, root: impl Into<std::path::PathBuf>) -> Self {
        self.sysfs_root = root.into();
        self
    }

    /// The event table in use.
    pub fn table(&self) -> Option<&'static CpuTable> {
        self.table
    }

    /// Parses a comma-separated `-e` list with groups (`{a,b}:u`), PMU
    /// specs (`cpu/event=0x3c,umask=1/pp`), table events
    /// (`INST_RETIRED.ANY`), sysfs aliases and tracepoints (with globs,
    /// `sched:*`).
    pub fn resolve_list(&mut self, list: &str) -> crate::Result<Vec<EventSpec>> {
        let mut specs = Vec::new();
        // A uprobe's path has slashes that the PMU-spec splitting would
        // pair up; a list of plain events splits at every comma.
        if !list.contains(['{', '}'])
            && list
                .split(',')
                .any(|e| crate::dynamic::is_pmu_probe_spec(e.trim()))
        {
            for part in list.split(',').map(str::trim) {
                if part.is_empty() {
                    return Err(SpecError::Empty(list.to_string()).into());
                }
                if crate::dynamic::is_pmu_probe_spec(part) {
                    specs.push(crate::dynamic::pmu_probe(part, &self.sysfs_root)?);
                } else {
                    specs.extend(self.resolve_list(part)?);
                }
            }
            return Ok(specs);
        }
        for item in split_list(list)? {
            for (part, group_modifiers) in item.members() {
                if item.group.is_none() && self.is_tracepoint_spec(part) {
                    specs.extend(self.tracepoints(part)?);
                    continue;
                }
                let mut event = self.resolve_one(part)?;
                event.apply_modifiers(part, group_modifiers)?;
                event.name = with_group_modifiers(&event.name, group_modifiers);
                event.group = item.group;
                specs.push(event);
            }
        }
        Ok(specs)
    }

    fn is_tracepoint_spec(&self, part: &str) -> bool {
        if !EventSpec::looks_like_tracepoint(part) {
            return false;
        }
        // Table names with modifiers (`CPU_CYCLES:k`, `INST_RETIRED.ANY:u`)
        // are not tracepoints, but looks_like_tracepoint cannot know the
        // table's names.
        !part.split_once(':').is_some_and(|(name, rest)| {
            name.contains('.')
                || (rest.chars().all(|c| MODIFIERS.contains(c))
                    && self.table.is_some_and(|t| t.event(name).is_some()))
        })
    }

    /// One event that is not a tracepoint.
    fn resolve_one(&mut self, part: &str) -> crate::Result<EventSpec> {
        if is_pmu_spec(part) {
            return self.pmu_event(part);
        }
        let (name, modifiers) = split_modifiers(part);
        let mut event = if let Some((type_, config)) = generic_event(name) {
            EventSpec::with_config(part, type_, config)
        } else if let Some(event) = self.table_event(part, name)? {
            event
        } else if let Some(event) = self.core_alias(part, name)? {
            event
        } else {
            let elsewhere: Vec<String> = tables::tables()
                .iter()
                .filter(|t| t.event(name).is_some())
                .map(|t| t.name.clone())
                .collect();
            if !elsewhere.is_empty() {
                return Err(SpecError::OtherCpuEvent {
                    name: name.to_string(),
                    this: self.table.map(|t| t.name.clone()),
                    tables: elsewhere,
                }
                .into());
            }
            return Err(SpecError::UnknownEvent {
                name: name.to_string(),
                suggestion: self.closest(name),
            }
            .into());
        };
        event.apply_modifiers(part, modifiers)?;
        Ok(event)
    }

    /// An event of the CPU's table, encoded for the CPU's PMU.
    fn table_event(&self, spec: &str, name: &str) -> crate::Result<Option<EventSpec>> {
        let Some(table) = self.table else {
            return Ok(None);
        };
        let Some(entry) = table.event(name) else {
            return Ok(None);
        };
        let encoding = table.encode(entry).map_err(|source| SpecError::Pmu {
            spec: spec.to_string(),
            source,
        })?;
        // The CPU's PMU takes PERF_TYPE_RAW; a dynamic type from sysfs
        // (arm64's armv8_pmuv3_0) is used when the PMU is there.
        let type_ = self
            .core_pmu(&table.pmu)
            .map_or(b::PERF_TYPE_RAW, |pmu| pmu.type_);
        let mut event = EventSpec::with_config(spec, type_, encoding.config);
        event.config1 = encoding.config1;
        event.config2 = encoding.config2;
        Ok(Some(event))
    }

    /// The CPU's own PMU in sysfs: `cpu` on x86 and POWER, `armv8_pmuv3*`
    /// or `armv8_cortex_*` on arm64, `cpu_core` on Intel hybrids.
    fn core_pmu(&self, preferred: &str) -> Option<SysfsPmu> {
        if let Ok(pmu) = sysfs::find(&self.sysfs_root, preferred) {
            return Some(pmu);
        }
        let pmus = sysfs::discover(&self.sysfs_root).ok()?;
        pmus.into_iter().find(|p| {
            p.name == "cpu_core" || p.name.starts_with("armv8_") || p.name.starts_with("armv9_")
        })
    }

    /// A sysfs event alias of the CPU's PMU, such as `mem-loads`.
    fn core_alias(&self, spec: &str, name: &str) -> crate::Result<Option<EventSpec>> {
        let preferred = self.table.map_or("cpu", |t| t.pmu.as_str());
        let Some(pmu) = self.core_pmu(preferred) else {
            return Ok(None);
        };
        let Some(alias) = pmu.alias(name) else {
            return Ok(None);
        };
        // Encoding the alias by name checks its `?` placeholders.
        let by_name = [Term {
            name: alias.name.clone(),
            value: 1,
        }];
        let encoding = pmu.encode(&by_name).map_err(|source| SpecError::Pmu {
            spec: spec.to_string(),
            source,
        })?;
        let mut event = EventSpec::with_config(spec, pmu.type_, encoding.config);
        event.config1 = encoding.config1;
        event.config2 = encoding.config2;
        Ok(Some(event))
    }

    /// `pmu/term=value,.../modifiers`.
    fn pmu_event(&self, spec: &str) -> crate::Result<EventSpec> {
        let first = spec.find('/').expect("is_pmu_spec found a slash");
        let last = spec.rfind('/').expect("is_pmu_spec found a slash");
        let pmu_name = &spec[..first];
        let body = &spec[first + 1..last];
        let modifiers = spec[last + 1..].trim_start_matches(':');
        let pmu = sysfs::find(&self.sysfs_root, pmu_name)?;
        let pmu_error = |source| SpecError::Pmu {
            spec: spec.to_string(),
            source,
        };
        let mut name = None;
        let mut period = None;
        let mut terms = Vec::new();
        for raw in body.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match raw.split_once('=') {
                Some(("name", value)) => name = Some(value.to_string()),
                Some(("period", value)) => {
                    period = Some(
                        crate::pmu::format::parse_number(value)
                            .ok_or_else(|| pmu_error(crate::pmu::PmuError::BadTerm(raw.into())))?,
                    )
                }
                None if pmu.alias(raw).is_none() && self.table_entry_terms(&pmu, raw).is_some() => {
                    let table_terms = self.table_entry_terms(&pmu, raw).unwrap_or_default();
                    terms.extend(Term::parse_list(&table_terms).map_err(pmu_error)?);
                }
                _ => terms.extend(Term::parse_list(raw).map_err(pmu_error)?),
            }
        }
        let encoding = pmu.encode(&terms).map_err(pmu_error)?;
        let display = name.unwrap_or_else(|| spec.to_string());
        let mut event = EventSpec::with_config(&display, pmu.type_, encoding.config);
        event.config1 = encoding.config1;
        event.config2 = encoding.config2;
        event.period = period;
        event.apply_modifiers(spec, modifiers)?;
        Ok(event)
    }

    /// A table event's terms, when `pmu` is the table's CPU PMU.
    fn table_entry_terms(&self, pmu: &SysfsPmu, name: &str) -> Option<String> {
        let table = self.table?;
        let ours = pmu.name == table.pmu || pmu.name.starts_with(&table.pmu);
        ours.then(|| table.event(name).map(|e| e.terms.clone()))
            .flatten()
    }

    fn tracepoints(&mut self, part: &str) -> crate::Result<Vec<EventSpec>> {
        let fs = match &mut self.tracefs {
            Some(fs) => fs,
            None => self.tracefs.insert(Tracefs::open()?),
        };
        let mut specs = Vec::new();
        for tracepoint in fs.resolve(part)? {
            let id_file = std::path::Path::new("events")
                .join(&tracepoint.system)
                .join(&tracepoint.name)
                .join("id");
            let id =
                fs.read(&id_file)?
                    .trim()
                    .parse()
                    .map_err(|_| crate::Error::UnknownTracepoint {
                        pattern: tracepoint.to_string(),
                        suggestion: None,
                    })?;
            specs.push(EventSpec::tracepoint(tracepoint, id));
        }
        Ok(specs)
    }

    /// The known name closest to `name`: generic events, then the table's.
    fn closest(&self, name: &str) -> Option<String> {
        let table_names = self
            .table
            .into_iter()
            .flat_map(|t| t.events.iter().map(|e| e.name.clone()));
        closest(
            name,
            named_events()
                .map(|e| e.name.to_string())
                .chain(table_names),
        )
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
        assert_eq!(
            err,
            "unknown event `cpu-clok` (did you mean `cpu-clock`?): `strobe list` shows the events"
        );
        for far in ["zzzzzzzzzz", "foo", "xyz"] {
            let err = EventSpec::parse(far).unwrap_err().to_string();
            assert!(!err.contains("did you mean"), "{err}");
        }
    }

    #[test]
    fn modifiers_follow_perf() {
        // perf: the first of u/k/h excludes all three levels (and guests),
        // then each letter includes its own.
        let u = EventSpec::parse("cycles:u").unwrap();
        assert!(u.exclude_kernel && u.exclude_hv && !u.exclude_user && u.exclude_guest);
        let kh = EventSpec::parse("cycles:kh").unwrap();
        assert!(kh.exclude_user && !kh.exclude_kernel && !kh.exclude_hv);
        let g = EventSpec::parse("cycles:G").unwrap();
        assert!(g.exclude_host && !g.exclude_guest);
        let h = EventSpec::parse("cycles:H").unwrap();
        assert!(!h.exclude_host && h.exclude_guest);
        assert_eq!(EventSpec::parse("cycles:p").unwrap().precise_ip, 1);
        assert_eq!(EventSpec::parse("cycles:pp").unwrap().precise_ip, 2);
        assert_eq!(EventSpec::parse("cycles:ppp").unwrap().precise_ip, 3);
        assert_eq!(EventSpec::parse("cycles:pppp").unwrap().precise_ip, 3);
        assert_eq!(EventSpec::parse("cycles:P").unwrap().precise_ip, 3);
        assert!(EventSpec::parse("cycles:S").unwrap().sample_read);
        let attr = EventSpec::parse("cycles:upp").unwrap().attr();
        assert!(attr.excludes_kernel() && !attr.excludes_user());
        assert_eq!(attr.raw().precise_ip(), 2);
        assert_eq!(attr.raw().exclude_hv(), 1);
    }

    #[test]
    fn raw_events() {
        let e = EventSpec::parse("r01c0").unwrap();
        assert_eq!((e.type_, e.config), (b::PERF_TYPE_RAW, 0x1c0));
        assert!(e.is_hardware());
        assert_eq!(EventSpec::parse("r0x1a8:u").unwrap().config, 0x1a8);
        // Names that begin with r are not raw events.
        assert_eq!(
            EventSpec::parse("ref-cycles").unwrap().type_,
            b::PERF_TYPE_HARDWARE
        );
        assert!(EventSpec::parse("rxyz").is_err());
    }

    #[test]
    fn groups_and_pmu_commas() {
        let items =
            split_list("{cycles,instructions}:u,cpu/event=0x3c,umask=1/pp,sched:*").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].events, ["cycles", "instructions"]);
        assert_eq!((items[0].group_modifiers, items[0].group), ("u", Some(0)));
        assert_eq!(items[1].events, ["cpu/event=0x3c,umask=1/pp"]);
        assert_eq!(items[2].events, ["sched:*"]);
        let items = split_list("{a,b},{c,msr/tsc/}:k").unwrap();
        assert_eq!(items[1].group, Some(1));
        assert_eq!(items[1].events, ["c", "msr/tsc/"]);
        // A lone slash is a tracepoint's, not a PMU's.
        let items = split_list("sched/sched_switch,cycles").unwrap();
        assert_eq!(items.len(), 2);
        for bad in ["{cycles,instructions", "cycles}", "{a,{b}}", "{a}x"] {
            assert!(
                matches!(split_list(bad), Err(SpecError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(split_list("{a,,b}"), Err(SpecError::Empty(_))));

        let events = EventSpec::parse_list("{cycles,instructions}:u,page-faults").unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(
            (events[0].group, events[1].group, events[2].group),
            (Some(0), Some(0), None)
        );
        assert!(events[1].exclude_kernel && !events[1].exclude_user);
        assert!(!events[2].exclude_kernel);
        assert_eq!(events[1].name, "instructions:u");
        let events = EventSpec::parse_list("{cycles:k,page-faults}:u").unwrap();
        assert_eq!(
            (events[0].name.as_str(), events[1].name.as_str()),
            ("cycles:ku", "page-faults:u")
        );
    }

    #[test]
    fn pmu_specs_recognised() {
        assert!(is_pmu_spec("cpu/event=0x3c/"));
        assert!(is_pmu_spec("cpu/event=0x3c,umask=1/pp"));
        assert!(is_pmu_spec("msr/tsc/:u"));
        assert!(!is_pmu_spec("sched/sched_switch"));
        assert!(!is_pmu_spec("/x/"));
        assert!(!EventSpec::looks_like_tracepoint("cpu/event=0x3c/u"));
        assert!(!EventSpec::looks_like_tracepoint("INST_RETIRED.ANY:u"));
    }
}
