//! `strobe script -s`, `-g python` and `-l`: Python scripts over a
//! recording, with perf's hooks or strobe's own API.

use crate::cli::ScriptArgs;
use crate::recording_file::MappedFile;
use anyhow::{bail, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use strobe_analyze::filter::Filter;
use strobe_analyze::python::{self, ScriptError};

/// The scripts shipped with strobe (scripts/python/), by name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "folded-stacks",
        include_str!("../scripts/python/folded-stacks.py"),
    ),
    ("offcpu", include_str!("../scripts/python/offcpu.py")),
    (
        "syscall-latency",
        include_str!("../scripts/python/syscall-latency.py"),
    ),
    (
        "syscall-summary",
        include_str!("../scripts/python/syscall-summary.py"),
    ),
    (
        "top-functions",
        include_str!("../scripts/python/top-functions.py"),
    ),
];

/// The first line of a script's docstring or leading comment.
fn description(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("#!"))
        .map(|l| {
            l.trim_start_matches(['#', '"', ' '])
                .trim_end_matches('"')
                .to_string()
        })
        .unwrap_or_default()
}

pub fn list() -> Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Scripts shipped with strobe (strobe script -s NAME):")?;
    for (name, source) in SHIPPED {
        writeln!(out, "  {name:<22} {}", description(source))?;
    }
    Ok(0)
}

/// The script to run: a file, or a shipped script by name.
fn resolve(script: &Path) -> Result<(PathBuf, String)> {
    if script.exists() {
        let source = std::fs::read_to_string(script)
            .map_err(|e| anyhow::anyhow!("cannot read the script {}: {e}", script.display()))?;
        return Ok((script.to_path_buf(), source));
    }
    let name = script.to_string_lossy();
    let bare = name.trim_end_matches(".py");
    if !name.contains('/') {
        if let Some((found, source)) = SHIPPED.iter().find(|(n, _)| *n == bare) {
            return Ok((PathBuf::from(format!("{found}.py")), source.to_string()));
        }
    }
    bail!(
        "no script {}: give a file, or one of the shipped scripts that `strobe script -l` lists",
        script.display()
    )
}

pub fn run(args: &ScriptArgs, path: &Path) -> Result<i32> {
    let file = MappedFile::open(path)?;
    file.with_recording(|recording, trailer_lost| {
        if let Some(language) = &args.gen_script {
            return generate(language, recording);
        }
        let script = args.script.as_ref().expect("run is called with -s or -g");
        let (script_path, source) = resolve(script)?;
        let filter = Filter::new(&args.filter.spec(), recording.start_time.unwrap_or(0))?;
        match python::run_source(recording, &script_path, &source, &args.script_args, &filter) {
            Ok(stats) => {
                crate::cmd_script::warn_lost_and_malformed(
                    trailer_lost.unwrap_or(stats.lost),
                    stats.malformed,
                );
                Ok(0)
            }
            Err(ScriptError::Python { traceback }) => {
                eprintln!("{traceback}");
                eprintln!("strobe: the script {} failed", script_path.display());
                Ok(1)
            }
            Err(ScriptError::Exit { code, message }) => {
                if let Some(message) = message {
                    eprintln!("{}", message.trim_end());
                }
                Ok(code)
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// `-g python`: a skeleton with a handler per event of the recording.
fn generate(language: &str, recording: &strobe_analyze::input::Recording<'_>) -> Result<i32> {
    if language != "python" && language != "py" {
        bail!("-g {language}: strobe writes python skeletons (-g python)");
    }
    let name = "strobe-script.py";
    let text = python::skeleton(recording);
    if Path::new(name).exists() {
        bail!("{name} exists already: move it away first");
    }
    std::fs::write(name, text)?;
    writeln!(std::io::stdout(), "generated Python script: {name}")?;
    Ok(0)
}
