//! tracefs: the kernel's tracing file system.
//!
//! [`format`] parses tracepoint `format` files, [`print_fmt`] evaluates their
//! print formats, and [`page`] decodes the pages of the ftrace ring buffer.
//! All three are pure functions over bytes.
//!
//! [`Tracefs`] is the file-system side: finding (or mounting) tracefs,
//! listing tracepoints, checking filters, and the instances `strobe trace`
//! records through. It is the only code in strobe that writes to tracefs, so
//! every such write names the file that refused it.

pub mod format;
pub mod page;
pub mod print_fmt;

use crate::{sys, Error, Result};
use std::io;
use std::path::{Path, PathBuf};

/// Where tracefs is looked for, in order.
const LOCATIONS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Instances strobe creates are named `strobe-PID[-WHAT]`, so a later run can
/// tell which ones a dead strobe left behind.
const INSTANCE_PREFIX: &str = "strobe-";

/// A tracepoint, by system and name (`sched`, `sched_switch`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TracepointName {
    /// The subsystem directory under `events/`.
    pub system: String,
    /// The event directory.
    pub name: String,
}

impl std::fmt::Display for TracepointName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.system, self.name)
    }
}

/// Why the kernel rejected a tracepoint filter, as its `error_log` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRejection {
    /// The kernel's reason (`Field not found`).
    pub reason: String,
    /// The filter as given.
    pub filter: String,
    /// The byte position in `filter` the kernel points at, if it said.
    pub position: Option<usize>,
}

impl std::fmt::Display for FilterRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n    {}", self.reason, self.filter)?;
        if let Some(pos) = self.position {
            write!(f, "\n    {}^", " ".repeat(pos))?;
        }
        Ok(())
    }
}

/// A mounted tracefs.
#[derive(Debug, Clone)]
pub struct Tracefs {
    root: PathBuf,
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    let hint = match source.raw_os_error() {
        Some(libc::EPERM) if lockdown_active() => {
            "; the kernel is in lockdown (/sys/kernel/security/lockdown), which forbids this \
             (the function tracers in particular); tracepoints still work"
                .to_string()
        }
        Some(libc::EACCES) | Some(libc::EPERM) => "; not permitted: run as root".to_string(),
        Some(libc::ENOENT) => "; this kernel does not have it".to_string(),
        Some(libc::EBUSY) => "; it is in use by another tracer".to_string(),
        _ => String::new(),
    };
    Error::Tracefs {
        action,
        path: path.to_path_buf(),
        source,
        hint,
    }
}

/// Whether kernel lockdown is on (integrity or confidentiality).
pub fn lockdown_active() -> bool {
    lockdown_mode().is_some_and(|m| m != "none")
}

/// The kernel's lockdown mode (`none`, `integrity`, `confidentiality`), if
/// securityfs tells; securityfs is mounted first where the machine has not
/// mounted it (as debugfs is for kprobes/list), so that a refusal can be
/// explained.
pub fn lockdown_mode() -> Option<String> {
    let security = Path::new("/sys/kernel/security");
    let file = security.join("lockdown");
    if !file.exists() && security.is_dir() {
        let _ = crate::sys::mount_fs("securityfs", security);
    }
    let text = std::fs::read_to_string(&file).ok()?;
    // The active mode is the one in brackets: "none [integrity] confidentiality".
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_string())
}

/// Whether a strobe process with this pid exists. A pid the kernel has
/// given to another program since does not keep a dead strobe's instance.
fn strobe_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim_end() == "strobe")
}

/// Matches `text` against a shell glob (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn class(pattern: &[char], c: char) -> Option<(bool, usize)> {
        // Returns whether `c` is in the class and the class's length.
        let mut i = 1;
        let negate = matches!(pattern.get(i), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < pattern.len() && (first || pattern[i] != ']') {
            first = false;
            if i + 2 < pattern.len() && pattern[i + 1] == '-' && pattern[i + 2] != ']' {
                matched |= pattern[i] <= c && c <= pattern[i + 2];
                i += 3;
            } else {
                matched |= pattern[i] == c;
                i += 1;
            }
        }
        (i < pattern.len()).then_some((matched != negate, i + 1))
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p[pi..], t[ti]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None => (t[ti] == '[').then_some(1),
            },
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Parses `saved_cmdlines` text: a "PID COMM" line per pid the kernel
/// saved a command name for. Lines that do not parse are skipped.
pub fn parse_saved_cmdlines(text: &str) -> Vec<(i32, String)> {
    text.lines()
        .filter_map(|line| {
            let (pid, comm) = line.split_once(' ')?;
            Some((pid.trim().parse().ok()?, comm.to_string()))
        })
        .collect()
}

/// Whether a string has glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

impl Tracefs {
    /// Finds tracefs, mounting it at /sys/kernel/tracing if it is not mounted.
    pub fn open() -> Result<Self> {
        for location in LOCATIONS {
            let root = Path::new(location);
            if root.join("events").is_dir() {
                return Ok(Tracefs {
                    root: root.to_path_buf(),
                });
            }
        }
        let root = Path::new(LOCATIONS[0]);
        sys::mount_tracefs(root)?;
        if root.join("events").is_dir() {
            Ok(Tracefs {
                root: root.to_path_buf(),
            })
        } else {
            Err(Error::NoTracefs)
        }
    }

    /// A tracefs at `root` (for tests, or a tracefs mounted elsewhere).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Tracefs { root: root.into() }
    }

    /// The mount point.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a tracefs file, relative to the root.
    pub fn read(&self, relative: impl AsRef<Path>) -> Result<String> {
        let path = self.root.join(relative);
        read_file(&path).map_err(|e| io_error("read", &path, e))
    }

    /// Writes `value` to a tracefs file, relative to the root, in one write
    /// (tracefs files act on each write call).
    pub fn write(&self, relative: impl AsRef<Path>, value: &str) -> Result<()> {
        let path = self.root.join(relative);
        write_file(&path, value, false)
    }

    /// Appends `value` to a tracefs file (for `set_ftrace_filter` and the
    /// probe lists, where a plain write would replace what is there).
    pub fn append(&self, relative: impl AsRef<Path>, value: &str) -> Result<()> {
        let path = self.root.join(relative);
        write_file(&path, value, true)
    }

    /// Every tracepoint, sorted by system and name.
    pub fn tracepoints(&self) -> Result<Vec<TracepointName>> {
        let events = self.root.join("events");
        let systems = std::fs::read_dir(&events).map_err(|e| io_error("list", &events, e))?;
        let mut all = Vec::new();
        for system in systems.flatten() {
            let Ok(names) = std::fs::read_dir(system.path()) else {
                continue;
            };
            let system_name = system.file_name().to_string_lossy().into_owned();
            for name in names.flatten() {
                if name.path().join("format").is_file() {
                    all.push(TracepointName {
                        system: system_name.clone(),
                        name: name.file_name().to_string_lossy().into_owned(),
                    });
                }
            }
        }
        all.sort();
        Ok(all)
    }

    /// The tracepoints matching `system:name`, where either part may be a
    /// glob. An exact name that does not exist is an error that suggests
    /// the closest one; a glob that matches nothing is an error too.
    pub fn resolve(&self, pattern: &str) -> Result<Vec<TracepointName>> {
        let (system, name) = pattern
            .split_once(':')
            .or_else(|| pattern.split_once('/'))
            .ok_or_else(|| Error::UnknownTracepoint {
                pattern: pattern.to_string(),
                suggestion: None,
            })?;
        // An exact name needs no listing of every tracepoint (thousands of
        // directories, slow to walk in a fresh instance).
        if !is_glob(pattern) {
            let exact = TracepointName {
                system: system.to_string(),
                name: name.to_string(),
            };
            let dir = self.root.join("events").join(system).join(name);
            if dir.join("format").is_file() {
                return Ok(vec![exact]);
            }
        }
        let all = self.tracepoints()?;
        let found: Vec<TracepointName> = all
            .iter()
            .filter(|t| glob_match(system, &t.system) && glob_match(name, &t.name))
            .cloned()
            .collect();
        if found.is_empty() {
            let suggestion = (!is_glob(pattern))
                .then(|| crate::spec::closest(pattern, all.iter().map(|t| t.to_string())))
                .flatten();
            return Err(Error::UnknownTracepoint {
                pattern: pattern.to_string(),
                suggestion,
            });
        }
        Ok(found)
    }

    /// The `format` file of a tracepoint.
    pub fn format_text(&self, tracepoint: &TracepointName) -> Result<String> {
        self.read(
            Path::new("events")
                .join(&tracepoint.system)
                .join(&tracepoint.name)
                .join("format"),
        )
    }

    /// The format of the ring buffer's page header (`events/header_page`).
    pub fn header_page(&self) -> Result<String> {
        self.read("events/header_page")
    }

    /// The format of the ring buffer's event header (`events/header_event`).
    pub fn header_event(&self) -> Result<String> {
        self.read("events/header_event")
    }

    /// The command names the kernel saved for pids it traced
    /// (`saved_cmdlines`, shared by every instance).
    pub fn saved_cmdlines(&self) -> Vec<(i32, String)> {
        self.read("saved_cmdlines")
            .map(|text| parse_saved_cmdlines(&text))
            .unwrap_or_default()
    }

    /// The dynamic probes that exist (kprobes, uprobes, synthetic events),
    /// one definition per line, as tracefs lists them.
    pub fn dynamic_events(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let sources: &[&str] = if self.root.join("dynamic_events").exists() {
            &["dynamic_events"]
        } else {
            &["kprobe_events", "uprobe_events"]
        };
        for source in sources {
            if let Ok(text) = self.read(source) {
                lines.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_string),
                );
            }
        }
        lines
    }

    /// Checks a filter for one tracepoint by setting it in a scratch
    /// instance, where a rejected filter leaves the kernel's reason in that
    /// instance's `error_log` (the perf ioctl only returns EINVAL). The
    /// global tracing state is not touched.
    pub fn check_filter(
        &self,
        tracepoint: &TracepointName,
        filter: &str,
    ) -> Result<std::result::Result<(), FilterRejection>> {
        let instance = self.create_instance("filtercheck")?;
        let file = Path::new("events")
            .join(&tracepoint.system)
            .join(&tracepoint.name)
            .join("filter");
        let outcome = match instance.write(&file, filter) {
            Ok(()) => Ok(()),
            Err(Error::Tracefs { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                let log = instance.read("error_log").unwrap_or_default();
                Err(parse_filter_error(&log, filter))
            }
            Err(other) => return Err(other),
        };
        Ok(outcome)
    }

    /// Creates the instance `strobe-PID-WHAT` (`WHAT` may be empty), first
    /// removing instances earlier strobe processes left behind when they
    /// were killed. Dropping the instance removes it.
    pub fn create_instance(&self, what: &str) -> Result<Instance> {
        self.remove_stale_instances();
        let mut name = format!("{INSTANCE_PREFIX}{}", std::process::id());
        if !what.is_empty() {
            name.push('-');
            name.push_str(what);
        }
        let path = self.root.join("instances").join(&name);
        if path.exists() {
            // Ours, from an earlier call in this process that did not finish.
            let _ = std::fs::remove_dir(&path);
        }
        std::fs::create_dir(&path).map_err(|e| io_error("create instance", &path, e))?;
        Ok(Instance {
            tracefs: Tracefs { root: path },
            name,
        })
    }

    /// Removes `strobe-PID…` instances whose process is gone (a recording
    /// killed with SIGKILL cannot remove its own). Returns their names.
    pub fn remove_stale_instances(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.join("instances")) else {
            return removed;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(INSTANCE_PREFIX) else {
                continue;
            };
            let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
            if let Some(pid) = pid {
                if !strobe_alive(pid) && remove_instance_dir(&entry.path()).is_ok() {
                    removed.push(name);
                }
            }
        }
        removed
    }
}

/// Turns an instance off and removes its directory. The kernel refuses to
/// remove an instance while one of its files is open, so callers close
/// their readers first.
fn remove_instance_dir(path: &Path) -> io::Result<()> {
    // Stop the ring buffer and the tracer first, so the kernel has nothing
    // in flight; rmdir then frees everything the instance had set up,
    // events and filters included.
    let _ = std::fs::write(path.join("tracing_on"), "0");
    let _ = std::fs::write(path.join("current_tracer"), "nop");
    std::fs::remove_dir(path)
}

/// Reads a whole tracefs file. The first read asks for 64 KiB: some files
/// (`events/header_page`, `events/header_event`) answer only a read at
/// offset 0, so the small first read `read_to_string` makes would cut them.
fn read_file(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(64 * 1024);
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write_file(path: &Path, value: &str, append: bool) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| io_error("open", path, e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| io_error("write", path, e))
}

/// Reads the last entry of an `error_log` for a filter the kernel
/// rejected:
///
/// ```text
/// [ 8145.017510] event filter parse error: error: Illegal integer value
///   Command: id == 1x0
///                   ^
/// ```
pub fn parse_filter_error(log: &str, filter: &str) -> FilterRejection {
    let lines: Vec<&str> = log.lines().collect();
    let mut rejection = FilterRejection {
        reason: "the kernel rejected the filter".to_string(),
        filter: filter.to_string(),
        position: None,
    };
    let Some(start) = lines.iter().rposition(|l| l.contains("error:")) else {
        return rejection;
    };
    let head = lines[start];
    if let Some(reason) = head.rsplit("error:").next() {
        let reason = reason.trim();
        if !reason.is_empty() {
            rejection.reason = reason.to_string();
        }
    }
    if let (Some(command), Some(caret)) = (lines.get(start + 1), lines.get(start + 2)) {
        if let (Some(at), Some(col)) = (command.find("Command: "), caret.find('^')) {
            let text_start = at + "Command: ".len();
            rejection.position = col.checked_sub(text_start).map(|p| p.min(filter.len()));
        }
    }
    rejection
}

/// A tracefs instance strobe created: its own ring buffer, tracer and
/// events, separate from the global ones. Removed when dropped.
#[derive(Debug)]
pub struct Instance {
    tracefs: Tracefs,
    name: String,
}

impl Instance {
    /// The instance's name under `instances/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance's directory.
    pub fn root(&self) -> &Path {
        self.tracefs.root()
    }

    /// Reads a file of the instance.
    pub fn read(&self, relative: impl AsRef<Path>) -> Result<String> {
        self.tracefs.read(relative)
    }

    /// Writes a file of the instance.
    pub fn write(&self, relative: impl AsRef<Path>, value: &str) -> Result<()> {
        self.tracefs.write(relative, value)
    }

    /// Appends to a file of the instance.
    pub fn append(&self, relative: impl AsRef<Path>, value: &str) -> Result<()> {
        self.tracefs.append(relative, value)
    }

    /// The tracers this instance offers (`function`, `function_graph`, `nop`).
    pub fn available_tracers(&self) -> Vec<String> {
        self.read("available_tracers")
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Removes the instance now, reporting failure (drop ignores it).
    pub fn remove(mut self) -> Result<()> {
        let path = std::mem::take(&mut self.tracefs.root);
        remove_instance_dir(&path).map_err(|e| io_error("remove instance", &path, e))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.tracefs.root.as_os_str().is_empty() {
            let _ = remove_instance_dir(&self.tracefs.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("sched_*", "sched_switch"));
        assert!(glob_match("*", ""));
        assert!(glob_match("sys_enter_*", "sys_enter_getppid"));
        assert!(!glob_match("sys_enter_*", "sys_exit_getppid"));
        assert!(glob_match("sched_s?itch", "sched_switch"));
        assert!(glob_match("sched_[rs]*", "sched_switch"));
        assert!(!glob_match("sched_[!s]*", "sched_switch"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("kmem", "kmem"));
        assert!(!glob_match("kmem", "kmemx"));
        assert!(glob_match("[", "["));
    }

    #[test]
    fn saved_cmdlines() {
        let c = parse_saved_cmdlines("1 systemd\n4242 cat\nbad\n");
        assert_eq!(c, vec![(1, "systemd".into()), (4242, "cat".into())]);
    }

    #[test]
    fn filter_errors() {
        let log = "[ 8145.017510] event filter parse error: error: Illegal integer value\n  Command: id == 1x0\n                  ^\n";
        let r = parse_filter_error(log, "id == 1x0");
        assert_eq!(r.reason, "Illegal integer value");
        assert_eq!(r.position, Some(7));
        assert_eq!(
            r.to_string(),
            "Illegal integer value\n    id == 1x0\n           ^"
        );
        let r = parse_filter_error("", "x");
        assert_eq!(r.position, None);
        assert_eq!(r.reason, "the kernel rejected the filter");
    }
}
