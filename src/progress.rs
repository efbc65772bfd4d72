//! Progress bars on stderr (indicatif), narration on stdout, and a log writer that never garbles
//! either: every line printed while bars are drawn goes through [`MultiProgress::suspend`],
//! which clears the bars, prints, and redraws them.
//!
//! Bars are drawn only when stderr is a terminal and the user did not ask for `-q`; otherwise
//! they are hidden ([`ProgressDrawTarget::hidden`]) and cost nothing, so piped output and CI logs
//! hold only the narration and the log lines.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hetal_actors::progress::{Party, Phase, ProgressEvent, ProgressSink, ValidationKind};
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

/// What the parties reported, summed for a run's report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventTally {
    /// Key generation wall time, when the client reported it.
    pub keygen: Option<Duration>,
    /// Bytes the client uploaded (ciphertexts and public keys).
    pub upload_bytes: u64,
    /// Summed wall time of the training steps.
    pub steps: Duration,
    /// Training steps finished.
    pub steps_done: usize,
    /// Ciphertexts bootstrapped during the steps.
    pub step_bootstraps: usize,
    /// Summed wall time of the validations.
    pub validation: Duration,
    /// What validation sent the client (of the last validation reported).
    pub validation_kind: Option<ValidationKind>,
}

struct BarState {
    encrypt: Option<ProgressBar>,
    upload: Option<ProgressBar>,
    keygen: Option<ProgressBar>,
    steps: Option<ProgressBar>,
    bootstraps: Option<ProgressBar>,
    validation: Option<ProgressBar>,
    narrate_steps: bool,
    tally: EventTally,
}

/// Turns the parties' [`ProgressEvent`]s into bars and one line of narration per thing a party
/// does ("client: …", "trainer: …", "evaluator: …"), and sums them into an [`EventTally`].
#[derive(Clone)]
pub struct EventBars {
    progress: Progress,
    state: Arc<Mutex<BarState>>,
}

impl std::fmt::Debug for EventBars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBars").finish_non_exhaustive()
    }
}

fn party_name(party: Party) -> &'static str {
    match party {
        Party::Client => "client",
        Party::Trainer => "trainer",
        Party::Evaluator => "evaluator",
    }
}

fn kind_name(kind: ValidationKind) -> &'static str {
    match kind {
        ValidationKind::Logits => "logits",
        ValidationKind::Probabilities => "probabilities",
    }
}

/// Steps per epoch up to which every step gets its own line of narration (beyond it, one line
/// per epoch and the bar, plus any step slower than [`SLOW_STEP`]).
const NARRATED_STEPS: usize = 4;
/// A step this slow is narrated even among many (so a slow run never looks stuck).
const SLOW_STEP: Duration = Duration::from_secs(5);

impl EventBars {
    /// Bars on `progress`.
    pub fn new(progress: &Progress) -> Self {
        Self {
            progress: progress.clone(),
            state: Arc::new(Mutex::new(BarState {
                encrypt: None,
                upload: None,
                keygen: None,
                steps: None,
                bootstraps: None,
                validation: None,
                narrate_steps: true,
                tally: EventTally::default(),
            })),
        }
    }

    /// The sink to hand to the deployment.
    pub fn sink(&self) -> ProgressSink {
        let me = self.clone();
        Arc::new(move |event| me.on_event(event))
    }

    /// What has been reported so far.
    pub fn tally(&self) -> EventTally {
        self.state
            .lock()
            .map(|s| s.tally.clone())
            .unwrap_or_default()
    }

    /// Finishes and removes every bar still drawn.
    pub fn clear(&self) {
        if let Ok(mut s) = self.state.lock() {
            for bar in [
                s.encrypt.take(),
                s.upload.take(),
                s.keygen.take(),
                s.steps.take(),
                s.bootstraps.take(),
                s.validation.take(),
            ]
            .into_iter()
            .flatten()
            {
                bar.finish_and_clear();
            }
        }
    }

    /// Handles one event (what the sink calls).
    pub fn on_event(&self, event: ProgressEvent) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let p = &self.progress;
        match event {
            ProgressEvent::KeyGen {
                phase: Phase::Started,
            } => {
                p.say("client: generating keys (the secret key stays here; evaluation and bootstrapping keys will be sent)…");
                s.keygen = Some(p.spinner("client: key generation"));
            }
            ProgressEvent::KeyGen {
                phase: Phase::Finished { elapsed },
            } => {
                if let Some(bar) = s.keygen.take() {
                    bar.finish_and_clear();
                }
                s.tally.keygen = Some(elapsed);
                p.say(format!(
                    "client: keys ready in {:.1} s",
                    elapsed.as_secs_f64()
                ));
            }
            ProgressEvent::Encrypt { done, total } => {
                let bar = s
                    .encrypt
                    .get_or_insert_with(|| p.bar(total as u64, "client: encrypting", "batches"));
                bar.set_position(done as u64);
                if done >= total {
                    bar.finish_and_clear();
                    s.encrypt = None;
                }
            }
            ProgressEvent::Upload { bytes, total } => {
                let bar = s.upload.get_or_insert_with(|| {
                    let bar = p.bar(total, "client: uploading", "");
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{msg:<28} [{bar:30.green/white}] {bytes}/{total_bytes} {elapsed} ({bytes_per_sec})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar
                });
                bar.set_position(bytes);
                if bytes >= total {
                    bar.finish_and_clear();
                    s.upload = None;
                    s.tally.upload_bytes = total;
                }
            }
            ProgressEvent::JobStarted {
                steps_per_epoch,
                max_epochs,
            } => {
                s.narrate_steps = steps_per_epoch <= NARRATED_STEPS;
                p.say(format!(
                    "trainer: received the encrypted job (it cannot decrypt anything): {steps_per_epoch} step(s) per epoch, at most {max_epochs} epoch(s)"
                ));
                s.steps = Some(p.bar(
                    (steps_per_epoch * max_epochs) as u64,
                    "trainer: training",
                    "steps",
                ));
                let boot = p.spinner("trainer: bootstrapping");
                boot.set_message("trainer: 0 bootstraps");
                s.bootstraps = Some(boot);
            }
            ProgressEvent::Step {
                epoch,
                step,
                steps_per_epoch,
                bootstraps,
                elapsed,
            } => {
                s.tally.steps += elapsed;
                s.tally.steps_done += 1;
                s.tally.step_bootstraps += bootstraps;
                if let Some(bar) = &s.steps {
                    bar.inc(1);
                }
                if s.narrate_steps || step == steps_per_epoch || elapsed >= SLOW_STEP {
                    p.say(format!(
                        "trainer: epoch {} step {step}/{steps_per_epoch}: {bootstraps} bootstrap(s), {:.1} s",
                        epoch + 1,
                        elapsed.as_secs_f64()
                    ));
                }
            }
            ProgressEvent::Bootstrap { total } => {
                if let Some(bar) = &s.bootstraps {
                    bar.set_message(format!("trainer: {total} bootstraps"));
                }
            }
            ProgressEvent::Validation {
                epoch,
                by,
                kind,
                phase,
            } => match phase {
                Phase::Started => {
                    s.validation = Some(p.spinner(format!(
                        "{}: encrypted validation {} for epoch {}",
                        party_name(by),
                        kind_name(kind),
                        epoch + 1
                    )));
                }
                Phase::Finished { elapsed } => {
                    if let Some(bar) = s.validation.take() {
                        bar.finish_and_clear();
                    }
                    s.tally.validation += elapsed;
                    s.tally.validation_kind = Some(kind);
                    p.say(format!(
                        "{}: computed encrypted validation {} for epoch {} in {:.1} s (sent to the client, who alone can decrypt)",
                        party_name(by),
                        kind_name(kind),
                        epoch + 1,
                        elapsed.as_secs_f64()
                    ));
                }
            },
            ProgressEvent::Verdict {
                epoch,
                val_loss,
                val_accuracy,
                stop,
                new_best,
            } => {
                p.say(format!(
                    "client: epoch {}: decrypted validation loss {val_loss:.4}, accuracy {:.2} % -> {}{}",
                    epoch + 1,
                    100.0 * val_accuracy,
                    if stop { "stop" } else { "continue" },
                    if new_best { " (new best)" } else { "" }
                ));
            }
            ProgressEvent::FinalModel { epochs, steps } => {
                for bar in [s.steps.take(), s.bootstraps.take()].into_iter().flatten() {
                    bar.finish_and_clear();
                }
                p.say(format!(
                    "trainer: sent the encrypted best weights to the client ({epochs} epoch(s), {steps} step(s))"
                ));
            }
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

    #[test]
    fn event_bars_tally_steps_validation_and_upload() {
        let bars = EventBars::new(&Progress::new(false));
        let sink = bars.sink();
        sink(ProgressEvent::JobStarted {
            steps_per_epoch: 2,
            max_epochs: 3,
        });
        for step in 1..=2 {
            sink(ProgressEvent::Step {
                epoch: 0,
                step,
                steps_per_epoch: 2,
                bootstraps: 5,
                elapsed: Duration::from_millis(250),
            });
        }
        sink(ProgressEvent::Validation {
            epoch: 0,
            by: Party::Evaluator,
            kind: ValidationKind::Logits,
            phase: Phase::Finished {
                elapsed: Duration::from_millis(100),
            },
        });
        sink(ProgressEvent::Upload {
            bytes: 10,
            total: 40,
        });
        assert_eq!(bars.tally().upload_bytes, 0, "upload not finished yet");
        sink(ProgressEvent::Upload {
            bytes: 40,
            total: 40,
        });
        let t = bars.tally();
        assert_eq!(
            (t.steps_done, t.step_bootstraps, t.upload_bytes),
            (2, 10, 40)
        );
        assert_eq!(t.steps, Duration::from_millis(500));
        assert_eq!(t.validation_kind, Some(ValidationKind::Logits));
        bars.clear();
    }
}
