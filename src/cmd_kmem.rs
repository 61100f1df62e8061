//! `strobe kmem`: records the allocators' tracepoints, and prints what
//! `strobe_analyze::kmem` makes of them, in perf kmem stat's shape.

use crate::cli::{KmemAction, KmemArgs, KmemRecordArgs, KmemStatArgs, RecordArgs};
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;
use strobe_analyze::filter::Filter;
use strobe_analyze::kmem::{
    self, migrate_type_name, KmemOptions, KmemReport, PageReport, PageRow, SlabReport, SlabRow,
    SortKeys,
};
use strobe_probe::tracefs::Tracefs;

pub fn run(args: KmemArgs) -> Result<i32> {
    match args.action {
        KmemAction::Record(record) => {
            let before = args.stat;
            let given_before = before.caller
                || before.alloc
                || before.sort.is_some()
                || before.lines.is_some()
                || before.json
                || before.input.is_some();
            if given_before {
                anyhow::bail!(
                    "--caller, --alloc, -s, -l, --json and -i are options of `strobe kmem stat`"
                );
            }
            record_allocators(record, before.slab, before.page)
        }
        KmemAction::Stat(stat) => stat_recording(stat.merged_with(args.stat)),
    }
}

/// `strobe kmem record`: `strobe record` of the allocator tracepoints this
/// kernel has, every hit, with call chains for the page allocator's (its
/// call site is found in them).
fn record_allocators(args: KmemRecordArgs, slab_before: bool, page_before: bool) -> Result<i32> {
    let page = args.page || page_before;
    let slab = args.slab || slab_before || !page;
    let tracefs = Tracefs::open()?;
    let mut wanted: Vec<&str> = Vec::new();
    if slab {
        wanted.extend(kmem::SLAB_EVENTS);
    }
    if page {
        wanted.extend(kmem::PAGE_EVENTS);
    }
    // The `_node` variants are gone since Linux 6.1 (merged into kmalloc
    // and kmem_cache_alloc, which gained a `node` field); take what exists.
    let present: Vec<&str> = wanted
        .into_iter()
        .filter(|name| {
            let (system, event) = name.split_once(':').unwrap_or(("kmem", name));
            tracefs
                .root()
                .join("events")
                .join(system)
                .join(event)
                .join("format")
                .is_file()
        })
        .collect();
    if present.is_empty() {
        anyhow::bail!(
            "this kernel has none of the kmem tracepoints ({}/events/kmem); \
             it needs CONFIG_TRACEPOINTS and tracefs",
            tracefs.root().display()
        );
    }
    let list = present.join(",");
    let record = RecordArgs {
        events: vec![list.clone()],
        filters: Vec::new(),
        event_lists: vec![(list, None)],
        target: args.target,
        freq: 4000,
        period: None,
        call_graph: page,
        call_graph_mode: None,
        mmap_pages: Some(args.mmap_pages),
        output: args.output,
        ring: None,
        compress: args.compress,
        full_kallsyms: false,
        quiet: args.quiet,
        event_table: None,
        command: args.command,
    };
    crate::cmd_record::run(record)
}

/// The NUMA node of each CPU, from sysfs (as perf kmem reads it, live);
/// empty when the machine shows no nodes.
fn cpu_nodes() -> Vec<i64> {
    let mut nodes = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/devices/system/node") else {
        return nodes;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(node) = name
            .strip_prefix("node")
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path().join("cpulist")) else {
            continue;
        };
        let Ok(cpus) = strobe_probe::CpuList::parse(text.trim()) else {
            continue;
        };
        for &cpu in cpus.as_slice() {
            let cpu = cpu as usize;
            if nodes.len() <= cpu {
                nodes.resize(cpu + 1, -1);
            }
            nodes[cpu] = node;
        }
    }
    nodes
}

fn has_name_filters(args: &KmemStatArgs) -> bool {
    args.filter.comm.is_some() || args.filter.dso.is_some() || args.filter.sym.is_some()
}

fn stat_recording(args: KmemStatArgs) -> Result<i32> {
    let sort = match &args.sort {
        Some(keys) => SortKeys::parse(keys).map_err(anyhow::Error::msg)?,
        None => SortKeys::default(),
    };
    if args.page_size.is_some_and(|size| !size.is_power_of_two()) {
        anyhow::bail!("--page-size: give a power of two, such as 4096");
    }
    let path = crate::recording_file::default_path(args.input.as_ref());
    let file = crate::recording_file::MappedFile::open(&path)?;
    let symbols = args.caller || args.alloc || args.page || has_name_filters(&args);
    file.with_recording_symbols(symbols, |recording, trailer_lost| {
        let origin = match recording.start_time {
            Some(time) => time,
            None if args.filter.time.is_some() => crate::cmd_report::first_sample_time(recording)?,
            None => 0,
        };
        let options = KmemOptions {
            slab: args.slab || !args.page,
            page: args.page,
            filter: Filter::new(&args.filter.spec(), origin)?,
            cpu_nodes: cpu_nodes(),
            page_size: args
                .page_size
                .unwrap_or(strobe_probe::sys::page_size() as u64),
            sort,
            lines: args.lines,
            tables: args.caller || args.alloc,
        };
        let report = kmem::analyze(recording, &options)?;
        let lost = trailer_lost.unwrap_or(report.lost);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if args.json {
            serde_json::to_writer_pretty(&mut out, &report_json(&report, &args, lost))?;
            writeln!(out)?;
        } else {
            print_report(&mut out, &report, &args)?;
        }
        out.flush()?;
        if lost > 0 {
            eprintln!(
                "strobe: {lost} events were lost while recording; totals miss them \
                 (record with a larger -m)"
            );
        }
        if report.malformed > 0 {
            eprintln!(
                "strobe: skipped {} malformed records or damaged chunks",
                report.malformed
            );
        }
        if report.bad_payloads > 0 {
            eprintln!(
                "strobe: skipped {} allocator events too short for their format",
                report.bad_payloads
            );
        }
        Ok(0)
    })
}

const DOTTED: &str = "---------------------------------------------------------------------------------------------------------";

fn print_report(out: &mut impl Write, report: &KmemReport, args: &KmemStatArgs) -> Result<()> {
    if let Some(slab) = &report.slab {
        if args.caller {
            print_slab_table(out, &slab.callers, true)?;
        }
        if args.alloc {
            print_slab_table(out, &slab.pointers, false)?;
        }
        print_slab_summary(out, slab)?;
    }
    if let Some(page) = &report.page {
        if args.alloc {
            print_page_table(out, page, &page.pages, false)?;
        }
        if args.caller {
            print_page_table(out, page, &page.callers, true)?;
        }
        print_page_summary(out, page)?;
    }
    Ok(())
}

fn site(row_symbol: &Option<String>, addr: u64) -> String {
    row_symbol.clone().unwrap_or_else(|| format!("{addr:#x}"))
}

/// A slab table, in perf kmem's columns.
fn print_slab_table(out: &mut impl Write, rows: &[SlabRow], by_caller: bool) -> Result<()> {
    writeln!(out, "{DOTTED}")?;
    write!(
        out,
        " {:<34} |",
        if by_caller { "Callsite" } else { "Alloc Ptr" }
    )?;
    writeln!(
        out,
        " Total_alloc/Per | Total_req/Per   | Hit      | Ping-pong | Frag{}",
        if by_caller { "" } else { "   | Callsite" }
    )?;
    writeln!(out, "{DOTTED}")?;
    for row in rows {
        let name = if by_caller {
            site(&row.symbol, row.key)
        } else {
            format!("{:#x}", row.key)
        };
        let hits = row.hits.max(1);
        write!(
            out,
            " {:<34} | {:>9}/{:<5} | {:>9}/{:<5} | {:>8} | {:>9} | {:>6.3}%",
            name,
            row.bytes_alloc,
            row.bytes_alloc / hits,
            row.bytes_req,
            row.bytes_req / hits,
            row.hits,
            row.pingpong,
            row.fragmentation()
        )?;
        if by_caller {
            writeln!(out)?;
        } else {
            writeln!(out, " | {}", site(&row.symbol, row.call_site))?;
        }
    }
    writeln!(out, "{DOTTED}")?;
    Ok(())
}

fn print_slab_summary(out: &mut impl Write, slab: &SlabReport) -> Result<()> {
    let s = &slab.summary;
    writeln!(out, "\nSUMMARY (SLAB allocator)")?;
    writeln!(out, "========================")?;
    writeln!(out, "Total bytes requested: {}", s.requested)?;
    writeln!(out, "Total bytes allocated: {}", s.allocated)?;
    writeln!(out, "Total bytes freed:     {}", s.freed)?;
    writeln!(out, "Net total bytes allocated: {}", s.net())?;
    writeln!(
        out,
        "Total bytes wasted on internal fragmentation: {}",
        s.wasted()
    )?;
    writeln!(out, "Internal fragmentation: {:.6}%", s.fragmentation())?;
    writeln!(
        out,
        "Cross CPU allocations: {}/{}",
        s.cross_allocs, s.allocs
    )?;
    Ok(())
}

fn gfp_name(page: &PageReport, flags: u64) -> String {
    page.gfp_names
        .get(&flags)
        .cloned()
        .unwrap_or_else(|| format!("{flags:#x}"))
}

/// A page table, in perf kmem's columns (PFN rows, or call-site rows).
fn print_page_table(
    out: &mut impl Write,
    page: &PageReport,
    rows: &[PageRow],
    by_caller: bool,
) -> Result<()> {
    let gfp_width = rows
        .iter()
        .map(|r| gfp_name(page, r.gfp_flags).len())
        .max()
        .unwrap_or(0)
        .max("GFP flags".len());
    writeln!(out, "\n{DOTTED}")?;
    if !by_caller {
        write!(out, " {:<16} |", "PFN")?;
    }
    writeln!(
        out,
        " Total alloc (KB) | Hits      | Order | Mig.type    | {:<gfp_width$} | Callsite",
        "GFP flags"
    )?;
    writeln!(out, "{DOTTED}")?;
    for row in rows {
        if !by_caller {
            write!(out, " {:>16} |", row.key)?;
        }
        writeln!(
            out,
            " {:>16} | {:>9} | {:>5} | {:<11} | {:<gfp_width$} | {}",
            row.bytes / 1024,
            row.hits,
            row.order,
            migrate_type_name(row.migrate_type),
            gfp_name(page, row.gfp_flags),
            site(&row.symbol, row.call_site)
        )?;
    }
    writeln!(out, "{DOTTED}")?;
    Ok(())
}

fn print_page_summary(out: &mut impl Write, page: &PageReport) -> Result<()> {
    let s = &page.summary;
    let line = |out: &mut dyn Write, name: &str, n: u64, bytes: u64| {
        writeln!(out, "{name:<30}: {n:>16}   [ {:>16} KB ]", bytes / 1024)
    };
    writeln!(out, "\nSUMMARY (page allocator)")?;
    writeln!(out, "========================")?;
    line(out, "Total allocation requests", s.allocs, s.alloc_bytes)?;
    line(out, "Total free requests", s.frees, s.free_bytes)?;
    writeln!(out)?;
    let (n, bytes) = s.alloc_freed();
    line(out, "Total alloc+freed requests", n, bytes)?;
    let (n, bytes) = s.alloc_only();
    line(out, "Total alloc-only requests", n, bytes)?;
    line(
        out,
        "Total free-only requests",
        s.free_only,
        s.free_only_bytes,
    )?;
    writeln!(out)?;
    line(
        out,
        "Total allocation failures",
        s.failures,
        s.failure_bytes,
    )?;
    writeln!(out)?;
    let types = 5u32;
    write!(out, "{:>5}", "Order")?;
    for m in 0..types {
        write!(out, "  {:>12}", migrate_type_name(m))?;
    }
    writeln!(out)?;
    write!(out, "-----")?;
    for _ in 0..types {
        write!(out, "  ------------")?;
    }
    writeln!(out)?;
    // Orders go up to 10 (MAX_PAGE_ORDER) in most kernels; a damaged
    // event's order must not print billions of rows.
    const LAST_ORDER: u32 = 20;
    let max_order = s
        .by_order
        .keys()
        .map(|k| k.0)
        .filter(|&o| o <= LAST_ORDER)
        .max()
        .unwrap_or(0)
        .max(10);
    for order in 0..=max_order {
        write!(out, "{order:>5}")?;
        for m in 0..types {
            match s.by_order.get(&(order, m)) {
                Some(n) => write!(out, "  {n:>12}")?,
                None => write!(out, "  {:>12}", '.')?,
            }
        }
        writeln!(out)?;
    }
    let other: u64 = s
        .by_order
        .iter()
        .filter(|((order, m), _)| *m >= types || *order > LAST_ORDER)
        .map(|(_, n)| n)
        .sum();
    if other > 0 {
        writeln!(
            out,
            "({other} allocations of other migrate types or orders above {LAST_ORDER})"
        )?;
    }
    Ok(())
}

fn slab_row_json(row: &SlabRow, by_caller: bool) -> Value {
    let mut v = json!({
        "call_site": row.call_site,
        "symbol": row.symbol,
        "bytes_alloc": row.bytes_alloc,
        "bytes_req": row.bytes_req,
        "hits": row.hits,
        "pingpong": row.pingpong,
        "fragmentation": row.fragmentation(),
    });
    if !by_caller {
        v["ptr"] = row.key.into();
    }
    v
}

fn page_row_json(page: &PageReport, row: &PageRow, by_caller: bool) -> Value {
    let mut v = json!({
        "call_site": row.call_site,
        "symbol": row.symbol,
        "bytes": row.bytes,
        "hits": row.hits,
        "frees": row.frees,
        "free_bytes": row.free_bytes,
        "order": row.order,
        "migrate_type": row.migrate_type,
        "migrate_type_name": migrate_type_name(row.migrate_type),
        "gfp_flags": row.gfp_flags,
        "gfp_names": gfp_name(page, row.gfp_flags),
    });
    if !by_caller {
        v["pfn"] = row.key.into();
    }
    v
}

fn report_json(report: &KmemReport, args: &KmemStatArgs, lost: u64) -> Value {
    let mut root = json!({ "lost": lost });
    if let Some(slab) = &report.slab {
        let s = &slab.summary;
        let mut v = json!({
            "summary": {
                "requested": s.requested,
                "allocated": s.allocated,
                "freed": s.freed,
                "net": s.net(),
                "wasted": s.wasted(),
                "fragmentation": s.fragmentation(),
                "allocs": s.allocs,
                "frees": s.frees,
                "cross_allocs": s.cross_allocs,
            }
        });
        if args.caller {
            v["callers"] = slab
                .callers
                .iter()
                .map(|r| slab_row_json(r, true))
                .collect();
        }
        if args.alloc {
            v["allocs"] = slab
                .pointers
                .iter()
                .map(|r| slab_row_json(r, false))
                .collect();
        }
        root["slab"] = v;
    }
    if let Some(page) = &report.page {
        let s = &page.summary;
        let (freed_n, freed_bytes) = s.alloc_freed();
        let (only_n, only_bytes) = s.alloc_only();
        let mut v = json!({
            "summary": {
                "allocs": s.allocs,
                "alloc_bytes": s.alloc_bytes,
                "frees": s.frees,
                "free_bytes": s.free_bytes,
                "alloc_freed": freed_n,
                "alloc_freed_bytes": freed_bytes,
                "alloc_only": only_n,
                "alloc_only_bytes": only_bytes,
                "free_only": s.free_only,
                "free_only_bytes": s.free_only_bytes,
                "failures": s.failures,
                "failure_bytes": s.failure_bytes,
                "by_order": s.by_order.iter().map(|((order, m), n)| json!({
                    "order": order,
                    "migrate_type": m,
                    "migrate_type_name": migrate_type_name(*m),
                    "allocs": n,
                })).collect::<Vec<_>>(),
            }
        });
        if args.caller {
            v["callers"] = page
                .callers
                .iter()
                .map(|r| page_row_json(page, r, true))
                .collect();
        }
        if args.alloc {
            v["pages"] = page
                .pages
                .iter()
                .map(|r| page_row_json(page, r, false))
                .collect();
        }
        root["page"] = v;
    }
    root
}
