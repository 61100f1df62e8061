//! `strobe report`: the histogram of samples by comm, DSO, symbol, and
//! the other sort keys, weighted by sample period as perf weighs them.

use crate::filter::{Filter, SampleView};
use crate::input::{Item, Recording, Sample};
use crate::symbols::{parse_perf_map, DsoCache, KernelSymbols};
use crate::AnalyzeError;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use strobe_record::format::records::{context, is_kernel_address};

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
    /// Source file and line of the sample (the innermost inlined frame's).
    Srcline,
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
                "srcline" => Ok(SortKey::Srcline),
                other => Err(format!(
                    "unknown sort key `{other}`: use comm, pid, tid, dso, sym, srcline, cpu"
                )),
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
            SortKey::Srcline => "srcline",
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
            SortKey::Srcline => "Source:Line",
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
    /// Build the call-graph tree of each row's samples.
    pub call_graph: Option<CallGraphOptions>,
    /// Collect folded stacks (`comm;outer;...;inner count`) for flame graphs.
    pub folded: bool,
}

/// Which way call-graph trees grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOrder {
    /// From the sampled function out to its callers (perf's `callee`).
    Callee,
    /// From the outermost caller in to the sampled function.
    Caller,
}

/// How call-graph trees are built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallGraphOptions {
    /// Tree direction.
    pub order: CallOrder,
    /// Branches below this percentage of the event's period are left out.
    pub min_percent: f64,
}

/// A node of a call-graph tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNode {
    /// The frame: a function, marked `(inlined)` with its source line when
    /// it was inlined into the next frame.
    pub frame: String,
    /// Summed period of the samples through this node.
    pub period: u64,
    /// Next frames, highest period first.
    pub children: Vec<CallNode>,
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
    /// The call chains of those samples, merged into a tree whose root is
    /// an unnamed node (with call-graph output).
    pub call_tree: Option<CallNode>,
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
    /// Total period before the filter: what `--percentage absolute` divides by.
    pub unfiltered_period: u64,
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
    /// Files whose build-id differs from the recorded one (rebuilt since);
    /// their samples show as `[unknown]`.
    pub stale_files: Vec<String>,
    /// Folded stacks of the samples that passed the filter, when asked for:
    /// `comm;outermost;...;innermost period`, one line per distinct stack.
    pub folded: Vec<String>,
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
            Item::Comm {
                pid,
                tid,
                name,
                exec,
            } => {
                if exec {
                    // exec replaces the address space; its new mappings follow.
                    self.maps.remove(&pid);
                    *self.generation.entry(pid).or_default() += 1;
                }
                let name = self.strings.intern(&String::from_utf8_lossy(name));
                self.comms.insert(tid, name);
            }
            Item::Mmap {
                pid,
                start,
                end,
                pgoff,
                path,
            } => {
                let path = self.strings.intern(&String::from_utf8_lossy(path));
                self.maps
                    .entry(pid)
                    .or_default()
                    .insert(start, Mapping { end, pgoff, path });
            }
            Item::Fork {
                pid,
                ppid,
                tid,
                ptid,
            } => {
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

/// Whether a mapping's name is one the kernel gives memory without a file,
/// where JIT compilers put their code.
fn is_anonymous(path: &str) -> bool {
    path == "//anon" || path.starts_with("[anon") || path.starts_with("/memfd:") || path == "[heap]"
}

fn short_dso(path: &str) -> &str {
    if path == "//anon" {
        return path;
    }
    if path.starts_with('[') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// The callers in a frame-pointer call chain, with whether each is a kernel
/// frame. The chain starts with the sample's own IP, which is skipped; the
/// others are return addresses, looked up one byte earlier so a call that
/// ends its function is credited to that function (perf looks them up as
/// they are, and names the next function then).
fn callers(chain: &[u64], ip: u64) -> impl Iterator<Item = (u64, bool)> + '_ {
    let mut kernel = false;
    let mut skipped_own_ip = false;
    chain.iter().filter_map(move |&entry| {
        if entry >= context::MARKER_MIN {
            kernel = entry == context::KERNEL;
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
    frame_cache: FxHashMap<(i32, u32, u64), (usize, usize)>,
    frame_store: Vec<u32>,
    srcline_cache: FxHashMap<(i32, u32, u64), u32>,
    jit_maps: FxHashMap<i32, Option<crate::symbols::SymbolTable>>,
}

impl<'k> Resolver<'k> {
    fn new(kernel: &'k KernelSymbols, recording: &Recording<'_>) -> Self {
        Resolver {
            kernel,
            dsos: DsoCache::with_build_ids(recording.build_ids.clone()),
            cache: FxHashMap::default(),
            names: Interner::default(),
            frame_cache: FxHashMap::default(),
            frame_store: Vec::new(),
            srcline_cache: FxHashMap::default(),
            jit_maps: FxHashMap::default(),
        }
    }

    /// The frames to show for an address in a call graph, innermost first:
    /// inlined functions (with their source lines), then the function.
    /// Interned, and cached per (process generation, address).
    fn frames(
        &mut self,
        state: &ProcessState,
        pid: i32,
        addr: u64,
        kernel_hint: bool,
        out: &mut Vec<u32>,
    ) {
        let generation = state.generation.get(&pid).copied().unwrap_or(0);
        if let Some(range) = self.frame_cache.get(&(pid, generation, addr)) {
            out.extend_from_slice(&self.frame_store[range.0..range.1]);
            return;
        }
        let start = self.frame_store.len();
        let location = self.resolve(state, pid, addr, kernel_hint);
        if !location.kernel {
            if let Some((map_start, mapping)) = state.mapping(pid, addr) {
                let path = state.strings.get(mapping.path).to_string();
                let frames = self
                    .dsos
                    .source_frames(&path, addr - map_start + mapping.pgoff);
                if frames.len() > 1 {
                    for frame in &frames[..frames.len() - 1] {
                        let text = match &frame.srcline {
                            Some(line) => format!("{} (inlined) {line}", frame.function),
                            None => format!("{} (inlined)", frame.function),
                        };
                        let id = self.names.intern(&text);
                        self.frame_store.push(id);
                    }
                }
            }
        }
        // The outermost frame is named by the symbol table, as rows are.
        self.frame_store.push(location.sym);
        let end = self.frame_store.len();
        self.frame_cache
            .insert((pid, generation, addr), (start, end));
        out.extend_from_slice(&self.frame_store[start..end]);
    }

    /// The source line of an address, `??:0` when unknown, interned.
    fn srcline(&mut self, state: &ProcessState, pid: i32, addr: u64, kernel_hint: bool) -> u32 {
        let generation = state.generation.get(&pid).copied().unwrap_or(0);
        if let Some(&id) = self.srcline_cache.get(&(pid, generation, addr)) {
            return id;
        }
        let mut line = None;
        if !(kernel_hint || is_kernel_address(addr)) {
            if let Some((start, mapping)) = state.mapping(pid, addr) {
                let path = state.strings.get(mapping.path).to_string();
                line = self
                    .dsos
                    .source_frames(&path, addr - start + mapping.pgoff)
                    .into_iter()
                    .find_map(|f| f.srcline);
            }
        }
        let id = self.names.intern(line.as_deref().unwrap_or("??:0"));
        self.srcline_cache.insert((pid, generation, addr), id);
        id
    }

    /// A symbol from the process's JIT map, /tmp/perf-PID.map, which JIT
    /// compilers (V8, the JVM with perf-map-agent, LuaJIT...) write for perf.
    fn jit_symbol(&mut self, pid: i32, addr: u64) -> Option<(String, String)> {
        let table = self.jit_maps.entry(pid).or_insert_with(|| {
            std::fs::read_to_string(format!("/tmp/perf-{pid}.map"))
                .ok()
                .map(|text| parse_perf_map(&text))
        });
        let (name, _) = table.as_ref()?.lookup(addr)?;
        Some((format!("perf-{pid}.map"), name.to_string()))
    }

    fn resolve(
        &mut self,
        state: &ProcessState,
        pid: i32,
        addr: u64,
        kernel_hint: bool,
    ) -> Location {
        let generation = state.generation.get(&pid).copied().unwrap_or(0);
        if let Some(&hit) = self.cache.get(&(pid, generation, addr)) {
            return hit;
        }
        let (dso, sym, kernel, unresolved) = if kernel_hint || is_kernel_address(addr) {
            match self.kernel.lookup(addr) {
                Some((name, dso)) => (dso, name.to_string(), true, false),
                None => (
                    "[kernel.kallsyms]".to_string(),
                    format!("{addr:#x}"),
                    true,
                    true,
                ),
            }
        } else {
            match state.mapping(pid, addr) {
                Some((start, mapping)) => {
                    let path = state.strings.get(mapping.path);
                    let offset = addr - start + mapping.pgoff;
                    let sym = self
                        .dsos
                        .get(path)
                        .and_then(|e| e.lookup_file_offset(offset))
                        .map(|(n, _)| n.to_string());
                    match sym {
                        Some(sym) => (short_dso(path).to_string(), sym, false, false),
                        // Code a JIT compiler wrote into anonymous memory.
                        None => match self.jit_symbol(pid, addr).filter(|_| is_anonymous(path)) {
                            Some((dso, name)) => (dso, name, false, false),
                            None => (
                                short_dso(path).to_string(),
                                "[unknown]".to_string(),
                                false,
                                true,
                            ),
                        },
                    }
                }
                None => match self.jit_symbol(pid, addr) {
                    Some((dso, name)) => (dso, name, false, false),
                    None => (
                        "[unknown]".to_string(),
                        "[unknown]".to_string(),
                        false,
                        true,
                    ),
                },
            }
        };
        let location = Location {
            dso: self.names.intern(&dso),
            sym: self.names.intern(&sym),
            kernel,
            unresolved,
        };
        self.cache.insert((pid, generation, addr), location);
        location
    }
}

/// Thread names and code locations as a pass over a recording learns
/// them, for analyzers other than the report (script).
pub(crate) struct Symbolizer<'k> {
    state: ProcessState,
    resolver: Resolver<'k>,
    /// Names the kernel saved for pids (`saved_cmdlines`), used only for a
    /// thread the records never name: the kernel keeps a pid's last name,
    /// which may be another process's that had the pid before.
    saved_comms: FxHashMap<i32, String>,
}

impl<'k> Symbolizer<'k> {
    pub(crate) fn new(kernel: &'k KernelSymbols, recording: &Recording<'_>) -> Self {
        Symbolizer {
            state: ProcessState::default(),
            resolver: Resolver::new(kernel, recording),
            saved_comms: recording.saved_comms.iter().cloned().collect(),
        }
    }

    /// Takes in a side-band item (names, mappings, forks).
    pub(crate) fn apply(&mut self, item: &Item<'_>) {
        self.state.apply(item);
    }

    /// The command name of a thread (its process's if it has none; then
    /// the kernel's saved name; perf's names for the idle task and for
    /// unknown threads otherwise).
    pub(crate) fn comm(&mut self, pid: i32, tid: i32) -> std::borrow::Cow<'_, str> {
        match self
            .state
            .comms
            .get(&tid)
            .or_else(|| self.state.comms.get(&pid))
        {
            Some(&id) => self.state.strings.get(id).into(),
            None if tid == 0 => "swapper".into(),
            None => match self.saved_comms.get(&tid) {
                Some(name) => name.as_str().into(),
                None => format!(":{tid}").into(),
            },
        }
    }

    /// Where an address is, as perf's scripting engines describe it: the
    /// shared object's full path (`[kernel.kallsyms]` or `[module]` in the
    /// kernel), and the symbol with the address's offset into it, each
    /// `None` when unknown.
    pub(crate) fn code_location(&mut self, pid: i32, addr: u64, kernel: bool) -> CodeLocation {
        if kernel || is_kernel_address(addr) {
            let kernel = self.resolver.kernel;
            return match kernel.lookup(addr) {
                Some((name, dso)) => CodeLocation {
                    dso: Some(dso),
                    symbol: Some(name.to_string()),
                    offset: kernel.lookup_offset(addr).map_or(0, |(_, o)| o),
                },
                None => CodeLocation {
                    dso: Some("[kernel.kallsyms]".to_string()),
                    symbol: None,
                    offset: 0,
                },
            };
        }
        let Some((start, mapping)) = self.state.mapping(pid, addr) else {
            return CodeLocation::default();
        };
        let path = self.state.strings.get(mapping.path).to_string();
        let found = self
            .resolver
            .dsos
            .get(&path)
            .and_then(|e| e.lookup_file_offset(addr - start + mapping.pgoff))
            .map(|(name, offset)| (name.to_string(), offset));
        CodeLocation {
            dso: Some(path),
            offset: found.as_ref().map_or(0, |f| f.1),
            symbol: found.map(|f| f.0),
        }
    }

    /// The shared object and symbol of an address.
    pub(crate) fn location(&mut self, pid: i32, addr: u64, kernel: bool) -> (String, String) {
        let loc = self.resolver.resolve(&self.state, pid, addr, kernel);
        (
            self.resolver.names.get(loc.dso).to_string(),
            self.resolver.names.get(loc.sym).to_string(),
        )
    }
}

/// An address's shared object and symbol; see [`Symbolizer::code_location`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CodeLocation {
    /// The shared object: a full path, `[kernel.kallsyms]` or `[module]`.
    pub dso: Option<String>,
    /// The symbol.
    pub symbol: Option<String>,
    /// The address's offset into the symbol.
    pub offset: u64,
}

/// A call-graph tree under construction; node 0 is the root. Nodes keep
/// their children in a small list: most have one or two, so a linear scan
/// beats a hash map in time and memory.
#[derive(Debug, Clone, Default)]
struct TreeBuilder {
    nodes: Vec<TreeNode>,
}

/// A tree node: its frame, summed period, and children as (frame, node index).
type TreeNode = (u32, u64, Vec<(u32, u32)>);

impl TreeBuilder {
    fn add(&mut self, frames: &[u32], period: u64) {
        if self.nodes.is_empty() {
            self.nodes.push((u32::MAX, 0, Vec::new()));
        }
        let mut node = 0;
        self.nodes[0].1 += period;
        for &frame in frames {
            let next = match self.nodes[node].2.iter().find(|(f, _)| *f == frame) {
                Some(&(_, next)) => next as usize,
                None => {
                    let next = self.nodes.len();
                    self.nodes.push((frame, 0, Vec::new()));
                    self.nodes[node].2.push((frame, next as u32));
                    next
                }
            };
            self.nodes[next].1 += period;
            node = next;
        }
    }

    fn finish(&self, node: usize, min_period: u64, name: &dyn Fn(u32) -> String) -> CallNode {
        let (frame, period, children) = &self.nodes[node];
        let mut kids: Vec<CallNode> = children
            .iter()
            .filter(|&&(_, c)| self.nodes[c as usize].1 >= min_period)
            .map(|&(_, c)| self.finish(c as usize, min_period, name))
            .collect();
        kids.sort_by(|a, b| b.period.cmp(&a.period).then_with(|| a.frame.cmp(&b.frame)));
        CallNode {
            frame: if *frame == u32::MAX {
                String::new()
            } else {
                name(*frame)
            },
            period: *period,
            children: kids,
        }
    }
}

/// A histogram key: one number per sort key (ids of interned strings,
/// pids, CPUs), so keys hash and compare without allocating.
type Key = [u64; 6];

/// Counts for one key.
#[derive(Debug, Clone, Default)]
struct Counts {
    period: u64,
    children_period: u64,
    samples: u64,
    tree: TreeBuilder,
}

/// Builds the report of a recording, streaming it once.
pub fn build(recording: &Recording<'_>, options: &ReportOptions) -> Result<Report, AnalyzeError> {
    build_with_progress(recording, options, &mut |_, _| {})
}

/// Like [`build`], telling `progress` (bytes read, of how many) as it goes.
pub fn build_with_progress(
    recording: &Recording<'_>,
    options: &ReportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, AnalyzeError> {
    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let mut resolver = Resolver::new(&kernel, recording);
    let wants_srcline = options.sort.contains(&SortKey::Srcline);
    let key_has_sym = options.sort.contains(&SortKey::Sym);
    let key_has_dso = key_has_sym || options.sort.contains(&SortKey::Dso);
    let has_name_filters = options.filter.has_name_filters();
    let mut frames: Vec<u32> = Vec::new();
    let mut folded: FxHashMap<Vec<u32>, u64> = FxHashMap::default();
    let mut state = ProcessState::default();
    let events_len = recording.events.len();
    let mut histograms: Vec<FxHashMap<Key, Counts>> = vec![FxHashMap::default(); events_len];
    let mut totals = vec![(0u64, 0u64); events_len];
    let mut all_periods = vec![0u64; events_len];
    let (mut unresolved, mut filtered_out) = (0u64, 0u64);
    let children = options.children && recording.call_graph;
    let sort = &options.sort;
    // Within one sample only the location parts of a key vary (comm, pid,
    // tid and CPU are the sample's), so entries are told apart by those.
    let mut seen: Vec<(u32, u32, u32)> = Vec::new();
    let key_for =
        |comm: u32, pid: i32, tid: i32, cpu: Option<u32>, loc: Location, srcline: u32| -> Key {
            let mut key = [0u64; 6];
            for (slot, k) in key.iter_mut().zip(sort) {
                *slot = match k {
                    SortKey::Comm => comm as u64,
                    SortKey::Pid => pid as u32 as u64 | (comm as u64) << 32,
                    SortKey::Tid => (pid as u32 as u64) << 32 | tid as u32 as u64,
                    SortKey::Dso => loc.dso as u64,
                    SortKey::Sym => {
                        loc.sym as u64 | (loc.dso as u64) << 32 | (loc.kernel as u64) << 63
                    }
                    SortKey::Cpu => cpu.map_or(u64::MAX, u64::from),
                    SortKey::Srcline => srcline as u64,
                };
            }
            key
        };
    let mut comm_placeholders: FxHashMap<i32, u32> = FxHashMap::default();
    let stats = recording.for_each_with_progress(
        |item| {
            let Item::Sample(Sample {
                event,
                pid,
                tid,
                ip,
                period,
                cpu,
                kernel: in_kernel,
                time,
                callchain,
                raw: _,
            }) = *item
            else {
                state.apply(item);
                return;
            };
            all_periods[event] += period;
            if !options.filter.passes_ids(pid, tid, cpu, time) {
                filtered_out += 1;
                return;
            }
            // A thread started before the recording could see it has no COMM
            // of its own; it has its process's name.
            let comm = match state.comms.get(&tid).or_else(|| state.comms.get(&pid)) {
                Some(&id) => id,
                // The idle task has no COMM record; perf calls it swapper.
                None if tid == 0 => *comm_placeholders
                    .entry(0)
                    .or_insert_with(|| state.strings.intern("swapper")),
                None => *comm_placeholders
                    .entry(tid)
                    .or_insert_with(|| state.strings.intern(&format!(":{tid}"))),
            };
            let loc = resolver.resolve(&state, pid, ip, in_kernel);
            if has_name_filters {
                let view = SampleView {
                    comm: state.strings.get(comm),
                    dso: resolver.names.get(loc.dso),
                    sym: resolver.names.get(loc.sym),
                    pid,
                    tid,
                    cpu,
                    time,
                };
                if !options.filter.passes_names(&view) {
                    filtered_out += 1;
                    return;
                }
            }
            if loc.unresolved {
                unresolved += 1;
            }
            let self_srcline = if wants_srcline {
                resolver.srcline(&state, pid, ip, in_kernel)
            } else {
                0
            };
            let self_key = key_for(comm, pid, tid, cpu, loc, self_srcline);
            let graph = options.call_graph.filter(|_| recording.call_graph);
            if graph.is_some() || options.folded {
                frames.clear();
                resolver.frames(&state, pid, ip, in_kernel, &mut frames);
                for (addr, kernel_frame) in callers(callchain, ip) {
                    resolver.frames(&state, pid, addr, kernel_frame, &mut frames);
                }
                if options.folded {
                    // Folded stacks read from the outermost frame in.
                    let mut stack: Vec<u32> = Vec::with_capacity(frames.len() + 1);
                    stack.push(comm);
                    stack.extend(frames.iter().rev());
                    *folded.entry(stack).or_insert(0) += period;
                }
                if graph.is_some_and(|g| g.order == CallOrder::Caller) {
                    frames.reverse();
                }
            }
            let histogram = &mut histograms[event];
            let counts = histogram.entry(self_key).or_default();
            counts.period += period;
            counts.samples += 1;
            // Without call chains, or with --no-children, Children is Self.
            counts.children_period += period;
            if graph.is_some() {
                counts.tree.add(&frames, period);
            }
            if children {
                // Every distinct entry on the chain, the sample's own included,
                // is credited once per sample, so recursion does not count twice.
                seen.clear();
                let distinct = |loc: Location, srcline: u32| {
                    (
                        if key_has_dso { loc.dso } else { 0 },
                        if key_has_sym {
                            loc.sym | (loc.kernel as u32) << 31
                        } else {
                            0
                        },
                        srcline,
                    )
                };
                seen.push(distinct(loc, self_srcline));
                for (addr, kernel_frame) in callers(callchain, ip) {
                    let location = resolver.resolve(&state, pid, addr, kernel_frame);
                    let srcline = if wants_srcline {
                        resolver.srcline(&state, pid, addr, kernel_frame)
                    } else {
                        0
                    };
                    let id = distinct(location, srcline);
                    if !seen.contains(&id) {
                        seen.push(id);
                        let key = key_for(comm, pid, tid, cpu, location, srcline);
                        histogram.entry(key).or_default().children_period += period;
                    }
                }
            }
            totals[event].0 += period;
            totals[event].1 += 1;
        },
        progress,
    )?;

    // Turn numeric keys back into text, once per row.
    let text_of = |key: &Key| -> Vec<String> {
        sort.iter()
            .zip(key)
            .map(|(k, &v)| match k {
                SortKey::Comm => state.strings.get(v as u32).to_string(),
                SortKey::Pid => format!(
                    "{}:{}",
                    v as u32 as i32,
                    state.strings.get((v >> 32) as u32)
                ),
                SortKey::Tid => format!("{}:{}", (v >> 32) as u32 as i32, v as u32 as i32),
                SortKey::Dso => resolver.names.get(v as u32).to_string(),
                SortKey::Sym => {
                    let mark = if v >> 63 == 1 { "[k]" } else { "[.]" };
                    format!("{mark} {}", resolver.names.get(v as u32))
                }
                SortKey::Cpu => {
                    if v == u64::MAX {
                        "-".to_string()
                    } else {
                        format!("{v:03}")
                    }
                }
                SortKey::Srcline => resolver.names.get(v as u32).to_string(),
            })
            .collect()
    };
    let events = recording
        .events
        .iter()
        .zip(histograms)
        .zip(totals)
        .zip(all_periods)
        .map(
            |(((name, histogram), (total_period, total_samples)), unfiltered_period)| {
                let min_period = options.call_graph.map_or(0, |g| {
                    (g.min_percent / 100.0 * unfiltered_period as f64).ceil() as u64
                });
                let frame_name = |id: u32| resolver.names.get(id).to_string();
                let mut rows: Vec<Row> = histogram
                    .iter()
                    .map(|(key, c)| Row {
                        keys: text_of(key),
                        period: c.period,
                        children_period: c.children_period,
                        samples: c.samples,
                        call_tree: (!c.tree.nodes.is_empty())
                            .then(|| c.tree.finish(0, min_period, &frame_name)),
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    (b.children_period, b.period)
                        .cmp(&(a.children_period, a.period))
                        .then_with(|| a.keys.cmp(&b.keys))
                });
                EventReport {
                    event: name.clone(),
                    total_period,
                    total_samples,
                    unfiltered_period,
                    rows,
                }
            },
        )
        .collect();
    let stale_files = std::mem::take(&mut resolver.dsos.stale);
    // Semicolons separate frames in folded stacks, so none may be in a name.
    let clean = |text: &str| text.replace(';', ":");
    let mut folded: Vec<String> = folded
        .into_iter()
        .map(|(stack, period)| {
            let mut line = clean(state.strings.get(stack[0]));
            for &frame in &stack[1..] {
                line.push(';');
                line.push_str(&clean(resolver.names.get(frame)));
            }
            format!("{line} {period}")
        })
        .collect();
    folded.sort();
    Ok(Report {
        sort: options.sort.clone(),
        events,
        children,
        unresolved,
        filtered_out,
        malformed: stats.malformed,
        lost: stats.lost,
        stale_files,
        folded,
    })
}

/// A code location as [`for_each_resolved`] names it: ids of the shared
/// object and symbol in [`ResolvedSample::name`]'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResolvedLocation {
    /// The shared object's name id.
    pub dso: u32,
    /// The symbol's name id.
    pub sym: u32,
    /// Whether it is kernel code.
    pub kernel: bool,
    /// Whether the address resolved to no symbol.
    pub unresolved: bool,
}

impl From<Location> for ResolvedLocation {
    fn from(l: Location) -> Self {
        ResolvedLocation {
            dso: l.dso,
            sym: l.sym,
            kernel: l.kernel,
            unresolved: l.unresolved,
        }
    }
}

/// A sample with its thread name and code locations resolved, as the
/// report resolves them; what [`for_each_resolved`] hands over. Names are
/// ids, stable for one pass, looked up with [`ResolvedSample::comm_name`]
/// and [`ResolvedSample::name`].
pub struct ResolvedSample<'a> {
    /// The sample as decoded.
    pub sample: &'a Sample<'a>,
    /// The thread's command name id (see [`ResolvedSample::comm_name`]).
    pub comm: u32,
    /// Where the sample was taken.
    pub location: ResolvedLocation,
    /// The callers' locations, innermost first (empty without call chains).
    pub callers: &'a [ResolvedLocation],
    /// The call-graph frames, innermost first, inlined frames included, as
    /// name ids (empty without call chains).
    pub frames: &'a [u32],
    /// The same for samples of one process image with the same instruction
    /// pointer and call chain, and so the same `location`, `callers` and
    /// `frames`: consumers may cache by it. `u32::MAX` when not cached.
    pub chain_id: u32,
    comms: &'a Interner,
    names: &'a Interner,
}

impl std::fmt::Debug for ResolvedSample<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSample")
            .field("sample", &self.sample)
            .field("comm", &self.comm_name(self.comm))
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl ResolvedSample<'_> {
    /// A command name by id.
    pub fn comm_name(&self, id: u32) -> &str {
        self.comms.get(id)
    }

    /// A shared object, symbol or frame name by id.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id)
    }
}

/// Streams a recording's samples with their names resolved as the report
/// resolves them (thread names, shared objects, symbols, and with
/// `call_chains` the callers and call-graph frames), for front ends that
/// aggregate samples their own way. Returns what the pass counted.
pub fn for_each_resolved(
    recording: &Recording<'_>,
    call_chains: bool,
    progress: &mut dyn FnMut(u64, u64),
    f: &mut dyn FnMut(&ResolvedSample<'_>),
) -> Result<crate::input::StreamStats, AnalyzeError> {
    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let mut resolver = Resolver::new(&kernel, recording);
    let mut state = ProcessState::default();
    let mut frames: Vec<u32> = Vec::new();
    let mut callers_of: Vec<ResolvedLocation> = Vec::new();
    let mut placeholders: FxHashMap<i32, u32> = FxHashMap::default();
    let saved: FxHashMap<i32, &str> = recording
        .saved_comms
        .iter()
        .map(|(pid, name)| (*pid, name.as_str()))
        .collect();
    let call_chains = call_chains && recording.call_graph;
    // Samples repeat the same few stacks: resolve each distinct (process
    // image, IP, chain) once. Entries are found by a hash of the chain and
    // checked against the stored chain.
    struct CachedChain {
        raw: Box<[u64]>,
        location: ResolvedLocation,
        frames: (usize, usize),
        callers: (usize, usize),
    }
    let mut cache_index: FxHashMap<(i32, u32, u64, bool, u64), u32> = FxHashMap::default();
    let mut cache: Vec<CachedChain> = Vec::new();
    let mut frame_store: Vec<u32> = Vec::new();
    let mut caller_store: Vec<ResolvedLocation> = Vec::new();
    recording.for_each_with_progress(
        |item| {
            let Item::Sample(sample) = item else {
                state.apply(item);
                return;
            };
            let (pid, tid) = (sample.pid, sample.tid);
            let comm = match state.comms.get(&tid).or_else(|| state.comms.get(&pid)) {
                Some(&id) => id,
                None => *placeholders.entry(tid).or_insert_with(|| {
                    let name = match saved.get(&tid) {
                        _ if tid == 0 => "swapper".to_string(),
                        Some(name) => name.to_string(),
                        None => format!(":{tid}"),
                    };
                    state.strings.intern(&name)
                }),
            };
            let with_chain = call_chains && !sample.callchain.is_empty();
            let generation = state.generation.get(&pid).copied().unwrap_or(0);
            let hash = {
                use std::hash::{Hash, Hasher};
                let mut h = rustc_hash::FxHasher::default();
                if with_chain {
                    sample.callchain.hash(&mut h);
                }
                h.finish()
            };
            let key = (pid, generation, sample.ip, sample.kernel, hash);
            let hit = cache_index
                .get(&key)
                .copied()
                .filter(|&i| !with_chain || *cache[i as usize].raw == *sample.callchain);
            let chain_id = match hit {
                Some(i) => i,
                None => {
                    let location: ResolvedLocation = resolver
                        .resolve(&state, pid, sample.ip, sample.kernel)
                        .into();
                    frames.clear();
                    callers_of.clear();
                    if with_chain {
                        resolver.frames(&state, pid, sample.ip, sample.kernel, &mut frames);
                        for (addr, kernel_frame) in callers(sample.callchain, sample.ip) {
                            resolver.frames(&state, pid, addr, kernel_frame, &mut frames);
                            callers_of
                                .push(resolver.resolve(&state, pid, addr, kernel_frame).into());
                        }
                    }
                    let f0 = frame_store.len();
                    frame_store.extend_from_slice(&frames);
                    let c0 = caller_store.len();
                    caller_store.extend_from_slice(&callers_of);
                    let id = cache.len() as u32;
                    cache.push(CachedChain {
                        raw: if with_chain {
                            sample.callchain.into()
                        } else {
                            Box::new([])
                        },
                        location,
                        frames: (f0, frame_store.len()),
                        callers: (c0, caller_store.len()),
                    });
                    // A hash collision keeps the first chain cached.
                    cache_index.entry(key).or_insert(id);
                    id
                }
            };
            let entry = &cache[chain_id as usize];
            f(&ResolvedSample {
                sample,
                comm,
                location: entry.location,
                callers: &caller_store[entry.callers.0..entry.callers.1],
                frames: &frame_store[entry.frames.0..entry.frames.1],
                chain_id,
                comms: &state.strings,
                names: &resolver.names,
            });
        },
        progress,
    )
}
