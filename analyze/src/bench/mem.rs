//! The `mem` suite: `memcpy` and `memset` throughput, as perf's
//! `bench/mem-functions.c` defines them.
//!
//! perf runs every implementation it has by default: the C library's
//! (`default`) and, on x86-64, copies of the kernel's assembly routines.
//! strobe has only `default`, so `-f all` (perf's default) runs just that,
//! and naming another function is an error that says so.
//!
//! perf times with `gettimeofday`, whose microsecond resolution turns any
//! run shorter than a microsecond into `inf GB/sec`. strobe times with the
//! monotonic clock, in nanoseconds, so every size gives a finite rate in
//! perf's units; when the timed region is short enough that the clock's
//! own cost (tens of nanoseconds) distorts the rate, the default format
//! adds a comment line saying so and suggesting more loops (`-l`).

use super::options::{self, OptionDef, ParsedOptions};
use super::sys;
use super::{BenchDef, BenchError, OutputFormat, Runner};
use crate::results::Better;
use std::io::Write;
use std::time::{Duration, Instant};
use strobe_probe::attr::{EventAttr, PERF_TYPE_HARDWARE};
use strobe_probe::event::PerfEvent;

/// perf's unit step: its "GB/sec" are 2^30 bytes a second.
const K: f64 = 1024.0;
/// Timed regions shorter than this get a note: below it the clock's own
/// cost is more than a few percent of the measurement.
const SHORT_RUN: Duration = Duration::from_micros(10);
/// `PERF_COUNT_HW_CPU_CYCLES`.
const CPU_CYCLES: u64 = 0;

static MEM_OPTIONS: &[OptionDef] = &[
    OptionDef::flag(
        'c',
        "cycles",
        "Use a cycles event instead of the clock to measure performance",
    ),
    OptionDef::value(
        'f',
        "function",
        "all",
        "Specify the function to run: only \"default\" exists in strobe; \"all\" runs it",
    ),
    OptionDef::value(
        'l',
        "nr_loops",
        "n",
        "Specify the number of loops to run. (default: 1)",
    ),
    OptionDef::value(
        's',
        "size",
        "1MB",
        "Specify the size of the memory buffers. Available units: B, KB, MB, GB and TB (case insensitive)",
    ),
];

pub(super) const MEMCPY: BenchDef = BenchDef {
    suite: "mem",
    name: "memcpy",
    description: "Benchmark for memcpy() functions",
    options: MEM_OPTIONS,
    metric: "GB/sec",
    unit: "GB/s",
    better: Better::Higher,
    configure: configure_memcpy,
};

pub(super) const MEMSET: BenchDef = BenchDef {
    suite: "mem",
    name: "memset",
    description: "Benchmark for memset() functions",
    options: MEM_OPTIONS,
    metric: "GB/sec",
    unit: "GB/s",
    better: Better::Higher,
    configure: configure_memset,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Copy,
    Set,
}

impl Operation {
    fn bench(self) -> &'static str {
        match self {
            Self::Copy => "mem/memcpy",
            Self::Set => "mem/memset",
        }
    }

    /// perf's description of its `default` function.
    fn description(self) -> &'static str {
        match self {
            Self::Copy => "Default memcpy() provided by glibc",
            Self::Set => "Default memset() provided by glibc",
        }
    }
}

/// `mem memcpy` or `mem memset`: `loops` calls on a buffer of `size`
/// bytes, after one call that faults the pages in.
#[derive(Debug)]
struct Mem {
    operation: Operation,
    size: usize,
    /// The size as the user wrote it; perf echoes it.
    size_text: String,
    loops: u64,
    cycles: bool,
}

fn configure_memcpy(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    configure(Operation::Copy, options)
}

fn configure_memset(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    configure(Operation::Set, options)
}

fn configure(operation: Operation, options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    let bench = operation.bench();
    match options.value("function").unwrap_or("all") {
        "all" | "default" => {}
        "help" | "h" => {
            return Err(BenchError::BadOption(format!(
                "{bench}: the only function is `default` ({})",
                operation.description()
            )))
        }
        other => {
            return Err(BenchError::BadOption(format!(
                "{bench}: unknown function `{other}`; strobe has only `default` ({}), \
                 not perf's x86-64 assembly variants",
                operation.description()
            )))
        }
    }
    let size_text = options.value("size").unwrap_or("1MB").to_string();
    let size = options::parse_size(&size_text)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| {
            BenchError::BadOption(format!(
                "{bench}: `-s {size_text}` is not a size; give a whole number and a unit of \
                 B, KB, MB, GB or TB, like 1MB"
            ))
        })?;
    Ok(Box::new(Mem {
        operation,
        size,
        size_text,
        loops: options.positive(bench, "nr_loops", 1)?,
        cycles: options.flag("cycles"),
    }))
}

/// A zeroed buffer, or the error that says which size did not fit.
fn buffer(bench: &'static str, size: usize) -> Result<Vec<u8>, BenchError> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(size)
        .map_err(|_| BenchError::Alloc {
            bench,
            bytes: size as u64,
        })?;
    buffer.resize(size, 0);
    Ok(buffer)
}

/// What one run measured.
enum Measured {
    Time(Duration),
    Cycles(u64),
}

/// The cycles counter of `-c`: this thread's CPU cycles, user and kernel,
/// as perf counts them.
struct CycleCounter(PerfEvent);

impl CycleCounter {
    fn open() -> Result<Self, BenchError> {
        let counter = PerfEvent::open(
            &EventAttr::new(PERF_TYPE_HARDWARE, CPU_CYCLES),
            "cycles",
            0,
            -1,
        )
        .and_then(|event| event.enable().map(|()| event))
        .map_err(|e| BenchError::Counter(e.to_string()))?;
        Ok(Self(counter))
    }

    fn read(&self) -> Result<u64, BenchError> {
        let mut value = [0u64];
        self.0
            .read_counter(&mut value)
            .map_err(|e| BenchError::Counter(e.to_string()))?;
        Ok(value[0])
    }
}

impl Mem {
    fn measure(&self) -> Result<Measured, BenchError> {
        let bench = self.operation.bench();
        let counter = if self.cycles {
            Some(CycleCounter::open()?)
        } else {
            None
        };
        let size = self.size;
        let mut destination = buffer(bench, size)?;
        let dst = destination.as_mut_ptr().cast::<libc::c_void>();
        let (start, cycles_before, end, cycles_after);
        match self.operation {
            Operation::Copy => {
                let source = buffer(bench, size)?;
                let src = source.as_ptr().cast::<libc::c_void>();
                let memcpy = sys::libc_memcpy();
                // One copy first, as perf does, so that page faults of the
                // fresh buffers are not timed. The buffers are already
                // zeroed, which is perf's first prefaulting step.
                // SAFETY: both buffers are `size` bytes and do not overlap.
                unsafe { memcpy(dst, src, size) };
                cycles_before = counter.as_ref().map(CycleCounter::read).transpose()?;
                start = Instant::now();
                for _ in 0..self.loops {
                    // SAFETY: as above.
                    unsafe { memcpy(dst, src, size) };
                }
                end = Instant::now();
                cycles_after = counter.as_ref().map(CycleCounter::read).transpose()?;
                std::hint::black_box(&source);
            }
            Operation::Set => {
                let memset = sys::libc_memset();
                // SAFETY: the buffer is `size` bytes.
                unsafe { memset(dst, -1, size) };
                cycles_before = counter.as_ref().map(CycleCounter::read).transpose()?;
                start = Instant::now();
                for i in 0..self.loops {
                    // perf stores the loop index, so no two passes write
                    // the same bytes.
                    // SAFETY: as above.
                    unsafe { memset(dst, i as libc::c_int, size) };
                }
                end = Instant::now();
                cycles_after = counter.as_ref().map(CycleCounter::read).transpose()?;
            }
        }
        std::hint::black_box(&destination);
        Ok(match (cycles_before, cycles_after) {
            (Some(before), Some(after)) => Measured::Cycles(after.saturating_sub(before)),
            _ => Measured::Time(end - start),
        })
    }

    fn total_bytes(&self) -> f64 {
        self.size as f64 * self.loops as f64
    }
}

/// perf's `print_bps`: the rate in the largest of bytes, KB, MB or GB per
/// second (powers of 1024) that is at most the rate. perf prints `%14lfd
/// KB/sec`, a stray `d`; strobe leaves it out.
fn rate_line(bytes_per_sec: f64) -> String {
    if bytes_per_sec < K {
        format!(" {bytes_per_sec:14.6} bytes/sec")
    } else if bytes_per_sec < K * K {
        format!(" {:14.6} KB/sec", bytes_per_sec / K)
    } else if bytes_per_sec < K * K * K {
        format!(" {:14.6} MB/sec", bytes_per_sec / K / K)
    } else {
        format!(" {:14.6} GB/sec", bytes_per_sec / K / K / K)
    }
}

impl Runner for Mem {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let measured = self.measure()?;
        // perf prints this line in both formats.
        writeln!(
            out,
            "# function 'default' ({})",
            self.operation.description()
        )?;
        if format == OutputFormat::Default {
            writeln!(out, "# Copying {} bytes ...\n", self.size_text)?;
        }
        match measured {
            Measured::Cycles(cycles) => {
                let per_byte = cycles as f64 / self.total_bytes();
                match format {
                    OutputFormat::Default => writeln!(out, " {per_byte:14.6} cycles/byte")?,
                    OutputFormat::Simple => writeln!(out, "{per_byte:.6}")?,
                }
                Ok(per_byte)
            }
            Measured::Time(elapsed) => {
                // A zero reading would need a clock coarser than the
                // copy; count it as one nanosecond rather than divide by
                // zero.
                let seconds = elapsed.max(Duration::from_nanos(1)).as_secs_f64();
                let bytes_per_sec = self.total_bytes() / seconds;
                match format {
                    OutputFormat::Default => {
                        writeln!(out, "{}", rate_line(bytes_per_sec))?;
                        if elapsed < SHORT_RUN {
                            writeln!(
                                out,
                                "# only {} nsec were timed, too short for a steady rate; \
                                 loop more with -l",
                                elapsed.as_nanos()
                            )?;
                        }
                    }
                    OutputFormat::Simple => writeln!(out, "{bytes_per_sec:.6}")?,
                }
                Ok(bytes_per_sec / (K * K * K))
            }
        }
    }

    fn metric(&self) -> Option<(&'static str, &'static str, Better)> {
        self.cycles
            .then_some(("cycles/byte", "cycles/byte", Better::Lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(operation: Operation, args: &[&str]) -> Result<Box<dyn Runner>, BenchError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let parsed = options::parse(operation.bench(), MEM_OPTIONS, &args)?;
        configure(operation, &parsed)
    }

    fn text(runner: &dyn Runner, format: OutputFormat) -> (String, f64) {
        let mut out = Vec::new();
        let value = runner.run_once(format, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), value)
    }

    #[test]
    fn memcpy_in_perf_layout() {
        let runner = mem(Operation::Copy, &["-s", "1MB", "-l", "4", "-f", "default"]).unwrap();
        let (out, gb) = text(&*runner, OutputFormat::Default);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "# function 'default' (Default memcpy() provided by glibc)",
                "# Copying 1MB bytes ...",
                ""
            ]
        );
        assert_eq!(lines[3], format!(" {gb:14.6} GB/sec"), "{out}");
        assert!(gb > 0.1 && gb < 10_000.0, "{gb}");
        let (simple, _) = text(&*runner, OutputFormat::Simple);
        let lines: Vec<&str> = simple.lines().collect();
        assert_eq!(lines.len(), 2, "{simple}");
        assert_eq!(
            lines[0],
            "# function 'default' (Default memcpy() provided by glibc)"
        );
        // perf's `%lf` of bytes per second.
        assert!(lines[1].parse::<f64>().unwrap() > 1e8, "{simple}");
        assert_eq!(lines[1].split_once('.').unwrap().1.len(), 6);
    }

    #[test]
    fn memset_in_perf_layout() {
        let runner = mem(Operation::Set, &["-s", "64KB", "-l", "10"]).unwrap();
        let (out, gb) = text(&*runner, OutputFormat::Default);
        assert!(out.starts_with(
            "# function 'default' (Default memset() provided by glibc)\n# Copying 64KB bytes ...\n\n"
        ));
        assert!(gb > 0.1, "{out}");
    }

    #[test]
    fn tiny_sizes_give_a_finite_rate_and_a_note() {
        let runner = mem(Operation::Copy, &["-s", "1B"]).unwrap();
        let (out, gb) = text(&*runner, OutputFormat::Default);
        assert!(gb.is_finite() && gb > 0.0, "{out}");
        assert!(!out.contains("inf"), "{out}");
        assert!(
            out.contains("too short for a steady rate; loop more with -l"),
            "{out}"
        );
    }

    #[test]
    fn rates_in_perf_units() {
        assert_eq!(rate_line(512.0), "     512.000000 bytes/sec");
        assert_eq!(rate_line(2048.0), "       2.000000 KB/sec");
        assert_eq!(rate_line(3.0 * K * K), "       3.000000 MB/sec");
        assert_eq!(rate_line(31.5 * K * K * K), "      31.500000 GB/sec");
    }

    #[test]
    fn function_and_size_errors() {
        let error = |args: &[&str]| mem(Operation::Copy, args).err().unwrap().to_string();
        assert_eq!(
            error(&["-f", "x86-64-movsb"]),
            "mem/memcpy: unknown function `x86-64-movsb`; strobe has only `default` \
             (Default memcpy() provided by glibc), not perf's x86-64 assembly variants"
        );
        assert_eq!(
            error(&["-f", "help"]),
            "mem/memcpy: the only function is `default` (Default memcpy() provided by glibc)"
        );
        assert!(error(&["-s", "0"]).starts_with("mem/memcpy: `-s 0` is not a size"));
        assert!(mem(Operation::Copy, &["-f", "all"]).is_ok());
    }

    #[test]
    fn huge_sizes_are_an_error_not_an_abort() {
        let runner = mem(Operation::Set, &["-s", "1000TB"]).unwrap();
        let error = runner
            .run_once(OutputFormat::Default, &mut Vec::new())
            .err()
            .unwrap();
        assert!(matches!(error, BenchError::Alloc { .. }), "{error}");
    }
}
