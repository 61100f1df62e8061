//! `strobe report`: the histogram of samples by comm, DSO, symbol, and
//! the other sort keys, weighted by sample period as perf weighs them.

use crate::filter::{Filter, SampleView};
use crate::symbols::{DsoCache, KernelSymbols};
use crate::input::{Item, Recording, Sample};
use crate::AnalyzeError;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// A column the histogram is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SortKey {
    /// Command name of the thread.
    Comm,
    /// Process id.
    Pid,
    /// Thread id.
    Tid,
    /// Shared object (file, `[kernel.kallsyms]`, a module, or `[unknown]`).
    Dso,
    /// Symbol, with `[k]` for kernel and `[.]` for user space.
    Sym,
    /// CPU.
    Cpu,
}

impl SortKey {
    /// Parses a comma list such as `comm,dso,sym`.
    pub fn parse_list(text: &str) -> Result<Vec<SortKey>, String> {
        text.split(',')
            .map(|k| match k.trim() {
                "comm" => Ok(SortKey::Comm),
                "pid" => Ok(SortKey::Pid),
                "tid" => Ok(SortKey::Tid),
                "dso" => Ok(SortKey::Dso),
                "sym" | "symbol" => Ok(SortKey::Sym),
                "cpu" => Ok(SortKey::Cpu),
                other => Err(format!("unknown sort key `{other}`: use comm, pid, tid, dso, sym, cpu")),
            })
            .collect()
    }

    /// The key's name, as `--sort` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Comm => "comm",
            SortKey::Pid => "pid",
            SortKey::Tid => "tid",
            SortKey::Dso => "dso",
            SortKey::Sym => "sym",
            SortKey::Cpu => "cpu",
        }
    }

    /// The column header.
    pub fn header(self) -> &'static str {
        match self {
            SortKey::Comm => "Command",
            SortKey::Pid => "Pid",
            SortKey::Tid => "Tid",
            SortKey::Dso => "Shared Object",
            SortKey::Sym => "Symbol",
            SortKey::Cpu => "CPU",
        }
    }
}

/// How to build a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The columns rows are keyed by.
    pub sort: Vec<SortKey>,
    /// With call chains: also credit every caller of a sample (Children),
    /// beside the function the sample was taken in (Self).
    pub children: bool,
    /// Which samples count.
    pub filter: Filter,
}

/// One line of the histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The values of the sort keys, in order.
    pub keys: Vec<String>,
    /// Summed periods of the samples taken in this entry (Self).
    pub period: u64,
    /// Summed periods of the samples with this entry anywhere in their call
    /// chain (Children); equal to `period` without call chains.
    pub children_period: u64,
    /// Number of samples taken in this entry.
    pub samples: u64,
}

/// The histogram of one event.
#[derive(Debug, Clone, Default)]
pub struct EventReport {
    /// The event's name.
    pub event: String,
    /// Total period of its samples.
    pub total_period: u64,
    /// Its samples.
    pub total_samples: u64,
    /// Rows, highest period first.
    pub rows: Vec<Row>,
}

/// A whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The sort keys of every row.
    pub sort: Vec<SortKey>,
    /// One histogram per event.
    pub events: Vec<EventReport>,
    /// Whether rows carry Children figures (call chains were recorded and
    /// asked for).
    pub children: bool,
    /// Sample addresses that resolved to no symbol.
    pub unresolved: u64,
    /// Samples the filter left out.
    pub filtered_out: u64,
    /// Records that did not decode or chunks that were damaged.
    pub malformed: u64,
    /// Events reported lost by LOST records.
    pub lost: u64,
}

/// A mapping in a process, its path interned.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    end: u64,
    pgoff: u64,
    path: u32,
}

/// Threads' names and processes' memory maps, rebuilt from side-band
/// records. Names and paths are interned: `strings` holds each once.
#[derive(Default)]
struct ProcessState {
    strings: Interner,
    comms: FxHashMap<i32, u32>,
    maps: FxHashMap<i32, BTreeMap<u64, Mapping>>,
    /// Bumped when a process's address space changes wholesale (exec,
    /// fork), so cached resolutions of its addresses are not reused.
    generation: FxHashMap<i32, u32>,
}

/// Strings stored once and named by a number.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

impl ProcessState {
    fn apply(&mut self, item: &Item<'_>) {
        match *item {
            Item::Comm { pid, tid, name, exec } => {
                if exec {
                    // exec replaces the address space; its new mappings follow.
                    self.maps.remove(&pid);
                    *self.generation.entry(pid).or_default() += 1;
                }
                let name = self.strings.intern(&String::from_utf8_lossy(name));
                self.comms.insert(tid, name);
            }
            Item::Mmap { pid, start, end, pgoff, path } => {
                let path = self.strings.intern(&String::from_utf8_lossy(path));
                self.maps.entry(pid).or_default().insert(start, Mapping { end, pgoff, path });
            }
            Item::Fork { pid, ppid, tid, ptid } => {
                if pid != ppid {
                    if let Some(parent) = self.maps.get(&ppid).cloned() {
                        self.maps.insert(pid, parent);
                    }
                    *self.generation.entry(pid).or_default() += 1;
                }
                if let Some(&name) = self.comms.get(&ptid) {
                    self.comms.entry(tid).or_insert(name);
                }
            }
            Item::Sample(_) => {}
        }
    }

    fn mapping(&self, pid: i32, addr: u64) -> Option<(u64, Mapping)> {
        let (&start, mapping) = self.maps.get(&pid)?.range(..=addr).next_back()?;
        (addr < mapping.end).then_some((start, *mapping))
    }
}

fn short_dso(path: &str) -> &str {
    if path.starts_with('[') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// `PERF_CONTEXT_*` markers: the top 4095 values of u64 in a call chain.
const CONTEXT_MARKER_MIN: u64 = u64::MAX - 4094;
const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;

/// The callers in a frame-pointer call chain, with whether each is a kernel
/// frame. The chain starts with the sample's own IP, which is skipped; the
/// others are return addresses, looked up one byte earlier so a call that
/// ends its function is credited to that function, as perf does.
fn callers(chain: &[u64], ip: u64) -> impl Iterator<Item = (u64, bool)> + '_ {
    let mut kernel = false;
    let mut skipped_own_ip = false;
    chain.iter().filter_map(move |&entry| {
        if entry >= CONTEXT_MARKER_MIN {
            kernel = entry == PERF_CONTEXT_KERNEL;
            return None;
        }
        if !skipped_own_ip && entry == ip {
            skipped_own_ip = true;
            return None;
        }
        skipped_own_ip = true;
        Some((entry.saturating_sub(1), kernel))
    })
}

/// A resolved code location: shared object and symbol, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Location {
    dso: u32,
    sym: u32,
    kernel: bool,
    unresolved: bool,
}

/// Resolves addresses to locations, once per (process generation, address).
struct Resolver<'k> {
    kernel: &'k KernelSymbols,
    dsos: DsoCache,
    cache: FxHashMap<(i32, u32, u64), Location>,
    names: Interner,
}

impl Resolver<'_> {
    fn resolve(&mut self, state: &ProcessState, pid: i32, addr: u64, kernel_hint: bool) -> Location {
        let generation = state.generation.get(&pid).copied().unwrap_or(0);
        if let Some(&hit) = self.cache.get(&(pid, generation, addr)) {
            return hit;
        }
        let (dso, sym, kernel, unresolved) = if kernel_hint || addr >> 63 == 1 {
            match self.kernel.lookup(addr) {
                Some((name, dso)) => (dso, name.to_string(), true, false),
                None => ("[kernel.kallsyms]".to_string(), format!("{addr:#x}"), true, true),
            }
        } else {
            match state.mapping(pid, addr) {
                Some((start, mapping)) => {
                    let path = state.strings.get(mapping.path);
                    let offset = addr - start + mapping.pgoff;
                    let sym = self.dsos.get(path).and_then(|e| e.lookup_file_offset(offset)).map(|(n, _)| n.to_string());
                    let unresolved = sym.is_none();
                    (short_dso(path).to_string(), sym.unwrap_or_else(|| "[unknown]".into()), false, unresolved)
                }
                None => ("[unknown]".to_string(), "[unknown]".to_string(), false, true),
            }
        };
        let location = Location { dso: self.names.intern(&dso), sym: self.names.intern(&sym), kernel, unresolved };
        self.cache.insert((pid, generation, addr), location);
        location
    }
}

/// A histogram key: one number per sort key (ids of interned strings,
/// pids, CPUs), so keys hash and compare without allocating.
type Key = [u64; 6];

/// Counts for one key.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    period: u64,
    children_period: u64,
    samples: u64,
}

/// Builds the report of a recording, streaming it once.
pub fn build(recording: &Recording<'_>, options: &ReportOptions) -> Result<Report, AnalyzeError> {
    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let mut resolver = Resolver { kernel: &kernel, dsos: DsoCache::default(), cache: FxHashMap::default(), names: Interner::default() };
    let mut state = ProcessState::default();
    let events_len = recording.events.len();
    let mut histograms: Vec<FxHashMap<Key, Counts>> = vec![FxHashMap::default(); events_len];
    let mut totals = vec![(0u64, 0u64); events_len];
    let (mut unresolved, mut filtered_out) = (0u64, 0u64);
    let children = options.children && recording.call_graph;
    let sort = &options.sort;
    let mut seen: Vec<Key> = Vec::new();
    let key_for = |comm: u32, pid: i32, tid: i32, cpu: Option<u32>, loc: Location| -> Key {
        let mut key = [0u64; 6];
        for (slot, k) in key.iter_mut().zip(sort) {
            *slot = match k {
                SortKey::Comm => comm as u64,
                SortKey::Pid => pid as u32 as u64 | (comm as u64) << 32,
                SortKey::Tid => (pid as u32 as u64) << 32 | tid as u32 as u64,
                SortKey::Dso => loc.dso as u64,
                SortKey::Sym => loc.sym as u64 | (loc.dso as u64) << 32 | (loc.kernel as u64) << 63,
                SortKey::Cpu => cpu.map_or(u64::MAX, u64::from),
            };
        }
        key
    };
    let mut comm_placeholders: FxHashMap<i32, u32> = FxHashMap::default();
    let stats = recording.for_each(|item| {
        let Item::Sample(Sample { event, pid, tid, ip, period, cpu, kernel: in_kernel, time, callchain }) = *item else {
            state.apply(item);
            return;
        };
        if !options.filter.passes_ids(pid, tid, cpu, time) {
            filtered_out += 1;
            return;
        }
        let comm = match state.comms.get(&tid) {
            Some(&id) => id,
            None => *comm_placeholders.entry(tid).or_insert_with(|| state.strings.intern(&format!(":{tid}"))),
        };
        let loc = resolver.resolve(&state, pid, ip, in_kernel);
        if !options.filter.is_empty() {
            let view = SampleView {
                comm: state.strings.get(comm),
                dso: resolver.names.get(loc.dso),
                sym: resolver.names.get(loc.sym),
                pid,
                tid,
                cpu,
                time,
            };
            if !options.filter.passes(&view) {
                filtered_out += 1;
                return;
            }
        }
        if loc.unresolved {
            unresolved += 1;
        }
        let self_key = key_for(comm, pid, tid, cpu, loc);
        let histogram = &mut histograms[event];
        let counts = histogram.entry(self_key).or_default();
        counts.period += period;
        counts.samples += 1;
        if children {
            // Every distinct entry on the chain, the sample's own included,
            // is credited once per sample, so recursion does not count twice.
            seen.clear();
            seen.push(self_key);
            for (addr, kernel_frame) in callers(callchain, ip) {
                let key = key_for(comm, pid, tid, cpu, resolver.resolve(&state, pid, addr, kernel_frame));
                if !seen.contains(&key) {
                    seen.push(key);
                }
            }
            for key in &seen {
                histogram.entry(*key).or_default().children_period += period;
            }
        } else {
            counts.children_period += period;
        }
        totals[event].0 += period;
        totals[event].1 += 1;
    })?;

    // Turn numeric keys back into text, once per row.
    let text_of = |key: &Key| -> Vec<String> {
        sort.iter()
            .zip(key)
            .map(|(k, &v)| match k {
                SortKey::Comm => state.strings.get(v as u32).to_string(),
                SortKey::Pid => format!("{}:{}", v as u32 as i32, state.strings.get((v >> 32) as u32)),
                SortKey::Tid => format!("{}:{}", (v >> 32) as u32 as i32, v as u32 as i32),
                SortKey::Dso => resolver.names.get(v as u32).to_string(),
                SortKey::Sym => {
                    let mark = if v >> 63 == 1 { "[k]" } else { "[.]" };
                    format!("{mark} {}", resolver.names.get(v as u32))
                }
                SortKey::Cpu => if v == u64::MAX { "-".to_string() } else { format!("{v:03}") },
            })
            .collect()
    };
    let events = recording
        .events
        .iter()
        .zip(histograms)
        .zip(totals)
        .map(|((name, histogram), (total_period, total_samples))| {
            let mut rows: Vec<Row> = histogram
                .iter()
                .map(|(key, c)| Row { keys: text_of(key), period: c.period, children_period: c.children_period, samples: c.samples })
                .collect();
            rows.sort_by(|a, b| {
                (b.children_period, b.period).cmp(&(a.children_period, a.period)).then_with(|| a.keys.cmp(&b.keys))
            });
            EventReport { event: name.clone(), total_period, total_samples, rows }
        })
        .collect();
    Ok(Report { sort: options.sort.clone(), events, children, unresolved, filtered_out, malformed: stats.malformed, lost: stats.lost })
}
