//! The benchmark-regression workflow end to end: a program with a
//! deliberate 20% slowdown behind a flag is counted with `stat -r`, and
//! `strobe diff --fail-on-regression 5` fails on it and passes on the
//! unchanged program. Needs root (perf events for the command).

mod common;

use common::*;
use std::path::Path;

fn stat_to(out: &Path, extra: &[&str]) {
    let program = workload("work_or_slow");
    let result = run(strobe()
        .args(["stat", "-r", "10", "--json", "-e", "task-clock", "-o"])
        .arg(out)
        .arg("--")
        .arg(program)
        .arg("100")
        .args(extra));
    assert!(
        result.status.success(),
        "strobe stat: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn root_diff_fails_on_a_deliberate_regression_and_passes_without_one() {
    if !have_root("root_diff_fails_on_a_deliberate_regression_and_passes_without_one") {
        return;
    }
    let _serial = serial();
    let dir = scratch("bench_diff");
    let (base, same, slow) = (
        dir.join("base.json"),
        dir.join("same.json"),
        dir.join("slow.json"),
    );
    stat_to(&base, &[]);
    stat_to(&slow, &["--slow"]);
    stat_to(&same, &[]);

    let regressed = run(strobe()
        .args(["diff", "--fail-on-regression", "5", "--format", "markdown"])
        .arg(&base)
        .arg(&slow));
    let text = String::from_utf8_lossy(&regressed.stdout);
    assert_eq!(
        regressed.status.code(),
        Some(1),
        "a 20% slowdown must fail:\n{text}{}",
        String::from_utf8_lossy(&regressed.stderr)
    );
    assert!(text.contains("regressed"), "{text}");
    assert!(text.contains("task-clock"), "{text}");

    let unchanged = run(strobe()
        .args(["diff", "--fail-on-regression", "5", "--format", "markdown"])
        .arg(&base)
        .arg(&same));
    let text = String::from_utf8_lossy(&unchanged.stdout);
    assert_eq!(
        unchanged.status.code(),
        Some(0),
        "the same program must pass:\n{text}{}",
        String::from_utf8_lossy(&unchanged.stderr)
    );

    // Without --fail-on-regression, a regression is reported, not fatal.
    let report = run(strobe().args(["diff", "--json"]).arg(&base).arg(&slow));
    assert_eq!(report.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let task_clock = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "task-clock")
        .expect("task-clock compared");
    assert_eq!(task_clock["verdict"], "regressed");
    let change = task_clock["change_percent"].as_f64().unwrap();
    assert!((10.0..35.0).contains(&change), "change {change}%");
}
