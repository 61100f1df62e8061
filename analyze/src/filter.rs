//! The sample filter every analyzer command shares: regular expressions on
//! the command, shared object and symbol, lists of pids, tids and CPUs, and a
//! time window. Filters compose: a sample passes when it passes all of them.

use regex::Regex;

/// Why a filter could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A regular expression does not parse; the message points at the spot.
    #[error(
        "--{option}: invalid regular expression `{pattern}` at character {position}: {reason}"
    )]
    BadRegex {
        /// The option it was given to.
        option: &'static str,
        /// The expression.
        pattern: String,
        /// 1-based character position of the error.
        position: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A list or window does not parse.
    #[error("--{option}: {reason}")]
    BadValue {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// What a sample looks like to the filter.
#[derive(Debug, Clone, Copy)]
pub struct SampleView<'a> {
    /// Thread's command name.
    pub comm: &'a str,
    /// Shared object.
    pub dso: &'a str,
    /// Symbol name (without the `[k]`/`[.]` mark).
    pub sym: &'a str,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// CPU, if known.
    pub cpu: Option<u32>,
    /// Timestamp in ns.
    pub time: u64,
}

/// A composed sample filter. The default passes everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    comm: Option<Regex>,
    dso: Option<Regex>,
    sym: Option<Regex>,
    pids: Option<Vec<i32>>,
    tids: Option<Vec<i32>>,
    cpus: Option<Vec<u32>>,
    /// Inclusive start and exclusive end, in ns of the recording's clock.
    window: Option<(u64, u64)>,
}

fn compile(option: &'static str, pattern: &str) -> Result<Regex, FilterError> {
    Regex::new(pattern).map_err(|err| {
        // regex reports the span of the error inside its multi-line message;
        // its Display for syntax errors carries the span as a caret line, so
        // take the position from the syntax error when there is one.
        let (position, reason) = match regex_syntax::parse(pattern) {
            Err(regex_syntax::Error::Parse(e)) => (e.span().start.column, e.kind().to_string()),
            Err(regex_syntax::Error::Translate(e)) => (e.span().start.column, e.kind().to_string()),
            _ => (
                1,
                err.to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_string(),
            ),
        };
        FilterError::BadRegex {
            option,
            pattern: pattern.to_string(),
            position,
            reason,
        }
    })
}

fn parse_list<T: std::str::FromStr>(
    option: &'static str,
    text: &str,
) -> Result<Vec<T>, FilterError> {
    text.split(',')
        .map(|part| {
            part.trim().parse().map_err(|_| FilterError::BadValue {
                option,
                reason: format!(
                    "`{part}` in `{text}` is not a number; give a comma list such as 12,34"
                ),
            })
        })
        .collect()
}

/// Parses `start,end` in seconds relative to the recording's first sample
/// (either side may be empty), into absolute ns given `origin`.
fn parse_window(text: &str, origin: u64) -> Result<(u64, u64), FilterError> {
    let bad = || {
        FilterError::BadValue {
        option: "time",
        reason: format!("`{text}` is not a window: give START,END in seconds from the first sample, e.g. 1.5,3 or 2,"),
    }
    };
    let (start, end) = text.split_once(',').ok_or_else(bad)?;
    let secs = |s: &str, default: u64| -> Result<u64, FilterError> {
        if s.trim().is_empty() {
            return Ok(default);
        }
        let v: f64 = s.trim().parse().map_err(|_| bad())?;
        if v.is_nan() || v < 0.0 {
            return Err(bad());
        }
        Ok(origin.saturating_add((v * 1e9) as u64))
    };
    let (start, end) = (secs(start, 0)?, secs(end, u64::MAX)?);
    if start >= end {
        return Err(bad());
    }
    Ok((start, end))
}

/// The filter options as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct FilterSpec {
    /// `--comm REGEX`.
    pub comm: Option<String>,
    /// `--dso REGEX`.
    pub dso: Option<String>,
    /// `--sym REGEX`.
    pub sym: Option<String>,
    /// `--pid LIST`.
    pub pids: Option<String>,
    /// `--tid LIST`.
    pub tids: Option<String>,
    /// `--cpu LIST` (`0-3,6` syntax).
    pub cpus: Option<String>,
    /// `--time START,END` in seconds from the first sample.
    pub time: Option<String>,
}

impl Filter {
    /// Builds the filter; `origin` is the time of the recording's first sample.
    pub fn new(spec: &FilterSpec, origin: u64) -> Result<Self, FilterError> {
        Ok(Filter {
            comm: spec
                .comm
                .as_deref()
                .map(|p| compile("comm", p))
                .transpose()?,
            dso: spec.dso.as_deref().map(|p| compile("dso", p)).transpose()?,
            sym: spec.sym.as_deref().map(|p| compile("sym", p)).transpose()?,
            pids: spec
                .pids
                .as_deref()
                .map(|t| parse_list("pid", t))
                .transpose()?,
            tids: spec
                .tids
                .as_deref()
                .map(|t| parse_list("tid", t))
                .transpose()?,
            cpus: spec
                .cpus
                .as_deref()
                .map(|t| {
                    strobe_probe::CpuList::parse(t)
                        .map(|l| l.as_slice().to_vec())
                        .map_err(|e| FilterError::BadValue {
                            option: "cpu",
                            reason: e.to_string(),
                        })
                })
                .transpose()?,
            window: spec
                .time
                .as_deref()
                .map(|t| parse_window(t, origin))
                .transpose()?,
        })
    }

    /// Whether the filter passes everything.
    pub fn is_empty(&self) -> bool {
        self.comm.is_none()
            && self.dso.is_none()
            && self.sym.is_none()
            && self.pids.is_none()
            && self.tids.is_none()
            && self.cpus.is_none()
            && self.window.is_none()
    }

    /// The cheap checks that need no symbol: pid, tid, CPU, time.
    pub fn passes_ids(&self, pid: i32, tid: i32, cpu: Option<u32>, time: u64) -> bool {
        self.pids.as_ref().is_none_or(|p| p.contains(&pid))
            && self.tids.as_ref().is_none_or(|t| t.contains(&tid))
            && self
                .cpus
                .as_ref()
                .is_none_or(|c| cpu.is_some_and(|cpu| c.contains(&cpu)))
            && self
                .window
                .is_none_or(|(start, end)| (start..end).contains(&time))
    }

    /// Whether the filter looks at names (command, DSO, symbol).
    pub fn has_name_filters(&self) -> bool {
        self.comm.is_some() || self.dso.is_some() || self.sym.is_some()
    }

    /// Whether a sample passes every filter.
    pub fn passes(&self, s: &SampleView<'_>) -> bool {
        self.passes_ids(s.pid, s.tid, s.cpu, s.time) && self.passes_names(s)
    }

    /// Whether `time` falls in the time window (or there is none).
    pub fn passes_time(&self, time: u64) -> bool {
        self.window
            .is_none_or(|(start, end)| (start..end).contains(&time))
    }

    /// Whether a code location passes `--dso` and `--sym`.
    pub fn passes_location(&self, dso: &str, sym: &str) -> bool {
        self.dso.as_ref().is_none_or(|r| r.is_match(dso))
            && self.sym.as_ref().is_none_or(|r| r.is_match(sym))
    }

    /// Whether the filter looks at the command name.
    pub fn has_comm_filter(&self) -> bool {
        self.comm.is_some()
    }

    /// Whether a command name passes `--comm`.
    pub fn passes_comm(&self, comm: &str) -> bool {
        self.comm.as_ref().is_none_or(|r| r.is_match(comm))
    }

    /// The checks on names only (for a sample [`Filter::passes_ids`] passed).
    pub fn passes_names(&self, s: &SampleView<'_>) -> bool {
        self.comm.as_ref().is_none_or(|r| r.is_match(s.comm))
            && self.dso.as_ref().is_none_or(|r| r.is_match(s.dso))
            && self.sym.as_ref().is_none_or(|r| r.is_match(s.sym))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(
        comm: &'a str,
        dso: &'a str,
        sym: &'a str,
        pid: i32,
        cpu: u32,
        time: u64,
    ) -> SampleView<'a> {
        SampleView {
            comm,
            dso,
            sym,
            pid,
            tid: pid,
            cpu: Some(cpu),
            time,
        }
    }

    #[test]
    fn filters_compose() {
        let spec = FilterSpec {
            comm: Some("^cpu_".into()),
            sym: Some("hot_[ab]".into()),
            cpus: Some("1".into()),
            ..Default::default()
        };
        let f = Filter::new(&spec, 0).unwrap();
        assert!(f.passes(&sample("cpu_bound", "cpu_bound", "hot_a", 1, 1, 0)));
        assert!(
            !f.passes(&sample("cpu_bound", "cpu_bound", "hot_a", 1, 0, 0)),
            "wrong CPU"
        );
        assert!(
            !f.passes(&sample("sleeper", "sleeper", "hot_a", 1, 1, 0)),
            "wrong comm"
        );
        assert!(
            !f.passes(&sample("cpu_bound", "libc.so.6", "memcpy", 1, 1, 0)),
            "wrong sym"
        );
        assert!(Filter::default().is_empty());
    }

    #[test]
    fn pid_lists_and_time_windows() {
        let spec = FilterSpec {
            pids: Some("10, 20".into()),
            time: Some("1,2.5".into()),
            ..Default::default()
        };
        let f = Filter::new(&spec, 1_000_000_000).unwrap();
        assert!(f.passes_ids(20, 20, None, 2_500_000_000));
        assert!(!f.passes_ids(30, 30, None, 2_500_000_000));
        assert!(
            !f.passes_ids(10, 10, None, 3_500_000_000),
            "end is exclusive"
        );
        assert!(
            !f.passes_ids(10, 10, None, 1_999_999_999),
            "before the window"
        );
        let open = Filter::new(
            &FilterSpec {
                time: Some("2,".into()),
                ..Default::default()
            },
            0,
        )
        .unwrap();
        assert!(open.passes_ids(1, 1, None, u64::MAX - 1));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = Filter::new(
            &FilterSpec {
                sym: Some("hot_(a".into()),
                ..Default::default()
            },
            0,
        )
        .unwrap_err();
        match &err {
            FilterError::BadRegex {
                option, position, ..
            } => assert_eq!((*option, *position), ("sym", 5)),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("--sym: invalid regular expression `hot_(a` at character 5"),
            "{err}"
        );
        assert!(Filter::new(
            &FilterSpec {
                pids: Some("1,x".into()),
                ..Default::default()
            },
            0
        )
        .is_err());
        assert!(Filter::new(
            &FilterSpec {
                time: Some("3,1".into()),
                ..Default::default()
            },
            0
        )
        .is_err());
        assert!(Filter::new(
            &FilterSpec {
                cpus: Some("a".into()),
                ..Default::default()
            },
            0
        )
        .is_err());
    }
}
