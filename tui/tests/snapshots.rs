//! Snapshot tests: every view drawn on ratatui's `TestBackend`, compared
//! with golden text files in tests/golden/. Set STROBE_BLESS=1 to rewrite
//! them after an intended change.

use std::path::PathBuf;
use strobe_tui::model::{Location, SampleIn, TraceEvent};
use strobe_tui::{key, render_text, App, ModelBuilder};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

/// A recording of two processes over one second: `cpu_bound` (two
/// threads, in `hot_a`, `hot_b` and the kernel, with call chains) and
/// `bash`, on two CPUs, with a few sched_switch events.
fn model() -> strobe_tui::Model {
    let mut b = ModelBuilder::new(vec!["cpu-clock".into(), "sched:sched_switch".into()], true);
    b.header(vec![
        "# file: golden.data (1.2 MiB, strobe format 1.1)".into(),
        "# status: complete".into(),
        "# event: cpu-clock (type 1, config 0x0, sample_freq 4000, 1 ids)".into(),
        "# call graph: frame pointers".into(),
    ]);
    let exe = "cpu_bound";
    let libc = "libc.so.6";
    let kernel = "[kernel.kallsyms]";
    let hot_a = b.location(exe, "hot_a", false);
    let hot_b = b.location(exe, "hot_b", false);
    let main = b.location(exe, "main", false);
    let start = b.location(libc, "__libc_start_call_main", false);
    let syscall = b.location(kernel, "do_syscall_64", true);
    let write = b.location(libc, "__write", false);
    let bash_loop = b.location("bash", "reader_loop", false);
    let cpu_bound = b.intern("cpu_bound");
    let bash = b.intern("bash");
    let frames = |locs: &[Location]| locs.iter().map(|l| l.sym).collect::<Vec<u32>>();
    let stacks: Vec<(u32, i32, i32, Vec<Location>)> = vec![
        (cpu_bound, 100, 100, vec![hot_a, main, start]),
        (cpu_bound, 100, 100, vec![hot_a, main, start]),
        (cpu_bound, 100, 101, vec![hot_a, hot_b, main, start]),
        (cpu_bound, 100, 101, vec![hot_b, main, start]),
        (cpu_bound, 100, 100, vec![hot_b, main, start]),
        (cpu_bound, 100, 100, vec![syscall, write, main, start]),
        (bash, 50, 50, vec![bash_loop]),
    ];
    for i in 0..1000u64 {
        let (comm, pid, tid, locs) = &stacks[(i * 7 % 10).min(6) as usize];
        // bash runs only in the second half.
        if *comm == bash && i < 500 {
            continue;
        }
        let all_frames = frames(locs);
        b.add(&SampleIn {
            event: 0,
            time: 1_000_000_000 + i * 1_000_000,
            cpu: (*tid % 2) as u32,
            pid: *pid,
            tid: *tid,
            comm: *comm,
            location: locs[0],
            frames: &all_frames,
            callers: &locs[1..],
            period: 250_000,
        });
    }
    for i in 0..6u64 {
        let time = 1_000_000_000 + i * 150_000_000;
        let (prev, next) = if i % 2 == 0 {
            ("cpu_bound", "bash")
        } else {
            ("bash", "cpu_bound")
        };
        b.add(&SampleIn {
            event: 1,
            time,
            cpu: 0,
            pid: 100,
            tid: 100,
            comm: cpu_bound,
            location: syscall,
            frames: &[],
            callers: &[],
            period: 1,
        });
        b.add_trace_event(TraceEvent {
            time,
            cpu: 0,
            pid: 100,
            tid: 100,
            comm: cpu_bound,
            event: 1,
            text: format!("prev_comm={prev} prev_pid=100 prev_prio=120 prev_state=R ==> next_comm={next} next_pid=50 next_prio=120"),
            fields: vec![
                ("prev_comm".into(), prev.into()),
                ("prev_pid".into(), "100".into()),
                ("prev_prio".into(), "120".into()),
                ("prev_state".into(), "R".into()),
                ("next_comm".into(), next.into()),
                ("next_pid".into(), "50".into()),
                ("next_prio".into(), "120".into()),
            ],
        });
    }
    b.finish()
}

fn check(name: &str, app: &mut App) {
    let screen = render_text(app, WIDTH, HEIGHT);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("STROBE_BLESS").is_some() {
        std::fs::write(&path, &screen).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with STROBE_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        screen == expected,
        "{name}: the screen differs from {}\n--- screen ---\n{screen}--- expected ---\n{expected}",
        path.display()
    );
}

fn press(app: &mut App, keys: &[&str]) {
    for k in keys {
        app.key(key(k));
    }
}

fn app() -> App {
    App::with_model("golden.data", model())
}

#[test]
fn report_default() {
    check("report-default", &mut app());
}

#[test]
fn report_call_chain_expanded_callee_and_caller() {
    let mut app = app();
    press(&mut app, &["Enter"]);
    check("report-expanded-callee", &mut app);
    press(&mut app, &["c"]);
    check("report-expanded-caller", &mut app);
    // Folding a branch of the open chain.
    press(&mut app, &["Down", "Enter"]);
    check("report-expanded-folded", &mut app);
}

#[test]
fn report_regex_filter() {
    let mut app = app();
    press(&mut app, &["/", "h", "o", "t", "_", "b"]);
    check("report-filter-typing", &mut app);
    press(&mut app, &["Enter"]);
    check("report-filter", &mut app);
    // An invalid regex says why and keeps the filter.
    press(&mut app, &["/", "(", "Enter"]);
    check("report-filter-invalid", &mut app);
}

#[test]
fn report_sort_keys_and_self() {
    let mut app = app();
    press(&mut app, &["s"]);
    check("report-sort-sym", &mut app);
    press(&mut app, &["s", "s", "s", "s", "s", "C"]);
    check("report-sort-tid-self", &mut app);
}

#[test]
fn report_zoom_in_and_out() {
    let mut app = app();
    // By command: cpu_bound, then bash. Zoom into bash's thread, then
    // into its DSO, and back out of both.
    press(&mut app, &["s", "s", "s", "s", "Down", "t"]);
    check("report-zoom-thread", &mut app);
    press(&mut app, &["s", "s", "s", "s", "d"]);
    check("report-zoom-thread-dso", &mut app);
    press(&mut app, &["Esc"]);
    check("report-zoom-out-once", &mut app);
    press(&mut app, &["Esc"]);
    check("report-zoomed-out", &mut app);
    // Zoom into a symbol: hot_b's samples only (sorted by symbol).
    press(&mut app, &["s"]);
    let hot_b = app
        .lines
        .iter()
        .position(|l| matches!(l, strobe_tui::app::ReportLine::Row(i) if app.row_text(*i).last().unwrap() == "[.] hot_b"))
        .unwrap();
    for _ in 0..hot_b {
        press(&mut app, &["Down"]);
    }
    press(&mut app, &["z"]);
    check("report-zoom-symbol", &mut app);
}

#[test]
fn flame_view_and_zoom() {
    let mut app = app();
    press(&mut app, &["2"]);
    check("flame", &mut app);
    press(&mut app, &["Down", "Down", "Down", "Enter"]);
    check("flame-zoomed", &mut app);
    press(&mut app, &["Esc"]);
    check("flame-zoomed-out", &mut app);
}

#[test]
fn timeline_window_followed_by_every_view() {
    let mut app = app();
    press(&mut app, &["3"]);
    check("timeline", &mut app);
    // The first quarter of the recording: only cpu_bound ran then.
    press(&mut app, &["m"]);
    for _ in 0..19 {
        press(&mut app, &["Right"]);
    }
    press(&mut app, &["Enter"]);
    check("timeline-window", &mut app);
    press(&mut app, &["1"]);
    check("report-window", &mut app);
    press(&mut app, &["2"]);
    check("flame-window", &mut app);
    press(&mut app, &["4"]);
    check("events-window", &mut app);
}

#[test]
fn events_view_with_detail_pane() {
    let mut app = app();
    press(&mut app, &["4", "Down"]);
    check("events", &mut app);
}

#[test]
fn header_view() {
    let mut app = app();
    press(&mut app, &["5"]);
    check("header", &mut app);
}

#[test]
fn help_overlay() {
    let mut app = app();
    press(&mut app, &["?"]);
    check("help", &mut app);
    press(&mut app, &["Down"]);
    assert!(!app.help, "any key closes the help");
}

#[test]
fn empty_recording_in_every_view() {
    let model = ModelBuilder::new(vec!["cpu-clock".into()], false).finish();
    let mut app = App::with_model("empty.data", model);
    check("empty-report", &mut app);
    for (view, name) in [
        ("2", "flame"),
        ("3", "timeline"),
        ("4", "events"),
        ("5", "header"),
    ] {
        press(&mut app, &[view]);
        check(&format!("empty-{name}"), &mut app);
    }
    // Keys on an empty recording do nothing harmful.
    for view in ["1", "2", "3", "4", "5"] {
        press(
            &mut app,
            &[
                view, "Down", "Enter", "Up", "Left", "Right", "m", "Enter", "t", "d", "z", "Esc",
                "s", "c", "C",
            ],
        );
    }
}

#[test]
fn loading_screen_answers_keys() {
    let mut app = App::new("big.data");
    app.progress = (300 << 20, 600 << 20);
    check("loading", &mut app);
    press(&mut app, &["?"]);
    assert!(app.help);
    press(&mut app, &["Esc", "3"]);
    assert_eq!(app.view, strobe_tui::app::View::Timeline);
    press(&mut app, &["q"]);
    assert!(app.quit);
}

#[test]
fn mouse_selects_rows_switches_views_and_selects_windows() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let mouse = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let mut app = app();
    render_text(&mut app, WIDTH, HEIGHT);
    app.mouse(mouse(MouseEventKind::Down(MouseButton::Left), 5, 3));
    assert_eq!(app.selected, 1);
    app.mouse(mouse(MouseEventKind::Down(MouseButton::Left), 5, 3));
    assert!(
        !app.expanded.is_empty(),
        "a second click opens the call chain"
    );
    app.mouse(mouse(MouseEventKind::ScrollDown, 5, 5));
    assert_eq!(app.selected, 4);
    // " 1 Report  2 Flame  3 Timeline ": the third tab starts at column 19.
    app.mouse(mouse(MouseEventKind::Down(MouseButton::Left), 20, 0));
    assert_eq!(app.view, strobe_tui::app::View::Timeline);
    render_text(&mut app, WIDTH, HEIGHT);
    app.mouse(mouse(MouseEventKind::Down(MouseButton::Left), 30, 3));
    app.mouse(mouse(MouseEventKind::Drag(MouseButton::Left), 50, 3));
    app.mouse(mouse(MouseEventKind::Up(MouseButton::Left), 50, 3));
    assert!(app.window.is_some());
    check("timeline-mouse-window", &mut app);
}
