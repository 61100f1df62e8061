//! strobe's terminal interface: the report with call chains, a flame
//! graph, a timeline, the tracepoint events and the header of a recording,
//! on ratatui and crossterm.
//!
//! The state ([`app::App`]) is separate from the drawing ([`ui`]), so tests
//! drive the state with keys and check what ratatui's `TestBackend` shows.
//! Loading ([`model::load`]) runs on a thread of its own
//! ([`terminal::run`]), and the terminal is restored on every way out,
//! panics included.

#![deny(missing_docs)]

pub mod app;
pub mod model;
pub mod terminal;
pub mod ui;

pub use app::App;
pub use model::{load, LoadUpdate, Model, ModelBuilder};
pub use terminal::{run, Loader, RunOptions};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::{Duration, Instant};

/// Errors of the interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Standard output or input is not a terminal.
    #[error("strobe tui needs a terminal (use `strobe report --stdio` for text)")]
    NotATerminal,
    /// The terminal refused a setting or a write.
    #[error("terminal error: {0}")]
    Terminal(std::io::Error),
}

/// Draws an app on a test terminal of the given size and returns the
/// screen as text.
pub fn render_text(app: &mut App, width: u16, height: u16) -> String {
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width, height)) else {
        return String::new();
    };
    let _ = terminal.draw(|frame| ui::draw(frame, app));
    ui::buffer_text(terminal.backend().buffer())
}

/// A key press, as [`App::key`] takes it: a character, or one of `Enter`,
/// `Esc`, `Tab`, `Up`, `Down`, `Left`, `Right`, `PageDown`, `PageUp`,
/// `Home`, `End`, `Backspace`.
pub fn key(name: &str) -> KeyEvent {
    let code = match name {
        "Enter" => KeyCode::Enter,
        "Esc" => KeyCode::Esc,
        "Tab" => KeyCode::Tab,
        "Up" => KeyCode::Up,
        "Down" => KeyCode::Down,
        "Left" => KeyCode::Left,
        "Right" => KeyCode::Right,
        "PageDown" => KeyCode::PageDown,
        "PageUp" => KeyCode::PageUp,
        "Home" => KeyCode::Home,
        "End" => KeyCode::End,
        "Backspace" => KeyCode::Backspace,
        _ => KeyCode::Char(name.chars().next().unwrap_or(' ')),
    };
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// What [`bench_keys`] measured.
#[derive(Debug, Clone, Default)]
pub struct BenchResult {
    /// Samples in the recording.
    pub samples: u64,
    /// Sample classes the model folded them into.
    pub classes: usize,
    /// The classes merged over time.
    pub merged: usize,
    /// From the start to the first frame (the loading screen).
    pub first_frame: Duration,
    /// From the start to the first frame with samples (a partial model,
    /// or the whole one if it loaded first).
    pub first_data: Duration,
    /// From the start to the first frame of the loaded report.
    pub first_report: Duration,
    /// Each key of the sequence with the time to handle it and draw.
    pub keys: Vec<(String, Duration)>,
}

/// The keys [`bench_keys`] presses: every view, a call chain, a filter,
/// sort keys, zooms and a time window.
pub const BENCH_KEYS: &[&str] = &[
    "Down", "Enter", "Down", "Down", "Enter", "c", "s", "s", "C", "C", "/", "m", "a", "i", "n",
    "Enter", "x", "t", "Esc", "d", "Esc", "2", "Down", "Enter", "Esc", "3", "m", "Right", "Right",
    "Right", "Enter", "1", "4", "Down", "5", "w", "1", "End", "Home", "q",
];

/// Loads a model as the interface does (the loader on its own thread,
/// the first frame drawn while it runs) and times the first frames and
/// each key of [`BENCH_KEYS`], drawn on a 200×50 test terminal.
pub fn bench_keys(loader: Loader) -> Result<BenchResult, String> {
    let start = Instant::now();
    let mut app = App::new("bench");
    let (sender, receiver) = std::sync::mpsc::channel::<Option<Box<Model>>>();
    let handle = std::thread::spawn(move || {
        loader(
            &mut |update| {
                if let LoadUpdate::Partial(model) = update {
                    let _ = sender.send(Some(model));
                }
            },
            &|| false,
        )
    });
    render_text(&mut app, 200, 50);
    let first_frame = start.elapsed();
    // The interface draws the first partial model as soon as it comes.
    let mut first_data = None;
    while let Ok(Some(model)) = receiver.recv() {
        if first_data.is_none() {
            app.update_model(*model, false);
            render_text(&mut app, 200, 50);
            first_data = Some(start.elapsed());
        }
    }
    let model = match handle.join() {
        Ok(result) => result?,
        Err(_) => return Err("the loader panicked".into()),
    };
    app.set_model(model);
    render_text(&mut app, 200, 50);
    let first_report = start.elapsed();
    let mut keys = Vec::new();
    for name in BENCH_KEYS {
        let t = Instant::now();
        app.key(key(name));
        render_text(&mut app, 200, 50);
        keys.push((name.to_string(), t.elapsed()));
    }
    let model = app.model.as_ref();
    Ok(BenchResult {
        samples: model.map_or(0, |m| m.samples),
        classes: model.map_or(0, |m| m.classes.len()),
        merged: model.map_or(0, |m| m.merged.len()),
        first_frame,
        first_data: first_data.unwrap_or(first_report),
        first_report,
        keys,
    })
}
