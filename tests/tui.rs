//! End-to-end tests of `strobe tui` in a real terminal: tmux runs it on a
//! recording made here (`strobe record -g` of the bundled cpu_bound), the
//! test sends keys and reads the screen with `tmux capture-pane` after each.
//! A panic (asked for with the hidden --test-panic) must leave the terminal
//! in cooked mode, which `stty -a` in the same pane shows.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of the test's own, with one pane running `sh`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(test: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("strobe-{test}-{}", std::process::id()),
        };
        let out = run(Command::new("tmux")
            .args(["-L", &tmux.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "t", "-x", "120", "-y", "40", "sh"])
            .env("PS1", "$ "));
        assert!(
            out.status.success(),
            "tmux new-session failed (is tmux installed? scripts/install-test-deps installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// Types a command line into the pane's shell.
    fn command(&self, line: &str) {
        self.send(&["-l", line]);
        self.send(&["Enter"]);
    }

    fn send(&self, keys: &[&str]) {
        let out = run(Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "t"])
            .args(keys));
        assert!(out.status.success(), "tmux send-keys {keys:?} failed");
    }

    fn screen(&self) -> String {
        let out =
            run(Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ready`, and returns it.
    fn wait(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waited 30 s for {what}; the screen is:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends keys, then waits until the screen shows `text`.
    fn keys_then(&self, keys: &[&str], what: &str, ready: impl Fn(&str) -> bool) -> String {
        self.send(keys);
        self.wait(what, ready)
    }

    /// `stty -a` of the pane's terminal, run by its shell.
    fn stty(&self) -> Vec<String> {
        self.command("clear; stty -a; echo STTY-DONE");
        let screen = self.wait("stty -a", |s| s.lines().any(|l| l.trim() == "STTY-DONE"));
        screen.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn record_cpu_bound(dir: &Path) -> PathBuf {
    let data = dir.join("cpu.data");
    record_into(&data, &["-g", "-F", "2000"], &workload("cpu_bound"), "1");
    data
}

fn cooked(stty: &[String]) -> bool {
    let has = |flag: &str| stty.iter().any(|t| t == flag);
    has("icanon") && has("echo") && !has("-icanon") && !has("-echo")
}

fn tui_command(args: &str) -> String {
    format!("{} tui {args}", env!("CARGO_BIN_EXE_strobe"))
}

#[test]
fn tui_in_tmux_on_a_real_recording_root() {
    if !have_root("tui_in_tmux_on_a_real_recording_root") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tui_tmux");
    let data = record_cpu_bound(&dir);
    let tmux = Tmux::start("tui");
    tmux.command(&tui_command(&data.display().to_string()));
    // The report: Children and Self, the workload's functions.
    let screen = tmux.wait("the report", |s| {
        s.contains("hot_a") && s.contains("Children")
    });
    assert!(screen.contains("cpu_bound"), "{screen}");
    assert!(screen.contains("[.] hot_b"), "{screen}");
    assert!(screen.contains("sort comm,dso,sym"), "{screen}");

    // Open the first row's call chain: its branches show as N%--frame.
    let screen = tmux.keys_then(&["Enter"], "an open call chain", |s| s.contains("%--"));
    assert!(screen.lines().any(|l| l.starts_with("- ")), "{screen}");
    // Callers of hot_a show in caller order too.
    let screen = tmux.keys_then(&["c"], "caller order", |s| s.contains("children, caller"));
    assert!(screen.contains("%--main"), "{screen}");

    // A regex filter on the symbol: only hot_b's samples remain.
    tmux.send(&["/"]);
    tmux.wait("the filter prompt", |s| {
        s.contains("filter (symbol, command or DSO regex)")
    });
    tmux.send(&["-l", "hot_b"]);
    let screen = tmux.keys_then(&["Enter"], "the filter", |s| s.contains("filter /hot_b/"));
    assert!(screen.contains("[.] hot_b"), "{screen}");
    assert!(
        !screen.contains("hot_a"),
        "hot_a is filtered out:\n{screen}"
    );

    // Every view.
    let screen = tmux.keys_then(&["2"], "the flame view", |s| s.contains("|main"));
    assert!(screen.contains("hot_b"), "{screen}");
    let screen = tmux.keys_then(&["3"], "the timeline", |s| s.contains("cursor 0.000s"));
    assert!(screen.contains("cpu_bound/"), "{screen}");
    tmux.keys_then(&["4"], "the events view", |s| {
        s.contains("no tracepoint or probe events")
    });
    let screen = tmux.keys_then(&["5"], "the header", |s| s.contains("# file:"));
    assert!(screen.contains("# call graph: frame pointers"), "{screen}");
    tmux.keys_then(&["?"], "the help", |s| s.contains("Keys (any key closes)"));
    tmux.keys_then(&["x"], "the help closed", |s| {
        !s.contains("Keys (any key closes)")
    });
    // Clearing the filter, then back to the report.
    let screen = tmux.keys_then(&["x", "1"], "the whole report", |s| s.contains("hot_a"));
    assert!(!screen.contains("filter /"), "{screen}");

    // Quit: the shell is back, in cooked mode.
    tmux.send(&["q"]);
    let stty = tmux.stty();
    assert!(
        cooked(&stty),
        "the terminal is not in cooked mode: {stty:?}"
    );
}

#[test]
fn tui_restores_the_terminal_after_a_panic_root() {
    if !have_root("tui_restores_the_terminal_after_a_panic_root") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tui_panic");
    let data = record_cpu_bound(&dir);
    let tmux = Tmux::start("panic");
    tmux.command(&format!(
        "RUST_BACKTRACE=0 {}; echo EXIT=$?",
        tui_command(&format!("--test-panic {}", data.display()))
    ));
    let screen = tmux.wait("the panic", |s| s.lines().any(|l| l.starts_with("EXIT=")));
    assert!(screen.contains("panicked"), "{screen}");
    assert!(screen.contains("EXIT=101"), "{screen}");
    let stty = tmux.stty();
    assert!(
        cooked(&stty),
        "the terminal is not in cooked mode after a panic: {stty:?}"
    );
}

#[test]
fn tui_refuses_a_missing_file_and_a_non_terminal_in_one_line() {
    let dir = scratch("tui_errors");
    let out = run(strobe().arg("tui").arg(dir.join("missing.data")));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("strobe: cannot open"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let junk = dir.join("junk.data");
    std::fs::write(&junk, b"not a recording").unwrap();
    let out = run(strobe().arg("tui").arg(&junk));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn tui_shows_a_load_error_on_screen() {
    let dir = scratch("tui_bad_file");
    let junk = dir.join("junk.data");
    std::fs::write(&junk, b"not a recording at all, just text").unwrap();
    let tmux = Tmux::start("bad");
    tmux.command(&format!(
        "RUST_BACKTRACE=0 {}; echo EXIT=$?",
        tui_command(&junk.display().to_string())
    ));
    let screen = tmux.wait("the load error", |s| s.contains("cannot load"));
    assert!(screen.contains("press q to quit"), "{screen}");
    tmux.send(&["q"]);
    tmux.wait("the exit", |s| s.lines().any(|l| l == "EXIT=0"));
    assert!(cooked(&tmux.stty()));
}
