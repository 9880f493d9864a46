//! Everything the command line prints goes through here: cargo-style status lines on stderr,
//! results on stdout, JSON when asked, colours when wanted.

use anstream::AutoStream;
use anstyle::{AnsiColor, Style};
use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Human,
    Json,
}

pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// A rewrite of every human line ([`Output::words`]).
pub type Words = Box<dyn Fn(&str) -> String>;

pub struct Output {
    pub format: Format,
    pub quiet: bool,
    pub verbose: u8,
    /// Rewrites every human line before it is printed: the application's own `db` commands
    /// name themselves where the command line's text names `cargo envdb` (see `app`).
    pub words: Option<Words>,
    stdout: AutoStream<std::io::Stdout>,
    stderr: AutoStream<std::io::Stderr>,
}

/// `--color` wins; otherwise cargo's `CARGO_TERM_COLOR`; otherwise auto (which honours `NO_COLOR`).
fn choice(when: Option<ColorWhen>) -> anstream::ColorChoice {
    let when = when.or_else(|| match std::env::var("CARGO_TERM_COLOR").as_deref() {
        Ok("always") => Some(ColorWhen::Always),
        Ok("never") => Some(ColorWhen::Never),
        _ => None,
    });
    match when {
        Some(ColorWhen::Always) => anstream::ColorChoice::Always,
        Some(ColorWhen::Never) => anstream::ColorChoice::Never,
        Some(ColorWhen::Auto) | None => anstream::ColorChoice::Auto,
    }
}

impl Output {
    pub fn new(color: Option<ColorWhen>, format: Format, quiet: bool, verbose: u8) -> Output {
        let choice = choice(color);
        Output {
            format,
            quiet,
            verbose,
            words: None,
            stdout: AutoStream::new(std::io::stdout(), choice),
            stderr: AutoStream::new(std::io::stderr(), choice),
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// `message` in the words of whoever runs the command ([`Output::words`]).
    fn said(&self, message: impl std::fmt::Display) -> String {
        let text = message.to_string();
        match &self.words {
            Some(words) => words(&text),
            None => text,
        }
    }

    /// A cargo-style status line on stderr: a right-aligned coloured verb, then the message.
    pub fn status(&mut self, verb: &str, message: impl std::fmt::Display) {
        if !self.quiet {
            let message = self.said(message);
            let _ = writeln!(self.stderr, "{GOOD}{verb:>12}{GOOD:#} {message}");
        }
    }

    /// The one line naming the environment and database a command works on; a protected
    /// environment stands out.
    pub fn environment(&mut self, name: &str, protected: bool, database: &str) {
        if self.quiet {
            return;
        }
        if protected {
            let _ =
                writeln!(self.stderr, "{BAD}{:>12}{BAD:#} {BAD}{name} (protected){BAD:#} {database}", "Environment");
        } else {
            let _ = writeln!(self.stderr, "{GOOD}{:>12}{GOOD:#} {name} {database}", "Environment");
        }
    }

    pub fn warn(&mut self, message: impl std::fmt::Display) {
        let message = self.said(message);
        let _ = writeln!(self.stderr, "{WARN}warning{WARN:#}: {message}");
    }

    pub fn error_line(&mut self, message: impl std::fmt::Display) {
        let message = self.said(message);
        let _ = writeln!(self.stderr, "{BAD}error{BAD:#}: {message}");
    }

    /// Shown only with `-v`.
    pub fn note(&mut self, message: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            let message = self.said(message);
            let _ = writeln!(self.stderr, "{NOTE}note{NOTE:#}: {message}");
        }
    }

    /// A plain line on stderr.
    pub fn line_err(&mut self, text: impl std::fmt::Display) {
        let text = self.said(text);
        let _ = writeln!(self.stderr, "{text}");
    }

    /// A line of the command's result, on stdout.
    pub fn line(&mut self, text: impl std::fmt::Display) {
        let text = self.said(text);
        let _ = writeln!(self.stdout, "{text}");
    }

    /// The command's result as one JSON document on stdout.
    pub fn print_json<T: Serialize + ?Sized>(&mut self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("serialisable");
        let _ = writeln!(self.stdout, "{text}");
    }

    /// A progress line on a terminal, shown once an operation has run for more than a second:
    /// a percentage of some unit ([`Progress::update_with`]).
    pub fn progress(&mut self, verb: &'static str) -> Progress {
        Progress::new(verb, self.progress_shown(), "{prefix:>12.green.bold} {percent:>3}% ({pos}/{len} {msg})")
    }

    /// A progress line for `total` steps: done / total, the current step ([`Progress::step`])
    /// and the time elapsed, redrawn while one step runs long.
    pub fn steps(&mut self, verb: &'static str, total: u64) -> Progress {
        Progress::steps(verb, total, self.progress_shown())
    }

    /// A progress line for work in phases of unknown length: the phase running
    /// ([`Progress::step`]) and the time elapsed.
    pub fn working(&mut self, verb: &'static str) -> Progress {
        Progress::new(verb, self.progress_shown(), "{prefix:>12.green.bold} {wide_msg} {elapsed}")
    }

    /// Progress is drawn on a terminal only, and never with `-q`.
    pub fn progress_shown(&self) -> bool {
        use std::io::IsTerminal as _;
        !self.quiet && std::io::stderr().is_terminal()
    }

    pub fn stdout(&mut self) -> &mut impl Write {
        &mut self.stdout
    }
}

/// See [`Output::progress`] and [`Output::steps`]: an indicatif bar drawn to stderr once the work
/// has run for a second (a thread reveals it, so a single long step shows too), cleared when
/// dropped. Hidden, and without threads, off a terminal or with `-q`.
pub struct Progress {
    bar: indicatif::ProgressBar,
    /// Dropped with the bar: tells the revealing thread the work is over.
    _done: Option<std::sync::mpsc::Sender<()>>,
}

impl Progress {
    fn new(verb: &'static str, shown: bool, template: &str) -> Progress {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_prefix(verb);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if !shown {
            return Progress { bar, _done: None };
        }
        let (done, over) = std::sync::mpsc::channel::<()>();
        let revealed = bar.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                over.recv_timeout(std::time::Duration::from_secs(1))
            {
                revealed.set_draw_target(ProgressDrawTarget::stderr());
                revealed.enable_steady_tick(std::time::Duration::from_millis(250));
            }
        });
        Progress { bar, _done: Some(done) }
    }

    /// [`Output::steps`] for a caller that knows whether progress is `shown` but has no `Output`.
    pub fn steps(verb: &'static str, total: u64, shown: bool) -> Progress {
        let p = Progress::new(verb, shown, "{prefix:>12.green.bold} {pos}/{len} {wide_msg} {elapsed}");
        p.bar.set_length(total);
        p
    }

    /// `done` of `total` pages.
    pub fn update(&mut self, done: u64, total: u64) {
        self.update_with(done, total, "pages");
    }

    /// `done` of `total` of some unit.
    pub fn update_with(&mut self, done: u64, total: u64, unit: &'static str) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.set_message(unit);
    }

    /// The step now running (a file name).
    pub fn step(&self, current: &str) {
        self.bar.set_message(current.to_owned());
    }

    /// One more step done.
    pub fn advance(&self) {
        self.bar.inc(1);
    }

    /// Runs `f` (which prints lines) with the bar taken off the screen meanwhile.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }
}

/// Runs `f` (which prints lines) with `bar`, when there is one, taken off the screen meanwhile.
pub fn above<R>(bar: Option<&Progress>, f: impl FnOnce() -> R) -> R {
    match bar {
        Some(b) => b.suspend(f),
        None => f(),
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
