//! `strobe script -s`: Python scripts with perf's hooks, run by CPython
//! embedded through pyo3.
//!
//! The script runs as `__main__` with `sys.argv = [script, args...]`; then
//! `trace_begin()`, every event in time order, `trace_end()`. Events go to
//! perf's handlers, called as perf calls them (see book/src/scripting.md):
//!
//! - a tracepoint to `SYSTEM__EVENT(event_name, context, common_cpu,
//!   common_secs, common_nsecs, common_pid, common_comm, common_callchain,
//!   FIELD...)`, with `perf_sample_dict` after the fields only when the
//!   handler takes one argument more; else to
//!   `trace_unhandled(event_name, context, event_fields_dict)`, likewise;
//! - any other sample to `process_event(param_dict)`.
//!
//! Field values follow perf's rules exactly, quirks included, so that
//! scripts print what they print under perf: arrays are `str` when they
//! are a printable C string and `bytearray` otherwise (and a string field
//! that was once not printable stays `bytearray`), and scalars narrower
//! than 64 bits are not sign-extended. A Python exception ends the run
//! with its traceback as the error; it never becomes a panic.
//!
//! This module prints nothing itself; what the script prints goes to the
//! process's stdout, as the script's own output.

use crate::filter::Filter;
use crate::input::{Item, Recording, Sample};
use crate::report::{CodeLocation, Symbolizer};
use crate::symbols::KernelSymbols;
use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyModule, PyString, PyTuple};
use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;
use strobe_probe::tracefs::format::{Field, FieldKind, TracepointFormat};
use strobe_probe::tracefs::print_fmt::SymbolDefinition;
use strobe_record::format::records::context;

/// perf's helper modules (Core.py, Util.py, EventClass.py), for machines
/// without perf's copy: strobe's own implementations.
const COMPAT_MODULES: &[(&str, &str)] = &[
    (
        "Core",
        include_str!("../../scripts/python/perf-compat/Core.py"),
    ),
    (
        "Util",
        include_str!("../../scripts/python/perf-compat/Util.py"),
    ),
    (
        "EventClass",
        include_str!("../../scripts/python/perf-compat/EventClass.py"),
    ),
];

/// The Python side of the `strobe` module; the Rust side adds `Event` and
/// `Frame`.
const STROBE_MODULE: &str = r#"
'''strobe's scripting API: a handler per event name, one Event per call.

    import strobe

    @strobe.on("sched:sched_switch")
    def switch(e):
        print(e.comm, e.prev_pid, e.named("prev_state"))

Names are SYSTEM:EVENT as strobe list shows them, with globs
("syscalls:sys_enter_*"), or "*" for every event. trace_begin() and
trace_end() are called as in perf scripts.
'''

_handlers = []


def on(*names):
    '''Registers the decorated function for events matching any of names.'''
    if not names:
        raise TypeError("strobe.on needs at least one event name or glob")
    def register(function):
        for name in names:
            _handlers.append((name, function))
        return function
    return register
"#;

/// One event, as strobe's own API hands it to a handler: attributes for
/// the sample (`name`, `comm`, `pid`, `tid`, `cpu`, `time`, `period`,
/// `ip`, `sym`, `dso`, `callchain`) and, decoded only when asked for, each
/// tracepoint field by name, with its proper sign.
#[pyclass(module = "strobe", name = "Event", frozen)]
struct ScriptEvent {
    #[pyo3(get)]
    name: Py<PyString>,
    #[pyo3(get)]
    comm: String,
    #[pyo3(get)]
    pid: i32,
    #[pyo3(get)]
    tid: i32,
    #[pyo3(get)]
    cpu: Option<u32>,
    #[pyo3(get)]
    time: u64,
    #[pyo3(get)]
    period: u64,
    #[pyo3(get)]
    ip: u64,
    #[pyo3(get)]
    sym: Option<String>,
    #[pyo3(get)]
    dso: Option<String>,
    #[pyo3(get)]
    callchain: PyObject,
    format: Option<Arc<TracepointFormat>>,
    raw: Vec<u8>,
}

/// A frame of an event's call chain, innermost first.
#[pyclass(module = "strobe", name = "Frame", frozen)]
struct ScriptFrame {
    #[pyo3(get)]
    ip: u64,
    #[pyo3(get)]
    sym: Option<String>,
    #[pyo3(get)]
    dso: Option<String>,
}

#[pymethods]
impl ScriptFrame {
    fn __repr__(&self) -> String {
        format!(
            "Frame({:#x}, {}, {})",
            self.ip,
            self.sym.as_deref().unwrap_or("[unknown]"),
            self.dso.as_deref().unwrap_or("[unknown]")
        )
    }
}

/// A tracepoint field's value for strobe's API: numbers with their sign,
/// strings as `str`, other arrays as lists, opaque bytes as `bytes`.
fn api_value(
    py: Python<'_>,
    value: strobe_probe::tracefs::format::Value<'_>,
) -> PyResult<PyObject> {
    use strobe_probe::tracefs::format::Value;
    Ok(match value {
        Value::Signed(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Unsigned(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Str(s) => PyString::new(py, &s).into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        Value::Signeds(v) => PyList::new(py, v)?.into_any().unbind(),
        Value::Unsigneds(v) => PyList::new(py, v)?.into_any().unbind(),
    })
}

#[pymethods]
impl ScriptEvent {
    /// A tracepoint field, decoded on first use.
    fn __getattr__(&self, py: Python<'_>, attribute: &str) -> PyResult<PyObject> {
        let field = self
            .format
            .as_ref()
            .and_then(|f| f.event_fields().find(|x| x.name == attribute));
        match field {
            Some(field) => match field.value(&self.raw) {
                Ok(value) => api_value(py, value),
                Err(e) => Err(pyo3::exceptions::PyValueError::new_err(e.to_string())),
            },
            None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "{} has no field {attribute}{}",
                self.name.bind(py),
                self.format
                    .as_ref()
                    .map(|f| format!(
                        " (its fields: {})",
                        f.event_fields()
                            .map(|x| x.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Every tracepoint field, decoded, as a dictionary.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        if let Some(format) = &self.format {
            for field in format.event_fields() {
                if let Ok(value) = field.value(&self.raw) {
                    dict.set_item(&field.name, api_value(py, value)?)?;
                }
            }
        }
        Ok(dict)
    }

    /// A flag or symbolic field by name, as the event's print format names
    /// its values (`prev_state` gives `"S"`); `None` when it has no names.
    fn named(&self, field: &str) -> Option<String> {
        let format = self.format.as_ref()?;
        let f = format.event_fields().find(|x| x.name == field)?;
        let value = f.value(&self.raw).ok()?;
        crate::script::named_value(format, field, &value)
    }

    /// The event as `strobe script` prints its trace (the print format).
    fn trace(&self) -> Option<String> {
        struct NoSymbols;
        impl strobe_probe::tracefs::format::KernelSymbolizer for NoSymbols {
            fn symbolize(&self, _: u64) -> Option<(&str, u64)> {
                None
            }
        }
        Some(self.format.as_ref()?.format_event(&self.raw, &NoSymbols))
    }

    /// The time in seconds, as a float.
    #[getter]
    fn secs(&self) -> f64 {
        self.time as f64 / 1e9
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Event({} {} {}/{} at {})",
            self.name.bind(py),
            self.comm,
            self.pid,
            self.tid,
            self.time
        )
    }
}

/// Where Debian's perf keeps its scripts; with `Core.py` there, stock
/// scripts import perf's own helpers through PERF_EXEC_PATH.
pub const PERF_EXEC_PATH: &str = "/usr/lib/perf-core";
const PERF_HELPERS: &str = "scripts/python/Perf-Trace-Util/lib/Perf/Trace/Core.py";

/// Why a script run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The script raised an exception (or did not compile); the text is
    /// Python's traceback.
    #[error("{traceback}")]
    Python {
        /// The traceback, as Python prints it.
        traceback: String,
    },
    /// The script called `sys.exit`.
    #[error("the script exited with status {code}")]
    Exit {
        /// The exit status.
        code: i32,
        /// What `sys.exit` was given, when it was text (a usage message).
        message: Option<String>,
    },
    /// The script file could not be read.
    #[error("cannot read the script {path}: {source}")]
    Read {
        /// The script.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The recording could not be read.
    #[error(transparent)]
    Analyze(#[from] crate::AnalyzeError),
}

/// What a script run saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events handed to the script.
    pub events: u64,
    /// Events the filters left out.
    pub filtered_out: u64,
    /// Events lost while recording.
    pub lost: u64,
    /// Records or pages that did not decode.
    pub malformed: u64,
}

/// The `context` argument of tracepoint handlers, for the functions of
/// the `perf_trace_context` module.
#[pyclass(name = "Context", module = "perf_trace_context", frozen)]
struct TraceContext {
    preempt_count: u64,
    flags: u64,
    lock_depth: i64,
}

#[pyfunction]
fn common_pc(context: &Bound<'_, TraceContext>) -> u64 {
    context.get().preempt_count
}

#[pyfunction]
fn common_flags(context: &Bound<'_, TraceContext>) -> u64 {
    context.get().flags
}

#[pyfunction]
fn common_lock_depth(context: &Bound<'_, TraceContext>) -> i64 {
    context.get().lock_depth
}

/// What is known about one event type of the recording, made when its
/// first event arrives.
struct EventHooks {
    /// `SYSTEM__EVENT`, for tracepoints.
    handler_name: Py<PyString>,
    /// The tracepoint's handler, or `trace_unhandled` (then `unhandled`).
    handler: Option<PyObject>,
    unhandled: bool,
    /// Whether the handler takes perf_sample_dict after the other arguments.
    wants_sample_dict: bool,
    /// The format, for tracepoints.
    format: Option<Arc<TracepointFormat>>,
    /// Each event field with its name, and whether it may still be a `str`.
    fields: Vec<(Field, Py<PyString>, bool)>,
    /// Handlers registered with `strobe.on` for this event.
    strobe_handlers: Vec<PyObject>,
    /// The event's name as strobe's API gives it.
    name: Py<PyString>,
    /// The common fields perf_trace_context reads.
    common_pid: Option<Field>,
    preempt_count: Option<Field>,
    flags: Option<Field>,
    lock_depth: Option<Field>,
}

/// Runs the script file `script` with `args` over `recording`.
pub fn run(
    recording: &Recording<'_>,
    script: &Path,
    args: &[String],
    filter: &Filter,
) -> Result<RunStats, ScriptError> {
    let source = std::fs::read_to_string(script).map_err(|source| ScriptError::Read {
        path: script.display().to_string(),
        source,
    })?;
    run_source(recording, script, &source, args, filter)
}

/// Runs `source` as the script `script` (its name in tracebacks and
/// `sys.argv[0]`) with `args` over `recording`.
pub fn run_source(
    recording: &Recording<'_>,
    script: &Path,
    source: &str,
    args: &[String],
    filter: &Filter,
) -> Result<RunStats, ScriptError> {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let result = run_with_gil(py, recording, script, source, args, filter);
        // Python buffers the script's output; strobe exits without
        // finalizing the interpreter, so flush it here, error or not.
        let _ = py
            .import("sys")
            .and_then(|sys| sys.getattr("stdout"))
            .and_then(|out| out.call_method0("flush"));
        result
    })
}

fn run_with_gil(
    py: Python<'_>,
    recording: &Recording<'_>,
    script: &Path,
    source: &str,
    args: &[String],
    filter: &Filter,
) -> Result<RunStats, ScriptError> {
    let fail = |e: PyErr| script_error(py, e);
    setup(py, script, args).map_err(fail)?;
    let main = py.import("__main__").map_err(fail)?;
    let globals = main.dict();
    globals
        .set_item("__file__", script.display().to_string())
        .map_err(fail)?;
    let builtins = py.import("builtins").map_err(fail)?;
    let code = builtins
        .call_method1("compile", (source, script.display().to_string(), "exec"))
        .map_err(fail)?;
    builtins
        .call_method1("exec", (code, &globals))
        .map_err(fail)?;

    let handler = |name: &str| -> Option<PyObject> {
        globals
            .get_item(name)
            .ok()
            .flatten()
            .filter(|h| h.is_callable())
            .map(|h| h.unbind())
    };
    if let Some(begin) = handler("trace_begin") {
        begin.call0(py).map_err(fail)?;
    }

    let kernel = KernelSymbols::parse(&recording.kallsyms);
    let mut symbolizer = Symbolizer::new(&kernel, recording);
    let mut hooks: Vec<Option<EventHooks>> = (0..recording.events.len()).map(|_| None).collect();
    let process_event = handler("process_event");
    let strobe_handlers: Vec<(String, PyObject)> = py
        .import("strobe")
        .and_then(|m| m.getattr("_handlers"))
        .and_then(|h| h.extract())
        .map_err(fail)?;
    let unhandled = handler("trace_unhandled");
    let mut stats = RunStats::default();
    let mut error: Option<PyErr> = None;
    let stream = recording.for_each(|item| {
        if error.is_some() {
            return;
        }
        let Item::Sample(sample) = item else {
            symbolizer.apply(item);
            return;
        };
        if !filter.passes_ids(sample.pid, sample.tid, sample.cpu, sample.time) {
            stats.filtered_out += 1;
            return;
        }
        let hooks = hooks[sample.event].get_or_insert_with(|| {
            let format = recording.formats.get(sample.event).cloned().flatten();
            make_hooks(
                py,
                &globals,
                recording,
                sample.event,
                format,
                unhandled.as_ref(),
                &strobe_handlers,
            )
        });
        let result = if !hooks.strobe_handlers.is_empty() {
            strobe_event(py, &mut symbolizer, hooks, sample)
        } else if hooks.format.is_some() {
            tracepoint(py, recording, &mut symbolizer, hooks, sample)
        } else if let Some(process_event) = &process_event {
            sample_dict(py, recording, &mut symbolizer, sample, None)
                .and_then(|dict| process_event.call1(py, (dict,)).map(drop))
        } else {
            Ok(())
        };
        match result {
            Ok(()) => stats.events += 1,
            Err(e) => error = Some(e),
        }
    })?;
    if let Some(e) = error {
        return Err(fail(e));
    }
    if let Some(end) = handler("trace_end") {
        end.call0(py).map_err(fail)?;
    }
    stats.lost = stream.lost;
    stats.malformed = stream.malformed;
    Ok(stats)
}

/// Prepares the interpreter for a perf script: PERF_EXEC_PATH, the helper
/// modules, `perf_trace_context`, `sys.argv`, and the script's directory
/// on `sys.path`.
fn setup(py: Python<'_>, script: &Path, args: &[String]) -> PyResult<()> {
    let sys = py.import("sys")?;
    let os = py.import("os")?;
    let environ = os.getattr("environ")?;
    let modules = sys.getattr("modules")?;
    // STROBE_OWN_HELPERS=1 takes strobe's helper modules even where perf's
    // are installed (for tests, and for anyone who prefers them).
    let perf_helpers = Path::new(PERF_EXEC_PATH).join(PERF_HELPERS).is_file()
        && std::env::var_os("STROBE_OWN_HELPERS").is_none();
    if !environ.contains("PERF_EXEC_PATH")? {
        // Scripts append PERF_EXEC_PATH/scripts/... to sys.path; without
        // perf's helpers there, strobe's own are already imported below.
        environ.set_item("PERF_EXEC_PATH", PERF_EXEC_PATH)?;
    }
    if !perf_helpers {
        for (name, source) in COMPAT_MODULES {
            let code = CString::new(*source).expect("no NUL in the helper modules");
            let file = CString::new(format!("<strobe>/{name}.py")).expect("no NUL");
            let module_name = CString::new(*name).expect("no NUL");
            let module = PyModule::from_code(py, &code, &file, &module_name)?;
            modules.set_item(*name, module)?;
        }
    }
    let strobe_code = CString::new(STROBE_MODULE).expect("no NUL in the strobe module");
    let strobe = PyModule::from_code(py, &strobe_code, c"<strobe>/strobe.py", c"strobe")?;
    strobe.add_class::<ScriptEvent>()?;
    strobe.add_class::<ScriptFrame>()?;
    modules.set_item("strobe", strobe)?;
    let context = PyModule::new(py, "perf_trace_context")?;
    context.add_class::<TraceContext>()?;
    context.add_function(wrap_pyfunction!(common_pc, &context)?)?;
    context.add_function(wrap_pyfunction!(common_flags, &context)?)?;
    context.add_function(wrap_pyfunction!(common_lock_depth, &context)?)?;
    modules.set_item("perf_trace_context", context)?;

    let mut argv = vec![script.display().to_string()];
    argv.extend(args.iter().cloned());
    sys.setattr("argv", argv)?;
    let dir = script
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| ".".to_string(), |d| d.display().to_string());
    sys.getattr("path")?.call_method1("insert", (0, dir))?;
    Ok(())
}

/// A Python error as strobe reports it: `sys.exit` as an exit status, any
/// other exception as its traceback.
fn script_error(py: Python<'_>, error: PyErr) -> ScriptError {
    if error.is_instance_of::<PySystemExit>(py) {
        let code = error.value(py).getattr("code").ok();
        return match code {
            None => ScriptError::Exit {
                code: 0,
                message: None,
            },
            Some(code) if code.is_none() => ScriptError::Exit {
                code: 0,
                message: None,
            },
            Some(code) => match code.extract::<i32>() {
                Ok(code) => ScriptError::Exit {
                    code,
                    message: None,
                },
                Err(_) => ScriptError::Exit {
                    code: 1,
                    message: code.str().ok().map(|s| s.to_string()),
                },
            },
        };
    }
    let traceback = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (error.get_type(py), error.value(py), error.traceback(py)),
            )
        })
        .and_then(|lines| {
            let lines: Vec<String> = lines.extract()?;
            Ok(lines.concat())
        })
        .unwrap_or_else(|_| error.to_string());
    ScriptError::Python {
        traceback: traceback.trim_end().to_string(),
    }
}

/// Looks up an event's handler and, for a tracepoint, announces its flag
/// and symbolic tables to the script (perf's define_* calls).
fn make_hooks(
    py: Python<'_>,
    globals: &Bound<'_, PyDict>,
    recording: &Recording<'_>,
    event: usize,
    format: Option<Arc<TracepointFormat>>,
    unhandled: Option<&PyObject>,
    strobe_handlers: &[(String, PyObject)],
) -> EventHooks {
    let handler_name = match &format {
        Some(format) => format!("{}__{}", format.system, format.name),
        None => recording.events[event].clone(),
    };
    let own = globals
        .get_item(&handler_name)
        .ok()
        .flatten()
        .filter(|h| h.is_callable())
        .map(|h| h.unbind());
    let is_unhandled = own.is_none();
    let handler = own.or_else(|| unhandled.map(|h| h.clone_ref(py)));
    let field_count = format.as_ref().map_or(0, |f| f.event_fields().count());
    // perf passes the sample dictionary when the handler takes exactly one
    // argument more than it is given: 8 common ones and the fields, or 3.
    let given = if is_unhandled { 3 } else { 8 + field_count };
    let wants_sample_dict = handler
        .as_ref()
        .and_then(|h| argument_count(h.bind(py)))
        .is_some_and(|n| n == given + 1);
    let common = |name: &str| {
        format
            .as_ref()
            .and_then(|f| f.fields.iter().find(|x| x.name == name).cloned())
    };
    let event_name = &recording.events[event];
    let strobe_handlers = strobe_handlers
        .iter()
        .filter(|(pattern, _)| strobe_probe::tracefs::glob_match(pattern, event_name))
        .map(|(_, f)| f.clone_ref(py))
        .collect();
    let mut hooks = EventHooks {
        strobe_handlers,
        name: PyString::intern(py, event_name).unbind(),
        handler_name: PyString::intern(py, &handler_name).unbind(),
        handler,
        unhandled: is_unhandled,
        wants_sample_dict,
        fields: Vec::new(),
        common_pid: common("common_pid"),
        preempt_count: common("common_preempt_count"),
        flags: common("common_flags"),
        lock_depth: common("common_lock_depth"),
        format: None,
    };
    if let Some(format) = format {
        hooks.fields = format
            .event_fields()
            .map(|f| (f.clone(), PyString::intern(py, &f.name).unbind(), true))
            .collect();
        define_symbols(py, globals, &handler_name, &format);
        hooks.format = Some(format);
    }
    hooks
}

/// `co_argcount` of a Python function (or of a bound method, less self).
fn argument_count(handler: &Bound<'_, PyAny>) -> Option<usize> {
    let code = handler.getattr("__code__").ok()?;
    let count: usize = code.getattr("co_argcount").ok()?.extract().ok()?;
    let bound = handler.hasattr("__self__").unwrap_or(false);
    Some(count - usize::from(bound && count > 0))
}

/// Calls the script's define_flag_field, define_flag_value,
/// define_symbolic_field and define_symbolic_value for an event's print
/// format, as perf does before the event's first call.
fn define_symbols(
    py: Python<'_>,
    globals: &Bound<'_, PyDict>,
    event: &str,
    format: &TracepointFormat,
) {
    let text = |s: &str| PyString::new(py, s).into_any().unbind();
    for definition in format.symbol_definitions() {
        let (handler, args): (&str, Vec<PyObject>) = match &definition {
            SymbolDefinition::Field {
                flags: true,
                field,
                delim,
            } => (
                "define_flag_field",
                vec![
                    text(event),
                    text(field),
                    text(delim.as_deref().unwrap_or("")),
                ],
            ),
            SymbolDefinition::Field { field, .. } => {
                ("define_symbolic_field", vec![text(event), text(field)])
            }
            SymbolDefinition::Value {
                flags,
                field,
                value,
                name,
            } => {
                let value = value
                    .into_pyobject(py)
                    .unwrap_or_else(|never| match never {});
                (
                    if *flags {
                        "define_flag_value"
                    } else {
                        "define_symbolic_value"
                    },
                    vec![
                        text(event),
                        text(field),
                        value.into_any().unbind(),
                        text(name),
                    ],
                )
            }
        };
        if let (Ok(Some(f)), Ok(args)) = (globals.get_item(handler), PyTuple::new(py, args)) {
            if f.is_callable() {
                // A failing define_* is ignored, as perf ignores it.
                let _ = f.call1(args);
            }
        }
    }
}

/// Reads an unsigned number of `size` bytes, as libtraceevent does.
fn read_number(raw: &[u8], offset: usize, size: usize) -> u64 {
    let Some(bytes) = raw.get(offset..offset + size) else {
        return 0;
    };
    match size {
        1 => u64::from(bytes[0]),
        2 => u64::from(u16::from_le_bytes([bytes[0], bytes[1]])),
        4 => u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        8 => u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

/// The bytes of an array or dynamic field.
fn array_bytes<'a>(field: &Field, raw: &'a [u8]) -> &'a [u8] {
    let (offset, len) = match field.kind {
        FieldKind::DataLoc { relative } => {
            let descriptor = read_number(raw, field.offset as usize, field.size as usize);
            let mut offset = (descriptor & 0xffff) as usize;
            let len = (descriptor >> 16) as usize & 0xffff;
            if relative {
                offset += (field.offset + field.size) as usize;
            }
            (offset, len)
        }
        _ => (field.offset as usize, field.size as usize),
    };
    raw.get(offset..offset.saturating_add(len).min(raw.len()))
        .unwrap_or(&[])
}

/// perf's test for a string field's bytes: NUL-terminated, and printable
/// (or white space) up to the first NUL.
fn is_printable_array(bytes: &[u8]) -> bool {
    match bytes.split_last() {
        Some((0, body)) => body
            .iter()
            .take_while(|&&b| b != 0)
            .all(|&b| (0x20..0x7f).contains(&b) || (0x09..=0x0d).contains(&b)),
        _ => false,
    }
}

/// A field's value as perf's Python engine gives it.
fn field_value(
    py: Python<'_>,
    field: &Field,
    string_ok: &mut bool,
    raw: &[u8],
) -> PyResult<PyObject> {
    match field.kind {
        FieldKind::Scalar => {
            let value = read_number(raw, field.offset as usize, field.size as usize);
            // perf sign-extends nothing: only a 64-bit signed field can be
            // negative.
            Ok(if field.signed && field.size == 8 {
                (value as i64).into_pyobject(py)?.into_any().unbind()
            } else {
                value.into_pyobject(py)?.into_any().unbind()
            })
        }
        FieldKind::Array { .. } | FieldKind::DataLoc { .. } => {
            let bytes = array_bytes(field, raw);
            if *string_ok && field.is_string() && is_printable_array(bytes) {
                let text = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
                Ok(PyString::new(py, &String::from_utf8_lossy(text))
                    .into_any()
                    .unbind())
            } else {
                // perf stops treating the field as a string for good.
                *string_ok = false;
                Ok(PyByteArray::new(py, bytes).into_any().unbind())
            }
        }
    }
}

/// Calls a tracepoint's handler (or trace_unhandled) for one event.
fn tracepoint(
    py: Python<'_>,
    recording: &Recording<'_>,
    symbolizer: &mut Symbolizer<'_>,
    hooks: &mut EventHooks,
    sample: &Sample<'_>,
) -> PyResult<()> {
    let Some(handler) = &hooks.handler else {
        return Ok(());
    };
    let raw = sample.raw;
    let number = |field: &Option<Field>| {
        field
            .as_ref()
            .map(|f| read_number(raw, f.offset as usize, f.size as usize))
    };
    // common_pid is the thread id, from the payload, as perf reads it.
    let pid = number(&hooks.common_pid).map_or(sample.tid, |p| p as u32 as i32);
    let context = Bound::new(
        py,
        TraceContext {
            preempt_count: number(&hooks.preempt_count).unwrap_or(0),
            flags: number(&hooks.flags).unwrap_or(0),
            lock_depth: number(&hooks.lock_depth).map_or(0, |v| v as i64),
        },
    )?;
    let cpu: i64 = sample.cpu.map_or(-1, i64::from);
    let secs = sample.time / 1_000_000_000;
    let nsecs = sample.time % 1_000_000_000;
    let comm = symbolizer.comm(sample.pid, sample.tid).into_owned();
    let callchain = callchain_list(py, symbolizer, sample)?;
    let mut args: Vec<PyObject> = Vec::with_capacity(10 + hooks.fields.len());
    args.push(hooks.handler_name.clone_ref(py).into_any());
    args.push(context.into_any().unbind());
    if hooks.unhandled {
        let dict = PyDict::new(py);
        dict.set_item("common_cpu", cpu)?;
        dict.set_item("common_s", secs)?;
        dict.set_item("common_ns", nsecs)?;
        dict.set_item("common_pid", pid)?;
        dict.set_item("common_comm", &comm)?;
        dict.set_item("common_callchain", callchain.clone_ref(py))?;
        for (field, name, string_ok) in &mut hooks.fields {
            dict.set_item(name.bind(py), field_value(py, field, string_ok, raw)?)?;
        }
        args.push(dict.into_any().unbind());
    } else {
        args.push(cpu.into_pyobject(py)?.into_any().unbind());
        args.push(secs.into_pyobject(py)?.into_any().unbind());
        args.push(nsecs.into_pyobject(py)?.into_any().unbind());
        args.push(pid.into_pyobject(py)?.into_any().unbind());
        args.push(PyString::new(py, &comm).into_any().unbind());
        args.push(callchain.clone_ref(py));
        for (field, _, string_ok) in &mut hooks.fields {
            args.push(field_value(py, field, string_ok, raw)?);
        }
    }
    if hooks.wants_sample_dict {
        args.push(
            sample_dict(py, recording, symbolizer, sample, Some(callchain))?
                .into_any()
                .unbind(),
        );
    }
    handler.call1(py, PyTuple::new(py, args)?)?;
    Ok(())
}

/// Calls the `strobe.on` handlers of an event with an Event object.
fn strobe_event(
    py: Python<'_>,
    symbolizer: &mut Symbolizer<'_>,
    hooks: &EventHooks,
    sample: &Sample<'_>,
) -> PyResult<()> {
    let tracepoint = hooks.format.is_some();
    // Where the sample hit, for samples that are not tracepoints (a
    // tracepoint's IP is the tracepoint's own code).
    let (sym, dso) = if !tracepoint && sample.ip != 0 {
        let location = symbolizer.code_location(sample.pid, sample.ip, sample.kernel);
        (location.symbol, location.dso)
    } else {
        (None, None)
    };
    let frames = PyList::empty(py);
    let mut kernel = sample.kernel;
    for &ip in sample.callchain {
        if ip >= context::MARKER_MIN {
            kernel = ip == context::KERNEL;
            continue;
        }
        // Looked up as perf's scripts see them (callchain_list).
        let location = symbolizer.code_location(sample.pid, ip, kernel);
        frames.append(Bound::new(
            py,
            ScriptFrame {
                ip,
                sym: location.symbol,
                dso: location.dso,
            },
        )?)?;
    }
    let event = Bound::new(
        py,
        ScriptEvent {
            name: hooks.name.clone_ref(py),
            comm: symbolizer.comm(sample.pid, sample.tid).into_owned(),
            pid: sample.pid,
            tid: sample.tid,
            cpu: sample.cpu,
            time: sample.time,
            period: sample.period,
            ip: sample.ip,
            sym,
            dso,
            callchain: frames.into_any().unbind(),
            format: hooks.format.clone(),
            raw: sample.raw.to_vec(),
        },
    )?;
    for handler in &hooks.strobe_handlers {
        handler.call1(py, (event.clone(),))?;
    }
    Ok(())
}

/// The sample's call chain as perf's scripts get it: one dictionary per
/// frame (`ip`, and `sym` with `name`, `sym_off` and `dso` when known),
/// innermost first, context markers left out.
fn callchain_list(
    py: Python<'_>,
    symbolizer: &mut Symbolizer<'_>,
    sample: &Sample<'_>,
) -> PyResult<PyObject> {
    let list = PyList::empty(py);
    let mut kernel = sample.kernel;
    for &ip in sample.callchain {
        if ip >= context::MARKER_MIN {
            kernel = ip == context::KERNEL;
            continue;
        }
        let frame = PyDict::new(py);
        frame.set_item("ip", ip)?;
        // perf looks every address up as it is, return addresses too: a
        // call that ends its function is credited to the next symbol.
        let location = symbolizer.code_location(sample.pid, ip, kernel);
        if let Some(symbol) = &location.symbol {
            let sym = PyDict::new(py);
            sym.set_item("name", symbol)?;
            frame.set_item("sym", sym)?;
            frame.set_item("sym_off", location.offset)?;
        }
        if let Some(dso) = &location.dso {
            frame.set_item("dso", dso)?;
        }
        list.append(frame)?;
    }
    Ok(list.into_any().unbind())
}

/// process_event's dictionary, which is also perf_sample_dict.
fn sample_dict<'py>(
    py: Python<'py>,
    recording: &Recording<'_>,
    symbolizer: &mut Symbolizer<'_>,
    sample: &Sample<'_>,
    callchain: Option<PyObject>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("ev_name", &recording.events[sample.event])?;
    dict.set_item("attr", PyBytes::new(py, &[]))?;
    let fields = PyDict::new(py);
    fields.set_item("pid", sample.pid)?;
    fields.set_item("tid", sample.tid)?;
    // perf gives (u32)-1 for a sample without a CPU.
    fields.set_item("cpu", sample.cpu.unwrap_or(u32::MAX))?;
    fields.set_item("ip", sample.ip)?;
    fields.set_item("time", sample.time)?;
    fields.set_item("period", sample.period)?;
    fields.set_item("phys_addr", 0)?;
    fields.set_item("addr", 0)?;
    fields.set_item("weight", 0)?;
    fields.set_item("transaction", 0)?;
    fields.set_item("values", PyList::empty(py))?;
    fields.set_item("datasrc", 0)?;
    fields.set_item("datasrc_decode", "")?;
    fields.set_item("cpumode", if sample.kernel { 1 } else { 2 })?;
    dict.set_item("sample", fields)?;
    dict.set_item("raw_buf", PyBytes::new(py, sample.raw))?;
    dict.set_item("comm", symbolizer.comm(sample.pid, sample.tid).as_ref())?;
    let CodeLocation {
        dso,
        symbol,
        offset,
    } = symbolizer.code_location(sample.pid, sample.ip, sample.kernel);
    if let Some(dso) = dso {
        dict.set_item("dso", dso)?;
    }
    if let Some(symbol) = symbol {
        dict.set_item("symbol", symbol)?;
        dict.set_item("symoff", offset)?;
    }
    let callchain = match callchain {
        Some(c) => c,
        None => callchain_list(py, symbolizer, sample)?,
    };
    dict.set_item("callchain", callchain)?;
    dict.set_item("brstack", PyList::empty(py))?;
    dict.set_item("brstacksym", PyList::empty(py))?;
    dict.set_item("iregs", "")?;
    dict.set_item("uregs", "")?;
    Ok(dict)
}

/// A skeleton script for the recording's events, as `perf script -g
/// python` writes one: a handler per tracepoint with its fields as
/// arguments, `trace_unhandled`, and `process_event` when the recording
/// has other samples.
pub fn skeleton(recording: &Recording<'_>) -> String {
    let mut text = String::from(
        "# strobe script event handlers, generated by strobe script -g python\n\
         # Run it with: strobe script -s strobe-script.py\n\
         #\n\
         # Each tracepoint has a handler named SYSTEM__EVENT, called with the\n\
         # common arguments and then the event's fields, as perf calls it.\n\n\
         import os\n\
         import sys\n\n\
         sys.path.append(os.environ['PERF_EXEC_PATH'] + \\\n\
         \t'/scripts/python/Perf-Trace-Util/lib/Perf/Trace')\n\n\
         from perf_trace_context import *\n\
         from Core import *\n\n\n\
         def trace_begin():\n\
         \tprint(\"in trace_begin\")\n\n\
         def trace_end():\n\
         \tprint(\"in trace_end\")\n",
    );
    let mut others = false;
    for (index, name) in recording.events.iter().enumerate() {
        let Some(format) = recording.formats.get(index).and_then(|f| f.as_deref()) else {
            others = true;
            continue;
        };
        let fields: Vec<&str> = format.event_fields().map(|f| f.name.as_str()).collect();
        text.push_str(&format!(
            "\ndef {}__{}(event_name, context, common_cpu,\n\tcommon_secs, common_nsecs, common_pid, common_comm,\n\tcommon_callchain, {}\n\tperf_sample_dict):\n",
            format.system,
            format.name,
            fields.iter().map(|f| format!("{f}, ")).collect::<String>()
        ));
        text.push_str("\t\tprint_header(event_name, common_cpu, common_secs, common_nsecs,\n\t\t\tcommon_pid, common_comm)\n\n");
        let mut line = String::from("\t\tprint(\"");
        let mut values = Vec::new();
        for field in &fields {
            line.push_str(&format!("{field}=%s "));
            values.push(field.to_string());
        }
        line.push_str("\" % \\\n\t\t(");
        line.push_str(&values.join(", "));
        if values.len() == 1 {
            line.push(',');
        }
        line.push_str("))\n");
        text.push_str(&line);
        text.push_str(&format!("\t\t# {name}\n"));
    }
    text.push_str(
        "\ndef trace_unhandled(event_name, context, event_fields_dict, perf_sample_dict):\n\
         \t\tprint(' '.join(['%s=%s'%(k,str(v))for k,v in sorted(event_fields_dict.items())]))\n\n\
         def print_header(event_name, cpu, secs, nsecs, pid, comm):\n\
         \tprint(\"%-20s %5u %05u.%09u %8u %-20s \" % \\\n\
         \t(event_name, cpu, secs, nsecs, pid, comm), end=\"\")\n",
    );
    if others {
        text.push_str(
            "\ndef process_event(param_dict):\n\
             \tprint(param_dict['ev_name'], param_dict['comm'], param_dict['sample']['tid'],\n\
             \t      param_dict.get('symbol', '[unknown]'))\n",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_arrays_follow_perfs_rule() {
        assert!(is_printable_array(b"sh\0\0\0\0"));
        assert!(is_printable_array(b"a b\t\0"));
        assert!(!is_printable_array(b"abc"), "no NUL at the end");
        assert!(!is_printable_array(b"\x01bc\0"));
        assert!(!is_printable_array(b""));
        // Only the bytes before the first NUL count.
        assert!(is_printable_array(b"ok\0\x01\x02\0"));
    }

    #[test]
    fn numbers_are_read_little_endian_without_sign_extension() {
        let raw = [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0];
        assert_eq!(read_number(&raw, 0, 4), 0xffff_ffff);
        assert_eq!(read_number(&raw, 4, 2), 1);
        assert_eq!(read_number(&raw, 0, 8), 0x1_ffff_ffff);
        assert_eq!(read_number(&raw, 6, 4), 0, "past the end");
    }
}
