//! The `strobe` command. This is the only place that prints to stdout and
//! stderr and decides exit codes; the library crates return values and errors.

mod cli;
mod cmd_bench;
mod cmd_diff;
mod cmd_info;
mod cmd_kmem;
mod cmd_list;
mod cmd_probe;
mod cmd_record;
mod cmd_report;
mod cmd_script;
mod cmd_script_python;
mod cmd_stat;
mod cmd_trace;
mod cmd_tui;
mod host;
mod output_file;
mod recording_file;
mod signals;
mod units;

use clap::{CommandFactory, FromArgMatches};
use std::io::Write;

/// Pairs each `-e` of `record` with the `--filter` that follows it: clap
/// keeps the values of each flag apart, their positions say which goes with
/// which.
fn pair_filters(
    events: &[String],
    filters: &[String],
    matches: &clap::ArgMatches,
) -> Result<Vec<(String, Option<String>)>, String> {
    let positions = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let event_at = positions("events");
    let filter_at = positions("filters");
    let mut lists: Vec<(usize, String, Option<String>)> = event_at
        .iter()
        .zip(events)
        .map(|(&at, list)| (at, list.clone(), None))
        .collect();
    for (&at, filter) in filter_at.iter().zip(filters) {
        let Some(target) = lists.iter_mut().rev().find(|(e, _, _)| *e < at) else {
            return Err(format!(
                "--filter '{filter}' must follow the -e it applies to"
            ));
        };
        if target.2.is_some() {
            return Err(format!(
                "two --filter options follow -e {}: combine them with && in one",
                target.1
            ));
        }
        target.2 = Some(filter.clone());
    }
    Ok(lists.into_iter().map(|(_, e, f)| (e, f)).collect())
}

fn main() {
    let matches = cli::Cli::command().get_matches();
    let mut cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let paired = match (&mut cli.command, matches.subcommand()) {
        (cli::Command::Record(args), Some((_, sub))) => {
            pair_filters(&args.events, &args.filters, sub).map(|l| args.event_lists = l)
        }
        (cli::Command::Trace(args), Some((_, sub))) => {
            pair_filters(&args.events, &args.filters, sub).map(|l| args.event_lists = l)
        }
        _ => Ok(()),
    };
    if let Err(message) = paired {
        let _ = writeln!(std::io::stderr(), "strobe: {message}");
        std::process::exit(2);
    }
    let result = match cli.command {
        cli::Command::Record(args) => cmd_record::run(args),
        cli::Command::Report(args) => cmd_report::run(args),
        cli::Command::Info(args) => cmd_info::run(args),
        cli::Command::Script(args) => cmd_script::run(args),
        cli::Command::Trace(args) => cmd_trace::run(args),
        cli::Command::List(args) => cmd_list::run(args),
        cli::Command::Stat(args) => cmd_stat::run(args),
        cli::Command::Bench(args) => cmd_bench::run(args),
        cli::Command::Diff(args) => cmd_diff::run(args),
        cli::Command::Probe(args) => cmd_probe::run(args),
        cli::Command::Kmem(args) => cmd_kmem::run(args),
        cli::Command::Tui(args) => cmd_tui::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`strobe info | head`) is not an error.
            let broken_pipe = err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                    || e.downcast_ref::<serde_json::Error>()
                        .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            });
            if broken_pipe {
                0
            } else {
                // Causes are appended unless a message already quotes them.
                let mut message = format!("strobe: {err}");
                for cause in err.chain().skip(1) {
                    let cause = cause.to_string();
                    if !message.contains(&cause) {
                        message.push_str(&format!(": {cause}"));
                    }
                }
                let _ = writeln!(std::io::stderr(), "{message}");
                1
            }
        }
    };
    std::process::exit(code);
}
