//! The terminal side: raw mode and the alternate screen, restored on every
//! way out (a drop guard for returns and errors, a panic hook for panics),
//! the loader thread, and the event loop.

use crate::app::App;
use crate::model::{LoadUpdate, Model};
use crate::{ui, Error};
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Loads the model on the loader thread: told how to report progress
/// (bytes read, partial models) and asked whether to stop early.
pub type Loader =
    Box<dyn FnOnce(&mut dyn FnMut(LoadUpdate), &dyn Fn() -> bool) -> Result<Model, String> + Send>;

/// Options of [`run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Panic once the recording is loaded and drawn: how the tests check
    /// that a panic restores the terminal.
    pub panic_after_load: bool,
}

enum Message {
    Progress(u64, u64),
    Partial(Box<Model>),
    Loaded(Box<Model>),
    Failed(String),
}

/// Puts the terminal back as it was: cooked mode, the main screen, no
/// mouse reporting, a visible cursor. Safe to call more than once.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped.
#[derive(Debug)]
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self, Error> {
        // The hook restores the terminal before the panic message prints,
        // so the message is readable and the shell usable.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode().map_err(Error::Terminal)?;
        let guard = TerminalGuard;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)
            .map_err(Error::Terminal)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the interface on the terminal until the user quits. `loader` runs
/// on its own thread; the interface answers keys meanwhile.
pub fn run(title: String, loader: Loader, options: RunOptions) -> Result<(), Error> {
    run_with(title, loader, options, |_| {})
}

/// Like [`run`], with `configure` setting up the interface (sort keys,
/// call order) before it shows.
pub fn run_with(
    title: String,
    loader: Loader,
    options: RunOptions,
    configure: impl FnOnce(&mut App),
) -> Result<(), Error> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::NotATerminal);
    }
    let guard = TerminalGuard::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(Error::Terminal)?;
    terminal.clear().map_err(Error::Terminal)?;
    let (sender, receiver) = mpsc::channel::<Message>();
    let cancelled = Arc::new(AtomicBool::new(false));
    let cancel = cancelled.clone();
    let progress_sender = sender.clone();
    std::thread::Builder::new()
        .name("strobe-tui-loader".into())
        .spawn(move || {
            let mut last = std::time::Instant::now();
            let mut progress = |update: LoadUpdate| match update {
                // Tell the interface at most every 50 ms.
                LoadUpdate::Read(done, total) => {
                    if last.elapsed() >= Duration::from_millis(50) {
                        last = std::time::Instant::now();
                        let _ = progress_sender.send(Message::Progress(done, total));
                    }
                }
                LoadUpdate::Partial(model) => {
                    let _ = progress_sender.send(Message::Partial(model));
                }
            };
            let stop = || cancel.load(Ordering::Relaxed);
            let message = match loader(&mut progress, &stop) {
                Ok(model) => Message::Loaded(Box::new(model)),
                Err(e) => Message::Failed(e),
            };
            let _ = sender.send(message);
        })
        .map_err(Error::Terminal)?;
    let mut app = App::new(title);
    configure(&mut app);
    let mut drawn_loaded = false;
    let result = loop {
        while let Ok(message) = receiver.try_recv() {
            match message {
                Message::Progress(done, total) => app.progress = (done, total),
                Message::Partial(model) => app.update_model(*model, false),
                Message::Loaded(model) => app.set_model(*model),
                Message::Failed(e) => app.load_error = Some(e),
            }
        }
        if let Err(e) = terminal.draw(|frame| ui::draw(frame, &mut app)) {
            break Err(Error::Terminal(e));
        }
        if app.model.is_some() && !app.loading {
            if options.panic_after_load && drawn_loaded {
                panic!("a panic asked for by --test-panic, to check the terminal is restored");
            }
            drawn_loaded = true;
        }
        if app.quit {
            break Ok(());
        }
        match event::poll(Duration::from_millis(50)) {
            Ok(false) => {}
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => app.key(key),
                Ok(Event::Mouse(mouse)) => app.mouse(mouse),
                Ok(_) => {}
                Err(e) => break Err(Error::Terminal(e)),
            },
            Err(e) => break Err(Error::Terminal(e)),
        }
    };
    cancelled.store(true, Ordering::Relaxed);
    drop(terminal);
    drop(guard);
    result
}
