//! `strobe report`: the histogram of samples by comm, DSO, symbol, and
//! the other sort keys, weighted by sample period as perf weighs them.

use crate::filter::{Filter, SampleView};
use crate::symbols::{DsoCache, KernelSymbols};
use crate::input::{Item, Mapping, Recording, Sample};
use std::collections::{BTreeMap, HashMap};

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
}

/// Threads' names and processes' memory maps, rebuilt from side-band records.
#[derive(Default)]
struct ProcessState {
    comms: HashMap<i32, String>,
    maps: HashMap<i32, BTreeMap<u64, Mapping>>,
}

impl ProcessState {
    fn apply(&mut self, item: &Item) {
        match item {
            Item::Comm { pid, tid, name, exec } => {
                if *exec {
                    // exec replaces the address space; its new mappings follow.
                    self.maps.remove(pid);
                }
                self.comms.insert(*tid, name.clone());
            }
            Item::Mmap { pid, start, mapping } => {
                self.maps.entry(*pid).or_default().insert(*start, mapping.clone());
            }
            Item::Fork { pid, ppid, tid, ptid } => {
                if pid != ppid {
                    if let Some(parent) = self.maps.get(ppid).cloned() {
                        self.maps.insert(*pid, parent);
                    }
                }
                if let Some(name) = self.comms.get(ptid).cloned() {
                    self.comms.entry(*tid).or_insert(name);
                }
            }
            Item::Sample(_) => {}
        }
    }

    fn mapping(&self, pid: i32, addr: u64) -> Option<(u64, &Mapping)> {
        let (&start, mapping) = self.maps.get(&pid)?.range(..=addr).next_back()?;
        (addr < mapping.end).then_some((start, mapping))
    }
}

fn short_dso(path: &str) -> String {
    if path.starts_with('[') {
        path.to_string()
    } else {
        path.rsplit('/').next().unwrap_or(path).to_string()
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

/// Resolves addresses to (shared object, symbol), once per (pid, address).
struct Resolver<'k> {
    kernel: &'k KernelSymbols,
    dsos: DsoCache,
    cache: HashMap<(i32, u64), (String, String, bool)>,
}

impl Resolver<'_> {
    fn resolve(&mut self, state: &ProcessState, pid: i32, addr: u64, kernel_hint: bool) -> (String, String, bool) {
        if let Some(hit) = self.cache.get(&(pid, addr)) {
            return hit.clone();
        }
        let resolved = if kernel_hint || addr >> 63 == 1 {
            match self.kernel.lookup(addr) {
                Some((name, dso)) => (dso, name.to_string(), true),
                None => ("[kernel.kallsyms]".to_string(), format!("{addr:#x}"), true),
            }
        } else {
            match state.mapping(pid, addr) {
                Some((start, mapping)) => {
                    let offset = addr - start + mapping.pgoff;
                    let sym = self.dsos.get(&mapping.path).and_then(|e| e.lookup_file_offset(offset)).map(|(n, _)| n.to_string());
                    (short_dso(&mapping.path), sym.unwrap_or_else(|| "[unknown]".into()), false)
                }
                None => ("[unknown]".to_string(), "[unknown]".to_string(), false),
            }
        };
        self.cache.insert((pid, addr), resolved.clone());
        resolved
    }
}

/// Builds the report of a recording.
pub fn build(recording: &Recording, options: &ReportOptions) -> Report {
    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let mut resolver = Resolver { kernel: &kernel, dsos: DsoCache::default(), cache: HashMap::new() };
    let mut state = ProcessState::default();
    let events_len = recording.events.len();
    let mut histograms: Vec<HashMap<Vec<String>, Row>> = vec![HashMap::new(); events_len];
    let mut totals = vec![(0u64, 0u64); events_len];
    let mut unresolved = 0;
    let mut filtered_out = 0;
    let children = options.children && recording.call_graph;
    for item in &recording.items {
        let Item::Sample(Sample { event, pid, tid, ip, period, cpu, kernel: in_kernel, time, ref callchain }) = *item else {
            state.apply(item);
            continue;
        };
        if !options.filter.passes_ids(pid, tid, cpu, time) {
            filtered_out += 1;
            continue;
        }
        let comm = state.comms.get(&tid).cloned().unwrap_or_else(|| format!(":{tid}"));
        let (dso, sym, kernel_frame) = resolver.resolve(&state, pid, ip, in_kernel);
        let view = SampleView { comm: &comm, dso: &dso, sym: &sym, pid, tid, cpu, time };
        if !options.filter.passes(&view) {
            filtered_out += 1;
            continue;
        }
        if sym.starts_with("0x") || sym == "[unknown]" {
            unresolved += 1;
        }
        let key_for = |dso: &str, sym: &str, kernel_frame: bool| -> Vec<String> {
            options
                .sort
                .iter()
                .map(|k| match k {
                    SortKey::Comm => comm.clone(),
                    SortKey::Pid => format!("{pid}:{comm}"),
                    SortKey::Tid => format!("{pid}:{tid}"),
                    SortKey::Dso => dso.to_string(),
                    SortKey::Sym => format!("{} {sym}", if kernel_frame { "[k]" } else { "[.]" }),
                    SortKey::Cpu => cpu.map_or("-".to_string(), |c| format!("{c:03}")),
                })
                .collect()
        };
        let self_key = key_for(&dso, &sym, kernel_frame);
        let histogram = &mut histograms[event];
        let row = histogram.entry(self_key.clone()).or_insert_with(|| Row { keys: self_key.clone(), period: 0, children_period: 0, samples: 0 });
        row.period += period;
        row.samples += 1;
        if children {
            // Every distinct entry on the chain, the sample's own included,
            // is credited once per sample, so recursion does not count twice.
            let mut seen: Vec<Vec<String>> = vec![self_key];
            for (addr, kernel_frame) in callers(callchain, ip) {
                let (dso, sym, kernel_frame) = resolver.resolve(&state, pid, addr, kernel_frame);
                let key = key_for(&dso, &sym, kernel_frame);
                if !seen.contains(&key) {
                    seen.push(key);
                }
            }
            for key in seen {
                histogram
                    .entry(key.clone())
                    .or_insert_with(|| Row { keys: key, period: 0, children_period: 0, samples: 0 })
                    .children_period += period;
            }
        } else {
            row.children_period += period;
        }
        totals[event].0 += period;
        totals[event].1 += 1;
    }
    let events = recording
        .events
        .iter()
        .zip(histograms)
        .zip(totals)
        .map(|((name, histogram), (total_period, total_samples))| {
            let mut rows: Vec<Row> = histogram.into_values().collect();
            rows.sort_by(|a, b| {
                (b.children_period, b.period).cmp(&(a.children_period, a.period)).then_with(|| a.keys.cmp(&b.keys))
            });
            EventReport { event: name.clone(), total_period, total_samples, rows }
        })
        .collect();
    Report { sort: options.sort.clone(), events, children, unresolved, filtered_out, malformed: recording.malformed }
}
