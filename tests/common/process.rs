//! A child process (a `hetal node`, or a test binary acting as one) whose output lines are
//! collected as they come, so that a chatty child never blocks on a full pipe.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A started child, its output lines so far, and the threads reading its pipes.
pub struct Party {
    /// Who it is, for messages.
    pub name: String,
    /// The process (killed and reaped on drop).
    pub child: Child,
    lines: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    output: String,
}

fn forward(pipe: impl Read + Send + 'static, to: Sender<String>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if to.send(line).is_err() {
                return;
            }
        }
    })
}

impl Party {
    /// Starts `command` with its stdout piped; its stderr is collected too if the caller set it
    /// to [`Stdio::piped`].
    pub fn spawn(name: impl Into<String>, mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let (tx, lines) = channel();
        let mut readers = Vec::new();
        if let Some(err) = child.stderr.take() {
            readers.push(forward(err, tx.clone()));
        }
        readers.push(forward(child.stdout.take().unwrap(), tx));
        Self {
            name: name.into(),
            child,
            lines,
            readers,
            output: String::new(),
        }
    }

    /// Collects output until a line contains `needle`; `Err` with the reason if the party exits
    /// or `deadline` passes first.
    pub fn wait_for(&mut self, needle: &str, deadline: Instant) -> Result<(), String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.output += &line;
                    self.output.push('\n');
                    if found {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{} did not print {needle:?} in time", self.name));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{} exited before printing {needle:?}", self.name));
                }
            }
        }
    }

    /// [`Party::wait_for`] within `patience`, panicking with the output so far if it fails.
    pub fn expect_line(&mut self, needle: &str, patience: Duration) {
        if let Err(why) = self.wait_for(needle, Instant::now() + patience) {
            panic!("{why} (within {patience:?}):\n{}", self.output);
        }
    }

    /// Waits for the process to exit (killing it at `deadline`) and returns whether it
    /// succeeded and everything it printed.
    pub fn finish(mut self, deadline: Instant) -> (bool, String) {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.output += "(killed at the deadline)\n";
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.output.extend(self.lines.try_iter().map(|l| l + "\n"));
        let ok = status.is_some_and(|s| s.success());
        (ok, std::mem::take(&mut self.output))
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
