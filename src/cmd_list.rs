//! `strobe list`: the events strobe can record, with a line about each.

use crate::cli::ListArgs;
use anyhow::{bail, Context, Result};
use regex::Regex;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use strobe_probe::pmu::sysfs;
use strobe_probe::pmu::tables::{self, CpuId, CpuTable};
use strobe_probe::pmu::{Encoding, Term};
use strobe_probe::spec::named_events;
use strobe_probe::tracefs::format::TracepointFormat;
use strobe_probe::tracefs::{glob_match, Tracefs};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Software,
    Hardware,
    HardwareCache,
    Tracepoint,
    Probe,
    Pmu,
}

impl Class {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "sw" | "software" => Class::Software,
            "hw" | "hardware" => Class::Hardware,
            "cache" => Class::HardwareCache,
            "tracepoint" | "tracepoints" | "tp" => Class::Tracepoint,
            "probe" | "probes" | "dynamic" => Class::Probe,
            "pmu" => Class::Pmu,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Class::Software => "Software event",
            Class::Hardware => "Hardware event",
            Class::HardwareCache => "Hardware cache event",
            Class::Tracepoint => "Tracepoint event",
            Class::Probe => "Dynamic probe",
            Class::Pmu => "PMU event",
        }
    }
}

/// How a name pattern matches: a glob (`sched:*`) over the whole name, a
/// regular expression (anything with `^$()|+\{}`) anywhere in it, or a plain
/// word anywhere in it.
enum Pattern {
    Glob(String),
    Regex(Regex),
    Word(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self> {
        if text.contains(['^', '$', '(', ')', '|', '+', '\\', '{', '}']) {
            match Regex::new(text) {
                Ok(re) => Ok(Pattern::Regex(re)),
                Err(e) => bail!("`{text}` is not a valid regular expression: {e}"),
            }
        } else if strobe_probe::tracefs::is_glob(text) {
            Ok(Pattern::Glob(text.to_string()))
        } else {
            Ok(Pattern::Word(text.to_string()))
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Glob(g) => glob_match(g, name),
            Pattern::Regex(re) => re.is_match(name),
            Pattern::Word(w) => name.contains(w.as_str()),
        }
    }
}

struct Listed {
    name: String,
    class: Class,
    description: String,
    encoding: Option<(u32, Encoding)>,
}

fn config_only(config: u64) -> Encoding {
    Encoding {
        config,
        ..Encoding::default()
    }
}

/// `strobe list cpus`: the event tables and the CPUs each covers.
fn list_tables(json: bool, detected: Option<&CpuId>) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    let this = detected
        .and_then(tables::table_for)
        .map(|t| t.name.as_str());
    if json {
        let items: Vec<_> = tables::tables()
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "arch": t.arch.to_string(),
                    "vendor": t.vendor,
                    "description": t.description,
                    "pmu": t.pmu,
                    "cpuids": t.cpuids,
                    "events": t.events.len(),
                    "this_cpu": Some(t.name.as_str()) == this,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)?;
        writeln!(out)?;
        return Ok(0);
    }
    let width = tables::tables()
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for t in tables::tables() {
        let mark = if Some(t.name.as_str()) == this {
            "*"
        } else {
            " "
        };
        writeln!(
            out,
            "{mark} {:<width$}  {:>4} events  {}  [{}]",
            t.name,
            t.events.len(),
            t.description,
            t.cpuids.join(" ")
        )?;
    }
    match detected {
        Some(id) if this.is_some() => writeln!(out, "\n* this machine's CPU ({id})")?,
        Some(id) => writeln!(out, "\nno table covers this machine's CPU ({id})")?,
        None => writeln!(out, "\nthis machine's CPU could not be identified")?,
    }
    Ok(0)
}

/// The PMU events: the CPU table's, and the aliases sysfs PMUs publish.
fn pmu_events(table: Option<&'static CpuTable>, listed: &mut Vec<Listed>) {
    let pmus = sysfs::discover(Path::new(sysfs::DEFAULT_ROOT)).unwrap_or_default();
    if let Some(table) = table {
        let type_ = pmus
            .iter()
            .find(|p| p.name == table.pmu)
            .map_or(strobe_probe::attr::PERF_TYPE_RAW, |p| p.type_);
        // An ARM core's table names its own events; the common PMUv3 ones,
        // which lookups fall back to, are listed after them.
        let fallback = tables::table("armv8-pmuv3")
            .filter(|f| table.arch == tables::Arch::Arm64 && f.name != table.name);
        let common = fallback
            .into_iter()
            .flat_map(|f| f.events.iter())
            .filter(|e| !table.events.iter().any(|own| own.name == e.name));
        for event in table.events.iter().chain(common) {
            listed.push(Listed {
                name: event.name.clone(),
                class: Class::Pmu,
                description: event.description.clone(),
                encoding: table.encode(event).ok().map(|e| (type_, e)),
            });
        }
    }
    for pmu in &pmus {
        for alias in &pmu.aliases {
            listed.push(Listed {
                name: format!("{}/{}/", pmu.name, alias.name),
                class: Class::Pmu,
                description: format!("{} event of the {} PMU", alias.name, pmu.name),
                // By name, so an alias with `?` placeholders lists no encoding.
                encoding: pmu
                    .encode(&[Term {
                        name: alias.name.clone(),
                        value: 1,
                    }])
                    .ok()
                    .map(|e| (pmu.type_, e)),
            });
        }
    }
}

/// A tracepoint's one-line description: its fields.
fn tracepoint_description(format: &TracepointFormat) -> String {
    let fields: Vec<&str> = format.event_fields().map(|f| f.name.as_str()).collect();
    if fields.is_empty() {
        "no fields".to_string()
    } else {
        format!("fields: {}", fields.join(", "))
    }
}

pub fn run(args: ListArgs) -> Result<i32> {
    let detected = CpuId::detect();
    if args.filters.iter().any(|f| f == "cpus") {
        return list_tables(args.json, detected.as_ref());
    }
    let table = match args.cpu.as_deref() {
        Some(name) => Some(tables::table(name).with_context(|| {
            format!("--cpu {name}: no such table; `strobe list cpus` names them")
        })?),
        None => detected.as_ref().and_then(tables::table_for),
    };
    let mut classes = Vec::new();
    let mut patterns = Vec::new();
    for word in &args.filters {
        match Class::parse(word) {
            Some(class) => classes.push(class),
            None => patterns.push(Pattern::parse(word)?),
        }
    }
    let wanted = |class: Class| classes.is_empty() || classes.contains(&class);
    let mut listed = Vec::new();
    for event in named_events() {
        let class = match event.type_ {
            strobe_probe::attr::PERF_TYPE_SOFTWARE => Class::Software,
            strobe_probe::attr::PERF_TYPE_HARDWARE => Class::Hardware,
            _ => Class::HardwareCache,
        };
        if wanted(class) {
            let config = strobe_probe::EventSpec::parse(event.name)
                .map(|s| s.config)
                .unwrap_or(0);
            listed.push(Listed {
                name: event.name.to_string(),
                class,
                description: event.description.to_string(),
                encoding: Some((event.type_, config_only(config))),
            });
        }
    }
    if wanted(Class::Pmu) {
        pmu_events(table, &mut listed);
    }
    let mut notes = Vec::new();
    if wanted(Class::Tracepoint) || wanted(Class::Probe) {
        match Tracefs::open() {
            Ok(fs) => {
                if wanted(Class::Tracepoint) {
                    for tp in fs.tracepoints()? {
                        let name = tp.to_string();
                        if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(&name)) {
                            continue;
                        }
                        let text = fs.format_text(&tp).unwrap_or_default();
                        let format = TracepointFormat::parse(&tp.system, &text);
                        listed.push(Listed {
                            name,
                            class: Class::Tracepoint,
                            description: format.as_ref().map_or_else(
                                |_| "format unreadable".to_string(),
                                tracepoint_description,
                            ),
                            encoding: format.ok().map(|f| {
                                (
                                    strobe_probe::attr::PERF_TYPE_TRACEPOINT,
                                    config_only(f.id as u64),
                                )
                            }),
                        });
                    }
                }
                if wanted(Class::Probe) {
                    for line in fs.dynamic_events() {
                        // "p:kprobes/name target args" or "r:..." or "p:uprobes/..."
                        let mut words = line.split_whitespace();
                        let Some(head) = words.next() else { continue };
                        let (kind, event) = head.split_once(':').unwrap_or(("?", head));
                        let kind = match kind.chars().next() {
                            Some('p') => "probe",
                            Some('r') => "return probe",
                            Some('e') => "eprobe",
                            Some('s') => "synthetic event",
                            Some('f') => "fprobe",
                            _ => "dynamic event",
                        };
                        let rest: Vec<&str> = words.collect();
                        listed.push(Listed {
                            name: event.replace('/', ":"),
                            class: Class::Probe,
                            description: format!("{kind} on {}", rest.join(" ")),
                            encoding: None,
                        });
                    }
                }
            }
            Err(e) => notes.push(format!("tracepoints and probes are not listed: {e}")),
        }
    }
    listed.retain(|l| patterns.is_empty() || patterns.iter().any(|p| p.matches(&l.name)));

    let mut out = std::io::stdout().lock();
    if args.json {
        let items: Vec<_> = listed
            .iter()
            .map(|l| {
                let mut v = json!({
                    "name": l.name,
                    "kind": l.class.label(),
                    "description": l.description,
                });
                if let Some((type_, e)) = l.encoding {
                    v["type"] = type_.into();
                    v["config"] = e.config.into();
                    v["config1"] = e.config1.into();
                    v["config2"] = e.config2.into();
                }
                v
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)?;
        writeln!(out)?;
    } else {
        let width = listed
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(0)
            .max(24);
        let mut last: Option<Class> = None;
        for l in &listed {
            if last != Some(l.class) {
                if last.is_some() {
                    writeln!(out)?;
                }
                writeln!(out, "List of {}s:", l.class.label().to_lowercase())?;
                last = Some(l.class);
            }
            writeln!(
                out,
                "  {:<width$}  [{}] {}",
                l.name,
                l.class.label(),
                l.description
            )?;
        }
    }
    for note in notes {
        eprintln!("strobe: {note}");
    }
    if listed.is_empty() && !args.filters.is_empty() {
        eprintln!("strobe: no event matches {}", args.filters.join(" "));
        return Ok(1);
    }
    Ok(0)
}
