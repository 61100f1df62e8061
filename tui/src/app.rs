//! The interface's state and what keys and mouse events do to it. Nothing
//! here draws: [`crate::ui`] draws an [`App`], so tests can drive the state
//! and check the screen separately.

use crate::model::{Class, Model};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// The views, in the order of their number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The histogram with call chains.
    Report,
    /// The call tree as an icicle graph.
    Flame,
    /// Sample density over time.
    Timeline,
    /// Tracepoint and probe events.
    Events,
    /// The recording's metadata.
    Header,
}

impl View {
    /// All views, in order.
    pub const ALL: [View; 5] = [
        View::Report,
        View::Flame,
        View::Timeline,
        View::Events,
        View::Header,
    ];

    /// The view's name.
    pub fn name(self) -> &'static str {
        match self {
            View::Report => "Report",
            View::Flame => "Flame",
            View::Timeline => "Timeline",
            View::Events => "Events",
            View::Header => "Header",
        }
    }
}

/// A column the report's rows are keyed by: the report's own keys, of
/// which [`SORT_PRESETS`] offers all but srcline (the model keeps no
/// source lines).
pub use strobe_analyze::report::SortKey;

/// The sort-key sets `s` cycles through.
pub const SORT_PRESETS: &[&[SortKey]] = &[
    &[SortKey::Comm, SortKey::Dso, SortKey::Sym],
    &[SortKey::Sym],
    &[SortKey::Dso, SortKey::Sym],
    &[SortKey::Dso],
    &[SortKey::Comm],
    &[SortKey::Pid],
    &[SortKey::Tid],
    &[SortKey::Cpu],
];

/// Which way call chains grow under a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOrder {
    /// From the sampled function out to its callers.
    Callee,
    /// From the outermost caller in to the sampled function.
    Caller,
}

/// What a zoom narrows the samples to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zoom {
    /// One thread.
    Thread {
        /// Thread id.
        tid: i32,
        /// Its command name id.
        comm: u32,
    },
    /// One shared object (name id).
    Dso(u32),
    /// One symbol (name id) of one shared object (name id).
    Sym {
        /// Shared object.
        dso: u32,
        /// Symbol.
        sym: u32,
    },
}

/// A row key: one number per sort key.
pub type RowKey = [u64; 3];

/// One report row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The key.
    pub key: RowKey,
    /// The key's columns as text, made when the row is first drawn
    /// (see [`App::row_text`]); empty until then.
    pub columns: Vec<String>,
    /// Period of samples taken here.
    pub self_period: u64,
    /// Period of samples with this entry on their call chain.
    pub children_period: u64,
    /// The heaviest class of the row: what `t`, `d` and `z` zoom into.
    pub representative: usize,
}

/// Samples that pass the filters, folded by row key and callers: what the
/// rows need (the call trees and flame graph go back to the classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The row key of the samples' own location.
    pub key: RowKey,
    /// Their callers.
    pub chain: u32,
    /// Summed period.
    pub period: u64,
    /// One of the classes (an index into the classes scanned).
    pub class: usize,
}

/// A node of a call tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeNode {
    /// Frame name id (`u32::MAX` for the root).
    pub frame: u32,
    /// Summed period.
    pub period: u64,
    /// Children, heaviest first after [`Tree::sort`].
    pub children: Vec<usize>,
}

/// A call tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<TreeNode>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            nodes: vec![TreeNode {
                frame: u32::MAX,
                ..Default::default()
            }],
        }
    }
}

impl Tree {
    fn add(&mut self, frames: impl Iterator<Item = u32>, period: u64) {
        let mut node = 0;
        self.nodes[0].period += period;
        for frame in frames {
            let found = self.nodes[node]
                .children
                .iter()
                .copied()
                .find(|&c| self.nodes[c].frame == frame);
            let next = match found {
                Some(next) => next,
                None => {
                    let next = self.nodes.len();
                    self.nodes.push(TreeNode {
                        frame,
                        period: 0,
                        children: Vec::new(),
                    });
                    self.nodes[node].children.push(next);
                    next
                }
            };
            self.nodes[next].period += period;
            node = next;
        }
    }

    fn sort(&mut self, model: &Model) {
        for i in 0..self.nodes.len() {
            let mut kids = std::mem::take(&mut self.nodes[i].children);
            kids.sort_by(|&a, &b| {
                let (a, b) = (&self.nodes[a], &self.nodes[b]);
                b.period
                    .cmp(&a.period)
                    .then_with(|| model.name(a.frame).cmp(model.name(b.frame)))
            });
            self.nodes[i].children = kids;
        }
    }
}

/// A line of the report view: a row, or a node of an expanded row's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportLine {
    /// Row `index` of [`App::rows`].
    Row(usize),
    /// A call-tree node of row `row`: its path of node indices from the
    /// tree's root and its depth.
    Node {
        /// The row.
        row: usize,
        /// The node in that row's tree.
        node: usize,
        /// Depth below the row.
        depth: usize,
    },
}

/// A location as a symbol column of a row key holds it: symbol, DSO and
/// whether it is kernel code, in one number.
fn sym_slot(location: crate::model::Location) -> u64 {
    location.sym as u64 | (location.dso as u64) << 32 | (location.kernel as u64) << 63
}

/// The location a symbol column holds (see [`sym_slot`]).
fn slot_location(slot: u64) -> crate::model::Location {
    crate::model::Location {
        sym: slot as u32,
        dso: (slot >> 32) as u32 & 0x7fff_ffff,
        kernel: slot >> 63 == 1,
    }
}

/// Which location columns a row key has: the rest of the key is the
/// row's base, which a caller's entry shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocationPart {
    /// No DSO or symbol column.
    None,
    /// A DSO column and no symbol column.
    Dso,
    /// A symbol column (which holds the DSO too).
    Sym,
}

/// Call branches under this share of the event's period are not shown.
pub const MIN_BRANCH_PERCENT: f64 = 0.5;

/// The whole interface state.
#[derive(Debug)]
pub struct App {
    /// The file's name, for the title.
    pub title: String,
    /// The loaded recording, once loaded.
    pub model: Option<Arc<Model>>,
    /// Bytes read of how many while loading.
    pub progress: (u64, u64),
    /// The model shown is partial: loading goes on.
    pub loading: bool,
    /// Why loading failed.
    pub load_error: Option<String>,
    /// The view shown.
    pub view: View,
    /// The help overlay is shown.
    pub help: bool,
    /// The event whose samples are shown.
    pub event: usize,
    /// Index in [`SORT_PRESETS`].
    pub sort: usize,
    /// Show Children beside Self.
    pub children: bool,
    /// Call-chain direction.
    pub order: CallOrder,
    /// The regex filter on symbol, command or DSO.
    pub filter: Option<(String, Regex)>,
    /// The filter being typed after `/`.
    pub prompt: Option<String>,
    /// Zooms, outermost first.
    pub zooms: Vec<Zoom>,
    /// The time window, in buckets: [start, end).
    pub window: Option<(u32, u32)>,
    /// A one-line message (an error, or what a key did).
    pub message: Option<String>,
    /// The samples that pass, folded for the views.
    pub groups: Vec<Group>,
    /// The report's rows.
    pub rows: Vec<Row>,
    /// Total period the percentages divide by.
    pub total_period: u64,
    /// Rows whose call chains are open, by key.
    pub expanded: FxHashSet<RowKey>,
    /// Call trees of open rows, by key.
    pub trees: FxHashMap<RowKey, Tree>,
    /// Tree nodes folded by the user: (row key, node).
    pub folded: FxHashSet<(RowKey, usize)>,
    /// The report's lines as shown.
    pub lines: Vec<ReportLine>,
    /// Selected report line.
    pub selected: usize,
    /// First report line shown.
    pub scroll: usize,
    /// The flame view's tree (caller order).
    pub flame: Tree,
    /// The flame tree needs building again.
    pub flame_stale: bool,
    /// Path of nodes from the flame tree's root to the zoomed node.
    pub flame_zoom: Vec<usize>,
    /// Path of nodes from the flame tree's root to the selected node.
    pub flame_selected: Vec<usize>,
    /// Timeline cursor, as a bucket.
    pub cursor: u32,
    /// Timeline mark (where a window selection started).
    pub mark: Option<u32>,
    /// Indices of the trace events that pass, in time order.
    pub event_lines: Vec<usize>,
    /// Selected trace event (in `event_lines`).
    pub event_selected: usize,
    /// First trace event shown.
    pub event_scroll: usize,
    /// First header line shown.
    pub header_scroll: usize,
    /// Rows of the list area at the last draw (for paging).
    pub page: usize,
    /// Where the timeline's columns were at the last draw: x of the first
    /// column, and the column count.
    pub timeline_columns: (u16, u16),
    /// Set when the user asked to quit.
    pub quit: bool,
    name_match: Vec<bool>,
}

impl App {
    /// The share of the file read so far, 0 to 1.
    pub fn loaded_fraction(&self) -> f64 {
        let (done, total) = self.progress;
        if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        }
    }

    /// A fresh interface for a file still loading.
    pub fn new(title: impl Into<String>) -> Self {
        App {
            title: title.into(),
            model: None,
            progress: (0, 0),
            loading: false,
            load_error: None,
            view: View::Report,
            help: false,
            event: 0,
            sort: 0,
            children: true,
            order: CallOrder::Callee,
            filter: None,
            prompt: None,
            zooms: Vec::new(),
            window: None,
            message: None,
            groups: Vec::new(),
            rows: Vec::new(),
            total_period: 0,
            expanded: FxHashSet::default(),
            trees: FxHashMap::default(),
            folded: FxHashSet::default(),
            lines: Vec::new(),
            selected: 0,
            scroll: 0,
            flame: Tree::default(),
            flame_stale: true,
            flame_zoom: Vec::new(),
            flame_selected: Vec::new(),
            cursor: 0,
            mark: None,
            event_lines: Vec::new(),
            event_selected: 0,
            event_scroll: 0,
            header_scroll: 0,
            page: 20,
            timeline_columns: (0, 0),
            quit: false,
            name_match: Vec::new(),
        }
    }

    /// An interface showing a loaded model.
    pub fn with_model(title: impl Into<String>, model: Model) -> Self {
        let mut app = App::new(title);
        app.set_model(model);
        app
    }

    /// Takes the loaded model and computes every view.
    pub fn set_model(&mut self, model: Model) {
        self.update_model(model, true);
    }

    /// Takes a model, complete or of the samples read so far, keeping what
    /// the user chose (view, filters, open call chains).
    pub fn update_model(&mut self, model: Model, complete: bool) {
        if self.model.is_none() {
            // The first event with samples is the one to show.
            self.event = (0..model.events.len())
                .find(|&e| model.classes.iter().any(|c| c.event as usize == e))
                .unwrap_or(0);
            self.children = self.children && model.call_graph;
        }
        self.model = Some(Arc::new(model));
        self.loading = !complete;
        self.refresh();
    }

    /// The sort keys in use.
    pub fn sort_keys(&self) -> &'static [SortKey] {
        SORT_PRESETS[self.sort]
    }

    /// Whether a class passes the event, regex and zooms (the timeline
    /// shows all of the time, and marks the window).
    pub fn passes_filters(&self, c: &Class) -> bool {
        self.passes(c, false)
    }

    /// Whether a class passes the event, regex, zooms and (with `window`)
    /// the time window.
    fn passes(&self, c: &Class, window: bool) -> bool {
        if c.event as usize != self.event {
            return false;
        }
        if window {
            if let Some((start, end)) = self.window {
                if c.bucket < start || c.bucket >= end {
                    return false;
                }
            }
        }
        if self.filter.is_some() {
            let m = |id: u32| self.name_match.get(id as usize).copied().unwrap_or(false);
            if !(m(c.comm) || m(c.location.dso) || m(c.location.sym)) {
                return false;
            }
        }
        self.zooms.iter().all(|z| match *z {
            Zoom::Thread { tid, .. } => c.tid == tid,
            Zoom::Dso(dso) => c.location.dso == dso,
            Zoom::Sym { dso, sym } => c.location.dso == dso && c.location.sym == sym,
        })
    }

    fn row_key(&self, c: &Class, location: crate::model::Location) -> RowKey {
        let mut key = [0u64; 3];
        for (slot, k) in key.iter_mut().zip(self.sort_keys()) {
            *slot = match k {
                SortKey::Comm => c.comm as u64,
                SortKey::Pid => c.pid as u32 as u64,
                SortKey::Tid => c.tid as u32 as u64,
                SortKey::Cpu => c.cpu as u64,
                // The location columns are set below; no preset holds
                // another key.
                _ => 0,
            };
        }
        self.with_location(key, location)
    }

    fn row_columns(&self, model: &Model, c: &Class, key: &RowKey) -> Vec<String> {
        self.sort_keys()
            .iter()
            .zip(key)
            .map(|(k, &v)| match k {
                SortKey::Comm => model.name(v as u32).to_string(),
                SortKey::Pid => format!("{}:{}", c.pid, model.name(c.comm)),
                SortKey::Tid => format!("{}:{}", c.pid, c.tid),
                SortKey::Dso => model.name(v as u32).to_string(),
                SortKey::Sym => {
                    let mark = if slot_location(v).kernel {
                        "[k]"
                    } else {
                        "[.]"
                    };
                    format!("{mark} {}", model.name(v as u32))
                }
                SortKey::Cpu if v == u32::MAX as u64 => "-".to_string(),
                SortKey::Cpu => format!("{v:03}"),
                _ => String::new(),
            })
            .collect()
    }

    /// Recomputes every view after the filter, zoom, window or event
    /// changed.
    pub fn refresh(&mut self) {
        let Some(model) = self.model.clone() else {
            return;
        };
        self.name_match = match &self.filter {
            Some((_, re)) => model.names.iter().map(|n| re.is_match(n)).collect(),
            None => Vec::new(),
        };
        // Percentages are of the event's samples in the window, as perf's
        // absolute percentages are of all the event's samples.
        let classes = self.row_scan(&model);
        self.total_period = classes
            .iter()
            .filter(|c| {
                c.event as usize == self.event
                    && self
                        .window
                        .is_none_or(|(s, e)| c.bucket >= s && c.bucket < e)
            })
            .map(|c| c.period)
            .sum();
        self.refresh_rows();
        self.flame_stale = true;
        self.build_event_lines(&model);
        if let Some((start, _)) = self.window {
            if self.mark.is_none() {
                self.cursor = self.cursor.max(start);
            }
        }
    }

    /// The classes to aggregate: merged over time unless a window asks for
    /// the time buckets.
    fn classes_to_scan<'m>(&self, model: &'m Model) -> &'m [Class] {
        if self.window.is_none() && !model.merged.is_empty() {
            &model.merged
        } else {
            &model.classes
        }
    }

    /// The classes the rows are made of: merged over time and stacks
    /// unless a window asks for the time buckets.
    fn row_scan<'m>(&self, model: &'m Model) -> &'m [Class] {
        if self.window.is_none() && !model.row_classes.is_empty() {
            &model.row_classes
        } else {
            &model.classes
        }
    }

    /// Which location columns the sort keys have.
    fn location_part(&self) -> LocationPart {
        let keys = self.sort_keys();
        if keys.contains(&SortKey::Sym) {
            LocationPart::Sym
        } else if keys.contains(&SortKey::Dso) {
            LocationPart::Dso
        } else {
            LocationPart::None
        }
    }

    /// A class's row-key columns other than the location ones, packed:
    /// the rows of one base differ only in location. Every preset has at
    /// most two such columns of 32 bits (a test checks), so the packing
    /// is exact.
    fn base_of(&self, c: &Class) -> u64 {
        let mut base = 0u64;
        for k in self.sort_keys() {
            let v = match k {
                SortKey::Comm => c.comm,
                SortKey::Pid => c.pid as u32,
                SortKey::Tid => c.tid as u32,
                SortKey::Cpu => c.cpu,
                _ => continue,
            };
            base = base << 32 | v as u64;
        }
        base
    }

    /// The class a group's representative index names.
    fn group_class(&self, model: &Model, g: &Group) -> Class {
        self.row_scan(model)[g.class]
    }

    /// Recomputes the groups and rows after the sort keys or Children
    /// changed (and from [`App::refresh`]).
    ///
    /// A large recording has hundreds of thousands of classes and as many
    /// (row, chain) pairs: hash maps of them outgrow the CPU's caches,
    /// and each key would wait on memory. So the classes that pass are
    /// sorted by (base, location, chain) instead, which makes every group
    /// and every row a run, and the callers' credits for Children go
    /// through an array indexed by location, filled for one base at a
    /// time.
    pub fn refresh_rows(&mut self) {
        let Some(model) = self.model.clone() else {
            return;
        };
        let part = self.location_part();
        let part_of = |loc: u32| -> u32 {
            match part {
                LocationPart::None => 0,
                LocationPart::Dso => model.locations[loc as usize].dso,
                LocationPart::Sym => loc,
            }
        };
        let classes = self.row_scan(&model);
        // (base, location and chain, period, class): the period rides
        // along so that the runs below read the classes only for new rows.
        let mut order: Vec<(u64, u64, u64, u32)> = classes
            .iter()
            .enumerate()
            .filter(|(_, c)| self.passes(c, true))
            .map(|(i, c)| {
                let place = (part_of(c.loc) as u64) << 32 | c.chain as u64;
                (self.base_of(c), place, c.period, i as u32)
            })
            .collect();
        order.sort_unstable_by_key(|&(base, place, _, _)| (base, place));

        // Groups and rows are runs of the order. The rows made here keep
        // their base and location, in order, for the callers' credits.
        let mut groups: Vec<Group> = Vec::new();
        let mut group_row: Vec<u32> = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        let mut row_place: Vec<(u64, u32)> = Vec::new();
        let mut last: Option<(u64, u64)> = None;
        for &(base, place, period, i) in &order {
            if last != Some((base, place)) {
                if last.is_none_or(|(b, p)| b != base || p >> 32 != place >> 32) {
                    let c = &classes[i as usize];
                    rows.push(Row {
                        key: self.row_key(c, c.location),
                        columns: Vec::new(),
                        self_period: 0,
                        children_period: 0,
                        representative: groups.len(),
                    });
                    row_place.push((base, (place >> 32) as u32));
                }
                groups.push(Group {
                    key: rows[rows.len() - 1].key,
                    chain: place as u32,
                    period: 0,
                    class: i as usize,
                });
                group_row.push(rows.len() as u32 - 1);
                last = Some((base, place));
            }
            groups.last_mut().expect("a group was pushed").period += period;
        }
        let mut heaviest = vec![0u64; rows.len()];
        for (gi, g) in groups.iter().enumerate() {
            let at = group_row[gi] as usize;
            let row = &mut rows[at];
            row.self_period += g.period;
            row.children_period += g.period;
            if heaviest[at] < g.period {
                heaviest[at] = g.period;
                row.representative = gi;
            }
        }

        if self.children && part != LocationPart::None {
            // Children depend only on the base, the samples' own location
            // (for a DSO key) and their callers: each distinct triple is
            // credited once. Keyed by symbol, the own location does not
            // matter: recursion is taken back below.
            let mut by_chain: Vec<(u64, u32, u32, u64, u32)> = groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.chain != 0)
                .map(|(gi, g)| {
                    let (base, own) = row_place[group_row[gi] as usize];
                    let own = if part == LocationPart::Sym {
                        u32::MAX
                    } else {
                        own
                    };
                    (base, own, g.chain, g.period, gi as u32)
                })
                .collect();
            by_chain.sort_unstable_by_key(|&(base, own, chain, _, gi)| (base, own, chain, gi));
            let size = match part {
                LocationPart::Sym => model.locations.len(),
                _ => model.names.len(),
            };
            // The row of each location for the base at hand.
            let mut row_of = vec![u32::MAX; size];
            let mut filled: Vec<u32> = Vec::new();
            let made = rows.len();
            let mut next_row = 0;
            let mut filled_for: Option<u64> = None;
            let mut seen: Vec<u32> = Vec::new();
            let mut i = 0;
            while i < by_chain.len() {
                let (base, own, chain, _, gi) = by_chain[i];
                let mut period = 0;
                while i < by_chain.len()
                    && by_chain[i].0 == base
                    && by_chain[i].1 == own
                    && by_chain[i].2 == chain
                {
                    period += by_chain[i].3;
                    i += 1;
                }
                if filled_for != Some(base) {
                    filled_for = Some(base);
                    for &place in &filled {
                        row_of[place as usize] = u32::MAX;
                    }
                    filled.clear();
                    while next_row < made && row_place[next_row].0 < base {
                        next_row += 1;
                    }
                    while next_row < made && row_place[next_row].0 == base {
                        let place = row_place[next_row].1;
                        row_of[place as usize] = next_row as u32;
                        filled.push(place);
                        next_row += 1;
                    }
                }
                seen.clear();
                seen.push(own);
                for &loc in model.chain_distinct(chain) {
                    let place = part_of(loc);
                    if part == LocationPart::Dso {
                        // A DSO is credited once per sample, however
                        // often the chain enters it.
                        if seen.contains(&place) {
                            continue;
                        }
                        seen.push(place);
                    }
                    let mut at = row_of[place as usize];
                    if at == u32::MAX {
                        let g = &groups[gi as usize];
                        at = rows.len() as u32;
                        rows.push(Row {
                            key: self.with_location(g.key, model.locations[loc as usize]),
                            columns: Vec::new(),
                            self_period: 0,
                            children_period: 0,
                            representative: gi as usize,
                        });
                        row_of[place as usize] = at;
                        filled.push(place);
                    }
                    rows[at as usize].children_period += period;
                }
            }
            if part == LocationPart::Sym {
                // Samples whose own location is also among their callers
                // were credited twice: Self already counts them.
                for (gi, g) in groups.iter().enumerate() {
                    // Keyed by symbol, a row's place is its location.
                    let own = row_place[group_row[gi] as usize].1;
                    if g.chain != 0 && model.chain_distinct(g.chain).contains(&own) {
                        rows[group_row[gi] as usize].children_period -= g.period;
                    }
                }
            }
        }
        let children = self.children;
        rows.sort_by(|a, b| {
            let order = if children {
                (b.children_period, b.self_period).cmp(&(a.children_period, a.self_period))
            } else {
                b.self_period.cmp(&a.self_period)
            };
            order.then_with(|| a.key.cmp(&b.key))
        });
        self.groups = groups;
        self.rows = rows;
        self.rebuild_trees();
    }

    /// Rebuilds the call trees of the open rows (after the call order
    /// changed, or the rows).
    pub fn rebuild_trees(&mut self) {
        let Some(model) = self.model.clone() else {
            return;
        };
        self.trees.clear();
        let open: Vec<RowKey> = self.expanded.iter().copied().collect();
        for key in open {
            if let Some(tree) = self.build_tree(&model, &key) {
                self.trees.insert(key, tree);
            }
        }
        self.rebuild_lines();
    }

    /// A row's columns as text.
    pub fn row_text(&self, row: usize) -> Vec<String> {
        let (Some(model), Some(r)) = (self.model.as_ref(), self.rows.get(row)) else {
            return Vec::new();
        };
        let c = self.group_class(model, &self.groups[r.representative]);
        self.row_columns(model, &c, &r.key)
    }

    /// Makes the text of rows about to be drawn (text for every row of a
    /// large recording would cost more than the rest of a key).
    pub fn fill_columns(&mut self, rows: std::ops::Range<usize>) {
        for i in rows {
            if self.rows.get(i).is_some_and(|r| r.columns.is_empty()) {
                let text = self.row_text(i);
                self.rows[i].columns = text;
            }
        }
    }

    /// A row key with its location columns set from another location, as
    /// a caller's entry is keyed.
    fn with_location(&self, mut key: RowKey, location: crate::model::Location) -> RowKey {
        for (slot, k) in key.iter_mut().zip(self.sort_keys()) {
            match k {
                SortKey::Dso => *slot = location.dso as u64,
                SortKey::Sym => *slot = sym_slot(location),
                _ => {}
            }
        }
        key
    }

    /// The call tree of a row: of the samples taken in it and, with
    /// Children, of the samples with it on their call chain. In callee
    /// order the tree runs from the row's function out to its callers; in
    /// caller order from the outermost caller in to the sampled function.
    fn build_tree(&self, model: &Model, key: &RowKey) -> Option<Tree> {
        let by_symbol = self.children && self.sort_keys().contains(&SortKey::Sym);
        // Which (own key, chain) pairs reach the row, and where on the
        // chain: decided once per group, then looked up per class.
        let mut reach: FxHashMap<(RowKey, u32), usize> = FxHashMap::default();
        // Keyed by symbol, a row is a base and a location: a group reaches
        // it through its callers when it has the row's base and the
        // location is on its chain.
        let location = self
            .sort_keys()
            .iter()
            .zip(key)
            .find_map(|(k, &v)| (*k == SortKey::Sym).then_some(slot_location(v)));
        for g in &self.groups {
            if g.key == *key {
                reach.insert((g.key, g.chain), usize::MAX);
            } else if let Some(location) = location.filter(|_| by_symbol && g.chain != 0) {
                if self.with_location(g.key, location) != *key {
                    continue;
                }
                let chain = &model.chains[g.chain as usize];
                if let Some(j) = chain.iter().position(|l| *l == location) {
                    reach.insert((g.key, g.chain), j);
                }
            }
        }
        let mut paths: FxHashMap<(u32, usize), u64> = FxHashMap::default();
        if !reach.is_empty() {
            for c in self.classes_to_scan(model) {
                if !self.passes(c, true) {
                    continue;
                }
                let Some(&j) = reach.get(&(self.row_key(c, c.location), c.chain)) else {
                    continue;
                };
                let stack = &model.stacks[c.stack as usize];
                let at = if j == usize::MAX {
                    Some(0)
                } else {
                    // The row's function's frame is at or after its place
                    // among the callers (inlined frames add entries to the
                    // frames, not to the callers).
                    let sym = model.chains[c.chain as usize][j].sym;
                    stack
                        .iter()
                        .skip(j + 1)
                        .position(|&f| f == sym)
                        .map(|p| p + j + 1)
                };
                if let Some(at) = at {
                    *paths.entry((c.stack, at)).or_default() += c.period;
                }
            }
        }
        let mut tree = Tree::default();
        for ((stack, at), period) in paths {
            let stack = &model.stacks[stack as usize];
            match self.order {
                CallOrder::Callee => tree.add(stack[at.min(stack.len())..].iter().copied(), period),
                CallOrder::Caller => tree.add(stack.iter().rev().copied(), period),
            }
        }
        tree.sort(model);
        (tree.nodes.len() > 1).then_some(tree)
    }

    /// Builds the flame graph if the samples changed since it was built:
    /// only the flame view needs it, so other keys do not pay for it.
    pub fn ensure_flame(&mut self) {
        if !self.flame_stale {
            return;
        }
        self.flame_stale = false;
        if let Some(model) = self.model.clone() {
            self.build_flame(&model);
        }
    }

    fn build_flame(&mut self, model: &Model) {
        // Sum each group's period into the node its stack ends at, then
        // into every ancestor: children come after their parents.
        let mut period = vec![0u64; model.trie.len()];
        let mut flat: FxHashMap<u32, u64> = FxHashMap::default();
        for c in self.classes_to_scan(model) {
            if !self.passes(c, true) {
                continue;
            }
            match model.stack_node.get(c.stack as usize) {
                Some(&node) if node != 0 => period[node as usize] += c.period,
                // Without call chains, the sampled symbol is the stack.
                _ => *flat.entry(c.location.sym).or_default() += c.period,
            }
        }
        for i in (1..model.trie.len()).rev() {
            let parent = model.trie[i].0 as usize;
            period[parent] += period[i];
        }
        let mut tree = Tree::default();
        tree.nodes[0].period = period.first().copied().unwrap_or(0);
        let mut tree_node = vec![u32::MAX; model.trie.len()];
        if !tree_node.is_empty() {
            tree_node[0] = 0;
        }
        for i in 1..model.trie.len() {
            if period[i] == 0 {
                continue;
            }
            let (parent, frame) = model.trie[i];
            let parent = tree_node[parent as usize] as usize;
            let at = tree.nodes.len();
            tree.nodes.push(TreeNode {
                frame,
                period: period[i],
                children: Vec::new(),
            });
            tree.nodes[parent].children.push(at);
            tree_node[i] = at as u32;
        }
        let mut flat: Vec<(u32, u64)> = flat.into_iter().collect();
        flat.sort_unstable();
        for (sym, period) in flat {
            tree.add(std::iter::once(sym), period);
        }
        tree.sort(model);
        // Keep the zoom and selection while their nodes still exist.
        let old = std::mem::replace(&mut self.flame, tree);
        let remap = |path: &[usize]| -> Vec<usize> {
            let mut new_path = Vec::new();
            let mut new_node = 0usize;
            for &step in path {
                let Some(frame) = old.nodes.get(step).map(|n| n.frame) else {
                    break;
                };
                match self.flame.nodes[new_node]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| self.flame.nodes[c].frame == frame)
                {
                    Some(next) => {
                        new_path.push(next);
                        new_node = next;
                    }
                    None => break,
                }
            }
            new_path
        };
        self.flame_zoom = remap(&self.flame_zoom);
        self.flame_selected = remap(&self.flame_selected);
        if !self.flame_selected.starts_with(&self.flame_zoom) {
            self.flame_selected = self.flame_zoom.clone();
        }
    }

    fn build_event_lines(&mut self, model: &Model) {
        let window = self.window.map(|(s, e)| {
            (
                model.time_start + model.bucket_offset(s),
                model.time_start + model.bucket_offset(e),
            )
        });
        let re = self.filter.as_ref().map(|(_, re)| re);
        let event_match: Vec<bool> = model
            .events
            .iter()
            .map(|e| re.is_none_or(|re| re.is_match(e)))
            .collect();
        self.event_lines = model
            .trace_events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                window.is_none_or(|(s, end)| e.time >= s && e.time < end)
                    && (re.is_none()
                        || event_match[e.event as usize]
                        || self
                            .name_match
                            .get(e.comm as usize)
                            .copied()
                            .unwrap_or(false))
                    && self.zooms.iter().all(|z| match *z {
                        Zoom::Thread { tid, .. } => e.tid == tid,
                        _ => true,
                    })
            })
            .map(|(i, _)| i)
            .collect();
        self.event_selected = self
            .event_selected
            .min(self.event_lines.len().saturating_sub(1));
        self.event_scroll = self.event_scroll.min(self.event_selected);
    }

    /// Rebuilds the report's lines from the rows and the open call chains.
    pub fn rebuild_lines(&mut self) {
        let mut lines = Vec::new();
        let min = (MIN_BRANCH_PERCENT / 100.0 * self.total_period as f64).ceil() as u64;
        for (i, row) in self.rows.iter().enumerate() {
            lines.push(ReportLine::Row(i));
            if let Some(tree) = self.trees.get(&row.key) {
                let mut stack: Vec<(usize, usize)> = tree.nodes[0]
                    .children
                    .iter()
                    .rev()
                    .map(|&n| (n, 0))
                    .collect();
                while let Some((node, depth)) = stack.pop() {
                    if tree.nodes[node].period < min.max(1) {
                        continue;
                    }
                    lines.push(ReportLine::Node {
                        row: i,
                        node,
                        depth,
                    });
                    if !self.folded.contains(&(row.key, node)) {
                        stack.extend(
                            tree.nodes[node]
                                .children
                                .iter()
                                .rev()
                                .map(|&n| (n, depth + 1)),
                        );
                    }
                }
            }
        }
        self.lines = lines;
        self.selected = self.selected.min(self.lines.len().saturating_sub(1));
    }

    /// Whether the time window, regex or a zoom narrows the samples.
    pub fn window_text(&self) -> Option<String> {
        let model = self.model.as_ref()?;
        let (s, e) = self.window?;
        Some(format!(
            "{:.3}s-{:.3}s",
            model.bucket_offset(s) as f64 / 1e9,
            model.bucket_offset(e) as f64 / 1e9
        ))
    }

    /// A zoom as text.
    pub fn zoom_text(&self, zoom: &Zoom) -> String {
        let Some(model) = self.model.as_ref() else {
            return String::new();
        };
        match *zoom {
            Zoom::Thread { tid, comm } => format!("thread {}({tid})", model.name(comm)),
            Zoom::Dso(dso) => format!("dso {}", model.name(dso)),
            Zoom::Sym { sym, .. } => format!("symbol {}", model.name(sym)),
        }
    }

    /// Handles a key; returns whether the screen needs drawing again.
    pub fn key(&mut self, key: KeyEvent) {
        self.message = None;
        if let Some(text) = &mut self.prompt {
            match key.code {
                KeyCode::Enter => {
                    let text = std::mem::take(text);
                    self.prompt = None;
                    self.set_filter(&text);
                }
                KeyCode::Esc => self.prompt = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(ch) => text.push(ch),
                _ => {}
            }
            return;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            if key.code == KeyCode::Char('q') {
                self.quit = true;
            }
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') | KeyCode::F(1) => self.help = true,
            KeyCode::Char(c @ '1'..='5') => self.view = View::ALL[(c as u8 - b'1') as usize],
            KeyCode::Tab => self.cycle_view(1),
            KeyCode::BackTab => self.cycle_view(View::ALL.len() - 1),
            _ if self.model.is_none() => {}
            KeyCode::Char('/') => self.prompt = Some(String::new()),
            KeyCode::Char('x') => {
                self.filter = None;
                self.refresh();
            }
            KeyCode::Char('w') => {
                self.window = None;
                self.mark = None;
                self.refresh();
            }
            KeyCode::Char('e') => self.cycle_event(),
            _ => match self.view {
                View::Report => self.report_key(key),
                View::Flame => self.flame_key(key),
                View::Timeline => self.timeline_key(key),
                View::Events => self.events_key(key),
                View::Header => self.header_key(key),
            },
        }
    }

    fn cycle_view(&mut self, by: usize) {
        let i = View::ALL.iter().position(|&v| v == self.view).unwrap_or(0);
        self.view = View::ALL[(i + by) % View::ALL.len()];
    }

    fn cycle_event(&mut self) {
        let Some(model) = &self.model else { return };
        if model.events.len() > 1 {
            self.event = (self.event + 1) % model.events.len();
            self.selected = 0;
            self.scroll = 0;
            self.refresh();
        }
    }

    /// Sets the regex filter (empty text clears it); an invalid regex
    /// leaves the filter as it was and says why.
    pub fn set_filter(&mut self, text: &str) {
        if text.is_empty() {
            self.filter = None;
        } else {
            match Regex::new(text) {
                Ok(re) => self.filter = Some((text.to_string(), re)),
                Err(e) => {
                    let reason = e.to_string();
                    let last = reason
                        .lines()
                        .last()
                        .unwrap_or("invalid")
                        .trim()
                        .to_string();
                    self.message = Some(format!("not a regular expression: {text}: {last}"));
                    return;
                }
            }
        }
        self.selected = 0;
        self.scroll = 0;
        self.refresh();
    }

    /// Sets the time window, in buckets [start, end).
    pub fn set_window(&mut self, start: u32, end: u32) {
        let (start, end) = (start.min(end), start.max(end) + 1);
        self.window = Some((start, end));
        self.mark = None;
        self.selected = 0;
        self.scroll = 0;
        self.refresh();
    }

    /// Opens or closes the call chain of the selected line.
    pub fn toggle_selected(&mut self) {
        let Some(line) = self.lines.get(self.selected).cloned() else {
            return;
        };
        match line {
            ReportLine::Row(i) => {
                let key = self.rows[i].key;
                if self.expanded.remove(&key) {
                    self.trees.remove(&key);
                } else if let Some(model) = self.model.clone() {
                    match self.build_tree(&model, &key) {
                        Some(tree) => {
                            self.expanded.insert(key);
                            self.trees.insert(key, tree);
                        }
                        None => self.message = Some("no call chains for this entry".into()),
                    }
                }
            }
            ReportLine::Node { row, node, .. } => {
                let key = (self.rows[row].key, node);
                if !self.folded.remove(&key) {
                    self.folded.insert(key);
                }
            }
        }
        self.rebuild_lines();
    }

    fn move_selection(&mut self, delta: isize) {
        let last = self.lines.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    fn zoom(&mut self, make: impl Fn(&Class) -> Zoom) {
        let row = match self.lines.get(self.selected) {
            Some(ReportLine::Row(i)) | Some(ReportLine::Node { row: i, .. }) => *i,
            None => return,
        };
        let Some(model) = &self.model else { return };
        let c = self.group_class(model, &self.groups[self.rows[row].representative]);
        let zoom = make(&c);
        if !self.zooms.contains(&zoom) {
            self.zooms.push(zoom);
        }
        self.selected = 0;
        self.scroll = 0;
        self.refresh();
    }

    fn zoom_out(&mut self) {
        if self.zooms.pop().is_some() {
            self.selected = 0;
            self.scroll = 0;
            self.refresh();
        }
    }

    fn report_key(&mut self, key: KeyEvent) {
        let page = self.page.max(1) as isize;
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(page),
            KeyCode::PageUp => self.move_selection(-page),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.move_selection(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Char('+') | KeyCode::Char(' ') => self.toggle_selected(),
            KeyCode::Char('E') => {
                // Open every row's call chain (the first 100 rows).
                if let Some(model) = self.model.clone() {
                    let keys: Vec<RowKey> = self.rows.iter().take(100).map(|r| r.key).collect();
                    for key in keys {
                        if let Some(tree) = self.build_tree(&model, &key) {
                            self.expanded.insert(key);
                            self.trees.insert(key, tree);
                        }
                    }
                    self.rebuild_lines();
                }
            }
            KeyCode::Char('-') => {
                self.expanded.clear();
                self.trees.clear();
                self.rebuild_lines();
            }
            KeyCode::Char('s') => {
                self.sort = (self.sort + 1) % SORT_PRESETS.len();
                self.expanded.clear();
                self.selected = 0;
                self.scroll = 0;
                self.refresh_rows();
            }
            KeyCode::Char('c') => {
                self.order = match self.order {
                    CallOrder::Callee => CallOrder::Caller,
                    CallOrder::Caller => CallOrder::Callee,
                };
                self.folded.clear();
                self.rebuild_trees();
            }
            KeyCode::Char('C') => {
                self.children = !self.children;
                self.refresh_rows();
            }
            KeyCode::Char('t') => self.zoom(|c| Zoom::Thread {
                tid: c.tid,
                comm: c.comm,
            }),
            KeyCode::Char('d') => self.zoom(|c| Zoom::Dso(c.location.dso)),
            KeyCode::Char('z') => self.zoom(|c| Zoom::Sym {
                dso: c.location.dso,
                sym: c.location.sym,
            }),
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => self.zoom_out(),
            _ => {}
        }
    }

    /// The node a flame path ends at.
    pub fn flame_node(&self, path: &[usize]) -> usize {
        path.last().copied().unwrap_or(0)
    }

    fn flame_key(&mut self, key: KeyEvent) {
        self.ensure_flame();
        let node = self.flame_node(&self.flame_selected);
        let below_zoom = self.flame_selected.len() > self.flame_zoom.len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                if let Some(&child) = self.flame.nodes[node].children.first() {
                    self.flame_selected.push(child);
                }
            }
            KeyCode::Up | KeyCode::Char('k') if below_zoom => {
                self.flame_selected.pop();
            }
            KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l')
                if below_zoom =>
            {
                let parent = self.flame_node(&self.flame_selected[..self.flame_selected.len() - 1]);
                let siblings = &self.flame.nodes[parent].children;
                if let Some(at) = siblings.iter().position(|&s| s == node) {
                    let right = matches!(key.code, KeyCode::Right | KeyCode::Char('l'));
                    let next = if right {
                        (at + 1).min(siblings.len() - 1)
                    } else {
                        at.saturating_sub(1)
                    };
                    *self.flame_selected.last_mut().unwrap_or(&mut 0) = siblings[next];
                }
            }
            KeyCode::Enter => self.flame_zoom = self.flame_selected.clone(),
            KeyCode::Esc | KeyCode::Backspace if self.flame_zoom.pop().is_none() => {
                self.zoom_out();
            }
            _ => {}
        }
    }

    fn timeline_key(&mut self, key: KeyEvent) {
        let Some(model) = &self.model else { return };
        let last = model.buckets.saturating_sub(1);
        let step = if key.modifiers.contains(KeyModifiers::SHIFT) {
            (model.buckets / 10).max(1)
        } else {
            // One screen column's worth of buckets.
            (model.buckets / self.timeline_columns.1.max(1) as u32).max(1)
        };
        match key.code {
            KeyCode::Left | KeyCode::Char('h') => self.cursor = self.cursor.saturating_sub(step),
            KeyCode::Right | KeyCode::Char('l') => self.cursor = (self.cursor + step).min(last),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = last,
            KeyCode::Char('m') | KeyCode::Char(' ') => self.mark = Some(self.cursor),
            KeyCode::Enter => {
                if let Some(mark) = self.mark {
                    self.set_window(mark, self.cursor);
                } else {
                    self.message = Some("press m at one end of the window first".into());
                }
            }
            KeyCode::Esc | KeyCode::Backspace => {
                self.mark = None;
                self.window = None;
                self.refresh();
            }
            _ => {}
        }
    }

    fn events_key(&mut self, key: KeyEvent) {
        let last = self.event_lines.len().saturating_sub(1);
        let page = self.page.max(1);
        self.event_selected = match key.code {
            KeyCode::Down | KeyCode::Char('j') => (self.event_selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.event_selected.saturating_sub(1),
            KeyCode::PageDown => (self.event_selected + page).min(last),
            KeyCode::PageUp => self.event_selected.saturating_sub(page),
            KeyCode::Home => 0,
            KeyCode::End => last,
            _ => self.event_selected,
        };
    }

    fn header_key(&mut self, key: KeyEvent) {
        let last = self
            .model
            .as_ref()
            .map_or(0, |m| m.header.len().saturating_sub(1));
        self.header_scroll = match key.code {
            KeyCode::Down | KeyCode::Char('j') => (self.header_scroll + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.header_scroll.saturating_sub(1),
            KeyCode::PageDown => (self.header_scroll + self.page).min(last),
            KeyCode::PageUp => self.header_scroll.saturating_sub(self.page),
            KeyCode::Home => 0,
            _ => self.header_scroll,
        };
    }

    /// Handles a mouse event: the wheel scrolls, a click selects (and a
    /// click on the tab bar switches views), a drag across the timeline
    /// selects a window.
    pub fn mouse(&mut self, event: MouseEvent) {
        let scroll = |app: &mut App, down: bool| {
            let code = if down { KeyCode::Down } else { KeyCode::Up };
            for _ in 0..3 {
                app.key(KeyEvent::new(code, KeyModifiers::NONE));
            }
        };
        match event.kind {
            MouseEventKind::ScrollDown => scroll(self, true),
            MouseEventKind::ScrollUp => scroll(self, false),
            MouseEventKind::Down(MouseButton::Left) => {
                if event.row == 0 {
                    // The tab bar: " 1 Report  2 Flame ..." in equal cells.
                    let mut x = 0u16;
                    for view in View::ALL {
                        let width = view.name().len() as u16 + 4;
                        if event.column < x + width {
                            self.view = view;
                            return;
                        }
                        x += width;
                    }
                    return;
                }
                match self.view {
                    View::Report => {
                        // Lines start on the screen's third row.
                        let line = self.scroll + event.row.saturating_sub(2) as usize;
                        if line < self.lines.len() {
                            if line == self.selected {
                                self.toggle_selected();
                            } else {
                                self.selected = line;
                            }
                        }
                    }
                    View::Events => {
                        let line = self.event_scroll + event.row.saturating_sub(2) as usize;
                        if line < self.event_lines.len() {
                            self.event_selected = line;
                        }
                    }
                    View::Timeline => {
                        if let Some(bucket) = self.bucket_at(event.column) {
                            self.cursor = bucket;
                            self.mark = Some(bucket);
                        }
                    }
                    _ => {}
                }
            }
            MouseEventKind::Drag(MouseButton::Left) if self.view == View::Timeline => {
                if let Some(bucket) = self.bucket_at(event.column) {
                    self.cursor = bucket;
                }
            }
            MouseEventKind::Up(MouseButton::Left) if self.view == View::Timeline => {
                if let (Some(mark), Some(bucket)) = (self.mark, self.bucket_at(event.column)) {
                    if mark != bucket {
                        self.set_window(mark, bucket);
                    }
                }
            }
            _ => {}
        }
    }

    /// The bucket under a screen column of the timeline.
    fn bucket_at(&self, column: u16) -> Option<u32> {
        let model = self.model.as_ref()?;
        let (x, width) = self.timeline_columns;
        if column < x || column >= x + width || width == 0 {
            return None;
        }
        let col = (column - x) as u64;
        Some(((col * model.buckets as u64) / width as u64) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Location, ModelBuilder, SampleIn};

    /// The rows as a plain fold over hash maps would make them: every
    /// distinct (row key, chain) credits each distinct entry on its chain
    /// once, and recursion is not counted twice.
    fn reference_rows(app: &App) -> Vec<(RowKey, u64, u64)> {
        let model = app.model.clone().expect("a model");
        let keys = app.sort_keys();
        let has_location = keys
            .iter()
            .any(|k| matches!(k, SortKey::Dso | SortKey::Sym));
        let mut rows: FxHashMap<RowKey, (u64, u64)> = FxHashMap::default();
        let mut chains: FxHashMap<(RowKey, u32), u64> = FxHashMap::default();
        for c in app.row_scan(&model) {
            if !app.passes(c, true) {
                continue;
            }
            let key = app.row_key(c, c.location);
            let row = rows.entry(key).or_default();
            row.0 += c.period;
            row.1 += c.period;
            if app.children && has_location && c.chain != 0 {
                *chains.entry((key, c.chain)).or_default() += c.period;
            }
        }
        for ((key, chain), period) in chains {
            let mut seen = vec![key];
            for &loc in model.chain_distinct(chain) {
                let caller = app.with_location(key, model.locations[loc as usize]);
                if !seen.contains(&caller) {
                    seen.push(caller);
                    rows.entry(caller).or_default().1 += period;
                }
            }
        }
        let mut rows: Vec<_> = rows
            .into_iter()
            .map(|(key, (own, children))| (key, own, children))
            .collect();
        rows.sort();
        rows
    }

    /// A recording of random samples: a few commands, threads and CPUs,
    /// locations in three DSOs, and call chains with recursion.
    fn random_model(seed: u64) -> Model {
        let mut state = seed;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut b = ModelBuilder::new(vec!["cpu-clock".into(), "faults".into()], true);
        let comms = [b.intern("app"), b.intern("worker"), b.intern("sh")];
        let mut locations: Vec<Location> = Vec::new();
        for dso in ["app", "libc.so.6", "[kernel.kallsyms]"] {
            for f in 0..8 {
                locations.push(b.location(dso, &format!("{dso}_f{f}"), dso.starts_with('[')));
            }
        }
        for i in 0..3000u64 {
            let depth = next(7) as usize;
            let chain: Vec<Location> = (0..depth)
                .map(|_| locations[next(locations.len() as u64) as usize])
                .collect();
            let own = locations[next(locations.len() as u64) as usize];
            let frames: Vec<u32> = std::iter::once(own)
                .chain(chain.iter().copied())
                .map(|l| l.sym)
                .collect();
            let tid = next(5) as i32 + 10;
            b.add(&SampleIn {
                event: (next(10) == 0) as u16,
                time: 1_000_000 * i,
                cpu: next(3) as u32,
                pid: tid / 2,
                tid,
                comm: comms[next(3) as usize],
                location: own,
                frames: &frames,
                callers: &chain,
                period: 1 + next(1000),
            });
        }
        b.finish()
    }

    #[test]
    fn sort_presets_pack_their_base_exactly() {
        for preset in SORT_PRESETS {
            let base_columns = preset
                .iter()
                .filter(|k| !matches!(k, SortKey::Dso | SortKey::Sym))
                .count();
            assert!(base_columns <= 2, "{preset:?}");
        }
    }

    #[test]
    fn rows_equal_a_plain_fold_for_every_preset_zoom_filter_and_window() {
        for seed in 1..4 {
            let mut app = App::with_model("random", random_model(seed));
            let model = app.model.clone().expect("a model");
            let comm = model.classes[0].comm;
            let dso = model.classes[0].location.dso;
            for state in 0..5 {
                app.zooms.clear();
                app.window = None;
                app.filter = None;
                match state {
                    1 => app.zooms.push(Zoom::Thread { tid: 11, comm }),
                    2 => app.zooms.push(Zoom::Dso(dso)),
                    3 => app.set_filter("f[0-3]$|^sh$"),
                    4 => app.window = Some((model.buckets / 4, model.buckets / 2)),
                    _ => {}
                }
                for sort in 0..SORT_PRESETS.len() {
                    for children in [true, false] {
                        app.sort = sort;
                        app.children = children;
                        app.refresh();
                        let mut rows: Vec<_> = app
                            .rows
                            .iter()
                            .map(|r| (r.key, r.self_period, r.children_period))
                            .collect();
                        rows.sort();
                        let what =
                            format!("seed {seed}, state {state}, sort {sort}, children {children}");
                        assert!(!rows.is_empty(), "{what}: no rows");
                        assert_eq!(rows, reference_rows(&app), "{what}");
                        // Each group belongs to its row and its class.
                        for g in &app.groups {
                            let c = app.group_class(&model, g);
                            assert_eq!(app.row_key(&c, c.location), g.key, "{what}");
                        }
                    }
                }
            }
        }
    }
}
