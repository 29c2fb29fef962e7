//! `rampart watch`: decisions and approvals as they happen.
//!
//! On a terminal, a full-screen view (ratatui over crossterm): the counts
//! (the daemon's since it started; with no daemon, what this view has
//! seen), the calls waiting for approval (approve or deny the selected one), and
//! the feed of decisions, newest first, coloured by decision, with filters,
//! pause and scroll. When stdout is not a terminal, one plain line per
//! event instead.
//!
//! - [`model`]: the state and what keys and updates do to it (no drawing);
//! - [`view`]: drawing the state;
//! - [`lines`]: the plain lines printed instead when not on a terminal;
//! - [`source`]: the daemon's event stream over the Unix socket, or the
//!   audit files when no daemon runs.

mod lines;
mod model;
mod source;
mod view;

use daemon::RampartHome;
use model::{Action, Key, Update, Watch};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How often the screen is redrawn with nothing new (approval ages).
const TICK: Duration = Duration::from_millis(500);

pub fn run(agent: Option<String>, decision: Option<String>) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    let (tx, rx) = mpsc::channel();
    let source_home = home.clone();
    std::thread::Builder::new()
        .name("rampart-watch-source".into())
        .spawn(move || source::run(source_home, tx))?;
    let w = Watch::new(agent, decision);
    if std::io::stdout().is_terminal() {
        full_screen(w, &rx)
    } else {
        print_lines(w, &rx)
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// SIGTERM, SIGHUP (the terminal went away) and SIGINT (raw mode makes
/// Ctrl-C a key, but `kill -INT` still arrives) end the view like `q`
/// does, so the terminal is always given back; the exit status says which.
/// The returned flag holds the signal that arrived (0: none yet).
fn catch_stop_signals() -> anyhow::Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicUsize::new(0));
    for sig in [SIGTERM, SIGHUP, SIGINT] {
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), sig as usize)?;
    }
    Ok(stop)
}

/// How long the view has to leave by itself once asked to (or once its
/// terminal is gone) before the watchdog ends the process.
const GRACE: Duration = Duration::from_millis(500);

/// The controlling terminal's device number (`tty_nr` in
/// `/proc/self/stat`), `None` when there is none (or not on Linux).
fn controlling_tty() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may itself hold spaces and ')':
    // state ppid pgrp session tty_nr …
    let rest = &stat[stat.rfind(')')? + 1..];
    let tty: u64 = rest.split_whitespace().nth(4)?.parse().ok()?;
    (tty != 0).then_some(tty)
}

/// Ends the process when the view cannot. Once the terminal hangs up,
/// crossterm's input reader sees end-of-file on every read and spins
/// inside its poll without returning, so the loop never gets to check
/// the stop flag (a `rampart watch` left behind by a closed terminal would
/// burn a core for ever). This thread gives the loop [`GRACE`] to leave on
/// its own after a stop signal or the loss of the controlling terminal,
/// then restores the terminal as far as it still can and exits.
fn start_watchdog(stop: Arc<AtomicUsize>) -> anyhow::Result<()> {
    let had_tty = controlling_tty().is_some();
    std::thread::Builder::new()
        .name("rampart-watch-watchdog".into())
        .spawn(move || {
            let mut asked: Option<Instant> = None;
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let sig = stop.load(Ordering::Relaxed);
                let hung_up = had_tty && controlling_tty().is_none();
                if sig == 0 && !hung_up {
                    continue;
                }
                if asked.get_or_insert_with(Instant::now).elapsed() >= GRACE {
                    ratatui::restore();
                    let sig = if sig == 0 {
                        signal_hook::consts::SIGHUP as usize
                    } else {
                        sig
                    };
                    std::process::exit(128 + sig as i32);
                }
            }
        })?;
    Ok(())
}

fn full_screen(mut w: Watch, rx: &Receiver<Update>) -> anyhow::Result<ExitCode> {
    let stop = catch_stop_signals()?;
    start_watchdog(Arc::clone(&stop))?;
    // Raw mode and the alternate screen; a panic hook that restores the
    // terminal before the message is printed.
    let mut terminal = ratatui::try_init()?;
    let result = screen_loop(&mut terminal, &mut w, rx, &stop);
    ratatui::restore();
    result
}

fn screen_loop(
    terminal: &mut ratatui::DefaultTerminal,
    w: &mut Watch,
    rx: &Receiver<Update>,
    stop: &AtomicUsize,
) -> anyhow::Result<ExitCode> {
    let mut dirty = true;
    let mut drawn = Instant::now();
    loop {
        let sig = stop.load(Ordering::Relaxed);
        if sig != 0 {
            return Ok(ExitCode::from(128u8.saturating_add(sig as u8)));
        }
        loop {
            match rx.try_recv() {
                Ok(u) => {
                    w.apply(u);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    anyhow::bail!("the event source stopped")
                }
            }
        }
        if dirty || drawn.elapsed() >= TICK {
            let now = unix_now();
            terminal.draw(|f| view::draw(f, w, now))?;
            dirty = false;
            drawn = Instant::now();
        }
        match event::poll(Duration::from_millis(50)) {
            Ok(true) => {}
            Ok(false) => continue,
            // A stop signal interrupted the wait: checked at the top.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        match event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                let Some(key) = key_of(k.code, k.modifiers) else {
                    continue;
                };
                let size = terminal.size()?;
                let page =
                    view::feed_rows(ratatui::layout::Rect::new(0, 0, size.width, size.height), w);
                match w.key(key, page) {
                    Action::Quit => return Ok(ExitCode::SUCCESS),
                    Action::Resolve { id, approved } => {
                        let r = resolve(&id, approved);
                        w.resolved(&id, approved, r);
                    }
                    Action::None => {}
                }
                dirty = true;
            }
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
}

fn key_of(code: KeyCode, mods: KeyModifiers) -> Option<Key> {
    Some(match code {
        KeyCode::Char('c') if mods.contains(KeyModifiers::CONTROL) => Key::CtrlC,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

fn resolve(id: &str, approved: bool) -> Result<(), String> {
    match super::approvals::send_resolution(id, approved, "rampart watch") {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refused)) => Err(refused),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Not a terminal: one line per event on stdout, the link's state on
/// stderr ([`lines::Lines`]).
fn print_lines(w: Watch, rx: &Receiver<Update>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut printer = lines::Lines::new(w);
    loop {
        let u = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(u) => u,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the event source stopped"),
        };
        let now = daemon::audit::time::rfc3339(daemon::audit::time::now_micros());
        let (stdout, stderr) = printer.take(u, &now);
        for l in stdout {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
        if let Some(l) = stderr {
            eprintln!("{l}");
        }
    }
}
