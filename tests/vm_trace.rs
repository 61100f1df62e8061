//! `strobe trace` with the function tracers, in the VM (this host's kernel
//! lockdown refuses them): function entries of one command with their
//! callers, and function_graph entries and exits with durations. The
//! recordings come back to the host and are read there.

mod common;

use common::vm::{vm, GuestFile};
use common::*;
use serde_json::Value;

const SCRIPT: &str = r#"
set -e
head -c 1000000 /dev/zero > /tmp/file
strobe trace --func vfs_read -o /out/func.data -- cat /tmp/file > /dev/null
strobe trace --graph --func vfs_read -o /out/graph.data -- cat /tmp/file > /dev/null
strobe trace --subbuf-size 8K -e raw_syscalls:sys_enter --filter 'id == 110' -o /out/subbuf8k.data -- getppid 5000
T=/sys/kernel/tracing
cat $T/current_tracer > /out/current_tracer
ls $T/instances > /out/instances
"#;

#[test]
fn vm_trace_function_and_function_graph_of_a_command() {
    if !have_root("vm_trace_function_and_function_graph_of_a_command") {
        return;
    }
    let vm = vm();
    let result = vm.run(
        SCRIPT,
        &[
            GuestFile::binary(env!("CARGO_BIN_EXE_strobe"), "/bin/strobe"),
            // busybox cat copies with sendfile, which does not go through
            // vfs_read; GNU cat reads.
            GuestFile::binary("/bin/cat", "/usr/local/bin/cat"),
            GuestFile::binary(workload("getppid"), "/usr/local/bin/getppid"),
        ],
    );
    result.assert_success();
    assert_eq!(
        result.file_text("current_tracer").trim(),
        "nop",
        "the global tracer is untouched"
    );
    assert_eq!(
        result.file_text("instances").trim(),
        "",
        "no instance is left"
    );
    let dir = scratch("vm_trace");
    for name in ["func.data", "graph.data", "subbuf8k.data"] {
        std::fs::write(dir.join(name), &result.files[name]).unwrap();
    }

    // Function entries: vfs_read, called from ksys_read, by cat.
    let events = script_json(&dir.join("func.data"));
    let reads: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ftrace:function" && e["comm"] == "cat")
        .collect();
    // cat reads the 1 MB file in 128 KiB blocks, and its libraries at start.
    assert!(
        reads.len() >= 8,
        "{} vfs_read entries from cat",
        reads.len()
    );
    for e in &reads {
        let trace = e["trace"].as_str().unwrap();
        assert!(trace.trim_start().starts_with("vfs_read <-- "), "{trace}");
        assert_eq!(e["sym"], "vfs_read");
    }
    assert!(
        reads
            .iter()
            .any(|e| e["trace"].as_str().unwrap().contains("<-- ksys_read")),
        "the parent function is named"
    );
    assert!(events
        .iter()
        .all(|e| e["event"] != "ftrace:function" || e["sym"] == "vfs_read"));

    // function_graph: each entry has an exit, with a duration.
    let events = script_json(&dir.join("graph.data"));
    let entries = events
        .iter()
        .filter(|e| e["event"] == "ftrace:funcgraph_entry" && e["comm"] == "cat")
        .count();
    let exits: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ftrace:funcgraph_exit" && e["comm"] == "cat")
        .collect();
    assert!(entries >= 8, "{entries} entries");
    assert_eq!(entries, exits.len(), "every entry has its exit");
    for e in &exits {
        let f = &e["fields"];
        let duration = f["rettime"].as_u64().unwrap() - f["calltime"].as_u64().unwrap();
        assert!(duration > 0, "{e}");
        assert!(e["trace"].as_str().unwrap().contains("vfs_read"), "{e}");
    }
    // 8 KiB sub-buffers (this host's kernel refuses to change their size):
    // every getppid call of the program decodes, from pages of two pages.
    let file = dir.join("subbuf8k.data");
    let info = run(strobe().arg("info").arg(&file));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("8 KiB sub-buffers"), "{info}");
    let calls = script_json(&file)
        .iter()
        .filter(|e| e["comm"] == "getppid" && e["fields"]["id"] == 110)
        .count();
    assert_eq!(calls, 5000, "getppid calls through 8 KiB sub-buffers");

    // report reads trace recordings too: vfs_read is the function traced.
    let out = run(strobe()
        .args(["report", "--sort", "sym", "-i"])
        .arg(dir.join("func.data")));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[k] vfs_read"), "{text}");
}
