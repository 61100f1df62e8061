//! `strobe script`: every event, as text in perf script's shape or as JSON lines.

use crate::cli::ScriptArgs;
use crate::recording_file::{default_path, MappedFile};
use anyhow::Result;
use std::io::Write;
use strobe_analyze::filter::Filter;
use strobe_analyze::input::Item;
use strobe_analyze::script::{self, ScriptOptions};
use strobe_analyze::AnalyzeError;

pub fn run(args: ScriptArgs) -> Result<i32> {
    if args.list {
        return crate::cmd_script_python::list();
    }
    let path = default_path(args.input.as_ref());
    if args.script.is_some() || args.gen_script.is_some() {
        return crate::cmd_script_python::run(&args, &path);
    }
    if !args.script_args.is_empty() {
        anyhow::bail!(
            "unexpected argument `{}`: arguments are for a script (-s SCRIPT)",
            args.script_args[0]
        );
    }
    let file = MappedFile::open(&path)?;
    file.with_recording(|recording, trailer_lost| {
        let origin = match (recording.start_time, &args.filter.time) {
            (Some(time), _) => time,
            (None, Some(_)) => {
                let mut first = None;
                recording.for_each(|item| {
                    if let (None, Item::Sample(s)) = (first, item) {
                        first = Some(s.time);
                    }
                })?;
                first.unwrap_or(0)
            }
            (None, None) => 0,
        };
        let mut options = ScriptOptions {
            json: args.json,
            filter: Filter::new(&args.filter.spec(), origin)?,
            ..Default::default()
        };
        if let Some(fields) = &args.fields {
            options.parse_columns(fields).map_err(anyhow::Error::msg)?;
        }
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let stats = match script::run(recording, &options, &mut out) {
            Err(AnalyzeError::Output(e)) => return Err(e.into()),
            other => other?,
        };
        out.flush()?;
        warn_lost_and_malformed(trailer_lost.unwrap_or(stats.lost), stats.malformed);
        if stats.bad_payloads > 0 {
            eprintln!(
                "strobe: {} tracepoint payloads were too short for their format",
                stats.bad_payloads
            );
        }
        Ok(0)
    })
}

/// The closing warnings of a script run: events the recording lost, and
/// records it skipped.
pub(crate) fn warn_lost_and_malformed(lost: u64, malformed: u64) {
    if lost > 0 {
        eprintln!("strobe: {lost} events were lost while recording");
    }
    if malformed > 0 {
        eprintln!("strobe: skipped {malformed} malformed records or damaged pages");
    }
}
