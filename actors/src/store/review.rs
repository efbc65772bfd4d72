//! The client's review state on disk: every verdict it sent, so that a restarted client (or one
//! whose trainer restarted from an older checkpoint) continues the early-stopping dialogue where
//! it stopped. The client owns its decisions: the file lives on the client's side and is
//! written (atomically) before a verdict leaves, so the trainer never holds a decision the
//! client has forgotten.
//!
//! The early-stopping state (best loss, epochs since the best) is not stored but rebuilt by
//! replaying the recorded losses through the rule, and each recorded decision is checked
//! against the replay: a file that does not follow from its own losses is refused.
//!
//! Layout (little-endian): magic `HCRV`, version `u16`, the run's identity (32 bytes, see
//! [`review_identity`]), the verdict count `u64`, per verdict `epoch u64, val_loss f64,
//! val_accuracy f64, decision u8, new_best u8`, then SHA-256 of everything before it.

use std::path::{Path, PathBuf};

use hetal_learn::train::checkpoint::Digest32;
use hetal_learn::train::{Decision, EarlyStopping, Verdict};
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, read_bounded, write_atomic};

/// First bytes of a review file.
const MAGIC: [u8; 4] = *b"HCRV";
/// Version of the layout.
const VERSION: u16 = 1;
/// Bytes of one verdict record.
const RECORD: usize = 8 + 8 + 8 + 1 + 1;
/// Bytes before the records.
const HEADER: usize = 4 + 2 + 32 + 8;
/// Most verdicts a file may hold (one per epoch; far beyond any training run).
pub const MAX_VERDICTS: usize = 1 << 20;

/// How the client decides, as the review state must reproduce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPolicy {
    /// Early-stopping patience (0: never stop early).
    pub patience: usize,
    /// Stop after this many epochs at the latest.
    pub budget: Option<usize>,
}

/// SHA-256 of what the client's decisions depend on: the policy and the validation labels. A
/// review file of another run (other labels, other patience) is refused.
pub fn review_identity(policy: ReviewPolicy, labels: &[usize]) -> Digest32 {
    let mut h = Sha256::new();
    h.update(b"hetal-review/1");
    h.update((policy.patience as u64).to_le_bytes());
    h.update(policy.budget.map_or(u64::MAX, |b| b as u64).to_le_bytes());
    h.update((labels.len() as u64).to_le_bytes());
    for &l in labels {
        h.update((l as u64).to_le_bytes());
    }
    h.finalize().into()
}

/// The client's decisions so far and the early-stopping rule that made them.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewState {
    policy: ReviewPolicy,
    stopper: EarlyStopping,
    verdicts: Vec<Verdict>,
}

impl ReviewState {
    /// The state before the first epoch.
    pub fn new(policy: ReviewPolicy) -> Self {
        Self {
            policy,
            stopper: EarlyStopping::new(policy.patience),
            verdicts: Vec::new(),
        }
    }

    /// The state after `verdicts` (in epoch order), checked by replaying each loss through the
    /// rule: every recorded decision and best flag must be what the rule decides.
    pub fn replay(policy: ReviewPolicy, verdicts: &[Verdict]) -> Result<Self, String> {
        let mut state = Self::new(policy);
        for v in verdicts {
            let again = state.decide(v.val_loss, v.val_accuracy);
            // The losses are copied, so only the rule's outputs can differ (compared without
            // `f64` equality, which a NaN loss would fail).
            if (again.epoch, again.decision, again.new_best) != (v.epoch, v.decision, v.new_best) {
                return Err(format!(
                    "recorded verdict {v:?} does not follow from the rule ({again:?})"
                ));
            }
            state.verdicts.push(again);
        }
        Ok(state)
    }

    /// The next epoch to review.
    pub fn next_epoch(&self) -> usize {
        self.verdicts.len()
    }

    /// Every verdict so far, in epoch order.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// The verdict already given for `epoch`, if any.
    pub fn verdict_for(&self, epoch: usize) -> Option<Verdict> {
        self.verdicts.get(epoch).copied()
    }

    /// Whether the last verdict was a stop.
    pub fn stopped(&self) -> bool {
        self.verdicts
            .last()
            .is_some_and(|v| v.decision == Decision::Stop)
    }

    /// Decides the next epoch from its validation loss and accuracy, without recording it.
    fn decide(&mut self, val_loss: f64, val_accuracy: f64) -> Verdict {
        let epoch = self.verdicts.len();
        let mut decision = self.stopper.observe(val_loss);
        if self.policy.budget.is_some_and(|b| epoch + 1 >= b) {
            decision = Decision::Stop;
        }
        Verdict {
            epoch,
            val_loss,
            val_accuracy,
            decision,
            new_best: self.stopper.last_is_best(),
        }
    }

    /// Decides the next epoch and records the verdict.
    pub fn review(&mut self, val_loss: f64, val_accuracy: f64) -> Verdict {
        let verdict = self.decide(val_loss, val_accuracy);
        self.verdicts.push(verdict);
        verdict
    }

    /// The state as file bytes, tagged with the run's `identity`.
    pub fn encode(&self, identity: &Digest32) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + RECORD * self.verdicts.len() + 32);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(identity);
        out.extend_from_slice(&(self.verdicts.len() as u64).to_le_bytes());
        for v in &self.verdicts {
            out.extend_from_slice(&(v.epoch as u64).to_le_bytes());
            out.extend_from_slice(&v.val_loss.to_bits().to_le_bytes());
            out.extend_from_slice(&v.val_accuracy.to_bits().to_le_bytes());
            out.push(match v.decision {
                Decision::Continue => 0,
                Decision::Stop => 1,
            });
            out.push(u8::from(v.new_best));
        }
        let digest: Digest32 = Sha256::digest(&out).into();
        out.extend_from_slice(&digest);
        out
    }

    /// Reads back [`ReviewState::encode`]'s bytes: the checksum first, then the identity, then
    /// the records, then the replay.
    pub fn decode(bytes: &[u8], policy: ReviewPolicy, identity: &Digest32) -> Result<Self, String> {
        if bytes.len() < HEADER + 32 {
            return Err(format!("{} bytes, shorter than a header", bytes.len()));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != digest {
            return Err("checksum mismatch (torn or altered file)".into());
        }
        if body[..4] != MAGIC {
            return Err("not a review file (bad magic)".into());
        }
        let version = u16::from_le_bytes([body[4], body[5]]);
        if version != VERSION {
            return Err(format!("review file version {version}, expected {VERSION}"));
        }
        if &body[6..38] != identity {
            return Err(
                "written for another run (other validation labels or stopping policy)".into(),
            );
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&body[38..46]);
        let count = u64::from_le_bytes(word);
        let records = &body[HEADER..];
        if count > MAX_VERDICTS as u64 || records.len() as u64 != count * RECORD as u64 {
            return Err(format!(
                "{count} verdicts in {} bytes of records",
                records.len()
            ));
        }
        let f64_at = |r: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&r[at..at + 8]);
            f64::from_bits(u64::from_le_bytes(w))
        };
        let mut verdicts = Vec::with_capacity(count as usize);
        for (i, r) in records.chunks_exact(RECORD).enumerate() {
            word.copy_from_slice(&r[..8]);
            let epoch = u64::from_le_bytes(word);
            if epoch != i as u64 {
                return Err(format!("record {i} is for epoch {epoch}"));
            }
            let decision = match r[24] {
                0 => Decision::Continue,
                1 => Decision::Stop,
                d => return Err(format!("decision byte {d} in record {i}")),
            };
            let new_best = match r[25] {
                0 => false,
                1 => true,
                b => return Err(format!("best flag {b} in record {i}")),
            };
            verdicts.push(Verdict {
                epoch: i,
                val_loss: f64_at(r, 8),
                val_accuracy: f64_at(r, 16),
                decision,
                new_best,
            });
        }
        Self::replay(policy, &verdicts)
    }
}

/// The client's review file: loaded when the client starts, rewritten before each verdict.
#[derive(Debug, Clone)]
pub struct ReviewStore {
    path: PathBuf,
    identity: Digest32,
    policy: ReviewPolicy,
}

/// Largest review file read back: the header, [`MAX_VERDICTS`] records and the checksum.
const MAX_FILE_BYTES: u64 = (HEADER + RECORD * MAX_VERDICTS + 32) as u64;

impl ReviewStore {
    /// The review file at `path` of the run deciding with `policy` on `labels` (the file's
    /// directory is created owner-only if missing).
    pub fn new(path: impl Into<PathBuf>, policy: ReviewPolicy, labels: &[usize]) -> Self {
        Self {
            path: path.into(),
            identity: review_identity(policy, labels),
            policy,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded state, or a fresh one when there is no file yet. A corrupt or foreign file
    /// is refused with its path, never half-loaded.
    pub fn load(&self) -> StoreResult<ReviewState> {
        if !self.path.exists() {
            return Ok(ReviewState::new(self.policy));
        }
        let bytes = read_bounded(&self.path, MAX_FILE_BYTES)?;
        ReviewState::decode(&bytes, self.policy, &self.identity).map_err(|reason| {
            StoreError::Corrupt {
                path: self.path.clone(),
                reason,
            }
        })
    }

    /// Writes `state` atomically (creating the directory, owner-only, on first use).
    pub fn save(&self, state: &ReviewState) -> StoreResult<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            super::prepare_dir(dir)?;
        }
        write_atomic(&self.path, &state.encode(&self.identity))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;

    const POLICY: ReviewPolicy = ReviewPolicy {
        patience: 2,
        budget: None,
    };

    fn reviewed(losses: &[f64]) -> ReviewState {
        let mut s = ReviewState::new(POLICY);
        for (i, &l) in losses.iter().enumerate() {
            s.review(l, 0.5 + i as f64 / 100.0);
        }
        s
    }

    #[test]
    fn the_state_round_trips_and_continues_like_the_uninterrupted_rule() {
        let losses = [1.0, 0.8, 0.9, 0.85, 0.95];
        let full = reviewed(&losses);
        assert_eq!(
            full.verdicts()
                .iter()
                .map(|v| v.decision)
                .collect::<Vec<_>>(),
            [Decision::Continue; 3]
                .into_iter()
                .chain([Decision::Stop; 2])
                .collect::<Vec<_>>()
        );
        let dir = TempDir::new("review");
        let store = ReviewStore::new(dir.0.join("client/review.hcrv"), POLICY, &[0, 1, 2]);
        assert_eq!(store.load().unwrap(), ReviewState::new(POLICY));
        // Saved after two epochs, reloaded, continued: the same verdicts as without the break.
        store.save(&reviewed(&losses[..2])).unwrap();
        let mut resumed = store.load().unwrap();
        assert_eq!(resumed.next_epoch(), 2);
        for (i, &l) in losses.iter().enumerate().skip(2) {
            resumed.review(l, 0.5 + i as f64 / 100.0);
        }
        assert_eq!(resumed, full);
        assert_eq!(resumed.verdict_for(1), full.verdicts().get(1).copied());
        assert!(resumed.stopped());
    }

    #[test]
    fn foreign_corrupt_and_inconsistent_files_are_refused() {
        let state = reviewed(&[1.0, 0.8, 0.9]);
        let id = review_identity(POLICY, &[0, 1, 2]);
        let bytes = state.encode(&id);
        assert_eq!(ReviewState::decode(&bytes, POLICY, &id).unwrap(), state);
        // Other labels or another patience: another identity.
        let other = review_identity(POLICY, &[0, 1, 1]);
        let err = ReviewState::decode(&bytes, POLICY, &other).unwrap_err();
        assert!(err.contains("another run"), "{err}");
        // Any flipped byte or a truncation fails the checksum.
        for at in [0, 5, 40, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(ReviewState::decode(&bad, POLICY, &id).is_err(), "byte {at}");
        }
        assert!(ReviewState::decode(&bytes[..bytes.len() - 1], POLICY, &id).is_err());
        assert!(ReviewState::decode(&[], POLICY, &id).is_err());
        // A well-formed file whose decisions do not follow from its losses.
        let mut forged = state.clone();
        forged.verdicts[2].decision = Decision::Stop;
        let err = ReviewState::decode(&forged.encode(&id), POLICY, &id).unwrap_err();
        assert!(err.contains("does not follow"), "{err}");
        // A record count that disagrees with the length is refused before allocating.
        let mut counted = bytes[..bytes.len() - 32].to_vec();
        counted[38..46].copy_from_slice(&u64::MAX.to_le_bytes());
        let digest: Digest32 = Sha256::digest(&counted).into();
        counted.extend_from_slice(&digest);
        let err = ReviewState::decode(&counted, POLICY, &id).unwrap_err();
        assert!(err.contains("verdicts in"), "{err}");
    }

    #[test]
    fn the_store_names_the_file_it_refuses() {
        let dir = TempDir::new("review-bad");
        let store = ReviewStore::new(dir.0.join("review.hcrv"), POLICY, &[1]);
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(
            store.path(),
            b"not a review file at all, but long enough to parse",
        )
        .unwrap();
        match store.load() {
            Err(StoreError::Corrupt { path, .. }) => assert_eq!(path, store.path()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
