//! Training checkpoint files (`hetal_learn::train::checkpoint::decode_checkpoint`), both as raw
//! bytes and as a body behind a valid header and SHA-256 with the expected configuration hash and
//! parameter fingerprint (random bytes never pass the digest): never panics, never allocates
//! beyond the input's size; an accepted checkpoint re-encodes to exactly the input bytes.
#![no_main]

use hetal_learn::eval::SimCt;
use hetal_learn::train::checkpoint::{
    CHECKPOINT_MAGIC, CHECKPOINT_VERSION, CheckpointCodec, Digest32, decode_checkpoint,
    encode_checkpoint,
};
use libfuzzer_sys::fuzz_target;
use num_complex::Complex64;
use sha2::{Digest, Sha256};

/// The run's configuration hash the target expects.
const CONFIG: Digest32 = [0xC0; 32];
/// Slots of the fuzzed simulator ciphertexts (small, so that valid blocks are reachable).
const SLOTS: usize = 2;

/// Simulator ciphertexts as level and slot bit patterns; decode requires the exact length.
struct Codec;

impl CheckpointCodec for Codec {
    type Ct = SimCt;
    fn fingerprint(&self) -> Digest32 {
        [0xF1; 32]
    }
    fn encode(&self, ct: &SimCt) -> hetal_learn::Result<Vec<u8>> {
        let mut out = (ct.level as u64).to_le_bytes().to_vec();
        for z in &ct.values {
            out.extend_from_slice(&z.re.to_bits().to_le_bytes());
            out.extend_from_slice(&z.im.to_bits().to_le_bytes());
        }
        Ok(out)
    }
    fn decode(&self, bytes: &[u8]) -> hetal_learn::Result<SimCt> {
        if bytes.len() != 8 + 16 * SLOTS {
            return Err(hetal_learn::Error::InvalidInput("ciphertext length".into()));
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let level = usize::try_from(word(0))
            .map_err(|_| hetal_learn::Error::InvalidInput("level".into()))?;
        let values = (0..SLOTS)
            .map(|k| {
                Complex64::new(
                    f64::from_bits(word(8 + 16 * k)),
                    f64::from_bits(word(16 + 16 * k)),
                )
            })
            .collect();
        Ok(SimCt { values, level })
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // The same bytes as a body with the expected hashes, sealed with a valid header and digest.
    let mut body = data.to_vec();
    if body.len() >= 64 {
        body[..32].copy_from_slice(&CONFIG);
        body[32..64].copy_from_slice(&Codec.fingerprint());
    }
    let mut sealed = CHECKPOINT_MAGIC.to_vec();
    sealed.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    sealed.extend_from_slice(&0u16.to_le_bytes());
    sealed.extend_from_slice(&(body.len() as u64).to_le_bytes());
    sealed.extend_from_slice(&body);
    sealed.extend_from_slice(&Sha256::digest(&body));
    check(&sealed);
});

fn check(bytes: &[u8]) {
    if let Ok(checkpoint) = decode_checkpoint(bytes, &Codec, &CONFIG) {
        let encoded = encode_checkpoint(&checkpoint, &Codec).expect("a decoded checkpoint encodes");
        assert_eq!(encoded, bytes, "encode(decode(x)) != x");
    }
}
