//! The `sched` suite: `messaging` (hackbench) and `pipe`, as perf's
//! `bench/sched-messaging.c` and `bench/sched-pipe.c` define them.

use super::options::{OptionDef, ParsedOptions};
use super::sys::{self, Children};
use super::text::{ops_per_sec, seconds_ms, total_time};
use super::{BenchDef, BenchError, OutputFormat, Runner};
use crate::results::Better;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Senders (and as many receivers) in each group; perf fixes it at 20.
const FDS_PER_GROUP: usize = 20;
/// Bytes in one message.
const MESSAGE_SIZE: usize = 100;
/// Stack of a messaging thread. perf asks for `PTHREAD_STACK_MIN`, so that
/// hundreds of threads cost little memory; the loops need only a message
/// buffer.
const THREAD_STACK: usize = 64 * 1024;

static MESSAGING_OPTIONS: &[OptionDef] = &[
    OptionDef::value('g', "group", "n", "Specify number of groups"),
    OptionDef::value(
        'l',
        "nr_loops",
        "n",
        "Specify the number of loops to run (default: 100)",
    ),
    OptionDef::flag('p', "pipe", "Use pipe() instead of socketpair()"),
    OptionDef::flag('t', "thread", "Be multi thread instead of multi process"),
];

pub(super) const MESSAGING: BenchDef = BenchDef {
    suite: "sched",
    name: "messaging",
    description: "Benchmark for scheduling and IPC",
    options: MESSAGING_OPTIONS,
    metric: "seconds",
    unit: "seconds",
    better: Better::Lower,
    configure: configure_messaging,
};

static PIPE_OPTIONS: &[OptionDef] = &[
    OptionDef::value('l', "loop", "n", "Specify number of loops"),
    OptionDef::flag('T', "threaded", "Specify threads/process based task setup"),
];

pub(super) const PIPE: BenchDef = BenchDef {
    suite: "sched",
    name: "pipe",
    description: "Benchmark for pipe() between two processes",
    options: PIPE_OPTIONS,
    metric: "usecs/op",
    unit: "usec/op",
    better: Better::Lower,
    configure: configure_pipe,
};

/// `sched messaging`: groups of 20 senders, each writing `loops` messages
/// of 100 bytes to each of 20 receivers over socketpairs (or pipes with
/// `-p`). Timed from the moment every worker is ready until all are done.
#[derive(Debug)]
struct Messaging {
    groups: usize,
    loops: u64,
    pipes: bool,
    threads: bool,
}

fn configure_messaging(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    let bench = "sched/messaging";
    let groups = options.positive(bench, "group", 10)?;
    Ok(Box::new(Messaging {
        groups: usize::try_from(groups).unwrap_or(usize::MAX),
        loops: options.positive(bench, "nr_loops", 100)?,
        pipes: options.flag("pipe"),
        threads: options.flag("thread"),
    }))
}

/// The file descriptors one group's workers use.
struct Group {
    /// Receiver `i` reads `inputs[i]`.
    inputs: Vec<OwnedFd>,
    /// Every sender writes to all of these.
    outputs: Vec<OwnedFd>,
}

/// The ready and go channels every worker shares: each worker writes one
/// byte to `ready` when it is set up, then waits until `go` is readable.
struct StartLine {
    ready_read: OwnedFd,
    ready_write: OwnedFd,
    go_read: OwnedFd,
    go_write: OwnedFd,
}

impl Messaging {
    fn pair(&self) -> Result<(OwnedFd, OwnedFd), BenchError> {
        if self.pipes {
            sys::pipe()
        } else {
            sys::socketpair()
        }
    }

    fn start_line(&self) -> Result<StartLine, BenchError> {
        let (ready_read, ready_write) = self.pair()?;
        let (go_read, go_write) = self.pair()?;
        Ok(StartLine {
            ready_read,
            ready_write,
            go_read,
            go_write,
        })
    }

    fn workers(&self) -> usize {
        self.groups.saturating_mul(2 * FDS_PER_GROUP)
    }

    /// Reads one "ready" byte per worker, then starts the clock and lets
    /// them go.
    fn start(&self, line: &StartLine, workers: usize) -> Result<Instant, BenchError> {
        let mut byte = [0u8];
        for _ in 0..workers {
            sys::read_exact(line.ready_read.as_raw_fd(), &mut byte)
                .map_err(|e| sys::syscall_error("read() of a ready byte", e))?;
        }
        let start = Instant::now();
        sys::write_all(line.go_write.as_raw_fd(), b"G")
            .map_err(|e| sys::syscall_error("write() of the start byte", e))?;
        Ok(start)
    }

    /// Process mode, perf's default: every worker is a forked process.
    fn run_processes(&self) -> Result<Duration, BenchError> {
        let line = self.start_line()?;
        let (ready, go) = (line.ready_write.as_raw_fd(), line.go_read.as_raw_fd());
        let packets = self.loops * FDS_PER_GROUP as u64;
        let loops = self.loops;
        let mut children = Children::default();
        for _ in 0..self.groups {
            let mut outputs = [0 as RawFd; FDS_PER_GROUP];
            let mut keep = Vec::with_capacity(FDS_PER_GROUP);
            for output in &mut outputs {
                let (input, out) = self.pair()?;
                let input_fd = input.as_raw_fd();
                // SAFETY: `receive` only reads, writes and polls.
                unsafe { children.spawn(|| receive(input_fd, packets, ready, go))? };
                // The receiver has its copy; as in perf, the parent keeps
                // only the sending end, for the senders it forks next.
                drop(input);
                *output = out.as_raw_fd();
                keep.push(out);
            }
            for _ in 0..FDS_PER_GROUP {
                // SAFETY: `send` only reads, writes and polls; `outputs`
                // is a copy on the child's stack.
                unsafe { children.spawn(|| send(&outputs, loops, ready, go))? };
            }
        }
        let start = self.start(&line, children.len())?;
        children.wait_all("sched/messaging worker process")?;
        Ok(start.elapsed())
    }

    /// Thread mode (`-t`): every worker is a thread of this process.
    fn run_threads(&self) -> Result<Duration, BenchError> {
        let line = self.start_line()?;
        let mut groups = Vec::with_capacity(self.groups);
        for _ in 0..self.groups {
            let mut group = Group {
                inputs: Vec::with_capacity(FDS_PER_GROUP),
                outputs: Vec::with_capacity(FDS_PER_GROUP),
            };
            for _ in 0..FDS_PER_GROUP {
                let (input, output) = self.pair()?;
                group.inputs.push(input);
                group.outputs.push(output);
            }
            groups.push(group);
        }
        let outputs: Vec<Vec<RawFd>> = groups
            .iter()
            .map(|g| g.outputs.iter().map(|f| f.as_raw_fd()).collect())
            .collect();
        // In perf's order: each group's receivers, then its senders.
        let mut workers = Vec::with_capacity(self.workers());
        for (group, outputs) in groups.iter().zip(&outputs) {
            workers.extend(group.inputs.iter().map(|f| Work::Receive(f.as_raw_fd())));
            workers.extend((0..FDS_PER_GROUP).map(|_| Work::Send(outputs)));
        }
        let shared = Shared {
            ready: line.ready_write.as_raw_fd(),
            go: line.go_read.as_raw_fd(),
            abort: AtomicBool::new(false),
            loops: self.loops,
        };
        let shared = &shared;
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(workers.len());
            let mut spawn_error = None;
            for work in workers {
                let spawned = std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn_scoped(scope, move || (work.role(), work.run(shared)));
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(e) => {
                        spawn_error = Some(sys::syscall_error("pthread_create()", e));
                        break;
                    }
                }
            }
            let start = match spawn_error {
                None => self.start(&line, handles.len()),
                Some(error) => Err(error),
            };
            if start.is_err() {
                // The threads wait for the start: call the run off, so
                // they return instead of waiting for peers that will
                // never come, and the scope can end.
                shared.abort.store(true, Ordering::SeqCst);
                let _ = sys::write_all(line.go_write.as_raw_fd(), b"A");
            }
            let mut failure = None;
            for handle in handles {
                let error = match handle.join() {
                    Ok((_, Ok(()))) => continue,
                    Ok((role, Err(e))) => BenchError::Worker {
                        role,
                        reason: e.to_string(),
                    },
                    Err(_) => BenchError::Worker {
                        role: "sched/messaging thread",
                        reason: "it panicked".to_string(),
                    },
                };
                failure.get_or_insert(error);
            }
            let start = start?;
            failure.map_or_else(|| Ok(start.elapsed()), Err)
        })
    }
}

/// What the worker threads share.
struct Shared {
    /// Each worker writes a byte here when it is ready.
    ready: RawFd,
    /// Readable once the run starts.
    go: RawFd,
    /// Set when the run is called off before it started.
    abort: AtomicBool,
    /// Messages each sender writes to each receiver.
    loops: u64,
}

/// One messaging thread's job.
#[derive(Debug, Clone, Copy)]
enum Work<'a> {
    /// Read every message of the group's senders from this descriptor.
    Receive(RawFd),
    /// Write `loops` messages to each of these descriptors.
    Send(&'a [RawFd]),
}

impl Work<'_> {
    fn role(self) -> &'static str {
        match self {
            Self::Receive(_) => "sched/messaging receiver thread",
            Self::Send(_) => "sched/messaging sender thread",
        }
    }

    fn run(self, shared: &Shared) -> io::Result<()> {
        if !ready_and_go(shared.ready, shared.go, &shared.abort)? {
            return Ok(());
        }
        match self {
            Self::Receive(input) => receive_all(input, shared.loops * FDS_PER_GROUP as u64),
            Self::Send(outputs) => send_all(outputs, shared.loops),
        }
    }
}

/// Tells the parent this worker is ready and waits for the start. Returns
/// false when the run was called off.
fn ready_and_go(ready: RawFd, go: RawFd, abort: &AtomicBool) -> io::Result<bool> {
    sys::write_all(ready, b"R")?;
    sys::wait_readable(go)?;
    Ok(!abort.load(Ordering::SeqCst))
}

/// A receiver process: ready, go, then read all its messages.
/// Async-signal-safe (it runs in a forked child).
fn receive(input: RawFd, packets: u64, ready: RawFd, go: RawFd) -> io::Result<()> {
    sys::write_all(ready, b"R")?;
    sys::wait_readable(go)?;
    receive_all(input, packets)
}

fn receive_all(input: RawFd, packets: u64) -> io::Result<()> {
    let mut message = [0u8; MESSAGE_SIZE];
    for _ in 0..packets {
        sys::read_exact(input, &mut message)?;
    }
    Ok(())
}

/// A sender process: ready, go, then `loops` messages to every receiver of
/// its group. Async-signal-safe.
fn send(outputs: &[RawFd], loops: u64, ready: RawFd, go: RawFd) -> io::Result<()> {
    sys::write_all(ready, b"R")?;
    sys::wait_readable(go)?;
    send_all(outputs, loops)
}

fn send_all(outputs: &[RawFd], loops: u64) -> io::Result<()> {
    let message = [b'S'; MESSAGE_SIZE];
    for _ in 0..loops {
        for &output in outputs {
            sys::write_all(output, &message)?;
        }
    }
    Ok(())
}

impl Runner for Messaging {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let elapsed = if self.threads {
            self.run_threads()?
        } else {
            self.run_processes()?
        };
        let kind = if self.threads { "threads" } else { "processes" };
        match format {
            OutputFormat::Default => {
                writeln!(
                    out,
                    "# {FDS_PER_GROUP} sender and receiver {kind} per group"
                )?;
                writeln!(
                    out,
                    "# {} groups == {} {kind} run\n",
                    self.groups,
                    self.workers()
                )?;
                writeln!(out, "{}", total_time(elapsed))?;
            }
            OutputFormat::Simple => writeln!(out, "{}", seconds_ms(elapsed))?,
        }
        Ok(elapsed.as_secs_f64())
    }
}

/// `sched pipe`: two tasks ping-pong a 4-byte token over two pipes,
/// `loops` round trips. Timed from before the second task starts.
#[derive(Debug)]
struct Pipe {
    loops: u64,
    threads: bool,
}

fn configure_pipe(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    Ok(Box::new(Pipe {
        loops: options.positive("sched/pipe", "loop", 1_000_000)?,
        threads: options.flag("threaded"),
    }))
}

/// One side of the ping-pong. The side that reads first is perf's task 0.
/// Async-signal-safe (in process mode it runs in a forked child).
fn ping_pong(read: RawFd, write: RawFd, loops: u64, reads_first: bool) -> io::Result<()> {
    let mut token = [0u8; 4];
    for _ in 0..loops {
        if reads_first {
            sys::read_exact(read, &mut token)?;
            sys::write_all(write, &token)?;
        } else {
            sys::write_all(write, &token)?;
            sys::read_exact(read, &mut token)?;
        }
    }
    Ok(())
}

impl Pipe {
    fn measure(&self) -> Result<Duration, BenchError> {
        let (one_read, one_write) = sys::pipe()?;
        let (two_read, two_write) = sys::pipe()?;
        let (one_read, one_write) = (one_read.as_raw_fd(), one_write.as_raw_fd());
        let (two_read, two_write) = (two_read.as_raw_fd(), two_write.as_raw_fd());
        let loops = self.loops;
        let start = Instant::now();
        if self.threads {
            let (first, second) = std::thread::scope(|scope| {
                let first = scope.spawn(move || ping_pong(one_read, two_write, loops, true));
                let second = scope.spawn(move || ping_pong(two_read, one_write, loops, false));
                (first.join(), second.join())
            });
            for result in [first, second] {
                let reason = match result {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "it panicked".to_string(),
                };
                return Err(BenchError::Worker {
                    role: "sched/pipe thread",
                    reason,
                });
            }
        } else {
            let mut children = Children::default();
            // SAFETY: `ping_pong` only reads and writes.
            unsafe { children.spawn(|| ping_pong(one_read, two_write, loops, true))? };
            ping_pong(two_read, one_write, loops, false).map_err(|e| BenchError::Worker {
                role: "sched/pipe parent process",
                reason: e.to_string(),
            })?;
            children.wait_all("sched/pipe child process")?;
        }
        Ok(start.elapsed())
    }
}

impl Runner for Pipe {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let elapsed = self.measure()?;
        let usecs = elapsed.as_nanos() as f64 / 1e3;
        let usecs_per_op = usecs / self.loops as f64;
        match format {
            OutputFormat::Default => {
                let kind = if self.threads { "threads" } else { "processes" };
                writeln!(
                    out,
                    "# Executed {} pipe operations between two {kind}\n",
                    self.loops
                )?;
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

    fn run(runner: &dyn Runner, format: OutputFormat) -> (String, f64) {
        let mut out = Vec::new();
        let value = runner.run_once(format, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), value)
    }

    /// The lines of perf's output with every number replaced by `N`.
    fn shape(text: &str) -> String {
        let mut shaped = String::new();
        let mut in_number = false;
        for c in text.chars() {
            if c.is_ascii_digit() || (in_number && c == '.') {
                if !in_number {
                    shaped.push('N');
                }
                in_number = true;
            } else {
                in_number = false;
                shaped.push(c);
            }
        }
        shaped
    }

    #[test]
    fn pipe_in_perf_layout() {
        for threads in [false, true] {
            let pipe = Pipe {
                loops: 2000,
                threads,
            };
            let (text, usecs) = run(&pipe, OutputFormat::Default);
            let kind = if threads { "threads" } else { "processes" };
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 6, "{text}");
            assert_eq!(
                lines[0],
                format!("# Executed 2000 pipe operations between two {kind}")
            );
            assert_eq!(lines[1], "");
            assert_eq!(shape(lines[2]), "     Total time: N [sec]");
            assert_eq!(lines[3], "");
            // perf's ` %14lf usecs/op` and ` %14d ops/sec`.
            assert_eq!(lines[4], format!(" {usecs:14.6} usecs/op"));
            let ops = lines[5].strip_suffix(" ops/sec").unwrap();
            assert_eq!(ops.len(), 15, "{text}");
            assert!(ops.trim().parse::<u64>().unwrap() > 0);
            assert!(usecs > 0.0);
            let (simple, _) = run(&pipe, OutputFormat::Simple);
            assert_eq!(shape(&simple), "N\n", "{simple}");
        }
    }

    #[test]
    fn messaging_in_perf_layout() {
        for (threads, pipes) in [(false, false), (true, false), (false, true), (true, true)] {
            let messaging = Messaging {
                groups: 1,
                loops: 5,
                pipes,
                threads,
            };
            let (text, seconds) = run(&messaging, OutputFormat::Default);
            let kind = if threads { "threads" } else { "processes" };
            assert_eq!(
                text.lines().take(2).collect::<Vec<_>>(),
                [
                    format!("# 20 sender and receiver {kind} per group"),
                    format!("# 1 groups == 40 {kind} run"),
                ]
            );
            assert_eq!(
                shape(&text).lines().nth(3),
                Some("     Total time: N [sec]")
            );
            assert!(seconds > 0.0 && seconds < 10.0);
            let (simple, _) = run(&messaging, OutputFormat::Simple);
            assert_eq!(shape(&simple), "N\n");
        }
    }

    #[test]
    fn ops_per_second_truncates() {
        assert_eq!(
            ops_per_sec(1_000_000, Duration::from_micros(5_816_233)),
            171932
        );
        assert_eq!(ops_per_sec(5, Duration::ZERO), 0);
    }
}
