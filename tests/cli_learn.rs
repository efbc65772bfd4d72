//! `hetal bench softmax`, `hetal bench step` and `hetal inspect` end to end (small shapes,
//! INSECURE test presets only).

use std::process::Command;
use std::sync::Arc;

use hetal::ckks::crypto::Encryptor;
use hetal::ckks::encoding::{Complex64, Encoder};
use hetal::ckks::keys::KeyGenerator;
use hetal::ckks::math::sample::Prng;
use hetal::ckks::params::context::Context;
use hetal::ckks::params::preset;
use hetal::ckks::serial::keystore::save_secret_key_bytes;
use hetal::ckks::serial::to_bytes;

fn hetal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bench_softmax_json_reports_simulator_figures_and_refuses_insecure_without_opt_in() {
    let out = hetal(&[
        "bench",
        "softmax",
        "--classes",
        "3",
        "--range",
        "16",
        "--samples",
        "120",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "hetal-bench-softmax");
    let (max, mean) = (
        v["max_error"].as_f64().unwrap(),
        v["mean_error"].as_f64().unwrap(),
    );
    assert!(max >= mean && mean > 0.0 && max < 1e-3);
    let stage_sum: u64 = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[1].as_u64().unwrap())
        .sum();
    assert_eq!(stage_sum, v["levels"].as_u64().unwrap());
    let refused = hetal(&[
        "bench",
        "softmax",
        "--classes",
        "3",
        "--range",
        "16",
        "--samples",
        "10",
        "--preset",
        "insecure-test-n10",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-insecure"));
    // With the opt-in, a chain too short for the depth is reported, not run.
    let short = hetal(&[
        "bench",
        "softmax",
        "--classes",
        "3",
        "--range",
        "16",
        "--samples",
        "10",
        "--preset",
        "insecure-test-n10",
        "--allow-insecure",
        "--json",
    ]);
    assert!(short.status.success());
    let v: serde_json::Value = serde_json::from_slice(&short.stdout).unwrap();
    assert!(v["ckks"].is_null());
    assert!(v["notes"].to_string().contains("no CKKS timing"));
}

#[test]
fn bench_step_prices_the_counted_operations() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"mult":0.002,"cmult":0.0005,"rot":0.0015,"bootstrap":0.5}"#,
    )
    .unwrap();
    let out = hetal(&[
        "bench",
        "step",
        "--shape",
        "32,20,3",
        "--steps",
        "2",
        "--json",
        "--prices",
        prices.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts = v["breakdown"].as_array().unwrap();
    let sum: f64 = parts.iter().map(|p| p["priced_s"].as_f64().unwrap()).sum();
    let total = v["priced_step_s"].as_f64().unwrap();
    assert!((sum - total).abs() < 1e-12 && total > 0.0);
    let boots = v["bootstraps_per_step"]["total"].as_f64().unwrap();
    assert!(boots >= 1.0);
    assert!(total >= boots * 0.5);
}

#[test]
fn inspect_describes_ciphertexts_hides_secret_keys_and_rejects_corruption() {
    let spec = preset("insecure-test-n10").unwrap();
    let ctx: Arc<Context> = Context::new(&spec, true).unwrap();
    let mut keygen = KeyGenerator::new(&ctx, Prng::from_seed([9; 32]));
    let public = keygen.public_key();
    let sk_bytes = save_secret_key_bytes(&keygen.into_secret_key(), &ctx).unwrap();
    let pt = Encoder::new(&ctx)
        .encode(
            &[Complex64::new(0.5, 0.0)],
            ctx.max_level(),
            ctx.default_scale(),
        )
        .unwrap();
    let ct = Encryptor::new(&ctx, &public, Prng::from_seed([3; 32]))
        .unwrap()
        .encrypt(&pt)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ct_path = dir.path().join("ct.bin");
    let ct_bytes = to_bytes(&ct, &ctx).unwrap();
    std::fs::write(&ct_path, &ct_bytes).unwrap();
    let out = hetal(&["inspect", ct_path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["object"], "Ciphertext");
    assert_eq!(v["preset"], "insecure-test-n10");
    assert_eq!(v["details"]["level"], ctx.max_level().to_string());
    assert_eq!(v["size_bytes"].as_u64().unwrap(), ct_bytes.len() as u64);

    let sk_path = dir.path().join("sk.bin");
    std::fs::write(&sk_path, &*sk_bytes).unwrap();
    let out = hetal(&["inspect", sk_path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SecretKey") && text.contains("not shown"));
    // No run of payload bytes appears in the output, in any rendering.
    assert!(text.len() < 1000);

    let mut bad = ct_bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let bad_path = dir.path().join("bad.bin");
    std::fs::write(&bad_path, &bad).unwrap();
    let out = hetal(&["inspect", bad_path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
    std::fs::write(&bad_path, &ct_bytes[..30]).unwrap();
    let out = hetal(&["inspect", bad_path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}
