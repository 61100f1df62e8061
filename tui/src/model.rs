//! What the interface shows, loaded once: samples folded into classes that
//! share every shown attribute (thread, CPU, location, call chain, and a
//! time bucket), the tracepoint events, and the header lines.
//!
//! Folding keeps memory proportional to the distinct (thread, CPU, stack,
//! time bucket) combinations, not to the number of samples, and lets every
//! view re-aggregate in milliseconds when a key changes the filter, the
//! sort keys or the time window.

use rustc_hash::FxHashMap;
use std::sync::Arc;
use strobe_analyze::input::Recording;
use strobe_analyze::report::{self, ResolvedLocation, ResolvedSample};
use strobe_analyze::symbols::KernelSymbols;
use strobe_probe::tracefs::format::{KernelSymbolizer, TracepointFormat};

/// The most time buckets a recording is divided into. Bucket widths double
/// until the recording fits, so a bucket is between 1/`MAX_BUCKETS` and
/// 2/`MAX_BUCKETS` of the recording.
pub const MAX_BUCKETS: u32 = 1024;

/// The most tracepoint events kept for the events view; the rest are
/// counted and the view says so.
pub const MAX_TRACE_EVENTS: usize = 500_000;

/// Samples that share all shown attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// Event index.
    pub event: u16,
    /// Command name id.
    pub comm: u32,
    /// Process.
    pub pid: i32,
    /// Thread.
    pub tid: i32,
    /// CPU, or `u32::MAX` when unknown.
    pub cpu: u32,
    /// Where the samples were taken.
    pub location: Location,
    /// The location's id in [`Model::locations`], set when the model is
    /// finished.
    pub loc: u32,
    /// Call-graph frames id (innermost first) in [`Model::stacks`].
    pub stack: u32,
    /// Callers' locations id in [`Model::chains`].
    pub chain: u32,
    /// Time bucket.
    pub bucket: u32,
    /// Summed period.
    pub period: u64,
    /// Number of samples.
    pub samples: u64,
}

/// A shared object and symbol, as name ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// Shared object name id.
    pub dso: u32,
    /// Symbol name id.
    pub sym: u32,
    /// Kernel code.
    pub kernel: bool,
}

/// One tracepoint or probe event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Timestamp, ns.
    pub time: u64,
    /// CPU, or `u32::MAX`.
    pub cpu: u32,
    /// Process.
    pub pid: i32,
    /// Thread.
    pub tid: i32,
    /// Command name id.
    pub comm: u32,
    /// Event index.
    pub event: u16,
    /// The event printed as `perf script` prints it.
    pub text: String,
    /// The fields, by name, decoded.
    pub fields: Vec<(String, String)>,
}

/// A loaded recording.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Event names, by index.
    pub events: Vec<String>,
    /// Names: commands, shared objects, symbols and frames.
    pub names: Vec<String>,
    /// Call-graph frame lists, innermost first; id 0 is empty.
    pub stacks: Vec<Box<[u32]>>,
    /// Callers' locations, innermost first; id 0 is empty.
    pub chains: Vec<Box<[Location]>>,
    /// The distinct locations of the samples and of their callers, which
    /// [`Class::loc`] and [`Model::chain_distinct`] name by index.
    pub locations: Vec<Location>,
    /// Each chain's distinct locations, in order, as ids in `locations`:
    /// chain `i`'s are `chain_locs[chain_start[i]..chain_start[i + 1]]`
    /// (one list, not one allocation a chain, so that walking many
    /// chains stays in few cache lines).
    chain_locs: Vec<u32>,
    chain_start: Vec<u32>,
    /// The stacks as a trie in caller order (outermost frame first): each
    /// node's parent (node 0 is the root) and frame. A parent's index is
    /// below its children's.
    pub trie: Vec<(u32, u32)>,
    /// The trie node each stack ends at, by stack id.
    pub stack_node: Vec<u32>,
    /// The sample classes.
    pub classes: Vec<Class>,
    /// The classes merged over time (bucket 0), for views without a time
    /// window.
    pub merged: Vec<Class>,
    /// The classes merged over time and stacks (bucket 0, stack 0): what
    /// the report's rows need without a time window, and far fewer.
    pub row_classes: Vec<Class>,
    /// Time of the first sample, ns.
    pub time_start: u64,
    /// Width of a time bucket, ns (at least 1).
    pub bucket_ns: u64,
    /// Number of buckets in use.
    pub buckets: u32,
    /// Tracepoint and probe events, in time order.
    pub trace_events: Vec<TraceEvent>,
    /// Tracepoint events beyond [`MAX_TRACE_EVENTS`], not kept.
    pub trace_events_dropped: u64,
    /// What `strobe info` shows, a line each.
    pub header: Vec<String>,
    /// Whether the recording has call chains.
    pub call_graph: bool,
    /// Samples in all.
    pub samples: u64,
    /// Records that did not decode or damaged chunks.
    pub malformed: u64,
    /// Events lost while recording.
    pub lost: u64,
}

impl Model {
    /// A chain's distinct locations, in order, as ids in
    /// [`Model::locations`].
    pub fn chain_distinct(&self, chain: u32) -> &[u32] {
        let i = chain as usize;
        match (self.chain_start.get(i), self.chain_start.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.chain_locs[start as usize..end as usize],
            _ => &[],
        }
    }

    /// A name by id.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    /// The time at the start of a bucket, ns from the first sample.
    pub fn bucket_offset(&self, bucket: u32) -> u64 {
        bucket as u64 * self.bucket_ns
    }

    /// The CPUs that have samples, ascending.
    pub fn cpus(&self) -> Vec<u32> {
        let mut cpus: Vec<u32> = self.classes.iter().map(|c| c.cpu).collect();
        cpus.sort_unstable();
        cpus.dedup();
        cpus
    }
}

/// Key of a class while loading (everything but the counts).
type ClassKey = (u16, u32, i32, i32, u32, Location, u32, u32, u32);

/// Builds a [`Model`] sample by sample; tests feed it directly, and
/// [`load`] feeds it from a recording.
#[derive(Debug, Default)]
pub struct ModelBuilder {
    model: Model,
    name_ids: FxHashMap<String, u32>,
    stack_ids: FxHashMap<Box<[u32]>, u32>,
    trie_ids: FxHashMap<(u32, u32), u32>,
    chain_ids: FxHashMap<Box<[Location]>, u32>,
    class_ids: FxHashMap<ClassKey, u32>,
    start: Option<u64>,
}

/// One sample, with names, for [`ModelBuilder::add`].
#[derive(Debug, Clone, Copy)]
pub struct SampleIn<'a> {
    /// Event index.
    pub event: u16,
    /// Timestamp, ns.
    pub time: u64,
    /// CPU, or `u32::MAX`.
    pub cpu: u32,
    /// Process.
    pub pid: i32,
    /// Thread.
    pub tid: i32,
    /// Command name id from [`ModelBuilder::intern`].
    pub comm: u32,
    /// Where it was taken.
    pub location: Location,
    /// Frames, innermost first, as name ids.
    pub frames: &'a [u32],
    /// Callers' locations, innermost first.
    pub callers: &'a [Location],
    /// Weight.
    pub period: u64,
}

impl ModelBuilder {
    /// A builder for a recording of these events.
    pub fn new(events: Vec<String>, call_graph: bool) -> Self {
        let mut builder = ModelBuilder::default();
        builder.model.events = events;
        builder.model.call_graph = call_graph;
        builder.model.stacks.push(Box::new([]));
        builder.model.trie.push((u32::MAX, u32::MAX));
        builder.model.stack_node.push(0);
        builder.model.chains.push(Box::new([]));
        builder.model.bucket_ns = 1_000_000;
        builder.stack_ids.insert(Box::new([]), 0);
        builder.chain_ids.insert(Box::new([]), 0);
        builder
    }

    /// The id of a name, adding it.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.model.names.len() as u32;
        self.model.names.push(name.to_string());
        self.name_ids.insert(name.to_string(), id);
        id
    }

    /// The location of a shared object and symbol, interning both.
    pub fn location(&mut self, dso: &str, sym: &str, kernel: bool) -> Location {
        Location {
            dso: self.intern(dso),
            sym: self.intern(sym),
            kernel,
        }
    }

    /// Sets the header lines.
    pub fn header(&mut self, lines: Vec<String>) {
        self.model.header = lines;
    }

    fn bucket_of(&mut self, time: u64) -> u32 {
        let start = *self.start.get_or_insert(time);
        if time < start {
            // Samples come in time order; a stray earlier one joins the first bucket.
            return 0;
        }
        loop {
            let bucket = (time - start) / self.model.bucket_ns;
            if bucket < MAX_BUCKETS as u64 {
                return bucket as u32;
            }
            self.widen_buckets();
        }
    }

    /// Doubles the bucket width and merges the classes that now share one.
    fn widen_buckets(&mut self) {
        self.model.bucket_ns *= 2;
        let classes = std::mem::take(&mut self.model.classes);
        self.class_ids.clear();
        for mut class in classes {
            class.bucket /= 2;
            let key = key_of(&class);
            match self.class_ids.get(&key) {
                Some(&i) => {
                    let merged = &mut self.model.classes[i as usize];
                    merged.period += class.period;
                    merged.samples += class.samples;
                }
                None => {
                    self.class_ids.insert(key, self.model.classes.len() as u32);
                    self.model.classes.push(class);
                }
            }
        }
    }

    /// The id of a frame list, adding it.
    pub fn stack(&mut self, frames: &[u32]) -> u32 {
        if let Some(&id) = self.stack_ids.get(frames) {
            return id;
        }
        let id = self.model.stacks.len() as u32;
        self.model.stacks.push(frames.into());
        self.stack_ids.insert(frames.into(), id);
        let mut node = 0u32;
        for &frame in frames.iter().rev() {
            node = match self.trie_ids.get(&(node, frame)) {
                Some(&next) => next,
                None => {
                    let next = self.model.trie.len() as u32;
                    self.model.trie.push((node, frame));
                    self.trie_ids.insert((node, frame), next);
                    next
                }
            };
        }
        self.model.stack_node.push(node);
        id
    }

    /// The id of a list of callers' locations, adding it.
    pub fn chain(&mut self, callers: &[Location]) -> u32 {
        if let Some(&id) = self.chain_ids.get(callers) {
            return id;
        }
        let id = self.model.chains.len() as u32;
        self.model.chains.push(callers.into());
        self.chain_ids.insert(callers.into(), id);
        id
    }

    /// Adds a sample.
    pub fn add(&mut self, s: &SampleIn<'_>) {
        let stack = self.stack(s.frames);
        let chain = self.chain(s.callers);
        self.add_with_ids(s, stack, chain);
    }

    /// Adds a sample whose frames and callers are already interned as
    /// `stack` and `chain` (its own `frames` and `callers` are ignored).
    pub fn add_with_ids(&mut self, s: &SampleIn<'_>, stack: u32, chain: u32) {
        let bucket = self.bucket_of(s.time);
        let key: ClassKey = (
            s.event, s.comm, s.pid, s.tid, s.cpu, s.location, stack, chain, bucket,
        );
        self.model.samples += 1;
        match self.class_ids.get(&key) {
            Some(&i) => {
                let class = &mut self.model.classes[i as usize];
                class.period += s.period;
                class.samples += 1;
            }
            None => {
                self.class_ids.insert(key, self.model.classes.len() as u32);
                self.model.classes.push(Class {
                    event: s.event,
                    comm: s.comm,
                    pid: s.pid,
                    tid: s.tid,
                    cpu: s.cpu,
                    location: s.location,
                    loc: 0,
                    stack,
                    chain,
                    bucket,
                    period: s.period,
                    samples: 1,
                });
            }
        }
    }

    /// Adds a decoded tracepoint event (after its sample).
    pub fn add_trace_event(&mut self, event: TraceEvent) {
        if self.model.trace_events.len() >= MAX_TRACE_EVENTS {
            self.model.trace_events_dropped += 1;
            return;
        }
        self.model.trace_events.push(event);
    }

    /// The model of what was added so far.
    pub fn snapshot(&self) -> Model {
        let builder = ModelBuilder {
            model: self.model.clone(),
            start: self.start,
            ..Default::default()
        };
        builder.finish()
    }

    /// The model.
    pub fn finish(mut self) -> Model {
        self.model.time_start = self.start.unwrap_or(0);
        self.model.buckets = self
            .model
            .classes
            .iter()
            .map(|c| c.bucket + 1)
            .max()
            .unwrap_or(0);
        self.model.trace_events.sort_by_key(|e| e.time);
        // Location ids: for the classes first, then for the callers.
        let mut ids: FxHashMap<Location, u32> = FxHashMap::default();
        let locations = &mut self.model.locations;
        locations.clear();
        let mut intern = |l: Location| {
            *ids.entry(l).or_insert_with(|| {
                locations.push(l);
                locations.len() as u32 - 1
            })
        };
        for c in &mut self.model.classes {
            c.loc = intern(c.location);
        }
        let (chain_locs, chain_start) = (&mut self.model.chain_locs, &mut self.model.chain_start);
        chain_locs.clear();
        chain_start.clear();
        chain_start.push(0);
        for chain in &self.model.chains {
            let start = chain_locs.len();
            for l in chain.iter() {
                let id = intern(*l);
                if !chain_locs[start..].contains(&id) {
                    chain_locs.push(id);
                }
            }
            chain_start.push(chain_locs.len() as u32);
        }
        self.model.merged = merge(&self.model.classes, |c| c.bucket = 0);
        self.model.row_classes = merge(&self.model.merged, |c| c.stack = 0);
        self.model
    }
}

/// The classes with `clear` applied to each, those that then share a key
/// merged.
fn merge(classes: &[Class], clear: impl Fn(&mut Class)) -> Vec<Class> {
    let mut index: FxHashMap<ClassKey, usize> = FxHashMap::default();
    let mut merged: Vec<Class> = Vec::new();
    for class in classes {
        let mut c = *class;
        clear(&mut c);
        match index.get(&key_of(&c)) {
            Some(&i) => {
                merged[i].period += c.period;
                merged[i].samples += c.samples;
            }
            None => {
                index.insert(key_of(&c), merged.len());
                merged.push(c);
            }
        }
    }
    merged
}

fn key_of(c: &Class) -> ClassKey {
    (
        c.event, c.comm, c.pid, c.tid, c.cpu, c.location, c.stack, c.chain, c.bucket,
    )
}

struct Kernel<'a>(&'a KernelSymbols);

impl KernelSymbolizer for Kernel<'_> {
    fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
        self.0.lookup_offset(addr)
    }
}

/// Maps the ids one resolving pass hands out to the model's, interning
/// each name the first time it is seen.
#[derive(Default)]
struct IdMap {
    comms: Vec<u32>,
    names: Vec<u32>,
}

fn mapped(table: &mut Vec<u32>, id: u32, intern: impl FnOnce() -> u32) -> u32 {
    let i = id as usize;
    if i >= table.len() {
        table.resize(i + 1, u32::MAX);
    }
    if table[i] == u32::MAX {
        table[i] = intern();
    }
    table[i]
}

/// What a load tells the interface while it runs.
#[derive(Debug)]
pub enum LoadUpdate {
    /// Bytes read, of how many.
    Read(u64, u64),
    /// The model of the samples read so far, to show meanwhile.
    Partial(Box<Model>),
}

/// The first partial model comes this soon, so a large file shows
/// something at once; later ones this far apart, since each costs a copy.
const FIRST_PARTIAL: std::time::Duration = std::time::Duration::from_millis(300);
const PARTIAL_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Loads a recording: one pass that resolves every sample as the report
/// does and folds it into the model. `update` is told the bytes read and
/// given partial models as it goes; `cancelled` is polled to stop early
/// (the user quit).
pub fn load(
    recording: &Recording<'_>,
    header: Vec<String>,
    update: &mut dyn FnMut(LoadUpdate),
    cancelled: &dyn Fn() -> bool,
) -> Result<Model, strobe_analyze::AnalyzeError> {
    let update = std::cell::RefCell::new(update);
    let started = std::time::Instant::now();
    let mut next_partial = FIRST_PARTIAL;
    let mut counter = 0u32;
    let mut builder = ModelBuilder::new(recording.events.clone(), recording.call_graph);
    builder.header(header);
    let formats: Vec<Option<Arc<TracepointFormat>>> = recording.formats.clone();
    let kernel = if formats.iter().any(Option::is_some) {
        KernelSymbols::parse(&recording.kallsyms)
    } else {
        KernelSymbols::parse(b"")
    };
    let symbols = Kernel(&kernel);
    let mut ids = IdMap::default();
    let mut frames: Vec<u32> = Vec::new();
    let mut callers: Vec<Location> = Vec::new();
    // The model's (location, stack, chain) by the resolver's chain id.
    let mut by_chain: Vec<(Location, u32, u32)> = Vec::new();
    let stop = std::cell::Cell::new(false);
    let stats = report::for_each_resolved(
        recording,
        true,
        &mut |done, total| {
            (update.borrow_mut())(LoadUpdate::Read(done, total));
            stop.set(cancelled());
        },
        &mut |r: &ResolvedSample<'_>| {
            if stop.get() {
                return;
            }
            counter = counter.wrapping_add(1);
            if counter % 16384 == 0 && started.elapsed() >= next_partial {
                let partial = builder.snapshot();
                (update.borrow_mut())(LoadUpdate::Partial(Box::new(partial)));
                next_partial = started.elapsed() + PARTIAL_EVERY;
            }
            let comm = mapped(&mut ids.comms, r.comm, || {
                builder.intern(r.comm_name(r.comm))
            });
            let cached = by_chain
                .get(r.chain_id as usize)
                .copied()
                .filter(|c| c.1 != u32::MAX);
            let (location, stack, chain) = match cached {
                Some(ids) => ids,
                None => {
                    let mut loc = |l: &ResolvedLocation, builder: &mut ModelBuilder| Location {
                        dso: mapped(&mut ids.names, l.dso, || builder.intern(r.name(l.dso))),
                        sym: mapped(&mut ids.names, l.sym, || builder.intern(r.name(l.sym))),
                        kernel: l.kernel,
                    };
                    let location = loc(&r.location, &mut builder);
                    callers.clear();
                    for c in r.callers {
                        callers.push(loc(c, &mut builder));
                    }
                    frames.clear();
                    for &f in r.frames {
                        frames.push(mapped(&mut ids.names, f, || builder.intern(r.name(f))));
                    }
                    let found = (location, builder.stack(&frames), builder.chain(&callers));
                    if r.chain_id != u32::MAX {
                        let i = r.chain_id as usize;
                        if i >= by_chain.len() {
                            by_chain.resize(i + 1, (location, u32::MAX, u32::MAX));
                        }
                        by_chain[i] = found;
                    }
                    found
                }
            };
            let s = r.sample;
            let cpu = s.cpu.unwrap_or(u32::MAX);
            let event = s.event.min(u16::MAX as usize) as u16;
            builder.add_with_ids(
                &SampleIn {
                    event,
                    time: s.time,
                    cpu,
                    pid: s.pid,
                    tid: s.tid,
                    comm,
                    location,
                    frames: &[],
                    callers: &[],
                    period: s.period,
                },
                stack,
                chain,
            );
            if let Some(format) = formats.get(s.event).and_then(|f| f.as_deref()) {
                if builder.model.trace_events.len() >= MAX_TRACE_EVENTS {
                    builder.model.trace_events_dropped += 1;
                    return;
                }
                let fields = format
                    .event_fields()
                    .map(|field| {
                        let value = match format.value(field, s.raw) {
                            Ok(v) => {
                                match strobe_analyze::script::named_value(format, &field.name, &v) {
                                    Some(named) => named,
                                    None => v.to_string(),
                                }
                            }
                            Err(_) => "?".to_string(),
                        };
                        (field.name.clone(), value)
                    })
                    .collect();
                builder.add_trace_event(TraceEvent {
                    time: s.time,
                    cpu,
                    pid: s.pid,
                    tid: s.tid,
                    comm,
                    event,
                    text: format.format_event(s.raw, &symbols),
                    fields,
                });
            }
        },
    )?;
    let mut model = builder.finish();
    model.malformed = stats.malformed;
    model.lost = stats.lost;
    Ok(model)
}
