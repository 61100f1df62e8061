//! `strobe stat`: count events while a command runs, or system-wide.

use crate::cli::StatArgs;
use crate::signals;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strobe_analyze::stat::{
    self, Count, EventCounts, Format, Interval, Reading, StatResult, Target,
};
use strobe_probe::pmu::tables;
use strobe_probe::spec::EventResolver;
use strobe_probe::EventSpec;
use strobe_record::counting::{CountOptions, CounterValue, Counters, EventCount};
use strobe_record::workload::Workload;
use strobe_record::Targets;

/// perf's default events: software ones always, hardware ones where a PMU
/// counts them.
const DEFAULT_SOFTWARE: &str = "task-clock,context-switches,cpu-migrations,page-faults";
const DEFAULT_HARDWARE: &str = "cycles,instructions,branches,branch-misses";

pub fn run(args: StatArgs) -> Result<i32> {
    let table = match args.event_table.as_deref() {
        Some(name) => Some(tables::table(name).with_context(|| {
            format!("--event-table {name}: no such table; `strobe list cpus` names them")
        })?),
        None => None,
    };
    let mut resolver = EventResolver::new();
    if table.is_some() {
        resolver = resolver.with_table(table);
    }
    let defaulted = args.events.is_empty();
    let mut events: Vec<EventSpec> = Vec::new();
    if defaulted {
        events.extend(EventSpec::parse_list(DEFAULT_SOFTWARE)?);
        events.extend(EventSpec::parse_list(DEFAULT_HARDWARE)?);
    } else {
        for list in &args.events {
            events.extend(resolver.resolve_list(list)?);
        }
    }
    let targets = args.target.targets(&args.command, "count")?;
    let system_wide = targets.system_wide;
    if system_wide && (!targets.pids.is_empty() || !targets.tids.is_empty()) {
        bail!("-p/-t count tasks, -a/-C count CPUs: give one or the other");
    }
    if args.no_aggr && !system_wide {
        bail!("-A prints per-CPU counts, which needs -a or -C");
    }
    if args.repeat == 0 {
        bail!("-r 0: the number of runs must be at least 1");
    }
    if args.repeat > 1 && args.command.is_empty() {
        bail!("-r repeats a command: give one after --");
    }
    if args.interval_ms.is_some_and(|ms| ms < 10) {
        bail!("-I takes milliseconds, at least 10");
    }
    let format = match (&args.separator, args.json) {
        (Some(sep), _) => Format::Csv {
            separator: sep.clone(),
        },
        (None, true) => Format::Json,
        (None, false) => Format::Text,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        // Like perf, counts go to stderr, so that the command's own output
        // on stdout stays clean.
        None => Box::new(std::io::stderr()),
    };

    let mut per_run: Vec<Vec<EventCount>> = Vec::new();
    let mut wall_ns = Vec::new();
    let mut exit_status = None;
    let rusage_before = children_rusage();
    for _ in 0..args.repeat {
        let mut workload = if args.command.is_empty() {
            None
        } else {
            Some(Workload::prepare(&args.command)?)
        };
        signals::install();
        let options = CountOptions {
            events: events.clone(),
            targets: Targets {
                workload: workload.as_ref().map(Workload::pid),
                ..targets.clone()
            },
        };
        let counters = match Counters::open(&options) {
            Ok(counters) => counters,
            Err(err) => {
                if let Some(w) = workload.as_mut() {
                    w.terminate();
                    w.wait();
                }
                return Err(err.into());
            }
        };
        counters.enable()?;
        let start = Instant::now();
        if let Some(w) = workload.as_mut() {
            w.start()?;
        }
        let printer = IntervalPrinter {
            interval_ms: args.interval_ms,
            per_cpu: args.no_aggr,
            format: &format,
        };
        let status = wait(&counters, workload.as_mut(), &printer, start, &mut *out)?;
        counters.disable()?;
        wall_ns.push(start.elapsed().as_nanos() as u64);
        per_run.push(counters.read()?);
        if status.is_some() {
            exit_status = status;
        }
    }
    let rusage = children_rusage().since(&rusage_before);

    // Default hardware events this machine cannot count are left out:
    // perf prints a `<not supported>` line for each, which on a VM is only
    // noise. Events the user asked for are shown as `<not supported>`.
    let last = per_run.last().map(Vec::as_slice).unwrap_or_default();
    let hidden: Vec<usize> = if defaulted {
        last.iter()
            .enumerate()
            .filter(|(_, c)| c.unsupported.is_some() && events_is_hw(&events, &c.name))
            .map(|(i, _)| i)
            .collect()
    } else {
        Vec::new()
    };
    if !hidden.is_empty() && matches!(format, Format::Text) {
        let names: Vec<&str> = hidden.iter().map(|&i| last[i].name.as_str()).collect();
        eprintln!(
            "strobe: no hardware PMU counts {} here (a VM?); showing software events only",
            names.join(", ")
        );
    }
    let join = |ids: &[i32]| {
        ids.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (pids, tids) = (join(&targets.pids), join(&targets.tids));
    let target = match (&args.target.cpus, system_wide) {
        (Some(cpus), _) => Target::Cpus(cpus),
        (None, true) => Target::SystemWide,
        _ if !args.command.is_empty() => Target::Command(&args.command),
        _ if !targets.pids.is_empty() => Target::Processes(&pids),
        _ => Target::Threads(&tids),
    }
    .describe();
    // perf prints the command's CPU times for a single run of a command
    // it counted alone, not system-wide.
    let show_rusage = !args.command.is_empty() && args.repeat == 1 && !system_wide;
    let result = StatResult {
        target,
        events: (0..events.len())
            .filter(|i| !hidden.contains(i))
            .map(|i| event_counts(&per_run, i))
            .collect(),
        wall_ns,
        user_ns: show_rusage.then_some(rusage.user_ns),
        sys_ns: show_rusage.then_some(rusage.sys_ns),
        runs: args.repeat as usize,
        exit_status,
        host: crate::host::current(),
    };
    if args.interval_ms.is_none() {
        stat::write_result(&mut *out, &result, &format, args.no_aggr)?;
    }
    out.flush()?;
    Ok(exit_status.unwrap_or(0))
}

fn events_is_hw(events: &[EventSpec], name: &str) -> bool {
    events.iter().any(|e| e.name == name && e.is_hardware())
}

fn count_of(count: &EventCount, value: CounterValue) -> Count {
    if count.unsupported.is_some() {
        return Count::NotSupported;
    }
    Count::from_reading(Reading {
        value: value.value,
        time_enabled: value.enabled,
        time_running: value.running,
    })
}

/// Event `i` over every run.
fn event_counts(per_run: &[Vec<EventCount>], i: usize) -> EventCounts {
    let last = &per_run[per_run.len() - 1][i];
    EventCounts {
        name: last.name.clone(),
        unit: None,
        scale: 1.0,
        runs: per_run
            .iter()
            .map(|run| count_of(&run[i], run[i].total))
            .collect(),
        per_cpu: last
            .per_cpu
            .iter()
            .map(|&(cpu, value)| (cpu, count_of(last, value)))
            .collect(),
    }
}

/// How `-I` prints.
struct IntervalPrinter<'a> {
    interval_ms: Option<u64>,
    per_cpu: bool,
    format: &'a Format,
}

/// What the interval printer keeps between intervals.
#[derive(Default)]
struct IntervalState {
    previous: Option<Vec<EventCount>>,
    printed: usize,
}

impl IntervalPrinter<'_> {
    /// Prints what was counted since the previous interval.
    fn print(
        &self,
        counters: &Counters,
        state: &mut IntervalState,
        start: Instant,
        out: &mut dyn Write,
    ) -> Result<()> {
        let Some(ms) = self.interval_ms else {
            return Ok(());
        };
        let now = counters.read()?;
        let events = now
            .iter()
            .enumerate()
            .map(|(i, count)| {
                let before = state.previous.as_ref().map(|p| &p[i]);
                let delta = |value: CounterValue, cpu: Option<u32>| {
                    let earlier = match (before, cpu) {
                        (Some(b), None) => b.total,
                        (Some(b), Some(cpu)) => b
                            .per_cpu
                            .iter()
                            .find(|(c, _)| *c == cpu)
                            .map_or_else(CounterValue::default, |&(_, v)| v),
                        (None, _) => CounterValue::default(),
                    };
                    count_of(count, value.since(&earlier))
                };
                let mut counts = EventCounts::new(count.name.clone());
                counts.runs = vec![delta(count.total, None)];
                counts.per_cpu = count
                    .per_cpu
                    .iter()
                    .map(|&(cpu, value)| (cpu, delta(value, Some(cpu))))
                    .collect();
                counts
            })
            .collect();
        let interval = Interval {
            time_ns: start.elapsed().as_nanos() as u64,
            interval_ns: ms * 1_000_000,
            events,
        };
        let header = state.printed % stat::INTERVAL_HEADER_EVERY == 0;
        stat::write_interval(out, &interval, self.format, header, self.per_cpu)?;
        state.printed += 1;
        out.flush()?;
        state.previous = Some(now);
        Ok(())
    }
}

/// Waits for the workload to end (or for SIGINT/SIGTERM), printing the
/// counts every interval when asked. Returns the workload's exit status.
fn wait(
    counters: &Counters,
    mut workload: Option<&mut Workload>,
    printer: &IntervalPrinter<'_>,
    start: Instant,
    out: &mut dyn Write,
) -> Result<Option<i32>> {
    let mut state = IntervalState::default();
    let interval = printer.interval_ms.map(Duration::from_millis);
    if let (Some(w), None) = (workload.as_deref_mut(), interval) {
        // Block in waitpid, so the elapsed time ends when the command
        // does, not at the next poll. Ctrl-C reaches the command too (same
        // process group), so the wait ends then as well.
        return Ok(Some(w.wait()));
    }
    let mut next_print = interval.map(|d| start + d);
    loop {
        if let Some(w) = workload.as_deref_mut() {
            if let Some(status) = w.try_wait() {
                printer.print(counters, &mut state, start, out)?;
                return Ok(Some(status));
            }
        }
        if signals::STOP.load(Ordering::Relaxed) {
            printer.print(counters, &mut state, start, out)?;
            // The command got the same Ctrl-C; collect its status.
            return Ok(workload.map(|w| w.wait()));
        }
        if let (Some(at), Some(every)) = (next_print, interval) {
            if Instant::now() >= at {
                printer.print(counters, &mut state, start, out)?;
                next_print = Some(at + every);
            }
        }
        let sleep = next_print
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(5))
            .min(Duration::from_millis(5));
        std::thread::sleep(sleep);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Rusage {
    user_ns: u64,
    sys_ns: u64,
}

impl Rusage {
    fn since(&self, before: &Rusage) -> Rusage {
        Rusage {
            user_ns: self.user_ns.saturating_sub(before.user_ns),
            sys_ns: self.sys_ns.saturating_sub(before.sys_ns),
        }
    }
}

/// CPU time of the children waited for so far (the workloads).
fn children_rusage() -> Rusage {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    Rusage {
        user_ns: ns(usage.ru_utime),
        sys_ns: ns(usage.ru_stime),
    }
}
