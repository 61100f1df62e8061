//! The `futex` suite: `hash` and `wake`, as perf's `bench/futex-hash.c`
//! and `bench/futex-wake.c` define them.
//!
//! perf prints the same text for these in both formats; strobe's simple
//! format prints just the result (the averaged operations per second, or
//! the averaged wake-up time in milliseconds), so that every benchmark's
//! simple output is one number per run.

use super::options::{OptionDef, ParsedOptions};
use super::sys::{self, MemoryLock};
use super::text::mean_and_rel_error;
use super::{BenchDef, BenchError, OutputFormat, Runner};
use crate::results::Better;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The value `futex hash` waits for; the futexes hold 0, so every wait
/// fails at once with `EAGAIN`, which is what the benchmark wants: the
/// cost of finding the futex's hash bucket, without sleeping.
const NEVER: u32 = 1234;
/// How long `futex wake` lets its threads settle in `FUTEX_WAIT` before
/// it starts waking them (perf's `usleep(100000)`).
const SETTLE: Duration = Duration::from_millis(100);

static HASH_OPTIONS: &[OptionDef] = &[
    OptionDef::value('f', "futexes", "n", "Specify amount of futexes per threads"),
    OptionDef::flag('m', "mlockall", "Lock all current and future memory"),
    OptionDef::value('r', "runtime", "n", "Specify runtime (in seconds)"),
    OptionDef::flag('S', "shared", "Use shared futexes instead of private ones"),
    OptionDef::flag('s', "silent", "Silent mode: do not display data/details"),
    OptionDef::value('t', "threads", "n", "Specify amount of threads"),
];

pub(super) const HASH: BenchDef = BenchDef {
    suite: "futex",
    name: "hash",
    description: "Benchmark for futex hash table",
    options: HASH_OPTIONS,
    metric: "ops/sec",
    unit: "ops/s",
    better: Better::Higher,
    configure: configure_hash,
};

static WAKE_OPTIONS: &[OptionDef] = &[
    OptionDef::flag('m', "mlockall", "Lock all current and future memory"),
    OptionDef::value(
        'r',
        "repeat",
        "n",
        "Specify amount of times to repeat the run (perf bench -r; default: 10)",
    ),
    OptionDef::flag('S', "shared", "Use shared futexes instead of private ones"),
    OptionDef::flag('s', "silent", "Silent mode: do not display data/details"),
    OptionDef::value('t', "threads", "n", "Specify amount of threads"),
    OptionDef::value(
        'w',
        "nwakes",
        "n",
        "Specify amount of threads to wake at once",
    ),
];

pub(super) const WAKE: BenchDef = BenchDef {
    suite: "futex",
    name: "wake",
    description: "Benchmark for futex wake calls",
    options: WAKE_OPTIONS,
    metric: "msec",
    unit: "msec",
    better: Better::Lower,
    configure: configure_wake,
};

/// The options both futex benchmarks share.
#[derive(Debug)]
struct Common {
    /// Threads; 0 means one per CPU.
    threads: usize,
    silent: bool,
    shared: bool,
    mlockall: bool,
}

impl Common {
    fn read(bench: &str, options: &ParsedOptions) -> Result<Self, BenchError> {
        Ok(Self {
            // As in perf, `-t 0` is the default: one thread per CPU.
            threads: usize::try_from(options.number(bench, "threads", 0)?).unwrap_or(usize::MAX),
            silent: options.flag("silent"),
            shared: options.flag("shared"),
            mlockall: options.flag("mlockall"),
        })
    }

    /// `private` or `shared`, as perf's run summary says.
    fn kind(&self) -> &'static str {
        if self.shared {
            "shared"
        } else {
            "private"
        }
    }

    /// The CPUs to pin to, and the thread count.
    fn placement(&self) -> Result<(Vec<usize>, usize), BenchError> {
        let cpus = sys::allowed_cpus()?;
        let threads = if self.threads == 0 {
            cpus.len()
        } else {
            self.threads
        };
        Ok((cpus, threads))
    }

    fn lock_memory(&self) -> Result<Option<MemoryLock>, BenchError> {
        self.mlockall.then(MemoryLock::new).transpose()
    }
}

/// Holds worker threads until every one is running, then releases them
/// together (or calls the run off), like perf's `threads_starting` count
/// under a mutex and condition variable.
#[derive(Debug, Default)]
struct StartGate {
    /// Threads that have arrived, and the decision once made: `Some(true)`
    /// to go, `Some(false)` to give up.
    state: Mutex<(usize, Option<bool>)>,
    changed: Condvar,
}

impl StartGate {
    fn lock(&self) -> MutexGuard<'_, (usize, Option<bool>)> {
        // A worker that panicked cannot have left the count inconsistent:
        // it is one integer and one flag, each written whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker arrives and waits for the decision; true means go.
    fn arrive(&self) -> bool {
        let mut state = self.lock();
        state.0 += 1;
        self.changed.notify_all();
        loop {
            if let Some(go) = state.1 {
                return go;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until `count` workers have arrived.
    fn wait_for(&self, count: usize) {
        let mut state = self.lock();
        while state.0 < count {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn decide(&self, go: bool) {
        self.lock().1 = Some(go);
        self.changed.notify_all();
    }
}

/// Spawns `count` scoped workers, each pinned to a CPU of `cpus` in turn
/// as perf pins them, that wait at `gate` before running `work(i)`; each
/// returns whether pinning worked, and what `work` returned. If a thread
/// cannot be created, the workers already created are told to give up
/// (they return `T::default()`) and the error is returned.
#[allow(clippy::type_complexity)]
fn spawn_pinned_workers<'scope, 'env, T: Send + Default + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    gate: &'scope StartGate,
    cpus: &'scope [usize],
    count: usize,
    work: impl Fn(usize) -> T + Send + Sync + Copy + 'scope,
) -> Result<Vec<std::thread::ScopedJoinHandle<'scope, (io::Result<()>, T)>>, BenchError> {
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
            let pinned = sys::pin_to_cpu(cpus[i % cpus.len()]);
            let value = if gate.arrive() { work(i) } else { T::default() };
            (pinned, value)
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                gate.decide(false);
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(sys::syscall_error("pthread_create()", e));
            }
        }
    }
    gate.wait_for(count);
    Ok(handles)
}

/// `futex hash`: each thread makes `FUTEX_WAIT` calls on its own futexes,
/// round-robin, with a value they never hold, for `runtime` seconds.
#[derive(Debug)]
struct Hash {
    common: Common,
    runtime: u64,
    futexes: usize,
}

fn configure_hash(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    let bench = "futex/hash";
    Ok(Box::new(Hash {
        common: Common::read(bench, options)?,
        runtime: options.positive(bench, "runtime", 10)?,
        futexes: usize::try_from(options.positive(bench, "futexes", 1024)?).unwrap_or(usize::MAX),
    }))
}

/// What one `futex hash` thread did.
#[derive(Debug, Default)]
struct HashWorker {
    operations: u64,
    /// Calls that did not fail with `EAGAIN`.
    unexpected: u64,
}

impl Runner for Hash {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let _locked = self.common.lock_memory()?;
        let (cpus, threads) = self.common.placement()?;
        let private = !self.common.shared;
        if format == OutputFormat::Default {
            writeln!(
                out,
                "Run summary [PID {}]: {threads} threads, each operating on {} [{}] futexes for {} secs.\n",
                std::process::id(),
                self.futexes,
                self.common.kind(),
                self.runtime
            )?;
            out.flush()?;
        }
        let words: Vec<Vec<AtomicU32>> = (0..threads)
            .map(|_| (0..self.futexes).map(|_| AtomicU32::new(0)).collect())
            .collect();
        let done = AtomicBool::new(false);
        let gate = StartGate::default();
        // perf starts its clock before it creates the threads.
        let start = Instant::now();
        let (workers, runtime) = std::thread::scope(|scope| {
            let (words, done, cpus) = (&words, &done, &cpus);
            let work = move |i: usize| {
                let mut worker = HashWorker::default();
                let mine = &words[i];
                loop {
                    for word in mine {
                        match sys::futex_wait(word, NEVER, private) {
                            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                            _ => worker.unexpected += 1,
                        }
                    }
                    worker.operations += mine.len() as u64;
                    if done.load(Ordering::Relaxed) {
                        return worker;
                    }
                }
            };
            let handles = spawn_pinned_workers(scope, &gate, cpus, threads, work)?;
            gate.decide(true);
            std::thread::sleep(Duration::from_secs(self.runtime));
            done.store(true, Ordering::Relaxed);
            let runtime = start.elapsed();
            let mut workers = Vec::with_capacity(threads);
            let mut pin_error = None;
            for handle in handles {
                // A worker cannot panic (its loop only counts), so a
                // failed join leaves a zero count rather than an error.
                let (pinned, worker) = handle.join().unwrap_or((Ok(()), HashWorker::default()));
                if let Err(e) = pinned {
                    pin_error.get_or_insert(e);
                }
                workers.push(worker);
            }
            match pin_error {
                Some(e) => Err(sys::syscall_error("sched_setaffinity()", e)),
                None => Ok((workers, runtime)),
            }
        })?;
        let seconds = runtime.as_secs_f64();
        let rates: Vec<f64> = workers
            .iter()
            .map(|w| (w.operations as f64 / seconds).trunc())
            .collect();
        let (average, rel_error) = mean_and_rel_error(&rates);
        match format {
            OutputFormat::Default => {
                if !self.common.silent {
                    for (i, rate) in rates.iter().enumerate() {
                        let mine = &words[i];
                        let (first, last) = (mine[0].as_ptr(), mine[mine.len() - 1].as_ptr());
                        if mine.len() == 1 {
                            writeln!(out, "[thread {i:2}] futex: {first:p} [ {rate} ops/sec ]")?;
                        } else {
                            writeln!(
                                out,
                                "[thread {i:2}] futexes: {first:p} ... {last:p} [ {rate} ops/sec ]"
                            )?;
                        }
                    }
                }
                let unexpected: u64 = workers.iter().map(|w| w.unexpected).sum();
                if unexpected > 0 {
                    writeln!(
                        out,
                        "# {unexpected} futex calls did not fail with EAGAIN as expected"
                    )?;
                }
                writeln!(
                    out,
                    "{}Averaged {} operations/sec (+- {rel_error:.2}%), total secs = {}",
                    if self.common.silent { "" } else { "\n" },
                    average as u64,
                    runtime.as_secs()
                )?;
            }
            OutputFormat::Simple => writeln!(out, "{}", average as u64)?,
        }
        Ok(average)
    }
}

/// `futex wake`: threads block on one futex; the main thread wakes them,
/// `nwakes` at a time, and times how long waking them all takes. Repeated
/// `rounds` times, with fresh threads each time.
#[derive(Debug)]
struct Wake {
    common: Common,
    nwakes: u32,
    rounds: u64,
}

fn configure_wake(options: &ParsedOptions) -> Result<Box<dyn Runner>, BenchError> {
    let bench = "futex/wake";
    Ok(Box::new(Wake {
        common: Common::read(bench, options)?,
        nwakes: u32::try_from(options.positive(bench, "nwakes", 1)?).unwrap_or(u32::MAX),
        rounds: options.positive(bench, "repeat", 10)?,
    }))
}

/// What a `futex wake` waiter thread needs; it lives on the waking
/// thread's stack for the whole round.
struct Waiter<'a> {
    word: &'a AtomicU32,
    gate: &'a StartGate,
    private: bool,
}

/// The start routine of a waiter: wait at the gate, block on the futex
/// until woken, and end with `pthread_exit` as perf's waiters do. The ABI
/// is `C-unwind` because `pthread_exit` unwinds the thread's stack (a
/// forced unwind), and Rust aborts the process when an unwind leaves a
/// plain `extern "C"` function.
extern "C-unwind" fn waiter_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `Wake::round` passes a `Waiter` that outlives the thread: it
    // joins every waiter before the `Waiter` goes out of scope.
    let waiter = unsafe { &*(arg as *const Waiter<'_>) };
    wait_until_woken(waiter);
    // SAFETY: this frame holds only a reference, and `wait_until_woken`
    // has returned, so no frame of this thread has anything to drop.
    unsafe { sys::exit_thread() }
}

fn wait_until_woken(waiter: &Waiter<'_>) {
    if !waiter.gate.arrive() {
        return;
    }
    // A signal may interrupt the wait; only a wake-up ends it.
    while let Err(e) = sys::futex_wait(waiter.word, 0, waiter.private) {
        if e.kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
}

impl Wake {
    /// One round: returns how many threads were woken, and how long waking
    /// them took.
    fn round(
        &self,
        word: &AtomicU32,
        cpus: &[usize],
        threads: usize,
    ) -> Result<(usize, Duration), BenchError> {
        let gate = StartGate::default();
        let waiter = Waiter {
            word,
            gate: &gate,
            private: !self.common.shared,
        };
        let arg = &waiter as *const Waiter<'_> as *mut libc::c_void;
        let mut started = Vec::with_capacity(threads);
        for i in 0..threads {
            // SAFETY: every thread started here is joined below, on every
            // path, before `waiter` goes out of scope; `waiter_main` does
            // not unwind (it panics nowhere, and would abort if it did).
            match unsafe { sys::spawn_pinned(cpus[i % cpus.len()], waiter_main, arg) } {
                Ok(thread) => started.push(thread),
                Err(e) => {
                    gate.decide(false);
                    for thread in started {
                        let _ = sys::join(thread);
                    }
                    return Err(sys::syscall_error("pthread_create()", e));
                }
            }
        }
        gate.wait_for(threads);
        gate.decide(true);
        std::thread::sleep(SETTLE);
        let start = Instant::now();
        let mut woken = 0usize;
        let mut wake_error = None;
        while woken < threads {
            match sys::futex_wake(word, self.nwakes, waiter.private) {
                Ok(n) => woken += n as usize,
                Err(e) => {
                    wake_error = Some(e);
                    break;
                }
            }
        }
        let elapsed = start.elapsed();
        if wake_error.is_some() {
            // The waiters must end before `waiter` does: one more try to
            // wake them all at once.
            let _ = sys::futex_wake(word, u32::MAX, waiter.private);
        }
        // Join every thread, even after a failed join, so none outlives
        // `waiter`.
        let join_error = started
            .into_iter()
            .filter_map(|thread| sys::join(thread).err())
            .fold(None, |first, e| first.or(Some(e)));
        if let Some(error) = wake_error {
            return Err(sys::syscall_error("futex(FUTEX_WAKE)", error));
        }
        if let Some(error) = join_error {
            return Err(sys::syscall_error("pthread_join()", error));
        }
        Ok((woken, elapsed))
    }
}

impl Runner for Wake {
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError> {
        let _locked = self.common.lock_memory()?;
        let (cpus, threads) = self.common.placement()?;
        // Every thread blocks on this one futex.
        let word = AtomicU32::new(0);
        if format == OutputFormat::Default {
            writeln!(
                out,
                "Run summary [PID {}]: blocking on {threads} threads (at [{}] futex {:p}), \
                 waking up {} at a time.\n",
                std::process::id(),
                self.common.kind(),
                word.as_ptr(),
                self.nwakes
            )?;
            out.flush()?;
        }
        let mut woken_counts = Vec::new();
        let mut times_ms = Vec::new();
        for round in 1..=self.rounds {
            let (woken, elapsed) = self.round(&word, &cpus, threads)?;
            let ms = elapsed.as_nanos() as f64 / 1e6;
            woken_counts.push(woken as f64);
            times_ms.push(ms);
            if format == OutputFormat::Default && !self.common.silent {
                writeln!(
                    out,
                    "[Run {round}]: Wokeup {woken} of {threads} threads in {ms:.4} ms"
                )?;
                out.flush()?;
            }
        }
        let (average_ms, rel_error) = mean_and_rel_error(&times_ms);
        let (average_woken, _) = mean_and_rel_error(&woken_counts);
        match format {
            OutputFormat::Default => writeln!(
                out,
                "Wokeup {} of {threads} threads in {average_ms:.4} ms (+-{rel_error:.2}%)",
                average_woken as u64
            )?,
            OutputFormat::Simple => writeln!(out, "{average_ms:.4}")?,
        }
        Ok(average_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configure(def: &BenchDef, args: &[&str]) -> Result<Box<dyn Runner>, BenchError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let parsed = super::super::options::parse(&def.path(), def.options, &args)?;
        (def.configure)(&parsed)
    }

    fn run(def: &BenchDef, args: &[&str], format: OutputFormat) -> (String, f64) {
        let mut out = Vec::new();
        let value = configure(def, args)
            .unwrap()
            .run_once(format, &mut out)
            .unwrap();
        (String::from_utf8(out).unwrap(), value)
    }

    #[test]
    fn hash_in_perf_layout() {
        let (text, average) = run(
            &HASH,
            &["-r", "1", "-t", "2", "-f", "8"],
            OutputFormat::Default,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(
            lines[0],
            format!(
                "Run summary [PID {}]: 2 threads, each operating on 8 [private] futexes for 1 secs.",
                std::process::id()
            )
        );
        assert_eq!(lines[1], "");
        for (i, line) in lines[2..4].iter().enumerate() {
            assert!(
                line.starts_with(&format!("[thread {i:2}] futexes: 0x")),
                "{text}"
            );
            assert!(
                line.contains(" ... 0x") && line.ends_with(" ops/sec ]"),
                "{text}"
            );
        }
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with(&format!("Averaged {} operations/sec (+- ", average as u64)));
        assert!(lines[5].ends_with("%), total secs = 1"), "{text}");
        assert!(average > 1000.0, "{text}");

        let (text, _) = run(
            &HASH,
            &["-r", "1", "-t", "1", "-f", "1", "-s"],
            OutputFormat::Default,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[2].starts_with("Averaged "), "{text}");

        let (simple, average) = run(&HASH, &["-r", "1", "-t", "1"], OutputFormat::Simple);
        assert_eq!(simple, format!("{}\n", average as u64));
    }

    #[test]
    fn wake_in_perf_layout() {
        let (text, average) = run(
            &WAKE,
            &["-t", "3", "-r", "2", "-w", "2"],
            OutputFormat::Default,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with(&format!(
            "Run summary [PID {}]: blocking on 3 threads (at [private] futex 0x",
            std::process::id()
        )));
        assert!(lines[0].ends_with("), waking up 2 at a time."), "{text}");
        assert_eq!(lines[1], "");
        assert!(
            lines[2].starts_with("[Run 1]: Wokeup 3 of 3 threads in "),
            "{text}"
        );
        assert!(
            lines[3].starts_with("[Run 2]: Wokeup 3 of 3 threads in "),
            "{text}"
        );
        assert!(lines[3].ends_with(" ms"));
        assert!(lines[4].starts_with(&format!("Wokeup 3 of 3 threads in {average:.4} ms (+-")));
        assert!(average > 0.0 && average < 1000.0, "{text}");

        let (simple, average) = run(&WAKE, &["-t", "2", "-r", "1", "-S"], OutputFormat::Simple);
        assert_eq!(simple, format!("{average:.4}\n"));
    }

    #[test]
    fn options_like_perf() {
        let error = |def: &BenchDef, args: &[&str]| configure(def, args).err().unwrap().to_string();
        assert_eq!(
            error(&HASH, &["-r", "0"]),
            "futex/hash: `--runtime 0`: must be at least 1"
        );
        assert_eq!(
            error(&WAKE, &["-w", "0"]),
            "futex/wake: `--nwakes 0`: must be at least 1"
        );
        assert!(error(&WAKE, &["-f", "3"]).starts_with("futex/wake: unknown option `-f`"));
        assert!(configure(&HASH, &["-t", "0", "-sS"]).is_ok());
    }
}
