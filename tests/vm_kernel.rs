//! The VM that the kprobe and function-tracer tests run in (tests/common/vm.rs,
//! scripts/vm-run): its kernel has what this host's lacks, strobe runs in it,
//! and files come back out of it intact. Needs root (for apt, the first time)
//! and qemu; under CI=true it never skips.

mod common;

use common::have_root;
use common::vm::{self as vm, GuestFile};

/// Bytes that a text-only channel would mangle: every byte value, then a
/// megabyte of a simple pseudo-random sequence.
fn awkward_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255).collect();
    let mut state: u32 = 0x1234_5678;
    bytes.extend((0..1 << 20).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    }));
    bytes
}

const SCRIPT: &str = r#"
T=/sys/kernel/tracing
strobe --version > /out/version
cat /sys/kernel/security/lockdown > /out/lockdown
cat $T/available_tracers > /out/available_tracers
mkdir $T/instances/x
cat $T/instances/x/available_tracers > /out/instance_tracers
rmdir $T/instances/x
test -f /sys/kernel/debug/kprobes/list && echo yes > /out/kprobes_list_exists

# A probe on a function's first instruction sits on its ftrace call site.
echo 'p:myprobe ksys_read' > $T/kprobe_events && echo yes > /out/kprobe_added
echo 1 > $T/events/kprobes/myprobe/enable
# A probe past that call site is a jump-optimised one. The first instruction
# boundary there depends on the build (endbr64, then the 5-byte call): the
# kernel refuses offsets that are not boundaries.
for offset in $(seq 5 32); do
    if echo "p:optprobe ksys_read+$offset" >> $T/kprobe_events 2>/dev/null; then
        echo $offset > /out/optprobe_offset
        break
    fi
done
echo 1 > $T/events/kprobes/optprobe/enable
# The optimiser runs from a delayed work item.
for i in $(seq 1 50); do
    grep -q 'ksys_read+.*OPTIMIZED' /sys/kernel/debug/kprobes/list && break
    sleep 0.1
done
cat /sys/kernel/debug/kprobes/list > /out/kprobes_list
cat /proc/version > /dev/null
echo 0 > $T/tracing_on
grep -m1 'myprobe:' $T/trace > /out/myprobe_hit
mkdir -p /out/nested
cp /data/awkward /out/nested/awkward
echo "the script ran"
"#;

#[test]
fn root_vm_kernel_has_kprobes_and_function_tracer() {
    if !have_root("vm_kernel_has_kprobes_and_function_tracer") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm_kernel");
    std::fs::create_dir_all(&dir).unwrap();
    let awkward = dir.join("awkward");
    std::fs::write(&awkward, awkward_bytes()).unwrap();

    let vm = vm::vm();
    let run = vm.run(
        SCRIPT,
        &[
            GuestFile::binary(env!("CARGO_BIN_EXE_strobe"), "/usr/local/bin/strobe"),
            GuestFile::file(&awkward, "/data/awkward"),
        ],
    );
    run.assert_success();
    eprintln!(
        "VM on {} ran in {:.1} s",
        vm.kernel_version(),
        run.elapsed.as_secs_f64()
    );
    assert!(
        run.stdout.contains("the script ran"),
        "output: {}",
        run.stdout
    );
    assert!(
        run.console.contains("the script ran"),
        "the console shows the script's output"
    );

    let version = run.file_text("version");
    assert!(
        version.starts_with("strobe "),
        "strobe --version: {version}"
    );
    let lockdown = run.file_text("lockdown");
    assert!(lockdown.contains("[none]"), "lockdown: {lockdown}");

    let tracers = run.file_text("available_tracers");
    let names: Vec<&str> = tracers.split_whitespace().collect();
    assert!(
        names.contains(&"function") && names.contains(&"function_graph"),
        "available_tracers: {tracers}"
    );
    // function_graph in an instance needs 6.11 or later.
    let in_instance = run.file_text("instance_tracers");
    assert!(
        in_instance
            .split_whitespace()
            .any(|t| t == "function_graph"),
        "an instance's available_tracers: {in_instance}"
    );

    assert_eq!(run.file_text("kprobes_list_exists"), "yes\n");
    assert_eq!(run.file_text("kprobe_added"), "yes\n");
    let list = run.file_text("kprobes_list");
    let offset: u32 = run.file_text("optprobe_offset").trim().parse().unwrap();
    let optimized = format!("ksys_read+{offset:#x}");
    assert!(
        list.lines()
            .any(|l| l.contains(&optimized) && l.contains("[OPTIMIZED]")),
        "{optimized} is not [OPTIMIZED] in kprobes/list:\n{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains("ksys_read+0x") && l.contains("[FTRACE]")),
        "the probe on ksys_read's entry is not on its ftrace site:\n{list}"
    );
    let hit = run.file_text("myprobe_hit");
    assert!(hit.contains("myprobe: (ksys_read+"), "trace: {hit}");

    assert!(
        run.files.get("nested/awkward") == Some(&awkward_bytes()),
        "/out/nested/awkward came back changed"
    );
}
