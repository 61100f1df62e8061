//! `strobe probe` and ephemeral probes on this host: uprobes on executables
//! (fixed and PIE) and on a shared object, their hits and return values,
//! their definitions against `perf probe`'s, and a kernel without kprobes.
//! Needs root; under CI=true it never skips. The kernel side (kprobes,
//! kretprobes, jump optimisation) is tested in a VM: tests/vm_probe.rs.

mod common;

use common::{have_root, run, scratch, script_json, serial, strobe, workload};
use std::path::{Path, PathBuf};
use std::process::Output;

const TRACEFS: &str = "/sys/kernel/tracing";

fn tracefs_file(name: &str) -> String {
    // Mounting tracefs is strobe's job; any strobe command that opens it does.
    let _ = run(strobe().args(["probe", "--list"]));
    std::fs::read_to_string(Path::new(TRACEFS).join(name)).unwrap_or_default()
}

fn strobe_ok(args: &[&str]) -> String {
    let out = run(strobe().args(args));
    assert!(
        out.status.success(),
        "strobe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bundled workload built as a fixed-address executable and as PIE.
fn uprobed_binaries(dir: &Path) -> Vec<PathBuf> {
    let fixed = workload("uprobed");
    let pie = dir.join("uprobed_pie");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workloads/uprobed.c");
    let status = std::process::Command::new("cc")
        .args(["-O2", "-fPIE", "-pie", "-o"])
        .arg(&pie)
        .arg(&src)
        .status()
        .expect("cc runs");
    assert!(status.success());
    vec![fixed, pie]
}

/// Deletes every probe strobe's tests made, whatever happened before.
fn clean(group_glob: &str) {
    let _ = run(strobe().args(["probe", "--del", group_glob]));
}

fn uprobe_lines() -> Vec<String> {
    tracefs_file("uprobe_events")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn root_uprobe_hits_and_return_values_match_the_program() {
    if !have_root("uprobe_hits_and_return_values_match_the_program") {
        return;
    }
    let _serial = serial();
    let dir = scratch("uprobe_hits");
    for binary in uprobed_binaries(&dir) {
        let path = binary.to_str().unwrap();
        let group = if path.ends_with("_pie") {
            "probe_uprobed_pie"
        } else {
            "probe_uprobed"
        };
        clean(&format!("{group}:*"));
        strobe_ok(&["probe", "-x", path, "hot"]);
        strobe_ok(&["probe", "-x", path, "--add", "hot%return", "$retval"]);
        let data = dir.join("hits.data");
        let calls = 1000;
        let out = run(strobe()
            .args(["record", "-q", "-o"])
            .arg(&data)
            .args([
                "-e",
                &format!("{group}:hot"),
                "-e",
                &format!("{group}:hot__return"),
                "--",
            ])
            .arg(path)
            .arg(calls.to_string()));
        clean(&format!("{group}:*"));
        assert!(
            out.status.success(),
            "record: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(printed.len(), calls);

        let events = script_json(&data);
        let named = |name: &str| -> Vec<&serde_json::Value> {
            events
                .iter()
                .filter(|e| e["event"] == format!("{group}:{name}"))
                .collect()
        };
        assert_eq!(named("hot").len(), calls, "{path}: one hit per call");
        let returns = named("hot__return");
        assert_eq!(returns.len(), calls, "{path}: one return per call");
        // $retval is the whole register; the function returns an int.
        let values: Vec<i32> = returns
            .iter()
            .map(|e| {
                let value = &e["fields"]["arg1"];
                value
                    .as_u64()
                    .map(|v| v as u32 as i32)
                    .or_else(|| value.as_i64().map(|v| v as i32))
                    .unwrap_or_else(|| panic!("arg1 of {e}"))
            })
            .collect();
        assert_eq!(values, printed, "{path}: $retval equals what hot returned");
        assert!(
            !uprobe_lines().iter().any(|l| l.contains(group)),
            "--del removed the probes"
        );
    }
}

#[test]
fn root_uprobe_on_a_shared_object_counts_each_call() {
    if !have_root("uprobe_on_a_shared_object_counts_each_call") {
        return;
    }
    let _serial = serial();
    let dir = scratch("uprobe_shared_object");
    // getppid calls libc's syscall() exactly N times.
    let getppid = workload("getppid");
    let libc = "/lib/x86_64-linux-gnu/libc.so.6";
    let data = dir.join("libc.data");
    let out = run(strobe()
        .args(["record", "-q", "-o"])
        .arg(&data)
        .args(["-e", &format!("uprobe:{libc}:syscall"), "--"])
        .arg(&getppid)
        .arg("777"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits = script_json(&data)
        .iter()
        .filter(|e| e["comm"] == "getppid")
        .count();
    assert_eq!(hits, 777);
    // And as a persistent probe, named after the library as perf names it.
    clean("probe_libc:*");
    let added = strobe_ok(&["probe", "-x", libc, "syscall"]);
    assert!(added.contains("probe_libc:syscall"), "{added}");
    assert!(
        uprobe_lines()
            .iter()
            .any(|l| l.starts_with("p:probe_libc/syscall ")),
        "{:?}",
        uprobe_lines()
    );
    clean("probe_libc:*");
}

/// Adds a probe with `tool` and returns the line uprobe_events shows for it.
fn line_added_by(tool: &str, binary: &str, args: &[&str]) -> String {
    let before = uprobe_lines();
    let out: Output = if tool == "perf" {
        run(std::process::Command::new("perf")
            .args(["probe", "-x", binary])
            .args(args))
    } else {
        run(strobe().args(["probe", "-x", binary]).args(args))
    };
    assert!(
        out.status.success(),
        "{tool} probe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new: Vec<String> = uprobe_lines()
        .into_iter()
        .filter(|l| !before.contains(l))
        .collect();
    assert_eq!(new.len(), 1, "{tool} added one probe: {new:?}");
    new[0].clone()
}

#[test]
fn root_uprobe_definitions_equal_perf_probes() {
    if !have_root("uprobe_definitions_equal_perf_probes") {
        return;
    }
    let _serial = serial();
    let dir = scratch("uprobe_vs_perf");
    let mut compared = 0;
    for binary in uprobed_binaries(&dir) {
        let path = binary.to_str().unwrap();
        for args in [
            &["hot"][..],
            &["hot%return", "$retval"],
            &["hot", "%di", "x=%si:u32", "+8(%sp):x64"],
            &["h4=hot+4"],
        ] {
            clean("probe_uprobed*:*");
            let perf = line_added_by("perf", path, args);
            clean("probe_uprobed*:*");
            let ours = line_added_by("strobe", path, args);
            clean("probe_uprobed*:*");
            assert_eq!(ours, perf, "{path} {args:?}");
            compared += 1;
        }
    }
    assert_eq!(compared, 8);
}

#[test]
fn root_ephemeral_uprobes_leave_no_probe_behind() {
    if !have_root("ephemeral_uprobes_leave_no_probe_behind") {
        return;
    }
    let _serial = serial();
    let dir = scratch("ephemeral_uprobes");
    let binary = workload("uprobed");
    let path = binary.to_str().unwrap();
    let before = (
        tracefs_file("uprobe_events"),
        tracefs_file("dynamic_events"),
    );
    let data = dir.join("ephemeral.data");
    let out = run(strobe().args(["record", "-q", "-o"]).arg(&data).args([
        "-e",
        &format!("uprobe:{path}:hot"),
        "-e",
        &format!("uprobe:{path}:hot%return"),
        "--",
        path,
        "250",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = script_json(&data);
    let count = |name: String| events.iter().filter(|e| e["event"] == name).count();
    assert_eq!(count(format!("uprobe:{path}:hot")), 250);
    assert_eq!(count(format!("uprobe:{path}:hot%return")), 250);
    let after = (
        tracefs_file("uprobe_events"),
        tracefs_file("dynamic_events"),
    );
    assert_eq!(before, after, "the recording left nothing in tracefs");
    let info = strobe_ok(&["info", "-i", data.to_str().unwrap()]);
    assert!(info.contains("#   uretprobe: uprobe:"), "{info}");

    // A function the file does not have is one line that suggests the
    // closest, and leaves no file.
    let bad = dir.join("bad.data");
    let out = run(strobe().args(["record", "-o"]).arg(&bad).args([
        "-e",
        &format!("uprobe:{path}:hott"),
        "--",
        path,
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did you mean `hot`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!bad.exists());
}

#[test]
fn root_kprobe_requests_without_kprobes_fail_in_one_line() {
    if !have_root("kprobe_requests_without_kprobes_fail_in_one_line") {
        return;
    }
    let _serial = serial();
    let dir = scratch("no_kprobes");
    let before = tracefs_file("dynamic_events");
    let has_kprobes = Path::new(TRACEFS).join("kprobe_events").exists();
    assert!(
        !has_kprobes || std::env::var("CI").as_deref() != Ok("true"),
        "CI's kernel is expected to have no kprobes (CONFIG_KPROBES off); the VM tests cover kprobes"
    );
    if has_kprobes {
        eprintln!("this kernel has kprobes: tests/vm_probe.rs covers them");
        return;
    }
    let data = dir.join("k.data");
    for args in [
        vec![
            "probe",
            "do_sys_openat2",
            "dfd=%di:s32",
            "filename=+0(%si):string",
        ],
        vec!["probe", "--add", "do_sys_openat2%return", "$retval"],
        vec![
            "record",
            "-e",
            "kprobe:do_sys_openat2",
            "-o",
            data.to_str().unwrap(),
            "--",
            "true",
        ],
        vec!["probe", "--optimize", "off"],
    ] {
        let out = run(strobe().args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("CONFIG_KPROBES")
                && stderr.contains("uprobes")
                && stderr.contains("tracepoints"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!data.exists(), "a refused recording leaves no file");
    assert_eq!(
        tracefs_file("dynamic_events"),
        before,
        "nothing left in tracefs"
    );
}

#[test]
fn probe_definitions_dry_run_for_each_architecture() {
    // No root needed: --dry-run only prints the definition.
    for (arch, args, line) in [
        (
            "x86_64",
            vec!["do_sys_openat2", "dfd=%di:s32", "filename=+0(%si):string"],
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string",
        ),
        (
            "arm64",
            vec!["do_sys_openat2", "dfd=%x0:s32", "filename=+0(%x1):string"],
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%x0:s32 filename=+0(%x1):string",
        ),
        (
            "powerpc64",
            vec!["my:ret=do_sys_openat2%return", "$retval:s32"],
            "r:my/ret do_sys_openat2 $retval:s32",
        ),
    ] {
        let mut cmd = strobe();
        cmd.args(["probe", "--dry-run", "--arch", arch]).args(&args);
        let out = run(&mut cmd);
        assert!(
            out.status.success(),
            "{arch}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), line);
    }
    let out = run(strobe().args(["probe", "--dry-run", "--arch", "arm64", "f", "%di"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("%x0..%x30"),
        "{stderr}"
    );
    let out = run(strobe().args(["probe"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to do"));
}
