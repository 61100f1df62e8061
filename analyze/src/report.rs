//! `strobe report`: the histogram of samples by comm, DSO, symbol, and
//! the other sort keys, weighted by sample period as perf weighs them.

use crate::decode::Decoder;
use crate::symbols::{DsoCache, KernelSymbols};
use crate::AnalyzeError;
use linux_perf_event_reader::{CpuMode, EventRecord};
use std::collections::{BTreeMap, HashMap};
use strobe_record::format::reader::StrobeFile;

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

/// One line of the histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The values of the sort keys, in order.
    pub keys: Vec<String>,
    /// Summed sample periods.
    pub period: u64,
    /// Number of samples.
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
    /// Sample addresses that resolved to no symbol.
    pub unresolved: u64,
    /// Records that did not decode or chunks that were damaged.
    pub malformed: u64,
}

#[derive(Debug, Clone)]
struct Mapping {
    end: u64,
    pgoff: u64,
    path: String,
}

enum Item {
    Sample { event: usize, pid: i32, tid: i32, ip: u64, period: u64, cpu: Option<u32>, kernel: bool },
    Comm { pid: i32, tid: i32, name: String, exec: bool },
    Mmap { pid: i32, start: u64, mapping: Mapping },
    Fork { pid: i32, ppid: i32, tid: i32, ptid: i32 },
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
            Item::Sample { .. } => {}
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

/// Builds the report of `file`, keyed by `sort`.
pub fn build(file: &StrobeFile<'_>, sort: &[SortKey]) -> Result<Report, AnalyzeError> {
    let decoder = Decoder::new(&file.session)?;
    let mut items: Vec<(u64, Item)> = Vec::new();
    let stats = decoder.for_each(file, |d| {
        let item = match d.record {
            EventRecord::Sample(s) => Item::Sample {
                event: d.event,
                pid: s.pid.unwrap_or(-1),
                tid: s.tid.unwrap_or(-1),
                ip: s.ip.unwrap_or(0),
                period: s.period.unwrap_or(1),
                cpu: d.cpu,
                kernel: matches!(s.cpu_mode, CpuMode::Kernel | CpuMode::GuestKernel),
            },
            EventRecord::Comm(c) => Item::Comm {
                pid: c.pid,
                tid: c.tid,
                name: String::from_utf8_lossy(&c.name.as_slice()).into_owned(),
                exec: c.is_execve,
            },
            EventRecord::Mmap2(m) => Item::Mmap {
                pid: m.pid,
                start: m.address,
                mapping: Mapping {
                    end: m.address.saturating_add(m.length),
                    pgoff: m.page_offset,
                    path: String::from_utf8_lossy(&m.path.as_slice()).into_owned(),
                },
            },
            EventRecord::Mmap(m) => Item::Mmap {
                pid: m.pid,
                start: m.address,
                mapping: Mapping {
                    end: m.address.saturating_add(m.length),
                    pgoff: m.page_offset,
                    path: String::from_utf8_lossy(&m.path.as_slice()).into_owned(),
                },
            },
            EventRecord::Fork(f) => Item::Fork { pid: f.pid, ppid: f.ppid, tid: f.tid, ptid: f.ptid },
            _ => return,
        };
        let time = match &item {
            Item::Sample { .. } => d.time.unwrap_or(0),
            _ => d.time.unwrap_or(0),
        };
        items.push((time, item));
    });
    // Chunks of different CPUs interleave in time: side-band records must be
    // applied before the samples that follow them. A stable sort keeps the
    // kernel's order within a CPU for equal times.
    items.sort_by_key(|(time, _)| *time);

    let kernel = KernelSymbols::parse(&file.kallsyms());
    let mut dsos = DsoCache::default();
    let mut state = ProcessState::default();
    let mut histograms: Vec<HashMap<Vec<String>, (u64, u64)>> = vec![HashMap::new(); decoder.events().len()];
    let mut totals = vec![(0u64, 0u64); decoder.events().len()];
    let mut unresolved = 0;
    let mut symbol_cache: HashMap<(i32, u64), (String, String)> = HashMap::new();
    for (_, item) in &items {
        let Item::Sample { event, pid, tid, ip, period, cpu, kernel: in_kernel } = *item else {
            state.apply(item);
            continue;
        };
        let (dso, sym) = if let Some(hit) = symbol_cache.get(&(pid, ip)) {
            hit.clone()
        } else {
            let resolved = if in_kernel || ip >> 63 == 1 {
                match kernel.lookup(ip) {
                    Some((name, dso)) => (dso, format!("[k] {name}")),
                    None => ("[kernel.kallsyms]".to_string(), format!("[k] {ip:#x}")),
                }
            } else {
                match state.mapping(pid, ip) {
                    Some((start, mapping)) => {
                        let offset = ip - start + mapping.pgoff;
                        let sym = dsos.get(&mapping.path).and_then(|e| e.lookup_file_offset(offset)).map(|(n, _)| n.to_string());
                        (short_dso(&mapping.path), format!("[.] {}", sym.unwrap_or_else(|| "[unknown]".into())))
                    }
                    None => ("[unknown]".to_string(), "[.] [unknown]".to_string()),
                }
            };
            symbol_cache.insert((pid, ip), resolved.clone());
            resolved
        };
        if sym.ends_with("[unknown]") || sym.starts_with("[k] 0x") {
            unresolved += 1;
        }
        let comm = state.comms.get(&tid).cloned().unwrap_or_else(|| format!(":{tid}"));
        let keys: Vec<String> = sort
            .iter()
            .map(|k| match k {
                SortKey::Comm => comm.clone(),
                SortKey::Pid => format!("{pid}:{comm}"),
                SortKey::Tid => format!("{pid}:{tid}"),
                SortKey::Dso => dso.clone(),
                SortKey::Sym => sym.clone(),
                SortKey::Cpu => cpu.map_or("-".to_string(), |c| format!("{c:03}")),
            })
            .collect();
        let entry = histograms[event].entry(keys).or_default();
        entry.0 += period;
        entry.1 += 1;
        totals[event].0 += period;
        totals[event].1 += 1;
    }
    let events = decoder
        .events()
        .iter()
        .zip(histograms)
        .zip(totals)
        .map(|((info, histogram), (total_period, total_samples))| {
            let mut rows: Vec<Row> =
                histogram.into_iter().map(|(keys, (period, samples))| Row { keys, period, samples }).collect();
            rows.sort_by(|a, b| b.period.cmp(&a.period).then_with(|| a.keys.cmp(&b.keys)));
            EventReport { event: info.name.clone(), total_period, total_samples, rows }
        })
        .collect();
    Ok(Report { sort: sort.to_vec(), events, unresolved, malformed: stats.malformed + stats.damaged_chunks })
}
