//! `strobe kmem`: the slab and page allocators' behaviour, from their
//! tracepoints, as `perf kmem stat` computes it.
//!
//! The accounting is perf's (tools/perf/builtin-kmem.c), so totals agree
//! with perf kmem on the same recording:
//!
//! - an allocation adds its bytes to its call site and to its pointer; a
//!   pointer remembers its last allocation's size, call site and CPU;
//! - a free of a pointer seen allocated adds that last size to the bytes
//!   freed, and counts a ping-pong (for the pointer and its call site) when
//!   it runs on another CPU than the allocation did; the pointer is then
//!   "on no CPU", so a second free without an allocation in between counts
//!   again, as in perf. Frees of pointers never seen allocated are ignored;
//! - a page allocation of order N weighs `page_size << N` bytes; a free is
//!   matched to the live allocation of the same page (pfn), else counted as
//!   a free-only request.
//!
//! [`SlabStats`] and [`PageStats`] are the accounting alone, fed decoded
//! events, so they are tested on synthetic streams; [`analyze`] drives them
//! over a recording, decoding the payloads with the recording's own format
//! files (whichever fields each kernel version defines).

use crate::filter::Filter;
use crate::input::{Item, Recording, Sample};
use crate::report::Symbolizer;
use crate::symbols::KernelSymbols;
use crate::AnalyzeError;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use strobe_probe::tracefs::format::{Field, FieldKind, TracepointFormat, Value};

/// The slab tracepoints, `_node` variants included (kernels before 6.1
/// have them); `strobe kmem record` records those the kernel has.
pub const SLAB_EVENTS: &[&str] = &[
    "kmem:kmalloc",
    "kmem:kmalloc_node",
    "kmem:kfree",
    "kmem:kmem_cache_alloc",
    "kmem:kmem_cache_alloc_node",
    "kmem:kmem_cache_free",
];

/// The page allocator's tracepoints.
pub const PAGE_EVENTS: &[&str] = &["kmem:mm_page_alloc", "kmem:mm_page_free"];

/// `NUMA_NO_NODE`: an allocation that asked for no particular node.
const NUMA_NO_NODE: i64 = -1;

/// The percentage of allocated bytes that were not requested.
pub fn fragmentation(requested: u64, allocated: u64) -> f64 {
    if allocated == 0 {
        0.0
    } else {
        100.0 - 100.0 * requested as f64 / allocated as f64
    }
}

/// One row of the slab tables: a call site or an allocation pointer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlabRow {
    /// The call site or the pointer.
    pub key: u64,
    /// The call site (of the last allocation, for a pointer).
    pub call_site: u64,
    /// The call site, `function+offset` (hex) when it resolves.
    pub symbol: Option<String>,
    /// Bytes allocated (what the allocator handed out).
    pub bytes_alloc: u64,
    /// Bytes requested.
    pub bytes_req: u64,
    /// Allocations.
    pub hits: u64,
    /// Frees on another CPU than the allocation's.
    pub pingpong: u64,
}

impl SlabRow {
    /// Internal fragmentation, in percent.
    pub fn fragmentation(&self) -> f64 {
        fragmentation(self.bytes_req, self.bytes_alloc)
    }
}

/// What a pointer remembers besides its row.
#[derive(Debug, Clone)]
struct PointerState {
    row: SlabRow,
    last_alloc: u64,
    /// The CPU of the last allocation; `None` once freed.
    alloc_cpu: Option<u32>,
}

/// The slab summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlabSummary {
    /// Bytes requested by allocations.
    pub requested: u64,
    /// Bytes allocated.
    pub allocated: u64,
    /// Bytes freed (of pointers seen allocated).
    pub freed: u64,
    /// Allocations.
    pub allocs: u64,
    /// Free events of pointers seen allocated.
    pub frees: u64,
    /// Allocations on a NUMA node other than the allocating CPU's.
    pub cross_allocs: u64,
}

impl SlabSummary {
    /// Allocated minus freed (negative when more was freed).
    pub fn net(&self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }

    /// Bytes allocated but not requested.
    pub fn wasted(&self) -> u64 {
        self.allocated.saturating_sub(self.requested)
    }

    /// Internal fragmentation, in percent.
    pub fn fragmentation(&self) -> f64 {
        fragmentation(self.requested, self.allocated)
    }
}

/// The slab accounting, fed one event at a time.
#[derive(Debug, Default)]
pub struct SlabStats {
    pointers: FxHashMap<u64, PointerState>,
    callers: FxHashMap<u64, SlabRow>,
    /// The totals.
    pub summary: SlabSummary,
}

impl SlabStats {
    /// An allocation. `cross_node` says whether it was placed on another
    /// NUMA node than its CPU's.
    pub fn alloc(
        &mut self,
        call_site: u64,
        ptr: u64,
        bytes_req: u64,
        bytes_alloc: u64,
        cpu: Option<u32>,
        cross_node: bool,
    ) {
        let state = self.pointers.entry(ptr).or_insert_with(|| PointerState {
            row: SlabRow {
                key: ptr,
                ..Default::default()
            },
            last_alloc: 0,
            alloc_cpu: None,
        });
        state.row.hits += 1;
        state.row.bytes_req += bytes_req;
        state.row.bytes_alloc += bytes_alloc;
        state.row.call_site = call_site;
        state.alloc_cpu = cpu;
        state.last_alloc = bytes_alloc;
        let caller = self.callers.entry(call_site).or_insert_with(|| SlabRow {
            key: call_site,
            call_site,
            ..Default::default()
        });
        caller.hits += 1;
        caller.bytes_req += bytes_req;
        caller.bytes_alloc += bytes_alloc;
        self.summary.requested += bytes_req;
        self.summary.allocated += bytes_alloc;
        self.summary.allocs += 1;
        self.summary.cross_allocs += u64::from(cross_node);
    }

    /// A free of `ptr` on `cpu`.
    pub fn free(&mut self, ptr: u64, cpu: Option<u32>) {
        let Some(state) = self.pointers.get_mut(&ptr) else {
            return;
        };
        self.summary.freed += state.last_alloc;
        self.summary.frees += 1;
        if cpu != state.alloc_cpu {
            state.row.pingpong += 1;
            if let Some(caller) = self.callers.get_mut(&state.row.call_site) {
                caller.pingpong += 1;
            }
        }
        state.alloc_cpu = None;
    }

    /// The rows per call site, unsorted.
    pub fn callers(&self) -> Vec<SlabRow> {
        self.callers.values().cloned().collect()
    }

    /// The rows per pointer, unsorted.
    pub fn pointers(&self) -> Vec<SlabRow> {
        self.pointers.values().map(|s| s.row.clone()).collect()
    }
}

/// The kernel's migrate types, by number (include/linux/mmzone.h; 4 is
/// CMA in kernels built with it, else ISOLATE).
pub fn migrate_type_name(migrate_type: u32) -> &'static str {
    match migrate_type {
        0 => "UNMOVABLE",
        1 => "MOVABLE",
        2 => "RECLAIMABLE",
        3 => "HIGHATOMIC",
        4 => "CMA/ISOLATE",
        5 => "ISOLATE",
        _ => "UNKNOWN",
    }
}

/// One row of the page tables: a page or a call site, with an order,
/// migrate type and GFP flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRow {
    /// The page (pfn) or the call site.
    pub key: u64,
    /// The call site (of the last allocation, for a page row).
    pub call_site: u64,
    /// The call site, `function+offset`, when it resolves.
    pub symbol: Option<String>,
    /// The allocation order.
    pub order: u32,
    /// The migrate type.
    pub migrate_type: u32,
    /// The GFP flags.
    pub gfp_flags: u64,
    /// Allocations.
    pub hits: u64,
    /// Bytes allocated.
    pub bytes: u64,
    /// Frees matched to these allocations.
    pub frees: u64,
    /// Bytes of those frees.
    pub free_bytes: u64,
}

/// The page summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSummary {
    /// Allocation requests (failed ones included).
    pub allocs: u64,
    /// Their bytes.
    pub alloc_bytes: u64,
    /// Free requests.
    pub frees: u64,
    /// Their bytes.
    pub free_bytes: u64,
    /// Frees of pages not seen allocated.
    pub free_only: u64,
    /// Their bytes.
    pub free_only_bytes: u64,
    /// Allocations that failed (no page).
    pub failures: u64,
    /// Their bytes.
    pub failure_bytes: u64,
    /// Successful allocations by (order, migrate type).
    pub by_order: BTreeMap<(u32, u32), u64>,
}

impl PageSummary {
    /// Requests that were allocated and freed in the recording.
    pub fn alloc_freed(&self) -> (u64, u64) {
        (
            self.frees - self.free_only,
            self.free_bytes - self.free_only_bytes,
        )
    }

    /// Allocations not freed in the recording (failures included, as perf counts them).
    pub fn alloc_only(&self) -> (u64, u64) {
        let (n, bytes) = self.alloc_freed();
        (
            self.allocs.saturating_sub(n),
            self.alloc_bytes.saturating_sub(bytes),
        )
    }
}

type PageKey = (u64, u32, u32, u64);

#[derive(Debug, Clone, Copy)]
struct LivePage {
    migrate_type: u32,
    gfp_flags: u64,
    call_site: u64,
}

/// The page accounting, fed one event at a time.
#[derive(Debug)]
pub struct PageStats {
    page_size: u64,
    live: FxHashMap<u64, LivePage>,
    pages: FxHashMap<PageKey, PageRow>,
    callers: FxHashMap<PageKey, PageRow>,
    /// The totals.
    pub summary: PageSummary,
}

impl PageStats {
    /// Accounting for pages of `page_size` bytes.
    pub fn new(page_size: u64) -> Self {
        PageStats {
            page_size,
            live: FxHashMap::default(),
            pages: FxHashMap::default(),
            callers: FxHashMap::default(),
            summary: PageSummary::default(),
        }
    }

    fn bytes(&self, order: u32) -> u64 {
        self.page_size.checked_shl(order).unwrap_or(u64::MAX)
    }

    /// An allocation; `page` is `None` when it failed.
    pub fn alloc(
        &mut self,
        page: Option<u64>,
        order: u32,
        gfp_flags: u64,
        migrate_type: u32,
        call_site: u64,
    ) {
        let bytes = self.bytes(order);
        self.summary.allocs += 1;
        self.summary.alloc_bytes += bytes;
        let Some(page) = page else {
            self.summary.failures += 1;
            self.summary.failure_bytes += bytes;
            return;
        };
        self.live.insert(
            page,
            LivePage {
                migrate_type,
                gfp_flags,
                call_site,
            },
        );
        let row = |key| PageRow {
            key,
            order,
            migrate_type,
            gfp_flags,
            ..Default::default()
        };
        let by_page = self
            .pages
            .entry((page, order, migrate_type, gfp_flags))
            .or_insert_with(|| row(page));
        by_page.hits += 1;
        by_page.bytes += bytes;
        by_page.call_site = call_site;
        let by_caller = self
            .callers
            .entry((call_site, order, migrate_type, gfp_flags))
            .or_insert_with(|| row(call_site));
        by_caller.hits += 1;
        by_caller.bytes += bytes;
        by_caller.call_site = call_site;
        *self
            .summary
            .by_order
            .entry((order, migrate_type))
            .or_default() += 1;
    }

    /// A free of `page` (pfn) of `order`.
    pub fn free(&mut self, page: u64, order: u32) {
        let bytes = self.bytes(order);
        self.summary.frees += 1;
        self.summary.free_bytes += bytes;
        let Some(live) = self.live.remove(&page) else {
            self.summary.free_only += 1;
            self.summary.free_only_bytes += bytes;
            return;
        };
        // perf looks the rows up by the free's order with the allocation's
        // type and flags; a free of another order than allocated finds none.
        if let Some(row) = self
            .pages
            .get_mut(&(page, order, live.migrate_type, live.gfp_flags))
        {
            row.frees += 1;
            row.free_bytes += bytes;
        }
        if let Some(row) =
            self.callers
                .get_mut(&(live.call_site, order, live.migrate_type, live.gfp_flags))
        {
            row.frees += 1;
            row.free_bytes += bytes;
        }
    }

    /// The rows per page, unsorted.
    pub fn pages(&self) -> Vec<PageRow> {
        self.pages.values().cloned().collect()
    }

    /// The rows per call site, unsorted.
    pub fn callers(&self) -> Vec<PageRow> {
        self.callers.values().cloned().collect()
    }
}

/// A sort key of the slab tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlabKey {
    /// The pointer.
    Ptr,
    /// The call site.
    Callsite,
    /// Bytes allocated.
    Bytes,
    /// Allocations.
    Hit,
    /// Cross-CPU frees.
    Pingpong,
    /// Internal fragmentation.
    Frag,
}

/// A sort key of the page tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKeyName {
    /// The page.
    Page,
    /// The call site.
    Callsite,
    /// Bytes allocated.
    Bytes,
    /// Allocations.
    Hit,
    /// The order.
    Order,
    /// The migrate type.
    Migtype,
    /// The GFP flags.
    Gfp,
}

/// Sort keys for both tables, parsed from a `-s` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKeys {
    /// For the slab tables (perf's default: frag,hit,bytes).
    pub slab: Vec<SlabKey>,
    /// For the page tables (perf's default: bytes,hit).
    pub page: Vec<PageKeyName>,
}

impl Default for SortKeys {
    fn default() -> Self {
        SortKeys {
            slab: vec![SlabKey::Frag, SlabKey::Hit, SlabKey::Bytes],
            page: vec![PageKeyName::Bytes, PageKeyName::Hit],
        }
    }
}

impl SortKeys {
    /// Parses `-s KEY,...`: each key applies to the tables that know it
    /// (slab: ptr, callsite, bytes, hit, pingpong, frag; page: page,
    /// callsite, bytes, hit, order, migtype, gfp); a table none of whose
    /// keys were given keeps its default.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut slab = Vec::new();
        let mut page = Vec::new();
        for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let s = match key {
                "ptr" => Some(SlabKey::Ptr),
                "callsite" => Some(SlabKey::Callsite),
                "bytes" => Some(SlabKey::Bytes),
                "hit" => Some(SlabKey::Hit),
                "pingpong" => Some(SlabKey::Pingpong),
                "frag" => Some(SlabKey::Frag),
                _ => None,
            };
            let p = match key {
                "page" => Some(PageKeyName::Page),
                "callsite" => Some(PageKeyName::Callsite),
                "bytes" => Some(PageKeyName::Bytes),
                "hit" => Some(PageKeyName::Hit),
                "order" => Some(PageKeyName::Order),
                "migtype" => Some(PageKeyName::Migtype),
                "gfp" => Some(PageKeyName::Gfp),
                _ => None,
            };
            if s.is_none() && p.is_none() {
                return Err(format!(
                    "-s {key}: not a sort key (slab: ptr, callsite, bytes, hit, pingpong, frag; \
                     page: page, callsite, bytes, hit, order, migtype, gfp)"
                ));
            }
            slab.extend(s);
            page.extend(p);
        }
        let default = SortKeys::default();
        Ok(SortKeys {
            slab: if slab.is_empty() { default.slab } else { slab },
            page: if page.is_empty() { default.page } else { page },
        })
    }
}

/// Sorts rows by `keys` (compared by `by`, each descending as perf sorts
/// them), then by `tie` so that output is stable.
fn sort_by_keys<R, K>(
    rows: &mut [R],
    keys: &[K],
    by: impl Fn(&K, &R, &R) -> std::cmp::Ordering,
    tie: impl Fn(&R, &R) -> std::cmp::Ordering,
) {
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|key| by(key, a, b))
            .find(|order| order.is_ne())
            .unwrap_or_else(|| tie(a, b))
    });
}

/// Sorts slab rows by `keys`, each descending; ties keep the key's
/// ascending order.
pub fn sort_slab(rows: &mut [SlabRow], keys: &[SlabKey]) {
    sort_by_keys(
        rows,
        keys,
        |key, a, b| match key {
            SlabKey::Ptr => b.key.cmp(&a.key),
            SlabKey::Callsite => b.call_site.cmp(&a.call_site),
            SlabKey::Bytes => b.bytes_alloc.cmp(&a.bytes_alloc),
            SlabKey::Hit => b.hits.cmp(&a.hits),
            SlabKey::Pingpong => b.pingpong.cmp(&a.pingpong),
            SlabKey::Frag => b.fragmentation().total_cmp(&a.fragmentation()),
        },
        |a, b| a.key.cmp(&b.key),
    );
}

/// Sorts page rows by `keys`, each descending.
pub fn sort_page(rows: &mut [PageRow], keys: &[PageKeyName]) {
    sort_by_keys(
        rows,
        keys,
        |key, a, b| match key {
            PageKeyName::Page => b.key.cmp(&a.key),
            PageKeyName::Callsite => b.call_site.cmp(&a.call_site),
            PageKeyName::Bytes => b.bytes.cmp(&a.bytes),
            PageKeyName::Hit => b.hits.cmp(&a.hits),
            PageKeyName::Order => b.order.cmp(&a.order),
            PageKeyName::Migtype => b.migrate_type.cmp(&a.migrate_type),
            PageKeyName::Gfp => b.gfp_flags.cmp(&a.gfp_flags),
        },
        |a, b| {
            (a.key, a.order, a.migrate_type, a.gfp_flags).cmp(&(
                b.key,
                b.order,
                b.migrate_type,
                b.gfp_flags,
            ))
        },
    );
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct KmemOptions {
    /// The slab analysis.
    pub slab: bool,
    /// The page analysis.
    pub page: bool,
    /// Which allocations count: by command, pid, tid, CPU and time, and by
    /// the call site's symbol (`--sym`) and DSO (`--dso`). Frees count when
    /// they fall in the time window and free a counted allocation.
    pub filter: Filter,
    /// The NUMA node of each CPU, by CPU number, for cross-node
    /// allocations; CPUs past its end are on no known node.
    pub cpu_nodes: Vec<i64>,
    /// The page size, for the page allocator's bytes.
    pub page_size: u64,
    /// Sort keys.
    pub sort: SortKeys,
    /// Rows per table (`None`: all).
    pub lines: Option<usize>,
    /// Whether to build the tables (per call site, pointer and page), or
    /// only the summaries.
    pub tables: bool,
}

impl Default for KmemOptions {
    fn default() -> Self {
        KmemOptions {
            slab: true,
            page: false,
            filter: Filter::default(),
            cpu_nodes: Vec::new(),
            page_size: 4096,
            sort: SortKeys::default(),
            lines: None,
            tables: true,
        }
    }
}

/// The slab part of a result.
#[derive(Debug, Clone, Default)]
pub struct SlabReport {
    /// The totals.
    pub summary: SlabSummary,
    /// Per call site, sorted.
    pub callers: Vec<SlabRow>,
    /// Per pointer, sorted (symbol: the last allocation's call site).
    pub pointers: Vec<SlabRow>,
}

/// The page part of a result.
#[derive(Debug, Clone, Default)]
pub struct PageReport {
    /// The totals.
    pub summary: PageSummary,
    /// Per call site, sorted.
    pub callers: Vec<PageRow>,
    /// Per page, sorted.
    pub pages: Vec<PageRow>,
    /// GFP flags by name, for each flags value in the rows.
    pub gfp_names: BTreeMap<u64, String>,
}

/// The result of [`analyze`].
#[derive(Debug, Clone, Default)]
pub struct KmemReport {
    /// When asked for.
    pub slab: Option<SlabReport>,
    /// When asked for.
    pub page: Option<PageReport>,
    /// Events the recording lost.
    pub lost: u64,
    /// Records that did not decode.
    pub malformed: u64,
    /// Allocator events whose payload was too short for its format.
    pub bad_payloads: u64,
}

/// What an event of the recording is to the analysis, with the fields to
/// read, as this recording's format defines them.
#[derive(Debug, Clone)]
enum EventRole {
    SlabAlloc {
        call_site: Field,
        ptr: Field,
        bytes_req: Field,
        bytes_alloc: Field,
        node: Option<Field>,
    },
    SlabFree {
        ptr: Field,
    },
    PageAlloc {
        page: PageField,
        order: Field,
        gfp_flags: Field,
        migrate_type: Field,
    },
    PageFree {
        page: PageField,
        order: Field,
    },
}

/// The page's identity: `pfn` in kernels since 4.3, `page` (a struct
/// page pointer) before; a failed allocation has pfn -1 or page 0.
#[derive(Debug, Clone)]
struct PageField {
    field: Field,
    is_pfn: bool,
}

impl PageField {
    fn page(&self, raw: &[u8]) -> Option<Option<u64>> {
        let v = unsigned(&self.field, raw)?;
        let invalid = if self.is_pfn { u64::MAX } else { 0 };
        Some((v != invalid).then_some(v))
    }
}

fn role(format: &TracepointFormat) -> Option<EventRole> {
    if format.system != "kmem" {
        return None;
    }
    let field = |name: &str| format.field(name).cloned();
    let page = || {
        format
            .field("pfn")
            .map(|f| PageField {
                field: f.clone(),
                is_pfn: true,
            })
            .or_else(|| {
                format.field("page").map(|f| PageField {
                    field: f.clone(),
                    is_pfn: false,
                })
            })
    };
    Some(match format.name.as_str() {
        "kmalloc" | "kmalloc_node" | "kmem_cache_alloc" | "kmem_cache_alloc_node" => {
            EventRole::SlabAlloc {
                call_site: field("call_site")?,
                ptr: field("ptr")?,
                bytes_req: field("bytes_req")?,
                bytes_alloc: field("bytes_alloc")?,
                node: field("node"),
            }
        }
        "kfree" | "kmem_cache_free" => EventRole::SlabFree { ptr: field("ptr")? },
        "mm_page_alloc" => EventRole::PageAlloc {
            page: page()?,
            order: field("order")?,
            gfp_flags: field("gfp_flags")?,
            migrate_type: field("migratetype")?,
        },
        "mm_page_free" => EventRole::PageFree {
            page: page()?,
            order: field("order")?,
        },
        _ => return None,
    })
}

fn unsigned(field: &Field, raw: &[u8]) -> Option<u64> {
    // The allocator's fields are little scalars; read those directly.
    if field.kind == FieldKind::Scalar {
        let at = field.offset as usize;
        let bytes = raw.get(at..at + field.size as usize)?;
        return match *bytes {
            [a, b, c, d, e, f, g, h] => Some(u64::from_le_bytes([a, b, c, d, e, f, g, h])),
            [a, b, c, d] if field.signed => Some(i32::from_le_bytes([a, b, c, d]) as i64 as u64),
            [a, b, c, d] => Some(u64::from(u32::from_le_bytes([a, b, c, d]))),
            _ => match field.value(raw).ok()? {
                Value::Unsigned(v) => Some(v),
                Value::Signed(v) => Some(v as u64),
                _ => None,
            },
        };
    }
    match field.value(raw).ok()? {
        Value::Unsigned(v) => Some(v),
        Value::Signed(v) => Some(v as u64),
        _ => None,
    }
}

fn signed(field: &Field, raw: &[u8]) -> Option<i64> {
    match field.value(raw).ok()? {
        Value::Unsigned(v) => Some(v as i64),
        Value::Signed(v) => Some(v),
        _ => None,
    }
}

/// `PERF_CONTEXT_MAX`: call-chain entries at or above it are context markers.
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;

/// The page allocator's own functions, skipped to find who asked for the
/// pages: perf's pattern, and the names these functions have taken since
/// (`alloc_pages_noprof`, `__alloc_frozen_pages_noprof`, folios, ...).
const PAGE_ALLOCATOR_FUNCTIONS: &str = "^_?_?(alloc|get_free|get_zeroed)_pages?|^_*alloc_frozen_pages|^_*folio_alloc|^alloc_pages_|^get_page_from_freelist|^prep_new_page|^post_alloc_hook|^__?alloc_pages|^alloc_slab_page|^allocate_slab|^new_slab|^___slab_alloc|^__slab_alloc|^rmqueue|^vm_area_alloc_pages|^vma_alloc_folio";

/// The error for an analysis with nothing to analyze.
fn missing(what: &str, flag: &str) -> AnalyzeError {
    AnalyzeError::Kmem(format!(
        "the recording has no {what} events; record them with `strobe kmem record{flag}` \
         (or `perf kmem record{flag}`)"
    ))
}

/// `function+offset` (hex offset, as perf kmem prints it), or `None`.
fn site_name(kernel: &KernelSymbols, addr: u64) -> Option<String> {
    kernel
        .lookup_offset(addr)
        .map(|(name, offset)| format!("{name}+{offset:x}"))
}

/// Analyzes the allocator events of a recording.
pub fn analyze(
    recording: &Recording<'_>,
    options: &KmemOptions,
) -> Result<KmemReport, AnalyzeError> {
    let roles: Vec<Option<EventRole>> = recording
        .formats
        .iter()
        .map(|f| f.as_deref().and_then(role))
        .collect();
    let has = |slab: bool| {
        roles.iter().any(|r| match r {
            Some(EventRole::SlabAlloc { .. }) => slab,
            Some(EventRole::PageAlloc { .. }) => !slab,
            _ => false,
        })
    };
    if options.slab && !has(true) {
        return Err(missing(
            "slab allocation (kmem:kmalloc, kmem:kmem_cache_alloc)",
            "",
        ));
    }
    if options.page && !has(false) {
        return Err(missing("page allocation (kmem:mm_page_alloc)", " --page"));
    }
    // Summaries alone need no symbols; parsing kallsyms is then skipped.
    let needs_symbols = options.tables || options.page || options.filter.has_name_filters();
    let kernel = if needs_symbols {
        KernelSymbols::parse(&recording.kallsyms)
    } else {
        KernelSymbols::default()
    };
    let mut symbolizer = Symbolizer::new(&kernel, recording);
    let allocator = regex::Regex::new(PAGE_ALLOCATOR_FUNCTIONS).expect("a valid pattern");
    let filter = &options.filter;
    let names_filtered = filter.has_name_filters();
    // Whether a call site passes --sym and --dso, and whether a kernel
    // address is one of the page allocator's functions, per address.
    let mut site_passes: FxHashMap<u64, bool> = FxHashMap::default();
    let mut is_allocator: FxHashMap<u64, bool> = FxHashMap::default();
    let mut slab = SlabStats::default();
    let mut page = PageStats::new(options.page_size);
    let mut bad_payloads = 0u64;
    let mut gfp_format: Option<Arc<TracepointFormat>> = None;

    let stream = recording.for_each(|item| {
        let Item::Sample(sample) = item else {
            if names_filtered {
                symbolizer.apply(item);
            }
            return;
        };
        let Some(Some(role)) = roles.get(sample.event) else {
            return;
        };
        let raw = sample.raw;
        match role {
            EventRole::SlabAlloc {
                call_site,
                ptr,
                bytes_req,
                bytes_alloc,
                node,
            } if options.slab => {
                let (Some(site), Some(ptr), Some(req), Some(alloc)) = (
                    unsigned(call_site, raw),
                    unsigned(ptr, raw),
                    unsigned(bytes_req, raw),
                    unsigned(bytes_alloc, raw),
                ) else {
                    bad_payloads += 1;
                    return;
                };
                if !passes(
                    filter,
                    sample,
                    site,
                    &kernel,
                    &mut symbolizer,
                    &mut site_passes,
                ) {
                    return;
                }
                let cross = node.as_ref().and_then(|f| signed(f, raw)).is_some_and(|n| {
                    let cpu_node = sample
                        .cpu
                        .and_then(|c| options.cpu_nodes.get(c as usize).copied());
                    n != NUMA_NO_NODE && cpu_node.is_some_and(|c| c != n)
                });
                slab.alloc(site, ptr, req, alloc, sample.cpu, cross);
            }
            EventRole::SlabFree { ptr } if options.slab => {
                let Some(ptr) = unsigned(ptr, raw) else {
                    bad_payloads += 1;
                    return;
                };
                if filter.passes_time(sample.time) {
                    slab.free(ptr, sample.cpu);
                }
            }
            EventRole::PageAlloc {
                page: page_field,
                order,
                gfp_flags,
                migrate_type,
            } if options.page => {
                let (Some(pfn), Some(order), Some(gfp), Some(migrate)) = (
                    page_field.page(raw),
                    unsigned(order, raw),
                    unsigned(gfp_flags, raw),
                    unsigned(migrate_type, raw),
                ) else {
                    bad_payloads += 1;
                    return;
                };
                let site = page_call_site(sample, &kernel, &allocator, &mut is_allocator);
                if !passes(
                    filter,
                    sample,
                    site,
                    &kernel,
                    &mut symbolizer,
                    &mut site_passes,
                ) {
                    return;
                }
                if gfp_format.is_none() {
                    gfp_format = recording.formats[sample.event].clone();
                }
                page.alloc(pfn, order as u32, gfp, migrate as u32, site);
            }
            EventRole::PageFree {
                page: page_field,
                order,
            } if options.page => {
                let (Some(pfn), Some(order)) = (page_field.page(raw), unsigned(order, raw)) else {
                    bad_payloads += 1;
                    return;
                };
                if filter.passes_time(sample.time) {
                    page.free(pfn.unwrap_or(u64::MAX), order as u32);
                }
            }
            _ => {}
        }
    })?;

    // A table's rows, sorted and cut to -l; none when only summaries are
    // asked for.
    fn table<R>(
        options: &KmemOptions,
        rows: impl FnOnce() -> Vec<R>,
        sort: impl FnOnce(&mut [R]),
    ) -> Vec<R> {
        if !options.tables {
            return Vec::new();
        }
        let mut rows = rows();
        sort(&mut rows);
        rows.truncate(options.lines.unwrap_or(usize::MAX));
        rows
    }
    let slab = options.slab.then(|| {
        let by_slab = |rows: &mut [SlabRow]| sort_slab(rows, &options.sort.slab);
        let mut callers = table(options, || slab.callers(), by_slab);
        let mut pointers = table(options, || slab.pointers(), by_slab);
        for row in callers.iter_mut().chain(pointers.iter_mut()) {
            row.symbol = site_name(&kernel, row.call_site);
        }
        SlabReport {
            summary: slab.summary,
            callers,
            pointers,
        }
    });
    let page = options.page.then(|| {
        let by_page = |rows: &mut [PageRow]| sort_page(rows, &options.sort.page);
        let mut callers = table(options, || page.callers(), by_page);
        let mut pages = table(options, || page.pages(), by_page);
        let mut gfp_names = BTreeMap::new();
        for row in callers.iter_mut().chain(pages.iter_mut()) {
            row.symbol = site_name(&kernel, row.call_site);
            if let Some(format) = gfp_format.as_deref() {
                gfp_names.entry(row.gfp_flags).or_insert_with(|| {
                    crate::script::named_value(format, "gfp_flags", &Value::Unsigned(row.gfp_flags))
                        .unwrap_or_else(|| format!("{:#x}", row.gfp_flags))
                });
            }
        }
        PageReport {
            summary: page.summary,
            callers,
            pages,
            gfp_names,
        }
    });
    Ok(KmemReport {
        slab,
        page,
        lost: stream.lost,
        malformed: stream.malformed,
        bad_payloads,
    })
}

/// Whether an allocation passes the filters; its call site stands for the
/// sample's location (`--sym`, `--dso`).
fn passes(
    filter: &Filter,
    sample: &Sample<'_>,
    site: u64,
    kernel: &KernelSymbols,
    symbolizer: &mut Symbolizer<'_>,
    site_passes: &mut FxHashMap<u64, bool>,
) -> bool {
    if !filter.passes_ids(sample.pid, sample.tid, sample.cpu, sample.time) {
        return false;
    }
    if !filter.has_name_filters() {
        return true;
    }
    let location = *site_passes.entry(site).or_insert_with(|| {
        let (sym, dso) = match kernel.lookup(site) {
            Some((name, dso)) => (name.to_string(), dso),
            None => (format!("{site:#x}"), "[kernel.kallsyms]".to_string()),
        };
        filter.passes_location(&dso, &sym)
    });
    if !location {
        return false;
    }
    if !filter.has_comm_filter() {
        return true;
    }
    let comm = symbolizer.comm(sample.pid, sample.tid).into_owned();
    filter.passes_comm(&comm)
}

/// Who asked for the pages: the first kernel frame of the call chain that
/// is not the page allocator's, or the sample's address without one.
fn page_call_site(
    sample: &Sample<'_>,
    kernel: &KernelSymbols,
    allocator: &regex::Regex,
    is_allocator: &mut FxHashMap<u64, bool>,
) -> u64 {
    for &addr in sample.callchain {
        if addr >= PERF_CONTEXT_MAX {
            continue;
        }
        let skip = *is_allocator.entry(addr).or_insert_with(|| {
            kernel
                .lookup_offset(addr)
                .is_some_and(|(name, _)| allocator.is_match(name))
        });
        if !skip {
            return addr;
        }
    }
    sample.ip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragmentation_and_summary_on_a_known_stream() {
        let mut s = SlabStats::default();
        // Two sites: A asks 100 of 128 twice, B asks 64 of 64 once.
        s.alloc(0xa, 0x1000, 100, 128, Some(0), false);
        s.alloc(0xa, 0x2000, 100, 128, Some(0), false);
        s.alloc(0xb, 0x3000, 64, 64, Some(1), true);
        assert_eq!(s.summary.requested, 264);
        assert_eq!(s.summary.allocated, 320);
        assert_eq!(s.summary.wasted(), 56);
        assert!((s.summary.fragmentation() - 17.5).abs() < 1e-9);
        assert_eq!(s.summary.cross_allocs, 1);
        let mut callers = s.callers();
        sort_slab(&mut callers, &SortKeys::default().slab);
        assert_eq!(callers[0].key, 0xa, "the fragmented site first");
        assert!((callers[0].fragmentation() - 21.875).abs() < 1e-9);
        assert_eq!(callers[1].fragmentation(), 0.0);
        assert_eq!((callers[0].hits, callers[0].bytes_alloc), (2, 256));
    }

    #[test]
    fn ping_pong_counts_frees_on_another_cpu() {
        let mut s = SlabStats::default();
        s.alloc(0xa, 0x1000, 8, 8, Some(0), false);
        s.alloc(0xa, 0x2000, 8, 8, Some(0), false);
        s.alloc(0xb, 0x3000, 16, 16, Some(1), false);
        s.free(0x1000, Some(1)); // ping-pong
        s.free(0x2000, Some(0)); // same CPU
        s.free(0x3000, Some(0)); // ping-pong
        s.free(0x9999, Some(0)); // never allocated: ignored
        assert_eq!(s.summary.freed, 32);
        assert_eq!(s.summary.frees, 3);
        assert_eq!(s.summary.net(), 0);
        let callers: FxHashMap<u64, u64> =
            s.callers().iter().map(|r| (r.key, r.pingpong)).collect();
        assert_eq!(callers[&0xa], 1);
        assert_eq!(callers[&0xb], 1);
        let pointers: FxHashMap<u64, u64> =
            s.pointers().iter().map(|r| (r.key, r.pingpong)).collect();
        assert_eq!(pointers[&0x1000], 1);
        assert_eq!(pointers[&0x2000], 0);
        // A reused pointer accumulates; a free counts its last size.
        s.alloc(0xb, 0x1000, 30, 32, Some(1), false);
        s.free(0x1000, Some(1));
        assert_eq!(s.summary.freed, 64);
        let row = s.pointers().into_iter().find(|r| r.key == 0x1000).unwrap();
        assert_eq!(
            (row.hits, row.bytes_alloc, row.pingpong, row.call_site),
            (2, 40, 1, 0xb)
        );
        // A second free without an allocation is a ping-pong, as in perf.
        s.free(0x1000, Some(1));
        assert_eq!(s.summary.freed, 96);
    }

    #[test]
    fn pages_match_frees_to_allocations() {
        let mut p = PageStats::new(4096);
        p.alloc(Some(10), 0, 0xcc0, 0, 0xa);
        p.alloc(Some(11), 2, 0xcc0, 1, 0xa);
        p.alloc(None, 3, 0xcc0, 1, 0xb); // failed
        p.free(10, 0);
        p.free(99, 1); // free-only
        let s = &p.summary;
        assert_eq!((s.allocs, s.alloc_bytes), (3, 4096 + 16384 + 32768));
        assert_eq!((s.failures, s.failure_bytes), (1, 32768));
        assert_eq!((s.frees, s.free_bytes), (2, 4096 + 8192));
        assert_eq!((s.free_only, s.free_only_bytes), (1, 8192));
        assert_eq!(s.alloc_freed(), (1, 4096));
        assert_eq!(s.alloc_only(), (2, 16384 + 32768));
        assert_eq!(s.by_order.get(&(2, 1)), Some(&1));
        let mut callers = p.callers();
        sort_page(&mut callers, &SortKeys::default().page);
        assert_eq!((callers[0].order, callers[0].bytes), (2, 16384));
        assert_eq!(callers[1].frees, 1);
    }

    #[test]
    fn sort_keys_parse_and_apply_to_their_tables() {
        let keys = SortKeys::parse("hit,order").unwrap();
        assert_eq!(keys.slab, vec![SlabKey::Hit]);
        assert_eq!(keys.page, vec![PageKeyName::Hit, PageKeyName::Order]);
        let keys = SortKeys::parse("pingpong").unwrap();
        assert_eq!(keys.page, SortKeys::default().page);
        assert!(SortKeys::parse("nope").unwrap_err().contains("-s nope"));
    }

    #[test]
    fn roles_follow_each_kernels_fields() {
        let old = "name: mm_page_alloc\nID: 1\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:struct page * page;\toffset:8;\tsize:8;\tsigned:0;\n\
            \tfield:unsigned int order;\toffset:16;\tsize:4;\tsigned:0;\n\
            \tfield:gfp_t gfp_flags;\toffset:20;\tsize:4;\tsigned:0;\n\
            \tfield:int migratetype;\toffset:24;\tsize:4;\tsigned:1;\n\n\
            print fmt: \"page=%p\", REC->page\n";
        let format = TracepointFormat::parse("kmem", old).unwrap();
        let Some(EventRole::PageAlloc { page, .. }) = role(&format) else {
            panic!("not a page allocation");
        };
        assert!(!page.is_pfn);
        let mut raw = vec![0u8; 28];
        assert_eq!(page.page(&raw), Some(None), "a null page is a failure");
        raw[8] = 1;
        assert_eq!(page.page(&raw), Some(Some(1)));
        assert_eq!(page.page(&raw[..10]), None, "a short payload");
    }
}
