//! Kernel probes in the VM (tests/common/vm.rs): this host's kernel has no
//! kprobes, Debian's cloud kernel has them with jump optimisation. One boot
//! runs every check, and the probe-hit benchmark (scripts/vm-probe-bench).
//! Needs root (for apt, the first time) and qemu; under CI=true it never
//! skips.

mod common;

use common::vm::{self as vm, GuestFile};
use common::{have_root, scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SCRIPT: &str = r#"
set -eu
T=/sys/kernel/tracing
mkdir -p /data
for f in a b c; do echo "$f" > /data/$f; done
cat $T/dynamic_events > /out/dynamic_before

# A kprobe with arguments and a kretprobe with the return value.
strobe probe do_sys_openat2 'dfd=%di:s32' 'filename=+0(%si):string' > /out/added
strobe probe --add 'do_sys_openat2%return' '$retval' >> /out/added
strobe record -q -e probe:do_sys_openat2 -e probe:do_sys_openat2__return -o /tmp/open.data \
    -- opener /data/a /data/b /data/missing /data/c > /out/opened
strobe script --json -i /tmp/open.data > /out/open.json

# Jump optimisation: a probe past ksys_read's ftrace call site, at the first
# instruction boundary the kernel takes, and one on its entry.
offset=""
for o in $(seq 5 40); do
    if strobe probe "opt=ksys_read+$o" > /dev/null 2>&1; then offset=$o; break; fi
done
echo "$offset" > /out/opt_offset
strobe probe entry=ksys_read > /dev/null
strobe probe --optimize on > /dev/null
strobe record -q -a -e probe:opt -e probe:entry -o /tmp/opt.data -- sleep 30 &
recorder=$!
# Waits up to 5 s for probe:opt to be (or with -v not to be) OPTIMIZED,
# and writes strobe probe --list and the seconds it took to /out/NAME.
wait_opt() {
    name=$1; shift
    start=$(cut -d' ' -f1 /proc/uptime)
    for i in $(seq 0 100); do
        if strobe probe --list | grep 'probe:opt ' | grep -q "$@" OPTIMIZED; then break; fi
        sleep 0.05
    done
    end=$(cut -d' ' -f1 /proc/uptime)
    strobe probe --list > /out/$name
    echo "$start $end" | awk '{ print $2 - $1 }' > /out/$name.seconds
}
# The recorder enables the probes once its events are open.
for i in $(seq 0 100); do
    grep -q '^1' $T/events/probe/opt/enable 2>/dev/null && break
    strobe probe --list | grep 'probe:opt ' | grep -q DISABLED || break
    sleep 0.05
done
wait_opt list_on -e
strobe probe --optimize off > /dev/null
wait_opt list_off -v
strobe probe --optimize on > /dev/null
wait_opt list_on_again -e
kill -INT $recorder
wait $recorder || true
strobe info -i /tmp/opt.data > /out/opt.info
strobe probe --del 'probe:*' > /out/deleted
cat $T/dynamic_events > /out/dynamic_after_del

# Ephemeral probes through the kprobe PMU.
strobe record -q -e kprobe:do_sys_openat2 -e 'kprobe:do_sys_openat2%return' -o /tmp/eph.data \
    -- opener /data/a /data/b > /out/eph_opened
strobe script --json -i /tmp/eph.data > /out/eph.json
cat $T/dynamic_events > /out/dynamic_after_eph

# The probe-hit benchmark.
sh /vm-probe-bench 100000 > /out/bench
echo "the script ran"
"#;

fn build(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/workloads")
        .join(format!("{name}.c"));
    let status = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc runs");
    assert!(status.success(), "building {name}");
    out
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A fetched value as the s32 the program saw (the kernel prints a bare
/// `$retval` as a 64-bit hex number).
fn as_s32(value: &Value) -> i32 {
    value
        .as_u64()
        .map(|v| v as u32 as i32)
        .or_else(|| value.as_i64().map(|v| v as i32))
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// The line of `strobe probe --list` for `name`.
fn list_line<'a>(list: &'a str, name: &str) -> &'a str {
    list.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} is not in the list:\n{list}"))
}

#[test]
fn root_vm_kprobes_kretprobes_optimisation_and_ephemeral_probes() {
    if !have_root("vm_kprobes_kretprobes_optimisation_and_ephemeral_probes") {
        return;
    }
    let dir = scratch("vm_probe");
    let vm = vm::vm();
    let run = vm.run(
        SCRIPT,
        &[
            GuestFile::binary(env!("CARGO_BIN_EXE_strobe"), "/usr/local/bin/strobe"),
            GuestFile::binary(build(&dir, "opener"), "/usr/local/bin/opener"),
            GuestFile::binary(build(&dir, "reads"), "/usr/local/bin/reads"),
            GuestFile::file(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/vm-probe-bench"),
                "/vm-probe-bench",
            ),
        ],
    );
    run.assert_success();
    eprintln!(
        "VM on {} ran in {:.1} s",
        vm.kernel_version(),
        run.elapsed.as_secs_f64()
    );
    assert_eq!(run.file_text("dynamic_before").trim(), "");
    let added = run.file_text("added");
    assert!(
        added.contains("probe:do_sys_openat2 ") && added.contains("probe:do_sys_openat2__return"),
        "{added}"
    );

    // One entry per open by the command, with its file name; the return
    // values are the descriptors it got (or -ENOENT).
    let opened: Vec<(String, i32)> = run
        .file_text("opened")
        .lines()
        .map(|l| {
            let (path, fd) = l.split_once(' ').unwrap();
            (path.to_string(), fd.parse().unwrap())
        })
        .collect();
    assert_eq!(opened.len(), 4);
    let events = json_lines(&run.file_text("open.json"));
    let ours: Vec<&Value> = events.iter().filter(|e| e["comm"] == "opener").collect();
    let mut pending: Option<String> = None;
    let mut results: Vec<(String, i32)> = Vec::new();
    for event in &ours {
        match event["event"].as_str().unwrap() {
            "probe:do_sys_openat2" => {
                assert!(pending.is_none(), "two entries without a return: {event}");
                pending = Some(event["fields"]["filename"].as_str().unwrap().to_string());
            }
            "probe:do_sys_openat2__return" => {
                let name = pending.take().expect("a return after its entry");
                results.push((name, as_s32(&event["fields"]["arg1"])));
            }
            other => panic!("unexpected event {other}"),
        }
    }
    for (path, fd) in &opened {
        let matching: Vec<&(String, i32)> = results.iter().filter(|(p, _)| p == path).collect();
        assert_eq!(matching.len(), 1, "one open of {path}: {results:?}");
        let expected = if *fd < 0 { -2 } else { *fd };
        assert_eq!(matching[0].1, expected, "$retval of opening {path}");
    }
    let dfd = ours
        .iter()
        .find(|e| e["event"] == "probe:do_sys_openat2")
        .unwrap();
    assert_eq!(dfd["fields"]["dfd"], -100, "AT_FDCWD as s32: {dfd}");

    // Jump optimisation: OPTIMIZED within 2 s, gone with the optimiser off,
    // back with it on; the entry probe sits on the ftrace call site.
    let offset: u32 = run.file_text("opt_offset").trim().parse().unwrap();
    let seconds = |name: &str| -> f64 {
        run.file_text(&format!("{name}.seconds"))
            .trim()
            .parse()
            .unwrap()
    };
    let on = run.file_text("list_on");
    assert!(list_line(&on, "probe:opt").contains("[OPTIMIZED]"), "{on}");
    assert!(
        seconds("list_on") <= 2.0,
        "OPTIMIZED after {} s",
        seconds("list_on")
    );
    assert!(list_line(&on, "probe:entry").contains("FTRACE"), "{on}");
    assert!(on.contains("# kprobe jump optimisation: on"), "{on}");
    let off = run.file_text("list_off");
    assert!(!list_line(&off, "probe:opt").contains("OPTIMIZED"), "{off}");
    assert!(off.contains("# kprobe jump optimisation: off"), "{off}");
    let again = run.file_text("list_on_again");
    assert!(
        list_line(&again, "probe:opt").contains("[OPTIMIZED]"),
        "{again}"
    );
    assert!(seconds("list_on_again") <= 2.0);
    let info = run.file_text("opt.info");
    assert!(
        info.contains(&format!("#   kprobe: p:probe/opt ksys_read+{offset}"))
            && info.contains("at start"),
        "{info}"
    );
    assert!(run
        .file_text("deleted")
        .contains("Removed event: probe:opt"));
    assert_eq!(run.file_text("dynamic_after_del").trim(), "");

    // Ephemeral probes work and leave nothing behind.
    let eph = json_lines(&run.file_text("eph.json"));
    let count = |name: &str| {
        eph.iter()
            .filter(|e| e["comm"] == "opener" && e["event"] == name)
            .count()
    };
    let entries = count("kprobe:do_sys_openat2");
    assert!(entries >= 2, "{entries} entries");
    assert_eq!(count("kprobe:do_sys_openat2%return"), entries);
    assert_eq!(run.file_text("dynamic_after_eph").trim(), "");

    // The benchmark ran and timed one hit both ways. Which is cheaper is
    // the benchmark's finding (scripts/bench-vs-perf --only probes), not
    // this test's: under TCG on a busy host the times are noisy.
    let bench = run.file_text("bench");
    eprintln!("{}", bench.trim());
    let per_hit: Vec<f64> = bench
        .split("per hit:")
        .nth(1)
        .unwrap_or_else(|| panic!("{bench}"))
        .split(',')
        .map(|part| {
            part.split_whitespace()
                .find_map(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{bench}"))
        })
        .collect();
    assert_eq!(per_hit.len(), 2, "{bench}");
    assert!(per_hit.iter().all(|t| t.is_finite()), "{bench}");
}
