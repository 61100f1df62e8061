//! `strobe info`: a recording's metadata.

use crate::cli::InfoArgs;
use crate::units::human_bytes;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use strobe_analyze::decode::Decoder;
use strobe_analyze::perf_records::{PerfEventAttr, SamplingPolicy};
use strobe_record::format::reader::StrobeFile;

/// How an event's attribute reads: `type 1, config 0x0, sample_freq 4000,
/// sample_type IP|TID|...`, as perf's header shows it. Type and config sit
/// at fixed offsets of the kernel's structure; the rest comes from the
/// attribute the decoder parsed.
fn describe_attr(bytes: &[u8], attr: &PerfEventAttr) -> Option<String> {
    let type_ = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let config = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    let policy = match attr.sampling_policy {
        SamplingPolicy::Frequency(hz) => format!("sample_freq {hz}"),
        SamplingPolicy::Period(period) => format!("sample_period {period}"),
        SamplingPolicy::NoSampling => "counting".to_string(),
    };
    let names: Vec<&str> = attr
        .sample_format
        .iter_names()
        .map(|(name, _)| name)
        .collect();
    Some(format!(
        "type {type_}, config {config:#x}, {policy}, sample_type {}",
        names.join("|")
    ))
}

/// `YYYY-MM-DD HH:MM:SS UTC` for nanoseconds since the epoch.
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub fn run(args: InfoArgs) -> Result<i32> {
    let path = args.file.unwrap_or(args.input);
    describe(&path, args.json, &mut std::io::stdout().lock())?;
    Ok(0)
}

/// Writes what `strobe info` shows about a strobe file (JSON or text).
pub fn describe(path: &std::path::Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: a read-only private mapping; strobe never writes a file it reads.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    let strobe =
        StrobeFile::parse(&map).with_context(|| format!("cannot read {}", path.display()))?;
    let totals = strobe.totals();
    let session = &strobe.session;
    let trailer = strobe.trailer.as_ref();
    let (lost_events, lost_samples) = match trailer {
        Some(t) => (
            t.cpus.iter().map(|c| c.lost_events).sum::<u64>()
                + t.ftrace_cpus
                    .iter()
                    .map(|c| c.overrun + c.commit_overrun + c.dropped_events)
                    .sum::<u64>(),
            t.cpus.iter().map(|c| c.lost_samples).sum(),
        ),
        None => (totals.lost, 0),
    };
    let end_ns = trailer
        .map(|t| t.end_time_ns)
        .or(totals.time_end)
        .unwrap_or(session.start_time_ns);
    let duration_ns = end_ns.saturating_sub(session.start_time_ns);

    if json {
        let value = json!({
            "file": path.display().to_string(),
            "file_size": map.len(),
            "format_version": format!("{}.{}", strobe.header.version_major, strobe.header.version_minor),
            "recovered": strobe.recovery.is_some(),
            "recovery": strobe.recovery.as_ref().map(|r| json!({
                "reason": r.reason, "unreadable_bytes": r.unreadable_bytes, "chunks_found": r.chunks_found,
            })),
            "ring": strobe.header.flags & strobe_record::format::FLAG_RING != 0,
            "chunks": totals.chunks,
            "records": totals.records,
            "samples": totals.samples,
            "lost": lost_events + lost_samples,
            "lost_events": lost_events,
            "lost_samples": lost_samples,
            "duration_ns": duration_ns,
            "time_start": totals.time_start,
            "time_end": totals.time_end,
            "session": session,
            "trailer": trailer,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }

    let w = out;
    writeln!(
        w,
        "# file: {} ({}, strobe format {}.{})",
        path.display(),
        human_bytes(map.len() as u64),
        strobe.header.version_major,
        strobe.header.version_minor
    )?;
    match &strobe.recovery {
        None => writeln!(w, "# status: complete")?,
        Some(r) => writeln!(
            w,
            "# status: RECOVERED ({}); read {} intact chunks, {} unreadable",
            r.reason,
            r.chunks_found,
            human_bytes(r.unreadable_bytes)
        )?,
    }
    writeln!(
        w,
        "# captured on: {}, duration {:.3} s",
        utc(session.start_realtime_ns),
        duration_ns as f64 / 1e9
    )?;
    writeln!(
        w,
        "# host: {}, kernel {} ({}), {}",
        session.hostname, session.kernel_release, session.kernel_version, session.arch
    )?;
    let recorded: Vec<String> = session.cpus_recorded.iter().map(u32::to_string).collect();
    writeln!(
        w,
        "# cpu: {}, {} online, recorded {}",
        session.cpu_model,
        session.cpus_online,
        recorded.join(",")
    )?;
    writeln!(w, "# memory: {}", human_bytes(session.mem_total_kib * 1024))?;
    writeln!(w, "# command line: {}", session.command_line.join(" "))?;
    writeln!(w, "# target: {}", session.target)?;
    writeln!(w, "# pmu: {}", session.pmu)?;
    // The decoder parses the attributes; an unreadable one is reported as such.
    let decoder = Decoder::new(session).ok();
    for (i, event) in session.events.iter().enumerate() {
        let parsed = decoder.as_ref().map(|d| &d.events()[i].attr);
        let text = event
            .attr_bytes()
            .as_deref()
            .zip(parsed)
            .and_then(|(bytes, attr)| describe_attr(bytes, attr));
        match text {
            Some(text) => writeln!(
                w,
                "# event: {} ({text}, {} ids)",
                event.name,
                event.ids.len()
            )?,
            None => writeln!(w, "# event: {} (attribute unreadable)", event.name)?,
        }
        if let Some(filter) = &event.filter {
            writeln!(w, "#   filter: {filter}")?;
        }
        for probe in session.probes.iter().filter(|p| p.event == event.name) {
            let state = probe
                .state
                .as_deref()
                .map(|s| format!(", {s} at start"))
                .unwrap_or_default();
            writeln!(w, "#   {}: {}{state}", probe.kind, probe.definition)?;
        }
    }
    if let Some(ftrace) = &session.ftrace {
        writeln!(
            w,
            "# ftrace: tracer {}, clock {}, {} KiB sub-buffers",
            ftrace.tracer,
            ftrace.clock,
            ftrace.subbuf_size / 1024
        )?;
        if !ftrace.functions.is_empty() {
            writeln!(w, "#   functions: {}", ftrace.functions.join(" "))?;
        }
        if !ftrace.notrace.is_empty() {
            writeln!(w, "#   notrace: {}", ftrace.notrace.join(" "))?;
        }
        for event in ftrace
            .events
            .iter()
            .filter(|e| !e.name.starts_with("ftrace:"))
        {
            match &event.filter {
                Some(filter) => writeln!(
                    w,
                    "# event: {} (id {}, filter {filter})",
                    event.name, event.id
                )?,
                None => writeln!(w, "# event: {} (id {})", event.name, event.id)?,
            }
        }
    }
    writeln!(
        w,
        "# call graph: {}",
        if session.call_graph {
            "frame pointers"
        } else {
            "none"
        }
    )?;
    for note in &session.notes {
        writeln!(w, "# note: {note}")?;
    }
    if let Some(size) = session.ring_size {
        let wrapped = trailer.is_some_and(|t| t.ring_wrapped);
        writeln!(
            w,
            "# flight recorder: ring of {}{}",
            human_bytes(size),
            if wrapped {
                ", wrapped (oldest data overwritten)"
            } else {
                ""
            }
        )?;
    }
    if totals.stored_bytes < totals.raw_bytes {
        writeln!(
            w,
            "# chunks: {}, {} of records stored in {} (zstd)",
            totals.chunks,
            human_bytes(totals.raw_bytes),
            human_bytes(totals.stored_bytes)
        )?;
    } else {
        writeln!(
            w,
            "# chunks: {}, {} of records",
            totals.chunks,
            human_bytes(totals.raw_bytes)
        )?;
    }
    writeln!(
        w,
        "# in the file: {} records, {} samples",
        totals.records, totals.samples
    )?;
    match trailer {
        Some(t) if session.ftrace.is_some() => {
            let read: u64 = t.ftrace_cpus.iter().map(|c| c.read_events).sum();
            writeln!(w, "# recorded: {read} events read from the ftrace buffers; lost {lost_events} (overrun or dropped)")?;
        }
        Some(t) => {
            let recorded: u64 = t.cpus.iter().map(|c| c.samples).sum();
            writeln!(w, "# recorded: {recorded} samples; lost {lost_events} events (buffer full), {lost_samples} samples (dropped by the kernel)")?;
        }
        None => writeln!(
            w,
            "# lost (in the chunks recovered): {} events and samples",
            totals.lost
        )?,
    }
    if let Some(t) = trailer {
        for cpu in &t.cpus {
            writeln!(
                w,
                "#   cpu{}: {} samples, {} lost, {} throttled, {}",
                cpu.cpu,
                cpu.samples,
                cpu.lost_events + cpu.lost_samples,
                cpu.throttled,
                human_bytes(cpu.bytes)
            )?;
        }
        for cpu in &t.ftrace_cpus {
            writeln!(
                w,
                "#   cpu{}: {} events read, {} overrun, {} commit overrun, {} dropped",
                cpu.cpu, cpu.read_events, cpu.overrun, cpu.commit_overrun, cpu.dropped_events
            )?;
        }
        writeln!(w, "# build-ids: {} files", t.build_ids.len())?;
        if let Some(status) = t.exit_status {
            writeln!(w, "# workload exit status: {status}")?;
        }
    }
    let kallsyms = strobe
        .chunks
        .iter()
        .any(|c| c.header.kind == strobe_record::format::ChunkKind::Kallsyms);
    writeln!(
        w,
        "# kallsyms snapshot: {}",
        if kallsyms { "yes" } else { "no" }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(1_795_000_000 * 1_000_000_000),
            "2026-11-18 11:06:40 UTC"
        );
    }
}
