//! The `syscall` suite: `basic`, a `getppid()` loop, as perf's
//! `bench/syscall.c` defines it.

use super::options::{OptionDef, ParsedOptions};
use super::sys;
use super::text::{ops_per_sec, seconds_ms, total_time};
use super::{BenchDef, BenchError, OutputFormat, Runner};
use crate::results::Better;
use std::io::Write;
use std::time::Instant;

static BASIC_OPTIONS: &[OptionDef] = &[OptionDef::value(
    'l',
    "loop",
    "n",
    "Specify number of loops",
)];

pub(super) const BASIC: BenchDef = BenchDef {
    suite: "syscall",
    name: "basic",
    description: "Benchmark for basic getppid(2) calls",
    options: BASIC_OPTIONS,
    metric: "usecs/op",
    unit: "usec/op",
    better: Better::Lower,
    configure: configure_basic,
};

/// `syscall basic`: `loops` calls of `getppid()`, the cheapest system call
/// that glibc does not answer from a cache, so the loop measures entering
/// and leaving the kernel.
#[derive(Debug)]
struct Basic {
    loops: u64,
}

fn configure_basic(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    Ok(Box::new(Basic {
        loops: options.positive("syscall/basic", "loop", 10_000_000)?,
    }))
}

impl Runner for Basic {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let start = Instant::now();
        for _ in 0..self.loops {
            sys::getppid();
        }
        let elapsed = start.elapsed();
        let usecs_per_op = elapsed.as_nanos() as f64 / 1e3 / self.loops as f64;
        match format {
            OutputFormat::Default => {
                // perf prints `%'d`, with the thousands separators of the
                // locale; strobe prints in the C locale, as perf does
                // under LANG=C.
                writeln!(out, "# Executed {} getppid() calls", self.loops)?;
                writeln!(out, "{}\n", total_time(elapsed))?;
                writeln!(out, " {usecs_per_op:14.6} usecs/op")?;
                writeln!(out, " {:14} ops/sec", ops_per_sec(self.loops, elapsed))?;
            }
            OutputFormat::Simple => writeln!(out, "{}", seconds_ms(elapsed))?,
        }
        Ok(usecs_per_op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_in_perf_layout() {
        let basic = Basic { loops: 10_000 };
        let mut out = Vec::new();
        let usecs = basic.run_once(OutputFormat::Default, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "# Executed 10000 getppid() calls");
        assert!(lines[1].starts_with("     Total time: 0.0"), "{text}");
        assert!(lines[1].ends_with(" [sec]"));
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], format!(" {usecs:14.6} usecs/op"));
        assert_eq!(lines[4].len(), 1 + 14 + " ops/sec".len(), "{text}");
        assert!(usecs > 0.0 && usecs < 100.0, "{usecs}");

        let mut out = Vec::new();
        basic.run_once(OutputFormat::Simple, &mut out).unwrap();
        let simple = String::from_utf8(out).unwrap();
        // perf's `%lu.%03lu`: seconds with three decimals, nothing else.
        let (seconds, millis) = simple.trim_end().split_once('.').unwrap();
        assert!(
            seconds.parse::<u64>().is_ok() && millis.len() == 3,
            "{simple}"
        );
        assert!(simple.ends_with('\n') && simple.lines().count() == 1);
    }
}
