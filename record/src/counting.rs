//! Counting mode, for `strobe stat`: counters opened without a ring
//! buffer and read at the end (or every interval).
//!
//! Each counter is read with its enabled and running times, so the caller
//! can scale counts of multiplexed events as perf does. An event the kernel
//! or the machine does not support (a hardware event in a VM) is kept, as
//! not supported, rather than failing the whole run: `perf stat` prints
//! `<not supported>` for it, and so does strobe.

use crate::session::Targets;
use crate::RecordError;
use strobe_probe::{CpuList, EventSpec, PerfEvent};

/// What one counter, or the sum of several, read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValue {
    /// The count.
    pub value: u64,
    /// Nanoseconds the counter was enabled.
    pub enabled: u64,
    /// Nanoseconds it was actually on the PMU (less than `enabled` when
    /// the kernel multiplexed it with other events).
    pub running: u64,
}

impl CounterValue {
    fn add(&mut self, other: CounterValue) {
        self.value = self.value.wrapping_add(other.value);
        self.enabled = self.enabled.wrapping_add(other.enabled);
        self.running = self.running.wrapping_add(other.running);
    }

    /// What was counted since `earlier` (interval mode).
    pub fn since(&self, earlier: &CounterValue) -> CounterValue {
        CounterValue {
            value: self.value.saturating_sub(earlier.value),
            enabled: self.enabled.saturating_sub(earlier.enabled),
            running: self.running.saturating_sub(earlier.running),
        }
    }
}

/// The counts of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCount {
    /// The event's name as given.
    pub name: String,
    /// `None` when the event could be opened; otherwise why not.
    pub unsupported: Option<String>,
    /// The sum over every CPU and thread.
    pub total: CounterValue,
    /// Per CPU, when counting per CPU (`-a`, `-C`).
    pub per_cpu: Vec<(u32, CounterValue)>,
}

/// What to count, and where.
#[derive(Debug, Clone)]
pub struct CountOptions {
    /// The events, with their groups.
    pub events: Vec<EventSpec>,
    /// CPUs, processes, threads or the workload to count.
    pub targets: Targets,
}

struct Counter {
    event: usize,
    cpu: Option<u32>,
    handle: PerfEvent,
}

/// Open counters.
pub struct Counters {
    names: Vec<String>,
    unsupported: Vec<Option<String>>,
    counters: Vec<Counter>,
    per_cpu: bool,
    enable_on_exec: bool,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("names", &self.names)
            .field("counters", &self.counters.len())
            .finish_non_exhaustive()
    }
}

/// Errors perf stat treats as "this event is not supported here" rather
/// than as a failure of the whole run.
fn is_unsupported(err: &strobe_probe::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOENT)
            | Some(libc::EOPNOTSUPP)
            | Some(libc::ENODEV)
            | Some(libc::EINVAL)
            | Some(libc::ENOSYS)
            | Some(libc::ENXIO)
    )
}

impl Counters {
    /// Opens every event on every target. Events that cannot be counted
    /// here are marked unsupported; other errors (permissions, a missing
    /// process) fail.
    pub fn open(options: &CountOptions) -> Result<Self, RecordError> {
        let targets = &options.targets;
        let per_cpu = targets.system_wide || targets.cpus.is_some();
        let cpus: Vec<Option<u32>> = if per_cpu {
            let online = CpuList::online()?;
            let list = match &targets.cpus {
                Some(list) => list.clone().require_within(&online)?,
                None => online,
            };
            list.as_slice().iter().map(|&c| Some(c)).collect()
        } else {
            vec![None]
        };
        let mut tasks = if per_cpu {
            Vec::new()
        } else {
            targets.task_ids()?
        };
        if tasks.is_empty() {
            tasks.push(-1);
        }
        let enable_on_exec = targets.workload.is_some() && !per_cpu;
        let inherit = !per_cpu;
        let read_format = strobe_probe::attr::read_format::TOTAL_TIME_ENABLED
            | strobe_probe::attr::read_format::TOTAL_TIME_RUNNING;

        let mut counters = Counters {
            names: options.events.iter().map(|e| e.name.clone()).collect(),
            unsupported: vec![None; options.events.len()],
            counters: Vec::new(),
            per_cpu,
            enable_on_exec,
        };
        for &cpu in &cpus {
            for &task in &tasks {
                let mut leaders: Vec<(u32, usize)> = Vec::new();
                for (i, spec) in options.events.iter().enumerate() {
                    if counters.unsupported[i].is_some() {
                        continue;
                    }
                    let leader_index = spec
                        .group
                        .and_then(|g| leaders.iter().find(|(group, _)| *group == g))
                        .map(|&(_, index)| index);
                    let is_member = spec.group.is_some()
                        && options.events[..i].iter().any(|e| e.group == spec.group);
                    if is_member && leader_index.is_none() {
                        // The leader is unsupported or its thread is gone.
                        if let Some(leader) = options.events[..i]
                            .iter()
                            .position(|e| e.group == spec.group)
                            .filter(|&l| counters.unsupported[l].is_some())
                        {
                            counters.unsupported[i] = Some(format!(
                                "its group leader {} is not supported",
                                options.events[leader].name
                            ));
                        }
                        continue;
                    }
                    let attr = spec
                        .attr()
                        .read_format(read_format)
                        .inherit(inherit)
                        .enable_on_exec(enable_on_exec);
                    let leader = leader_index.map(|index| &counters.counters[index].handle);
                    let cpu_arg = cpu.map_or(-1, |c| c as i32);
                    match PerfEvent::open_in_group(&attr, &spec.name, task, cpu_arg, leader) {
                        Ok(handle) => {
                            if spec.group.is_some() && !is_member {
                                leaders.push((spec.group.unwrap_or(0), counters.counters.len()));
                            }
                            counters.counters.push(Counter {
                                event: i,
                                cpu,
                                handle,
                            });
                        }
                        Err(e) if task != -1 && e.raw_os_error() == Some(libc::ESRCH) => {
                            // A thread of a -p target exited while we attached.
                            if tasks.len() == 1 {
                                return Err(RecordError::NoSuchProcess(task));
                            }
                        }
                        Err(e) if is_unsupported(&e) => {
                            counters.unsupported[i] = Some(e.to_string());
                            // Drop what was opened for it on earlier CPUs.
                            counters.counters.retain(|c| c.event != i);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(counters)
    }

    /// Starts counting now. With a workload the counters start by
    /// themselves when it execs, and this does nothing.
    pub fn enable(&self) -> Result<(), RecordError> {
        if self.enable_on_exec {
            return Ok(());
        }
        for counter in &self.counters {
            counter.handle.enable()?;
        }
        Ok(())
    }

    /// Stops counting.
    pub fn disable(&self) -> Result<(), RecordError> {
        for counter in &self.counters {
            counter.handle.disable()?;
        }
        Ok(())
    }

    /// Whether the counts are per CPU (`-a`, `-C`).
    pub fn per_cpu(&self) -> bool {
        self.per_cpu
    }

    /// Reads every counter: a total per event and, when counting per CPU,
    /// the count of each CPU.
    pub fn read(&self) -> Result<Vec<EventCount>, RecordError> {
        let mut counts: Vec<EventCount> = self
            .names
            .iter()
            .zip(&self.unsupported)
            .map(|(name, unsupported)| EventCount {
                name: name.clone(),
                unsupported: unsupported.clone(),
                total: CounterValue::default(),
                per_cpu: Vec::new(),
            })
            .collect();
        for counter in &self.counters {
            let mut words = [0u64; 3];
            let n = counter.handle.read_counter(&mut words)?;
            if n < 3 {
                return Err(RecordError::Workload(format!(
                    "short read of counter {}: {n} words",
                    self.names[counter.event]
                )));
            }
            let value = CounterValue {
                value: words[0],
                enabled: words[1],
                running: words[2],
            };
            let count = &mut counts[counter.event];
            count.total.add(value);
            if let Some(cpu) = counter.cpu {
                match count.per_cpu.iter_mut().find(|(c, _)| *c == cpu) {
                    Some((_, v)) => v.add(value),
                    None => count.per_cpu.push((cpu, value)),
                }
            }
        }
        Ok(counts)
    }
}
