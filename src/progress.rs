//! Progress bars on stderr (indicatif), narration on stdout, and a log writer that never garbles
//! either: every line printed while bars are drawn goes through [`MultiProgress::suspend`],
//! which clears the bars, prints, and redraws them.
//!
//! Bars are drawn only when stderr is a terminal and the user did not ask for `-q`; otherwise
//! they are hidden ([`ProgressDrawTarget::hidden`]) and cost nothing, so piped output and CI logs
//! hold only the narration and the log lines.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one process and the way to print around them.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
    visible: bool,
}

static GLOBAL: OnceLock<Progress> = OnceLock::new();

impl Progress {
    /// Bars drawn on stderr when `visible`, hidden otherwise.
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            visible,
        }
    }

    /// Sets the process-wide bars once: visible when stderr is a terminal and not `quiet`.
    /// Later calls return the first one.
    pub fn init_global(quiet: bool) -> &'static Progress {
        GLOBAL.get_or_init(|| Progress::new(!quiet && std::io::stderr().is_terminal()))
    }

    /// The process-wide bars ([`Progress::init_global`]'s, or hidden ones if it was never called).
    pub fn global() -> &'static Progress {
        GLOBAL.get_or_init(|| Progress::new(false))
    }

    /// Whether bars are drawn.
    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// The underlying indicatif group.
    pub fn multi(&self) -> &MultiProgress {
        &self.multi
    }

    /// A spinner for a task of unknown length (key generation, upload).
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// A bar of `len` steps counted in `unit` (`steps`, `batches`, `epochs`).
    pub fn bar(&self, len: u64, message: impl Into<String>, unit: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(len));
        let template = format!(
            "{{msg:<28}} [{{bar:30.green/white}}] {{pos}}/{{len}} {unit} {{elapsed}} (eta {{eta}})"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        bar
    }

    /// Prints one line of narration on stdout without garbling the bars.
    pub fn say(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        self.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not abort the run.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    }

    /// A `tracing` writer whose lines go to stderr between bar redraws.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter {
            multi: self.multi.clone(),
        }
    }
}

/// A [`tracing_subscriber::fmt::MakeWriter`] that prints each log event to stderr while the bars
/// are suspended (one event = one buffered write, so lines never interleave with a redraw).
#[derive(Debug, Clone)]
pub struct LogWriter {
    multi: MultiProgress,
}

/// One log event being written (flushed to stderr when dropped).
#[derive(Debug)]
pub struct LogLine {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        self.multi.suspend(|| {
            let mut err = std::io::stderr().lock();
            err.write_all(&buf)?;
            err.flush()
        })
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            multi: self.multi.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bars_track_positions_and_writer_buffers_a_line() {
        let p = Progress::new(false);
        assert!(!p.is_visible());
        assert!(p.multi().is_hidden());
        let bar = p.bar(3, "steps", "steps");
        bar.inc(2);
        assert_eq!((bar.position(), bar.length()), (2, Some(3)));
        bar.finish();
        let mut line = p.log_writer().make_line();
        line.write_all(b"").unwrap();
        assert!(line.buf.is_empty());
        line.write_all(b"abc").unwrap();
        assert_eq!(line.buf, b"abc");
        line.flush().unwrap();
        assert!(line.buf.is_empty());
    }

    impl LogWriter {
        fn make_line(&self) -> LogLine {
            tracing_subscriber::fmt::MakeWriter::make_writer(self)
        }
    }
}
