//! Opening the recording an analyzer command reads: a strobe file or a
//! perf.data file, told apart by their magic numbers.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use strobe_analyze::input::{self, Recording};
use strobe_record::format::reader::StrobeFile;

/// The file `-i` names, or strobe.data, or perf.data when only that exists.
pub fn default_path(arg: Option<&PathBuf>) -> PathBuf {
    match arg {
        Some(path) => path.clone(),
        None if Path::new("strobe.data").exists() || !Path::new("perf.data").exists() => {
            PathBuf::from("strobe.data")
        }
        None => PathBuf::from("perf.data"),
    }
}

/// A recording file, mapped.
pub struct MappedFile {
    pub path: PathBuf,
    pub map: memmap2::Mmap,
}

impl MappedFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: a read-only private mapping; strobe never writes a file it reads.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("cannot map {}", path.display()))?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map,
        })
    }

    /// Calls `f` with the recording and, for a finished strobe file, the
    /// events its trailer says were lost over the whole recording.
    pub fn with_recording<T>(
        &self,
        f: impl FnOnce(&Recording<'_>, Option<u64>) -> Result<T>,
    ) -> Result<T> {
        self.with_recording_symbols(true, f)
    }

    /// [`MappedFile::with_recording`], reading the live kallsyms for a
    /// perf.data file only when `kernel_symbols` says they are needed.
    pub fn with_recording_symbols<T>(
        &self,
        kernel_symbols: bool,
        f: impl FnOnce(&Recording<'_>, Option<u64>) -> Result<T>,
    ) -> Result<T> {
        let path = &self.path;
        if input::is_perf_data(&self.map) {
            // perf.data keeps no kallsyms snapshot; perf itself reads the
            // live one (or its build-id cache), so do the same.
            let kallsyms = match kernel_symbols {
                true => std::fs::read("/proc/kallsyms").unwrap_or_default(),
                false => Vec::new(),
            };
            let recording = Recording::from_perf_data(&self.map, kallsyms)
                .with_context(|| format!("cannot read {}", path.display()))?;
            warn_formats(&recording);
            return f(&recording, None);
        }
        let strobe_file = StrobeFile::parse(&self.map)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(r) = &strobe_file.recovery {
            eprintln!(
                "strobe: {} was not finished ({}); reading the {} chunks recovered",
                path.display(),
                r.reason,
                r.chunks_found
            );
        }
        let lost = strobe_file.trailer.as_ref().map(|t| {
            t.cpus
                .iter()
                .map(|c| c.lost_events + c.lost_samples)
                .sum::<u64>()
                + t.ftrace_cpus
                    .iter()
                    .map(|c| c.overrun + c.commit_overrun + c.dropped_events)
                    .sum::<u64>()
        });
        let recording = Recording::from_strobe(&strobe_file)
            .with_context(|| format!("cannot read {}", path.display()))?;
        warn_formats(&recording);
        f(&recording, lost)
    }
}

/// Tracepoint formats that did not parse are shown without decoded fields;
/// say so once.
fn warn_formats(recording: &Recording<'_>) {
    for (event, reason) in &recording.format_errors {
        eprintln!("strobe: the format of {event} does not parse ({reason}); its events show without fields");
    }
}
