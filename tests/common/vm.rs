//! Runs shell scripts in a qemu VM on Debian's cloud kernel, for the tests
//! of what this host's kernel lacks: kprobes (it has no CONFIG_KPROBES) and
//! the function tracers (its lockdown refuses them).
//!
//! `scripts/vm-run` does the work, so that a developer can run the same VM by
//! hand (`scripts/vm-run --help`). A test gets the prepared kernel once per
//! process with [`vm()`], then boots it for each script with [`Vm::run`]:
//!
//! ```ignore
//! let run = vm::vm().run(
//!     "strobe --version > /out/version",
//!     &[GuestFile::binary(env!("CARGO_BIN_EXE_strobe"), "/usr/local/bin/strobe")],
//! );
//! run.assert_success();
//! assert!(run.file_text("version").starts_with("strobe "));
//! ```

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A kernel ready to boot: Debian's cloud kernel, fetched and cached under
/// `target/vm/` by `scripts/vm-run --prepare`.
#[derive(Debug, Clone)]
pub struct Vm {
    vmlinuz: PathBuf,
    kernel_version: String,
}

/// A host file to copy into the guest.
#[derive(Debug, Clone)]
pub struct GuestFile {
    /// The file (or directory) on the host.
    pub host: PathBuf,
    /// Its absolute path in the guest.
    pub guest: String,
    /// Whether to copy every shared library it links too (as `ldd` lists
    /// them, the dynamic loader included), each at its own path.
    pub with_libs: bool,
}

impl GuestFile {
    /// A data file or a directory, copied as it is.
    pub fn file(host: impl Into<PathBuf>, guest: &str) -> GuestFile {
        GuestFile {
            host: host.into(),
            guest: guest.to_string(),
            with_libs: false,
        }
    }

    /// An executable, with the shared libraries it links.
    pub fn binary(host: impl Into<PathBuf>, guest: &str) -> GuestFile {
        GuestFile {
            with_libs: true,
            ..GuestFile::file(host, guest)
        }
    }
}

/// How to boot the VM for one script.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long the whole run may take before the guest is killed and the
    /// test fails. A boot takes about 4 s; enabling the function tracers on
    /// every kernel function takes several seconds more under emulation.
    pub timeout: Duration,
    /// Virtual CPUs. Two, so that per-CPU buffers and cross-CPU ordering are
    /// exercised; one boots no faster.
    pub cpus: u32,
    /// Kernel command-line arguments added to the harness's own.
    pub kernel_args: String,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            timeout: Duration::from_secs(300),
            cpus: 2,
            kernel_args: String::new(),
        }
    }
}

/// What a script left behind in the guest.
#[derive(Debug, Clone)]
pub struct VmRun {
    /// The script's exit status (128 + N when signal N killed it).
    pub exit_code: i32,
    /// Everything on the serial console: the kernel's messages, the script's
    /// output as it came, and the harness's markers.
    pub console: String,
    /// The script's stdout and stderr, interleaved as on a terminal.
    pub stdout: String,
    /// The files the script left in /out/, by their path under /out/.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The wall-clock time of the run, boot included.
    pub elapsed: Duration,
}

impl VmRun {
    /// Fails the test, showing the script's output and the console's tail,
    /// unless the script exited with 0.
    pub fn assert_success(&self) -> &VmRun {
        assert!(
            self.exit_code == 0,
            "the script failed in the VM with exit code {}.\n--- its output:\n{}\n--- the console's last lines:\n{}",
            self.exit_code,
            self.stdout,
            self.console_tail(30)
        );
        self
    }

    /// A file from /out/ as text; fails the test if the script left none.
    pub fn file_text(&self, name: &str) -> String {
        let bytes = self.files.get(name).unwrap_or_else(|| {
            panic!(
                "the script left no /out/{name} (it left {:?}).\n--- its output:\n{}",
                self.files.keys().collect::<Vec<_>>(),
                self.stdout
            )
        });
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// The last `lines` lines of the console, without the escape sequences
    /// SeaBIOS clears the screen with.
    pub fn console_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.console.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        tail.replace("\x1bc", "")
            .replace("\x1b[?7l", "")
            .replace("\x1b[2J", "")
            .replace("\x1b[0m", "")
    }
}

/// The repository's `scripts/vm-run`.
fn vm_run() -> Command {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/vm-run"))
}

/// The prepared kernel, fetched on the first call in a test process. Panics
/// with the reason when it cannot be had (no qemu, no network to Debian's
/// mirror, apt's lists need root): a VM test that cannot boot fails, under
/// CI=true or not.
pub fn vm() -> Vm {
    static PREPARED: OnceLock<Result<Vm, String>> = OnceLock::new();
    PREPARED.get_or_init(prepare).clone().unwrap_or_else(|e| {
        panic!(
            "cannot prepare the test VM: {e}\n(scripts/install-test-deps installs what it needs)"
        )
    })
}

fn prepare() -> Result<Vm, String> {
    let out = vm_run()
        .arg("--prepare")
        .output()
        .map_err(|e| format!("cannot run scripts/vm-run: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    // The path is the last line; apt may have said something before it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let vmlinuz = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    // The cache keeps each kernel in target/vm/kernel-VERSION/vmlinuz.
    let kernel_version = vmlinuz
        .parent()
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("kernel-"))
        .ok_or_else(|| format!("scripts/vm-run --prepare printed {}", vmlinuz.display()))?
        .to_string();
    Ok(Vm {
        vmlinuz,
        kernel_version,
    })
}

impl Vm {
    /// The Debian kernel's version, as in its package name: `6.12.117+deb12`.
    pub fn kernel_version(&self) -> &str {
        &self.kernel_version
    }

    /// Boots the VM, copies `files` in, runs `script` with /bin/sh (busybox)
    /// as root in /tmp, and collects what it left in /out/. A guest that
    /// hangs past the timeout or panics fails the test, showing the tail of
    /// its console; a script that fails is reported in
    /// [`VmRun::exit_code`].
    pub fn run(&self, script: &str, files: &[GuestFile]) -> VmRun {
        self.run_with(script, files, &RunOptions::default())
    }

    /// [`Vm::run`] with other options.
    pub fn run_with(&self, script: &str, files: &[GuestFile], options: &RunOptions) -> VmRun {
        // One VM at a time: two emulated guests on two host cores slow each
        // other down past the timings the tests expect.
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());

        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let results = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "vm-run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&results);

        let mut command = vm_run();
        command
            .arg("--kernel")
            .arg(&self.vmlinuz)
            .arg("--results")
            .arg(&results)
            .arg("--timeout")
            .arg(options.timeout.as_secs_f64().to_string())
            .arg("--cpus")
            .arg(options.cpus.to_string());
        if !options.kernel_args.is_empty() {
            command.arg(format!("--append={}", options.kernel_args));
        }
        for file in files {
            let flag = if file.with_libs { "--bin" } else { "--file" };
            let mut mapping = file.host.clone().into_os_string();
            mapping.push(":");
            mapping.push(&file.guest);
            command.arg(flag).arg(mapping);
        }
        command
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());

        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run scripts/vm-run: {e}"));
        {
            use std::io::Write;
            // A vm-run that failed before reading the script says why on
            // stderr, which the check of exit-code below shows.
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let _ = stdin.write_all(script.as_bytes());
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("scripts/vm-run did not finish: {e}"));
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);

        // vm-run writes exit-code only when the guest got to the end.
        let read = |name: &str| std::fs::read(results.join(name));
        let Ok(exit_code) = read("exit-code") else {
            panic!("scripts/vm-run did not run the script to its end:\n{stderr}");
        };
        let exit_code = String::from_utf8_lossy(&exit_code)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("scripts/vm-run wrote a bad exit-code: {e}"));
        let text =
            |name: &str| String::from_utf8_lossy(&read(name).unwrap_or_default()).into_owned();
        let mut files = BTreeMap::new();
        collect_files(&results.join("out"), &results.join("out"), &mut files);
        let run = VmRun {
            exit_code,
            console: text("console"),
            stdout: text("output"),
            files,
            elapsed,
        };
        let _ = std::fs::remove_dir_all(&results);
        run
    }
}

/// Reads every file under `dir` into `files`, keyed by its path under `root`.
fn collect_files(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files);
        } else if let Ok(bytes) = std::fs::read(&path) {
            let name = path.strip_prefix(root).unwrap_or(&path);
            files.insert(name.to_string_lossy().into_owned(), bytes);
        }
    }
}
