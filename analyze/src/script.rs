//! `strobe script`: every event of a recording as a line of text in perf
//! script's shape, or as one JSON object per event.
//!
//! Tracepoint payloads are decoded with the recording's own format files:
//! the `trace` field is the event's print format evaluated as perf (through
//! libtraceevent) prints it, and `-F` can pick single fields by name.

use crate::filter::{Filter, SampleView};
use crate::input::{Item, Recording, Sample};
use crate::report::Symbolizer;
use crate::symbols::KernelSymbols;
use crate::AnalyzeError;
use std::fmt::Write as _;
use std::io::Write;
use strobe_probe::tracefs::format::{KernelSymbolizer, TracepointFormat, Value};

/// The columns `-F` can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Command name.
    Comm,
    /// Thread id.
    Tid,
    /// Process id.
    Pid,
    /// CPU, as `[003]`.
    Cpu,
    /// Time in seconds.
    Time,
    /// Period (weight).
    Period,
    /// Event name.
    Event,
    /// The tracepoint's print format output.
    Trace,
    /// Instruction pointer.
    Ip,
    /// Symbol of the instruction pointer.
    Sym,
    /// Shared object of the instruction pointer.
    Dso,
    /// One tracepoint field, by name: `name=value`.
    Field(usize),
}

/// Options of a script pass.
#[derive(Debug, Clone, Default)]
pub struct ScriptOptions {
    /// Columns to print; `None` for perf's defaults (which depend on the event).
    pub columns: Option<Vec<Column>>,
    /// Field names `-F` asked for, indexed by [`Column::Field`].
    pub field_names: Vec<String>,
    /// One JSON object per event instead of text.
    pub json: bool,
    /// Which samples to show.
    pub filter: Filter,
}

impl ScriptOptions {
    /// Parses a `-F` list: column names and tracepoint field names.
    pub fn parse_columns(&mut self, list: &str) -> Result<(), String> {
        let mut columns = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            columns.push(match name {
                "comm" => Column::Comm,
                "tid" => Column::Tid,
                "pid" => Column::Pid,
                "cpu" => Column::Cpu,
                "time" => Column::Time,
                "period" => Column::Period,
                "event" => Column::Event,
                "trace" => Column::Trace,
                "ip" => Column::Ip,
                "sym" => Column::Sym,
                "dso" => Column::Dso,
                other if other.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    self.field_names.push(other.to_string());
                    Column::Field(self.field_names.len() - 1)
                }
                other => {
                    return Err(format!(
                        "-F {other}: not a column (comm, tid, pid, cpu, time, period, event, trace, ip, sym, dso) or a tracepoint field name"
                    ))
                }
            });
        }
        if columns.is_empty() {
            return Err("-F needs at least one column".into());
        }
        self.columns = Some(columns);
        Ok(())
    }
}

/// What a script pass saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Events printed.
    pub printed: u64,
    /// Events the filters left out.
    pub filtered_out: u64,
    /// Events lost while recording.
    pub lost: u64,
    /// Records or pages that did not decode.
    pub malformed: u64,
    /// Tracepoint payloads too short for their format.
    pub bad_payloads: u64,
}

struct Kernel<'a>(&'a KernelSymbols);

impl KernelSymbolizer for Kernel<'_> {
    fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
        self.0.lookup_offset(addr)
    }
}

/// Time in perf script's shape: seconds with microseconds.
fn seconds(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

/// A tracepoint field's value as JSON.
fn value_json(value: &Value<'_>) -> serde_json::Value {
    match value {
        Value::Signed(v) => (*v).into(),
        Value::Unsigned(v) => (*v).into(),
        Value::Str(s) => s.as_ref().into(),
        Value::Bytes(b) => b.iter().map(|&x| x as u64).collect::<Vec<_>>().into(),
        Value::Signeds(v) => v.clone().into(),
        Value::Unsigneds(v) => v.clone().into(),
    }
}

/// A flag or symbolic field's value by name, from the tables of the
/// event's print format (`__print_flags`, `__print_symbolic`), as perf's
/// `flag_str` and `symbol_str` give it: flags joined by the table's
/// delimiter, bits no name covers in hex after them.
pub fn named_value(format: &TracepointFormat, field: &str, value: &Value<'_>) -> Option<String> {
    let value = match *value {
        Value::Unsigned(v) => v,
        Value::Signed(v) => v as u64,
        _ => return None,
    };
    if let Some(table) = format.symbolic_table(field) {
        return table
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, name)| name.clone());
    }
    let table = format.flag_table(field)?;
    let delimiter = format.flag_delimiter(field).unwrap_or("|");
    let mut names = Vec::new();
    let mut rest = value;
    for (flag, name) in table {
        if *flag == 0 {
            if value == 0 {
                return Some(name.clone());
            }
            continue;
        }
        if rest & flag == *flag {
            names.push(name.clone());
            rest &= !flag;
        }
    }
    if names.is_empty() {
        return None;
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    Some(names.join(delimiter))
}

/// Runs a script pass, writing to `out`.
pub fn run(
    recording: &Recording<'_>,
    options: &ScriptOptions,
    out: &mut dyn Write,
) -> Result<ScriptStats, AnalyzeError> {
    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let symbols = Kernel(&kernel);
    let mut symbolizer = Symbolizer::new(&kernel, recording);
    let width = recording.events.iter().map(|e| e.len()).max().unwrap_or(0);
    let mut stats = ScriptStats::default();
    let mut line = String::with_capacity(256);
    let mut io_error: Option<std::io::Error> = None;
    let needs_location = options.filter.has_name_filters()
        || options.json
        || options
            .columns
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| matches!(c, Column::Sym | Column::Dso)));
    let stream = recording.for_each(|item| {
        if io_error.is_some() {
            return;
        }
        let Item::Sample(sample) = item else {
            symbolizer.apply(item);
            return;
        };
        if !options
            .filter
            .passes_ids(sample.pid, sample.tid, sample.cpu, sample.time)
        {
            stats.filtered_out += 1;
            return;
        }
        let format = recording
            .formats
            .get(sample.event)
            .and_then(|f| f.as_deref());
        let comm = symbolizer.comm(sample.pid, sample.tid).to_string();
        let (dso, sym) = if needs_location && (format.is_none() || sample.ip != 0) {
            symbolizer.location(sample.pid, sample.ip, sample.kernel)
        } else {
            (String::new(), String::new())
        };
        if options.filter.has_name_filters() {
            let view = SampleView {
                comm: &comm,
                dso: &dso,
                sym: &sym,
                pid: sample.pid,
                tid: sample.tid,
                cpu: sample.cpu,
                time: sample.time,
            };
            if !options.filter.passes_names(&view) {
                stats.filtered_out += 1;
                return;
            }
        }
        line.clear();
        let event_name = &recording.events[sample.event];
        if options.json {
            json_line(
                &mut line, sample, format, event_name, &comm, &dso, &sym, &symbols, &mut stats,
            );
        } else {
            text_line(
                &mut line, options, sample, format, event_name, width, &comm, &dso, &sym, &symbols,
                &mut stats,
            );
        }
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            io_error = Some(e);
        }
        stats.printed += 1;
    })?;
    if let Some(e) = io_error {
        return Err(AnalyzeError::Output(e));
    }
    stats.lost = stream.lost;
    stats.malformed = stream.malformed;
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn json_line(
    line: &mut String,
    sample: &Sample<'_>,
    format: Option<&TracepointFormat>,
    event: &str,
    comm: &str,
    dso: &str,
    sym: &str,
    symbols: &dyn KernelSymbolizer,
    stats: &mut ScriptStats,
) {
    let mut object = serde_json::Map::new();
    object.insert("event".into(), event.into());
    object.insert("comm".into(), comm.into());
    object.insert("pid".into(), sample.pid.into());
    object.insert("tid".into(), sample.tid.into());
    if let Some(cpu) = sample.cpu {
        object.insert("cpu".into(), cpu.into());
    }
    object.insert("time".into(), sample.time.into());
    object.insert("period".into(), sample.period.into());
    if sample.ip != 0 || format.is_none() {
        object.insert("ip".into(), sample.ip.into());
        object.insert("sym".into(), sym.into());
        object.insert("dso".into(), dso.into());
    }
    if let Some(format) = format {
        let mut fields = serde_json::Map::new();
        for field in format.event_fields() {
            match format.value(field, sample.raw) {
                Ok(value) => {
                    fields.insert(field.name.clone(), value_json(&value));
                }
                Err(_) => stats.bad_payloads += 1,
            }
        }
        object.insert("fields".into(), fields.into());
        object.insert(
            "trace".into(),
            format.format_event(sample.raw, symbols).into(),
        );
    }
    line.push_str(&serde_json::Value::Object(object).to_string());
}

#[allow(clippy::too_many_arguments)]
fn text_line(
    line: &mut String,
    options: &ScriptOptions,
    sample: &Sample<'_>,
    format: Option<&TracepointFormat>,
    event: &str,
    width: usize,
    comm: &str,
    dso: &str,
    sym: &str,
    symbols: &dyn KernelSymbolizer,
    stats: &mut ScriptStats,
) {
    // perf script's defaults: tracepoints show the CPU and the trace;
    // other samples the period and where they hit.
    const TRACEPOINT: &[Column] = &[
        Column::Comm,
        Column::Tid,
        Column::Cpu,
        Column::Time,
        Column::Event,
        Column::Trace,
    ];
    const SAMPLE: &[Column] = &[
        Column::Comm,
        Column::Tid,
        Column::Time,
        Column::Period,
        Column::Event,
        Column::Ip,
        Column::Sym,
        Column::Dso,
    ];
    let columns: &[Column] = match &options.columns {
        Some(c) => c,
        None if format.is_some() => TRACEPOINT,
        None => SAMPLE,
    };
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let _ = match *column {
            Column::Comm => write!(line, "{comm:>16}"),
            Column::Tid => write!(line, "{:>5}", sample.tid),
            Column::Pid => write!(line, "{:>5}", sample.pid),
            Column::Cpu => match sample.cpu {
                Some(cpu) => write!(line, "[{cpu:03}]"),
                None => write!(line, "[???]"),
            },
            Column::Time => write!(line, "{:>12}:", seconds(sample.time)),
            Column::Period => write!(line, "{:>10}", sample.period),
            Column::Event => write!(line, "{event:>width$}:"),
            Column::Trace => match format {
                Some(format) => {
                    line.push_str(&format.format_event(sample.raw, symbols));
                    Ok(())
                }
                None => Ok(()),
            },
            Column::Ip => write!(line, "{:>16x}", sample.ip),
            Column::Sym => {
                line.push_str(sym);
                Ok(())
            }
            Column::Dso => write!(line, "({dso})"),
            Column::Field(index) => {
                let name = &options.field_names[index];
                match format.and_then(|f| Some((f, f.field(name)?))) {
                    Some((format, field)) => match format.value(field, sample.raw) {
                        Ok(value) => match named_value(format, name, &value) {
                            Some(named) => write!(line, "{name}={named}"),
                            None => write!(line, "{name}={value}"),
                        },
                        Err(_) => {
                            stats.bad_payloads += 1;
                            write!(line, "{name}=?")
                        }
                    },
                    None => write!(line, "{name}=-"),
                }
            }
        };
    }
}
