//! `hetal inspect FILE`: what a serialized hetal file is, without printing secret material.
//!
//! ```text
//! hetal inspect ct.bin [--json]
//! ```
//!
//! Every object hetal writes (parameter specs, plaintexts, ciphertexts, public, relinearization,
//! Galois and evaluation keys, the client's secret-key store) sits in the `hetal-ckks` container:
//! magic `HCKS`, format version, object kind, the parameter fingerprint, payload length and
//! checksum. The command checks all of these, names the preset whose parameters have that
//! fingerprint (if any), and then, by kind:
//! * parameter spec: its name, ring degree, levels, slots, security;
//! * plaintext / ciphertext: level, slots, scale (and for a ciphertext whether `c1` is stored as
//!   its seed); with a known preset the whole payload is decoded and checked against it;
//! * public / evaluation keys: with a known preset, decoded and checked; Galois key count;
//! * secret key: kind, fingerprint and size only — never a coefficient.
//!
//! A trained model (`model.hetal`, magic `HETALMDL`, see [`crate::model`]) is recognised too:
//! its checksum is verified and its backend, preset, classes, features, normalisation and
//! recorded accuracy are listed — never the weights.
//!
//! Unknown or corrupt files (bad magic, unsupported version, unknown kind, truncated, checksum
//! mismatch, payload that does not decode) are a clear error naming the file and the problem.
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-inspect"`, `format` = 1, `file`, `size_bytes`, `object` (the kind, e.g.
//! `"Ciphertext"`), `format_version`, `fingerprint` (hex), `preset` (null if unknown),
//! `ring_degree`, `levels` (of the parameters), `details` {name: value}, `notes`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use hetal_ckks::crypto::{Ciphertext, Plaintext};
use hetal_ckks::keys::{EvaluationKeys, GaloisKey, GaloisKeys, PublicKey, RelinearizationKey};
use hetal_ckks::params::SecurityLevel;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::presets::PRESETS;
use hetal_ckks::serial::codec::{Serial, context_fingerprint, from_bytes};
use hetal_ckks::serial::container::{self, Fingerprint, HEADER_LEN, MAGIC, ObjectKind};
use hetal_ckks::serial::spec::spec_from_bytes;
use serde::Serialize;

use crate::model::ModelFile;

/// Arguments of `hetal inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The file to describe.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `hetal inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    kind: &'static str,
    format: u32,
    /// The file inspected.
    pub file: String,
    /// Its size.
    pub size_bytes: u64,
    /// Object kind in the container.
    pub object: String,
    /// Container format version.
    pub format_version: u16,
    /// Parameter fingerprint (hex; all zero for a bare parameter spec).
    pub fingerprint: String,
    /// Preset whose parameters have this fingerprint.
    pub preset: Option<String>,
    /// Ring degree of those parameters (when known).
    pub ring_degree: Option<usize>,
    /// Levels of those parameters (when known).
    pub levels: Option<usize>,
    /// Kind-specific fields.
    pub details: BTreeMap<String, String>,
    /// Remarks.
    pub notes: Vec<String>,
}

const KINDS: [ObjectKind; 9] = [
    ObjectKind::ParameterSpec,
    ObjectKind::Plaintext,
    ObjectKind::Ciphertext,
    ObjectKind::PublicKey,
    ObjectKind::RelinearizationKey,
    ObjectKind::GaloisKey,
    ObjectKind::GaloisKeys,
    ObjectKind::EvaluationKeys,
    ObjectKind::SecretKey,
];

/// Runs `hetal inspect`.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let found = inspect(&args.file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print_text(&found);
    }
    Ok(())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The preset whose context has fingerprint `fp`, with its context.
fn matching_preset(fp: Fingerprint) -> Option<(&'static str, Arc<Context>)> {
    PRESETS.iter().find_map(|p| {
        let ctx = Context::new(&p.spec(), true).ok()?;
        (context_fingerprint(&ctx) == fp).then_some((p.name, ctx))
    })
}

/// Describes the file at `path` (an error for anything that is not a valid hetal object).
pub fn inspect(path: &Path) -> anyhow::Result<Inspection> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("reading {shown}"))?;
    if ModelFile::sniff(&bytes) {
        return inspect_model(&shown, &bytes);
    }
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        bail!(
            "{shown}: not a hetal file (it starts neither with the `HCKS` magic of hetal's \
             serialized objects nor with the `HETALMDL` magic of a trained model)"
        );
    }
    if bytes.len() < HEADER_LEN {
        bail!(
            "{shown}: truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        );
    }
    let version = u16_at(&bytes, 4);
    if version != container::FORMAT_VERSION {
        bail!(
            "{shown}: format version {version} is not supported (this build reads version {})",
            container::FORMAT_VERSION
        );
    }
    let code = u16_at(&bytes, 6);
    let kind = KINDS
        .into_iter()
        .find(|k| *k as u16 == code)
        .with_context(|| format!("{shown}: unknown object kind {code}"))?;
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&bytes[8..24]);
    let fp = Fingerprint(fp);
    let payload_len = u64_at(&bytes, 24);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if payload_len != actual {
        bail!(
            "{shown}: corrupt or truncated: the header announces a {payload_len}-byte payload but \
             {actual} bytes follow it"
        );
    }
    container::open(&bytes, kind, None).with_context(|| format!("{shown}: corrupt"))?;
    let payload = &bytes[HEADER_LEN..];

    let mut out = Inspection {
        kind: "hetal-inspect",
        format: 1,
        file: shown.clone(),
        size_bytes: bytes.len() as u64,
        object: format!("{kind:?}"),
        format_version: version,
        fingerprint: fp.to_string(),
        preset: None,
        ring_degree: None,
        levels: None,
        details: BTreeMap::new(),
        notes: Vec::new(),
    };
    if kind == ObjectKind::ParameterSpec {
        let spec = spec_from_bytes(&bytes).with_context(|| format!("{shown}: corrupt"))?;
        let d = &mut out.details;
        d.insert("name".into(), spec.name.clone());
        d.insert("log_n".into(), spec.log_n.to_string());
        d.insert("slots".into(), (1usize << (spec.log_n - 1)).to_string());
        d.insert("q_bits".into(), format!("{:?}", spec.q_bits));
        d.insert("p_bits".into(), format!("{:?}", spec.p_bits));
        d.insert("log_scale".into(), spec.log_scale.to_string());
        d.insert("dnum".into(), spec.dnum.to_string());
        d.insert(
            "security".into(),
            match spec.security {
                SecurityLevel::Bits128 => "128-bit".into(),
                SecurityLevel::InsecureForTests => "INSECURE (tests only)".into(),
            },
        );
        out.ring_degree = Some(1usize << spec.log_n);
        out.levels = Some(spec.q_bits.len().saturating_sub(1));
        if PRESETS.iter().any(|p| p.spec() == spec) {
            out.preset = Some(spec.name.clone());
        }
        return Ok(out);
    }

    let ctx = matching_preset(fp);
    if let Some((name, ctx)) = &ctx {
        out.preset = Some((*name).to_string());
        out.ring_degree = Some(ctx.n());
        out.levels = Some(ctx.max_level());
    } else {
        out.notes.push(
            "the parameters match no built-in preset: only the header and metadata are checked"
                .into(),
        );
    }
    let ctx = ctx.map(|(_, c)| c);
    let decode = |what: &str, res: hetal_ckks::Result<()>| -> anyhow::Result<()> {
        res.with_context(|| format!("{shown}: corrupt {what}"))
    };
    match kind {
        ObjectKind::Plaintext | ObjectKind::Ciphertext => {
            if payload.len() < 16 {
                bail!("{shown}: corrupt: the payload is too short for level, slots and scale");
            }
            let (level, slots) = (u32_at(payload, 0), u32_at(payload, 4));
            let scale = f64::from_le_bytes(payload[8..16].try_into()?);
            out.details.insert("level".into(), level.to_string());
            out.details.insert("slots".into(), slots.to_string());
            out.details
                .insert("log2_scale".into(), format!("{:.2}", scale.log2()));
            if kind == ObjectKind::Ciphertext {
                let seeded = payload.get(16).is_some_and(|f| f & 1 != 0);
                out.details.insert(
                    "c1".into(),
                    if seeded { "seed (compact)" } else { "full" }.into(),
                );
            }
            if let Some(ctx) = &ctx {
                if kind == ObjectKind::Ciphertext {
                    decode(
                        "ciphertext",
                        from_bytes::<Ciphertext>(&bytes, ctx).map(drop),
                    )?;
                } else {
                    decode("plaintext", from_bytes::<Plaintext>(&bytes, ctx).map(drop))?;
                }
                out.notes.push("payload decoded and checked".into());
            }
        }
        ObjectKind::SecretKey => {
            out.details.insert(
                "contents".into(),
                "secret key: not shown (keep this file private)".into(),
            );
        }
        ObjectKind::PublicKey
        | ObjectKind::RelinearizationKey
        | ObjectKind::GaloisKey
        | ObjectKind::GaloisKeys
        | ObjectKind::EvaluationKeys => {
            if let Some(ctx) = &ctx {
                describe_key(kind, &bytes, ctx, &mut out.details)
                    .with_context(|| format!("{shown}: corrupt {kind:?}"))?;
                out.notes.push("payload decoded and checked".into());
            }
        }
        ObjectKind::ParameterSpec => {}
    }
    Ok(out)
}

/// Describes a trained-model file (`model.hetal`): shapes and provenance, never the weights.
fn inspect_model(shown: &str, bytes: &[u8]) -> anyhow::Result<Inspection> {
    let model = ModelFile::from_bytes(bytes).with_context(|| format!("{shown}: corrupt model"))?;
    let body = model.body();
    let spec = hetal_ckks::params::preset(&body.preset).ok();
    let mut details = BTreeMap::new();
    details.insert("backend".into(), body.backend.clone());
    details.insert("classes".into(), body.classes.to_string());
    details.insert("features".into(), body.dim.to_string());
    details.insert(
        "weights".into(),
        format!("{} x {} (with bias)", body.classes, body.dim + 1),
    );
    details.insert("softmax".into(), body.softmax.clone());
    details.insert("batch_size".into(), body.batch_size.to_string());
    details.insert(
        "normalization".into(),
        body.normalization
            .as_ref()
            .map_or_else(|| "none".into(), |n| n.method.clone()),
    );
    if let Some(e) = body.best_epoch {
        details.insert("best_epoch".into(), (e + 1).to_string());
    }
    if let Some(a) = body.test_accuracy {
        details.insert("test_accuracy".into(), format!("{:.4}", a));
    }
    Ok(Inspection {
        kind: "hetal-inspect",
        format: 1,
        file: shown.to_owned(),
        size_bytes: bytes.len() as u64,
        object: "Model".into(),
        format_version: crate::model::FORMAT_VERSION,
        fingerprint: "-".into(),
        preset: Some(body.preset.clone()),
        ring_degree: spec.as_ref().map(|s| 1usize << s.log_n),
        levels: spec.as_ref().map(|s| s.q_bits.len().saturating_sub(1)),
        details,
        notes: vec![
            "checksum verified; the weights are the data owner's decrypted model, not shown \
             (keep this file private)"
                .into(),
        ],
    })
}

fn check<T: Serial>(bytes: &[u8], ctx: &Arc<Context>) -> hetal_ckks::Result<T> {
    from_bytes::<T>(bytes, ctx)
}

fn describe_key(
    kind: ObjectKind,
    bytes: &[u8],
    ctx: &Arc<Context>,
    details: &mut BTreeMap<String, String>,
) -> hetal_ckks::Result<()> {
    match kind {
        ObjectKind::PublicKey => drop(check::<PublicKey>(bytes, ctx)?),
        ObjectKind::RelinearizationKey => drop(check::<RelinearizationKey>(bytes, ctx)?),
        ObjectKind::GaloisKey => {
            let k = check::<GaloisKey>(bytes, ctx)?;
            details.insert("galois_element".into(), k.element().to_string());
        }
        ObjectKind::GaloisKeys => {
            let k = check::<GaloisKeys>(bytes, ctx)?;
            details.insert("galois_keys".into(), k.len().to_string());
        }
        ObjectKind::EvaluationKeys => {
            let k = check::<EvaluationKeys>(bytes, ctx)?;
            details.insert("relinearization_key".into(), k.relin.is_some().to_string());
            details.insert("galois_keys".into(), k.galois.len().to_string());
            details.insert("in_memory_bytes".into(), k.size_bytes().to_string());
        }
        _ => {}
    }
    Ok(())
}

fn print_text(i: &Inspection) {
    println!("{}: {} ({} bytes)", i.file, i.object, i.size_bytes);
    println!("  format version {}", i.format_version);
    println!("  parameter fingerprint {}", i.fingerprint);
    match (&i.preset, i.ring_degree, i.levels) {
        (Some(p), Some(n), Some(l)) => println!("  preset {p} (N = {n}, {l} levels)"),
        (Some(p), _, _) => println!("  preset {p}"),
        (None, Some(n), Some(l)) => println!("  N = {n}, {l} levels"),
        _ => println!("  preset unknown"),
    }
    for (k, v) in &i.details {
        println!("  {k}: {v}");
    }
    for n in &i.notes {
        println!("  note: {n}");
    }
}
