//! The training checkpoint format: everything the server needs to continue an encrypted run
//! where it stopped, as bytes (no I/O here: the actors write the files atomically).
//!
//! ```text
//! magic "HETALCKP" | version u16 | flags u16 (0) | body length u64 | body | SHA-256(body)
//! body: config hash [32] | parameter fingerprint [32] | epoch u64 | epoch step u64
//!       | steps u64 | Nesterov steps u64 | bootstraps u64
//!       | verdict count u32 | verdicts (epoch u64, loss f64, accuracy f64, decision u8, best u8)
//!       | W | V | best   (each: rows, cols, s0, s1 u64 | layout u8 | period u64
//!                         | block count u32 | per block: length u64, ciphertext bytes)
//! ```
//!
//! All integers are little-endian. Ciphertexts go through a caller-provided
//! [`CheckpointCodec`], so this crate stays backend-generic. Decoding checks, in order, the
//! magic, the version, the length, the body's SHA-256, the configuration hash and the parameter
//! fingerprint, and only then decodes the body; every count and length is bounded by the bytes
//! that remain before anything is allocated for it. Any failure is a [`CheckpointError`] and
//! nothing is returned half-loaded.

use sha2::{Digest, Sha256};

use super::client::Verdict;
use super::early_stop::Decision;
use super::hyper::{HyperParams, Optimizer};
use super::nesterov::NesterovSchedule;
use crate::pack::{BlockMatrix, Layout, UnitShape};
use crate::softmax::SoftmaxVariant;

/// First bytes of every checkpoint.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"HETALCKP";
/// The format version this code writes and reads.
pub const CHECKPOINT_VERSION: u16 = 1;
/// Magic, version, flags and body length.
pub const CHECKPOINT_HEADER_LEN: usize = 8 + 2 + 2 + 8;
/// Length of the trailing SHA-256 of the body.
pub const CHECKPOINT_DIGEST_LEN: usize = 32;
/// Most verdicts (epochs) a checkpoint may hold.
pub const MAX_CHECKPOINT_VERDICTS: usize = 1 << 16;
/// Most Nesterov steps a checkpoint may claim: the schedule is rebuilt by replaying its
/// recursion, so the count bounds the work of a load (a few milliseconds at the limit; a
/// HETAL run takes thousands of steps).
pub const MAX_SCHEDULE_STEPS: u64 = 1 << 20;

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// Why a checkpoint could not be written or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The bytes do not start with [`CHECKPOINT_MAGIC`].
    #[error("not a hetal checkpoint (bad magic)")]
    BadMagic,
    /// Another format version.
    #[error("checkpoint format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Fewer bytes than the header says.
    #[error("checkpoint truncated: {got} bytes, the header says {expected}")]
    Truncated {
        /// Bytes the header announces (header, body and digest).
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// The body does not match its SHA-256 (bit rot, torn write, tampering).
    #[error("checkpoint corrupt: the body does not match its SHA-256")]
    Corrupt,
    /// The checkpoint belongs to another training configuration.
    #[error(
        "checkpoint is for another training configuration (config hash {found}, this run's is {expected}); start afresh or resume with the configuration it was written with"
    )]
    ForeignConfig {
        /// This run's configuration hash (hex).
        expected: String,
        /// The checkpoint's (hex).
        found: String,
    },
    /// The ciphertexts belong to other encryption parameters or keys.
    #[error(
        "checkpoint ciphertexts are for other parameters (fingerprint {found}, this run's is {expected})"
    )]
    ForeignParameters {
        /// This run's parameter fingerprint (hex).
        expected: String,
        /// The checkpoint's (hex).
        found: String,
    },
    /// A field is out of range or inconsistent.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The codec refused a ciphertext.
    #[error("checkpoint ciphertext {what}: {reason}")]
    Ciphertext {
        /// Which matrix and block.
        what: String,
        /// The codec's error.
        reason: String,
    },
}

impl From<CheckpointError> for crate::Error {
    fn from(e: CheckpointError) -> Self {
        crate::Error::InvalidInput(e.to_string())
    }
}

/// Result with [`CheckpointError`].
pub type CheckpointResult<T> = std::result::Result<T, CheckpointError>;

/// Turns ciphertexts into bytes and back, for one set of parameters.
pub trait CheckpointCodec {
    /// Ciphertext type.
    type Ct;
    /// A fingerprint of the parameters (and public keys) the ciphertexts belong to; stored in
    /// the checkpoint and compared on load.
    fn fingerprint(&self) -> Digest32;
    /// Serializes one ciphertext.
    fn encode(&self, ct: &Self::Ct) -> crate::Result<Vec<u8>>;
    /// Deserializes (and checks) one ciphertext.
    fn decode(&self, bytes: &[u8]) -> crate::Result<Self::Ct>;
}

/// What identifies a training run: a checkpoint resumes only the run it was written for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunConfig {
    /// Hyper-parameters.
    pub hyper: HyperParams,
    /// Softmax approximation.
    pub variant: SoftmaxVariant,
    /// Block shape.
    pub unit: UnitShape,
    /// Number of classes.
    pub classes: usize,
    /// Number of features (without the bias).
    pub dim: usize,
    /// Training mini-batches per epoch.
    pub train_batches: usize,
    /// The factor the stored weights are divided by.
    pub weight_scale: f64,
    /// SHA-256 of the encrypted training set as uploaded (the caller's canonical bytes).
    pub dataset: Digest32,
}

impl RunConfig {
    /// The canonical bytes of the configuration: fixed field order, little-endian integers,
    /// floats by their bit patterns, enums by fixed tags (never by a serializer's choices).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(b"hetal-run-config/1");
        w.u64(self.hyper.learning_rate.to_bits());
        w.u64(self.hyper.batch_size as u64);
        w.u64(self.hyper.max_epochs as u64);
        w.u64(self.hyper.patience as u64);
        w.u8(match self.hyper.optimizer {
            Optimizer::Nesterov => 0,
            Optimizer::GradientDescent => 1,
        });
        match self.hyper.shuffle_seed {
            None => w.u8(0),
            Some(seed) => {
                w.u8(1);
                w.u64(seed);
            }
        }
        w.u8(match self.variant {
            SoftmaxVariant::Hetal => 0,
            SoftmaxVariant::HetalPrecise => 1,
            SoftmaxVariant::HetalRs => 2,
            SoftmaxVariant::HetalFast => 3,
            SoftmaxVariant::HetalShallow => 4,
        });
        w.u64(self.unit.s0() as u64);
        w.u64(self.unit.s1() as u64);
        w.u64(self.classes as u64);
        w.u64(self.dim as u64);
        w.u64(self.train_batches as u64);
        w.u64(self.weight_scale.to_bits());
        w.bytes(&self.dataset);
        w.0
    }

    /// SHA-256 of [`RunConfig::canonical_bytes`].
    pub fn hash(&self) -> Digest32 {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// The server's state after a step: where the run is and the encrypted model.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingCheckpoint<C> {
    /// [`RunConfig::hash`] of the run.
    pub config: Digest32,
    /// The epoch in progress (0-based).
    pub epoch: u64,
    /// Steps of that epoch already taken (the next step is batch `order[epoch_step]`).
    pub epoch_step: u64,
    /// Steps taken in total.
    pub steps: u64,
    /// Ciphertexts bootstrapped so far.
    pub bootstraps: u64,
    /// The client's verdicts so far, in order; the last one is its last decision.
    pub verdicts: Vec<Verdict>,
    /// Weights (divided by the weight scale).
    pub w: BlockMatrix<C>,
    /// Nesterov look-ahead.
    pub v: BlockMatrix<C>,
    /// Best weights so far.
    pub best: BlockMatrix<C>,
    /// The momentum schedule.
    pub schedule: NesterovSchedule,
}

impl<C> TrainingCheckpoint<C> {
    /// The client's last decision, if it has reviewed an epoch.
    pub fn last_verdict(&self) -> Option<&Verdict> {
        self.verdicts.last()
    }
}

fn hex(d: &Digest32) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
}

fn encode_matrix<K: CheckpointCodec>(
    w: &mut Writer,
    codec: &K,
    m: &BlockMatrix<K::Ct>,
    name: &str,
) -> CheckpointResult<()> {
    w.u64(m.rows() as u64);
    w.u64(m.cols() as u64);
    w.u64(m.unit().s0() as u64);
    w.u64(m.unit().s1() as u64);
    let (tag, period) = match m.layout() {
        Layout::RowMajor => (0, 0),
        Layout::RowTiled { period } => (1, period),
        Layout::ColTiled { period } => (2, period),
    };
    w.u8(tag);
    w.u64(period as u64);
    let count = u32::try_from(m.blocks().len())
        .map_err(|_| CheckpointError::Malformed(format!("{name} has too many blocks")))?;
    w.u32(count);
    for (i, ct) in m.blocks().iter().enumerate() {
        let bytes = codec.encode(ct).map_err(|e| CheckpointError::Ciphertext {
            what: format!("{name}[{i}]"),
            reason: e.to_string(),
        })?;
        w.u64(bytes.len() as u64);
        w.bytes(&bytes);
    }
    Ok(())
}

/// Serializes a checkpoint; `codec` encodes the ciphertexts and names their parameters.
pub fn encode_checkpoint<K: CheckpointCodec>(
    checkpoint: &TrainingCheckpoint<K::Ct>,
    codec: &K,
) -> CheckpointResult<Vec<u8>> {
    if checkpoint.verdicts.len() > MAX_CHECKPOINT_VERDICTS
        || checkpoint.schedule.step() > MAX_SCHEDULE_STEPS
    {
        return Err(CheckpointError::Malformed(format!(
            "{} verdicts / {} Nesterov steps exceed the format's limits ({MAX_CHECKPOINT_VERDICTS} / {MAX_SCHEDULE_STEPS})",
            checkpoint.verdicts.len(),
            checkpoint.schedule.step()
        )));
    }
    let mut body = Writer::default();
    body.bytes(&checkpoint.config);
    body.bytes(&codec.fingerprint());
    body.u64(checkpoint.epoch);
    body.u64(checkpoint.epoch_step);
    body.u64(checkpoint.steps);
    body.u64(checkpoint.schedule.step());
    body.u64(checkpoint.bootstraps);
    body.u32(checkpoint.verdicts.len() as u32);
    for v in &checkpoint.verdicts {
        body.u64(v.epoch as u64);
        body.u64(v.val_loss.to_bits());
        body.u64(v.val_accuracy.to_bits());
        body.u8(match v.decision {
            Decision::Continue => 0,
            Decision::Stop => 1,
        });
        body.u8(u8::from(v.new_best));
    }
    encode_matrix(&mut body, codec, &checkpoint.w, "W")?;
    encode_matrix(&mut body, codec, &checkpoint.v, "V")?;
    encode_matrix(&mut body, codec, &checkpoint.best, "best")?;
    let body = body.0;
    let mut out = Writer(Vec::with_capacity(
        CHECKPOINT_HEADER_LEN + body.len() + CHECKPOINT_DIGEST_LEN,
    ));
    out.bytes(&CHECKPOINT_MAGIC);
    out.u16(CHECKPOINT_VERSION);
    out.u16(0);
    out.u64(body.len() as u64);
    out.bytes(&body);
    out.bytes(&Sha256::digest(&body));
    Ok(out.0)
}

/// A cursor over untrusted bytes: every read is bounded by what remains.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> CheckpointResult<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(CheckpointError::Malformed(format!(
                "{what}: needs {n} bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &str) -> CheckpointResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> CheckpointResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> CheckpointResult<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> CheckpointResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> CheckpointResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn usize(&mut self, what: &str) -> CheckpointResult<usize> {
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| CheckpointError::Malformed(format!("{what} {v} too large")))
    }
    fn bool(&mut self, what: &str) -> CheckpointResult<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(CheckpointError::Malformed(format!(
                "{what} is {v}, not 0/1"
            ))),
        }
    }
}

fn decode_matrix<K: CheckpointCodec>(
    r: &mut Reader<'_>,
    codec: &K,
    name: &str,
) -> CheckpointResult<BlockMatrix<K::Ct>> {
    let malformed = |e: crate::Error| CheckpointError::Malformed(format!("{name}: {e}"));
    let rows = r.usize("rows")?;
    let cols = r.usize("cols")?;
    let unit = UnitShape::new(r.usize("s0")?, r.usize("s1")?).map_err(malformed)?;
    let tag = r.u8("layout")?;
    let period = r.usize("period")?;
    let layout = match (tag, period) {
        (0, 0) => Layout::RowMajor,
        (1, period) => Layout::RowTiled { period },
        (2, period) => Layout::ColTiled { period },
        _ => {
            return Err(CheckpointError::Malformed(format!(
                "{name}: layout tag {tag} with period {period}"
            )));
        }
    };
    let (block_rows, block_cols) = layout.grid(rows, cols, unit).map_err(malformed)?;
    let count = r.u32("block count")? as usize;
    if block_rows.checked_mul(block_cols) != Some(count) {
        return Err(CheckpointError::Malformed(format!(
            "{name}: {count} blocks for a {block_rows}×{block_cols} grid"
        )));
    }
    // Every block takes at least its 8-byte length: bound the allocation by what remains.
    if count > r.bytes.len() / 8 {
        return Err(CheckpointError::Malformed(format!(
            "{name}: {count} blocks cannot fit in {} bytes",
            r.bytes.len()
        )));
    }
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let len = r.usize("block length")?;
        let bytes = r.take(len, "block")?;
        let ct = codec
            .decode(bytes)
            .map_err(|e| CheckpointError::Ciphertext {
                what: format!("{name}[{i}]"),
                reason: e.to_string(),
            })?;
        blocks.push(ct);
    }
    BlockMatrix::from_blocks(rows, cols, unit, layout, blocks).map_err(malformed)
}

fn schedule_after(steps: u64) -> CheckpointResult<NesterovSchedule> {
    if steps > MAX_SCHEDULE_STEPS {
        return Err(CheckpointError::Malformed(format!(
            "{steps} Nesterov steps (at most {MAX_SCHEDULE_STEPS})"
        )));
    }
    let mut schedule = NesterovSchedule::new();
    for _ in 0..steps {
        schedule.advance();
    }
    Ok(schedule)
}

/// Checks the envelope (magic, version, length, digest) and returns the body.
fn open_envelope(bytes: &[u8]) -> CheckpointResult<&[u8]> {
    if bytes.len() < CHECKPOINT_MAGIC.len() || bytes[..CHECKPOINT_MAGIC.len()] != CHECKPOINT_MAGIC {
        return Err(CheckpointError::BadMagic);
    }
    if bytes.len() < CHECKPOINT_HEADER_LEN {
        return Err(CheckpointError::Truncated {
            expected: CHECKPOINT_HEADER_LEN as u64,
            got: bytes.len() as u64,
        });
    }
    let mut r = Reader { bytes };
    r.take(CHECKPOINT_MAGIC.len(), "magic")?;
    let version = r.u16("version")?;
    if version != CHECKPOINT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            found: version,
            supported: CHECKPOINT_VERSION,
        });
    }
    let flags = r.u16("flags")?;
    if flags != 0 {
        return Err(CheckpointError::Malformed(format!(
            "unknown flags {flags:#x}"
        )));
    }
    let body_len = r.u64("body length")?;
    let expected = body_len
        .checked_add((CHECKPOINT_HEADER_LEN + CHECKPOINT_DIGEST_LEN) as u64)
        .ok_or_else(|| CheckpointError::Malformed(format!("body length {body_len}")))?;
    let got = bytes.len() as u64;
    if got < expected {
        return Err(CheckpointError::Truncated { expected, got });
    }
    if got > expected {
        return Err(CheckpointError::Malformed(format!(
            "{} bytes after the digest",
            got - expected
        )));
    }
    // `body_len` now fits in the slice.
    let body = r.take(body_len as usize, "body")?;
    let digest = r.take(CHECKPOINT_DIGEST_LEN, "digest")?;
    if Sha256::digest(body).as_slice() != digest {
        return Err(CheckpointError::Corrupt);
    }
    Ok(body)
}

/// Where a checkpoint stands, read without decoding its ciphertexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSummary {
    /// The parameter fingerprint its ciphertexts were written under.
    pub parameters: Digest32,
    /// The epoch in progress.
    pub epoch: u64,
    /// Steps taken in total.
    pub steps: u64,
}

/// Checks a checkpoint's envelope (magic, version, length, SHA-256) and that it belongs to the
/// run whose [`RunConfig::hash`] is `config`, without decoding a ciphertext: a host refuses a
/// damaged or foreign checkpoint before it spends anything on the run (key generation,
/// encryption, upload). [`decode_checkpoint`] repeats these checks when it loads.
pub fn inspect_checkpoint(bytes: &[u8], config: &Digest32) -> CheckpointResult<CheckpointSummary> {
    let body = open_envelope(bytes)?;
    let mut r = Reader { bytes: body };
    let found: Digest32 = r.array("config hash")?;
    if &found != config {
        return Err(CheckpointError::ForeignConfig {
            expected: hex(config),
            found: hex(&found),
        });
    }
    let parameters: Digest32 = r.array("parameter fingerprint")?;
    let epoch = r.u64("epoch")?;
    let _epoch_step = r.u64("epoch step")?;
    let steps = r.u64("steps")?;
    Ok(CheckpointSummary {
        parameters,
        epoch,
        steps,
    })
}

/// Reads a checkpoint written by [`encode_checkpoint`] for the run whose [`RunConfig::hash`] is
/// `config`, decoding its ciphertexts with `codec` (whose fingerprint must match).
pub fn decode_checkpoint<K: CheckpointCodec>(
    bytes: &[u8],
    codec: &K,
    config: &Digest32,
) -> CheckpointResult<TrainingCheckpoint<K::Ct>> {
    let body = open_envelope(bytes)?;
    let mut r = Reader { bytes: body };
    let found: Digest32 = r.array("config hash")?;
    if &found != config {
        return Err(CheckpointError::ForeignConfig {
            expected: hex(config),
            found: hex(&found),
        });
    }
    let params: Digest32 = r.array("parameter fingerprint")?;
    let ours = codec.fingerprint();
    if params != ours {
        return Err(CheckpointError::ForeignParameters {
            expected: hex(&ours),
            found: hex(&params),
        });
    }
    let epoch = r.u64("epoch")?;
    let epoch_step = r.u64("epoch step")?;
    let steps = r.u64("steps")?;
    let schedule = schedule_after(r.u64("Nesterov steps")?)?;
    let bootstraps = r.u64("bootstraps")?;
    if epoch_step > steps || schedule.step() > steps {
        return Err(CheckpointError::Malformed(format!(
            "{epoch_step} steps into the epoch / {} Nesterov steps but {steps} steps in all",
            schedule.step()
        )));
    }
    let count = r.u32("verdict count")? as usize;
    // A verdict is 26 bytes: bound the count before allocating.
    if count > MAX_CHECKPOINT_VERDICTS || count > r.bytes.len() / 26 {
        return Err(CheckpointError::Malformed(format!("{count} verdicts")));
    }
    if count as u64 > epoch.saturating_add(1) {
        return Err(CheckpointError::Malformed(format!(
            "{count} verdicts at epoch {epoch}"
        )));
    }
    let mut verdicts = Vec::with_capacity(count);
    for i in 0..count {
        let v_epoch = r.u64("verdict epoch")?;
        if v_epoch != i as u64 {
            return Err(CheckpointError::Malformed(format!(
                "verdict {i} is for epoch {v_epoch}"
            )));
        }
        let val_loss = f64::from_bits(r.u64("validation loss")?);
        let val_accuracy = f64::from_bits(r.u64("validation accuracy")?);
        let decision = match r.u8("decision")? {
            0 => Decision::Continue,
            1 => Decision::Stop,
            d => return Err(CheckpointError::Malformed(format!("decision {d}"))),
        };
        let new_best = r.bool("new best")?;
        verdicts.push(Verdict {
            epoch: i,
            val_loss,
            val_accuracy,
            decision,
            new_best,
        });
    }
    let w = decode_matrix(&mut r, codec, "W")?;
    let v = decode_matrix(&mut r, codec, "V")?;
    let best = decode_matrix(&mut r, codec, "best")?;
    if !r.bytes.is_empty() {
        return Err(CheckpointError::Malformed(format!(
            "{} unread bytes in the body",
            r.bytes.len()
        )));
    }
    if (w.rows(), w.cols(), w.layout()) != (v.rows(), v.cols(), v.layout())
        || (w.rows(), w.cols(), w.layout()) != (best.rows(), best.cols(), best.layout())
    {
        return Err(CheckpointError::Malformed(
            "W, V and best have different shapes".into(),
        ));
    }
    Ok(TrainingCheckpoint {
        config: found,
        epoch,
        epoch_step,
        steps,
        bootstraps,
        verdicts,
        w,
        v,
        best,
        schedule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, SimCt, Simulator};
    use crate::softmax::SoftmaxVariant;
    use crate::train::client::{EncryptedBatch, TrainingClient};
    use crate::train::hyper::Preset;
    use crate::train::server::EncryptedTrainer;
    use ndarray::Array2;
    use num_complex::Complex64;

    /// Lossless simulator ciphertexts: level, then every slot's two f64 bit patterns.
    struct SimCodec {
        slots: usize,
        tag: u8,
    }

    impl CheckpointCodec for SimCodec {
        type Ct = SimCt;
        fn fingerprint(&self) -> Digest32 {
            let mut d = [self.tag; 32];
            d[..8].copy_from_slice(&(self.slots as u64).to_le_bytes());
            d
        }
        fn encode(&self, ct: &SimCt) -> crate::Result<Vec<u8>> {
            let mut out = (ct.level as u64).to_le_bytes().to_vec();
            for z in &ct.values {
                out.extend_from_slice(&z.re.to_bits().to_le_bytes());
                out.extend_from_slice(&z.im.to_bits().to_le_bytes());
            }
            Ok(out)
        }
        fn decode(&self, bytes: &[u8]) -> crate::Result<SimCt> {
            if bytes.len() != 8 + 16 * self.slots {
                return Err(crate::Error::InvalidInput(format!(
                    "{} bytes for {} slots",
                    bytes.len(),
                    self.slots
                )));
            }
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&bytes[i..i + 8]);
                u64::from_le_bytes(w)
            };
            let values = (0..self.slots)
                .map(|k| {
                    Complex64::new(
                        f64::from_bits(word(8 + 16 * k)),
                        f64::from_bits(word(16 + 16 * k)),
                    )
                })
                .collect();
            Ok(SimCt {
                values,
                level: word(0) as usize,
            })
        }
    }

    const SLOTS: usize = 1 << 10;

    /// A small problem: 3 classes, 4 features, 3 batches of 8 rows, simulator with 2^10 slots.
    struct Problem {
        sim: Simulator,
        unit: UnitShape,
        train: Vec<EncryptedBatch<SimCt>>,
    }

    fn problem() -> Problem {
        let sim = Simulator::new(SimConfig::with_slots(SLOTS)).unwrap();
        let unit = UnitShape::hetal(8, 3, SLOTS).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((24, 4), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 7.0 - 0.4);
        let labels: Vec<usize> = (0..24).map(|i| (i * 2 + i / 5) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        Problem { sim, unit, train }
    }

    fn config(p: &Problem, optimizer: Optimizer) -> RunConfig {
        RunConfig {
            hyper: HyperParams {
                optimizer,
                batch_size: 8,
                ..Preset::FaceMask.hyper()
            },
            variant: SoftmaxVariant::HetalRs,
            unit: p.unit,
            classes: 3,
            dim: 4,
            train_batches: p.train.len(),
            weight_scale: crate::train::server::DEFAULT_WEIGHT_SCALE,
            dataset: [7; 32],
        }
    }

    fn trainer<'a>(
        p: &'a Problem,
        cfg: &RunConfig,
        initial: BlockMatrix<SimCt>,
    ) -> EncryptedTrainer<'a, Simulator> {
        EncryptedTrainer::new(&p.sim, cfg.hyper, cfg.variant, initial, 3).unwrap()
    }

    fn initial(p: &Problem) -> BlockMatrix<SimCt> {
        let client = TrainingClient::new(&p.sim, p.unit, 3, 4, 3).unwrap();
        client.initial_weights().unwrap()
    }

    fn sample_checkpoint(p: &Problem, cfg: &RunConfig) -> TrainingCheckpoint<SimCt> {
        let mut t = trainer(p, cfg, initial(p));
        t.step(&p.train[0]).unwrap();
        let mut schedule = NesterovSchedule::new();
        schedule.advance();
        TrainingCheckpoint {
            config: cfg.hash(),
            epoch: 1,
            epoch_step: 1,
            steps: 4,
            bootstraps: 2,
            verdicts: vec![Verdict {
                epoch: 0,
                val_loss: 0.9,
                val_accuracy: 0.5,
                decision: Decision::Continue,
                new_best: true,
            }],
            w: t.weights().clone(),
            v: initial(p),
            best: t.best_weights().clone(),
            schedule,
        }
    }

    fn codec() -> SimCodec {
        SimCodec {
            slots: SLOTS,
            tag: 1,
        }
    }

    #[test]
    fn a_checkpoint_round_trips_exactly() {
        let p = problem();
        let cfg = config(&p, Optimizer::Nesterov);
        let ckpt = sample_checkpoint(&p, &cfg);
        let bytes = encode_checkpoint(&ckpt, &codec()).unwrap();
        let back = decode_checkpoint(&bytes, &codec(), &cfg.hash()).unwrap();
        assert_eq!(back, ckpt);
        assert_eq!(
            back.last_verdict().map(|v| v.decision),
            Some(Decision::Continue)
        );
        // Canonical: re-encoding gives the same bytes.
        assert_eq!(encode_checkpoint(&back, &codec()).unwrap(), bytes);
    }

    #[test]
    fn the_config_hash_changes_with_every_field() {
        let p = problem();
        let base = config(&p, Optimizer::Nesterov);
        let mut variants = vec![config(&p, Optimizer::GradientDescent)];
        let mut c = base;
        c.hyper.learning_rate *= 2.0;
        variants.push(c);
        let mut c = base;
        c.hyper.shuffle_seed = Some(0);
        variants.push(c);
        let mut c = base;
        c.variant = SoftmaxVariant::Hetal;
        variants.push(c);
        let mut c = base;
        c.train_batches += 1;
        variants.push(c);
        let mut c = base;
        c.dataset[31] ^= 1;
        variants.push(c);
        let mut c = base;
        c.weight_scale = 4.0;
        variants.push(c);
        let mut hashes: Vec<Digest32> = variants.iter().map(RunConfig::hash).collect();
        hashes.push(base.hash());
        let n = hashes.len();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), n, "two configurations share a hash");
        assert_eq!(base.hash(), config(&p, Optimizer::Nesterov).hash());
    }

    #[test]
    fn truncated_corrupt_and_foreign_checkpoints_are_refused() {
        let p = problem();
        let cfg = config(&p, Optimizer::Nesterov);
        let bytes = encode_checkpoint(&sample_checkpoint(&p, &cfg), &codec()).unwrap();
        let hash = cfg.hash();
        // Every proper prefix is refused (a torn write).
        for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
            let err = decode_checkpoint(&bytes[..cut], &codec(), &hash).unwrap_err();
            assert!(
                matches!(
                    err,
                    CheckpointError::BadMagic | CheckpointError::Truncated { .. }
                ),
                "cut at {cut}: {err}"
            );
        }
        // A flipped bit anywhere is refused.
        for pos in (0..bytes.len()).step_by(61) {
            let mut bad = bytes.clone();
            bad[pos] ^= 0x10;
            assert!(
                decode_checkpoint(&bad, &codec(), &hash).is_err(),
                "flip at {pos} accepted"
            );
        }
        let mut bad = bytes.clone();
        let mid = CHECKPOINT_HEADER_LEN + 100;
        bad[mid] ^= 1;
        assert_eq!(
            decode_checkpoint(&bad, &codec(), &hash),
            Err(CheckpointError::Corrupt)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_checkpoint(&longer, &codec(), &hash),
            Err(CheckpointError::Malformed(_))
        ));
        let mut other_version = bytes.clone();
        other_version[8] = 9;
        assert_eq!(
            decode_checkpoint(&other_version, &codec(), &hash),
            Err(CheckpointError::UnsupportedVersion {
                found: 9,
                supported: CHECKPOINT_VERSION
            })
        );
        // Another run's configuration, other parameters.
        let other = config(&p, Optimizer::GradientDescent).hash();
        let err = decode_checkpoint(&bytes, &codec(), &other).unwrap_err();
        assert!(
            matches!(err, CheckpointError::ForeignConfig { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("another training configuration"));
        let foreign = SimCodec {
            slots: SLOTS,
            tag: 2,
        };
        assert!(matches!(
            decode_checkpoint(&bytes, &foreign, &hash),
            Err(CheckpointError::ForeignParameters { .. })
        ));
    }

    #[test]
    fn inspection_checks_the_envelope_and_the_run_without_the_codec() {
        let p = problem();
        let cfg = config(&p, Optimizer::Nesterov);
        let ckpt = sample_checkpoint(&p, &cfg);
        let bytes = encode_checkpoint(&ckpt, &codec()).unwrap();
        let summary = inspect_checkpoint(&bytes, &cfg.hash()).unwrap();
        assert_eq!(summary.parameters, codec().fingerprint());
        assert_eq!((summary.epoch, summary.steps), (ckpt.epoch, ckpt.steps));
        let other = config(&p, Optimizer::GradientDescent).hash();
        assert!(matches!(
            inspect_checkpoint(&bytes, &other),
            Err(CheckpointError::ForeignConfig { .. })
        ));
        let mut bad = bytes.clone();
        bad[CHECKPOINT_HEADER_LEN + 100] ^= 1;
        assert_eq!(
            inspect_checkpoint(&bad, &cfg.hash()),
            Err(CheckpointError::Corrupt)
        );
        assert!(matches!(
            inspect_checkpoint(&bytes[..bytes.len() / 2], &cfg.hash()),
            Err(CheckpointError::Truncated { .. })
        ));
    }

    /// Re-seals a body with a valid header and digest, so the test reaches the body checks.
    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = CHECKPOINT_MAGIC.to_vec();
        out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&Sha256::digest(body));
        out
    }

    #[test]
    fn hostile_bodies_with_valid_digests_are_refused_without_huge_allocations() {
        let p = problem();
        let cfg = config(&p, Optimizer::Nesterov);
        let bytes = encode_checkpoint(&sample_checkpoint(&p, &cfg), &codec()).unwrap();
        let body = &bytes[CHECKPOINT_HEADER_LEN..bytes.len() - CHECKPOINT_DIGEST_LEN];
        let hash = cfg.hash();
        // Offsets in the body: config 0..32, params 32..64, epoch 64, epoch step 72, steps 80,
        // Nesterov steps 88, bootstraps 96, verdict count 104, first verdict 108..134, W at 134.
        let patch = |at: usize, with: &[u8]| {
            let mut b = body.to_vec();
            b[at..at + with.len()].copy_from_slice(with);
            decode_checkpoint(&seal(&b), &codec(), &hash)
        };
        let cases: Vec<(&str, usize, Vec<u8>)> = vec![
            ("Nesterov steps", 88, u64::MAX.to_le_bytes().to_vec()),
            ("epoch step > steps", 72, 1000u64.to_le_bytes().to_vec()),
            ("verdict count", 104, u32::MAX.to_le_bytes().to_vec()),
            ("decision", 108 + 24, vec![7]),
            ("new best", 108 + 25, vec![2]),
            ("W rows", 134, u64::MAX.to_le_bytes().to_vec()),
            ("W unit", 134 + 16, 3u64.to_le_bytes().to_vec()),
            ("W layout", 134 + 32, vec![9]),
            ("W block count", 134 + 41, u32::MAX.to_le_bytes().to_vec()),
            ("W block length", 134 + 45, u64::MAX.to_le_bytes().to_vec()),
        ];
        for (what, at, with) in cases {
            let got = patch(at, &with);
            assert!(
                matches!(
                    got,
                    Err(CheckpointError::Malformed(_) | CheckpointError::Ciphertext { .. })
                ),
                "{what}: {:?}",
                got.map(|c| c.steps)
            );
        }
        // The unpatched body decodes (so the cases above failed for the reason they test).
        assert!(patch(0, &hash).is_ok());
    }

    /// Trains `steps` steps of the batches in order from `trainer`'s state.
    fn train(t: &mut EncryptedTrainer<'_, Simulator>, p: &Problem, from: usize, to: usize) {
        for s in from..to {
            t.step(&p.train[s % p.train.len()]).unwrap();
        }
    }

    #[test]
    fn resuming_from_a_checkpoint_reaches_the_uninterrupted_weights() {
        // Gradient descent: the server's whole state is W, so a trainer built on the restored
        // W is the interrupted one. (Nesterov's V and schedule are checked by the actors'
        // resume test, whose trainer state is public.)
        let p = problem();
        let cfg = config(&p, Optimizer::GradientDescent);
        let (k, j) = (7, 4);
        let mut whole = trainer(&p, &cfg, initial(&p));
        train(&mut whole, &p, 0, k);

        let mut first = trainer(&p, &cfg, initial(&p));
        train(&mut first, &p, 0, j);
        let ckpt = TrainingCheckpoint {
            config: cfg.hash(),
            epoch: (j / p.train.len()) as u64,
            epoch_step: (j % p.train.len()) as u64,
            steps: j as u64,
            bootstraps: first.totals().bootstraps() as u64,
            verdicts: Vec::new(),
            w: first.weights().clone(),
            v: first.weights().clone(),
            best: first.best_weights().clone(),
            schedule: NesterovSchedule::new(),
        };
        let file = encode_checkpoint(&ckpt, &codec()).unwrap();
        drop(first); // the crash

        let restored = decode_checkpoint(&file, &codec(), &cfg.hash()).unwrap();
        let mut resumed = trainer(&p, &cfg, restored.w);
        train(&mut resumed, &p, restored.steps as usize, k);
        // The simulator is exact and the codec lossless: bit-identical slots.
        assert_eq!(resumed.weights(), whole.weights());
        // And the run did move: the weights are not the initial ones.
        assert_ne!(whole.weights(), &initial(&p));
    }
}
