//! Benchmark results: the one schema (`strobe-results/1`) that `strobe
//! bench --json` and `strobe stat --json` write and `strobe diff` compares.
//!
//! A results file names the host it ran on and holds series: one per
//! benchmark metric or counted event, each with every sample, its unit and
//! which direction is better. The commands add their own details beside
//! these keys (stat its per-event counts); a reader of results needs only
//! [`ResultsFile`]. The schema is `book/src/schemas/results.schema.json`.

use serde::{Deserialize, Serialize};

/// The schema name and version, in every results file's `schema` key.
pub const SCHEMA: &str = "strobe-results/1";

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (times, counts of work done).
    Lower,
    /// Larger is better (throughput: operations or bytes per second).
    Higher,
}

/// The machine a result was measured on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// `uname -m`.
    pub arch: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// CPUs online.
    pub cpus: u32,
    /// The strobe version that measured.
    pub strobe_version: String,
}

/// One measured quantity over repeated runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// What was measured: a benchmark (`sched/pipe`) or a command
    /// (`./bench --fast`). Series of two files are matched by `name` and
    /// `metric`.
    pub name: String,
    /// The metric: `usecs/op`, `GB/sec`, an event name (`page-faults`), or
    /// `elapsed` for a command's wall-clock time.
    pub metric: String,
    /// The unit of the samples: `usec/op`, `GB/s`, `msec`, `seconds`, or
    /// empty for a plain count.
    pub unit: String,
    /// Which direction is better.
    pub better: Better,
    /// Every sample, one per run, in run order.
    pub samples: Vec<f64>,
}

impl Series {
    /// The mean of the samples, if there are any.
    pub fn mean(&self) -> Option<f64> {
        (!self.samples.is_empty())
            .then(|| self.samples.iter().sum::<f64>() / self.samples.len() as f64)
    }
}

/// A results file: the host and the series, with the writer's own details
/// kept aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    /// [`SCHEMA`].
    pub schema: String,
    /// What wrote it: `bench` or `stat`.
    pub kind: String,
    /// Where it ran.
    pub host: Host,
    /// The series.
    pub results: Vec<Series>,
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// Not JSON, or not this schema's shape.
    #[error("not a strobe results file ({0}): write one with `strobe stat --json -o FILE` or `strobe bench --json -o FILE`")]
    Malformed(String),
    /// A newer or other schema.
    #[error("results schema `{0}` is not supported (strobe reads {SCHEMA})")]
    Version(String),
}

impl ResultsFile {
    /// Parses a results file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ResultsError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ResultsError::Malformed(e.to_string()))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => return Err(ResultsError::Version(other.to_string())),
            None => return Err(ResultsError::Malformed("no `schema` key".into())),
        }
        serde_json::from_value(value).map_err(|e| ResultsError::Malformed(e.to_string()))
    }

    /// Whether `bytes` look like a results file (a JSON object naming a
    /// `strobe-results` schema), as opposed to a recording.
    pub fn sniff(bytes: &[u8]) -> bool {
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        bytes[start..].starts_with(b"{")
            && bytes
                .windows(b"strobe-results".len())
                .take(4096)
                .any(|w| w == b"strobe-results")
    }
}

impl ResultsFile {
    /// The one name all the series share, when they share one: a stat
    /// run of one command.
    pub fn single_name(&self) -> Option<&str> {
        let first = self.results.first()?.name.as_str();
        self.results
            .iter()
            .all(|s| s.name == first)
            .then_some(first)
    }

    /// Lets two files of one command each be compared although the
    /// command differs (`../base/bench` against `./bench`, or a changed
    /// flag): `new`'s series take `base`'s name. Returns the two names
    /// when it renamed, so the caller can say so; files of several names
    /// (benchmark suites) are left as they are and match by name.
    pub fn align_single_names(
        base: &ResultsFile,
        new: &mut ResultsFile,
    ) -> Option<(String, String)> {
        let base_name = base.single_name()?.to_string();
        let new_name = new.single_name()?.to_string();
        if base_name == new_name {
            return None;
        }
        for series in &mut new.results {
            series.name = base_name.clone();
        }
        Some((base_name, new_name))
    }
}

/// The key a series is matched by across two files.
pub fn series_key(series: &Series) -> (&str, &str) {
    (&series.name, &series.metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let file = ResultsFile {
            schema: SCHEMA.into(),
            kind: "bench".into(),
            host: Host {
                hostname: "h".into(),
                kernel: "6.1.0".into(),
                cpus: 2,
                ..Host::default()
            },
            results: vec![Series {
                name: "sched/pipe".into(),
                metric: "usecs/op".into(),
                unit: "usec/op".into(),
                better: Better::Lower,
                samples: vec![1.0, 2.0, 3.0],
            }],
        };
        let mut json = serde_json::to_value(&file).unwrap();
        // Writers add details of their own; readers ignore them.
        json["events"] = serde_json::json!([]);
        let text = serde_json::to_vec(&json).unwrap();
        assert!(ResultsFile::sniff(&text));
        let back = ResultsFile::parse(&text).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.results[0].mean(), Some(2.0));
        assert!(matches!(
            ResultsFile::parse(br#"{"schema":"strobe-results/9"}"#),
            Err(ResultsError::Version(_))
        ));
        assert!(matches!(
            ResultsFile::parse(b"PERFILE2"),
            Err(ResultsError::Malformed(_))
        ));
        assert!(!ResultsFile::sniff(b"STROBE\0\0"));

        // One command each, named differently: new takes base's name.
        let mut new = file.clone();
        new.results[0].name = "../base/bench".into();
        assert_eq!(
            ResultsFile::align_single_names(&file, &mut new),
            Some(("sched/pipe".to_string(), "../base/bench".to_string()))
        );
        assert_eq!(new.results[0].name, "sched/pipe");
        // Several names: matched by name, untouched.
        let mut several = file.clone();
        several.results.push(Series {
            name: "other".into(),
            ..file.results[0].clone()
        });
        let mut other = several.clone();
        other.results[1].name = "renamed".into();
        assert_eq!(ResultsFile::align_single_names(&several, &mut other), None);
    }
}
