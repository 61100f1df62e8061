//! `strobe bench`: the micro-benchmarks perf bench has, with its
//! definitions and defaults, and results files for `strobe diff`.

use crate::cli::BenchArgs;
use anyhow::{Context, Result};
use std::io::Write;
use strobe_analyze::bench::{self, BenchSpec, OutputFormat};
use strobe_analyze::results::{ResultsFile, SCHEMA};

pub fn run(args: BenchArgs) -> Result<i32> {
    let format: OutputFormat = args.format.parse()?;
    if args.suite == "list" {
        let mut out = std::io::stdout().lock();
        bench::write_list(args.bench.first().map(String::as_str), &mut out)?;
        return Ok(0);
    }
    if args.bench.is_empty() && args.suite != "all" {
        // Like perf, a suite alone lists its benchmarks.
        let mut out = std::io::stdout().lock();
        bench::write_list(Some(&args.suite), &mut out)?;
        return Ok(0);
    }
    let (name, options) = match args.bench.split_first() {
        Some((name, options)) if !name.starts_with('-') => (name.clone(), options.to_vec()),
        // `strobe bench all -l 1000`: options straight after the suite.
        _ => (String::new(), args.bench.clone()),
    };
    let spec = BenchSpec::new(args.suite.clone(), name, options);
    // Refuse a bad benchmark, option or count before creating the output file.
    bench::check(&spec)?;
    if args.repeat == 0 {
        return Err(bench::BenchError::BadRepeat.into());
    }
    let mut file: Option<Box<dyn Write>> = match &args.output {
        Some(path) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ))),
        None => None,
    };
    let series = if args.json {
        // The benchmarks' own text goes to stderr, so the JSON stays clean.
        let mut text = std::io::stderr();
        bench::run(&spec, args.repeat, format, &mut text)?
    } else {
        let mut stdout = std::io::stdout().lock();
        let out: &mut dyn Write = match file.as_mut() {
            Some(f) => f.as_mut(),
            None => &mut stdout,
        };
        let series = bench::run(&spec, args.repeat, format, out)?;
        out.flush()?;
        series
    };
    if args.json {
        let results = ResultsFile {
            schema: SCHEMA.to_string(),
            kind: "bench".to_string(),
            host: crate::host::current(),
            results: series,
        };
        let mut stdout = std::io::stdout().lock();
        let out: &mut dyn Write = match file.as_mut() {
            Some(f) => f.as_mut(),
            None => &mut stdout,
        };
        serde_json::to_writer_pretty(&mut *out, &results)?;
        writeln!(out)?;
        out.flush()?;
    }
    Ok(0)
}
