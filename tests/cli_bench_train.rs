//! `hetal bench train` end to end on the bundled digits pack with the simulator backend (two
//! epochs): the encrypted run and the plaintext reference report consistent figures, and bad
//! arguments are refused with a clear message.

use std::process::Command;

fn hetal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args(args)
        .output()
        .unwrap()
}

fn digits() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits").to_string()
}

#[test]
fn bench_train_on_the_simulator_matches_the_reference() {
    let data = digits();
    let out = hetal(&["bench", "train", "--data", &data, "--epochs", "2", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "hetal-bench-train");
    assert_eq!(v["backend"], "sim");
    let enc = &v["encrypted"];
    let reference = &v["reference"];
    let test_rows = v["rows"]["test"].as_f64().unwrap();
    assert!(test_rows > 0.0);
    // Same hyper-parameters and batches: two epochs, the same number of steps.
    assert_eq!(enc["epochs"], 2);
    assert_eq!(enc["steps"].as_u64(), reference["steps"].as_u64());
    let (a_enc, a_ref) = (
        enc["test_accuracy"].as_f64().unwrap(),
        reference["test_accuracy"].as_f64().unwrap(),
    );
    assert!(a_ref > 0.8, "reference accuracy {a_ref}");
    // The approximate softmax moves the weights by ~1e-8: at most one test row may flip.
    assert!(
        (a_enc - a_ref).abs() <= 1.0 / test_rows + 1e-12,
        "encrypted {a_enc} vs reference {a_ref}"
    );
    let gap = v["accuracy_gap_points"].as_f64().unwrap();
    assert!((gap - 100.0 * (a_enc - a_ref)).abs() < 1e-9);
    // Encrypted inference agrees with the decrypted model applied in plaintext.
    assert_eq!(enc["model_test_accuracy"].as_f64(), Some(a_enc));
    // The validation losses the client computed follow the reference's.
    let losses = |x: &serde_json::Value| -> Vec<f64> {
        x["val_losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_f64().unwrap())
            .collect()
    };
    for (e, r) in losses(enc).iter().zip(losses(reference)) {
        assert!((e - r).abs() < 1e-4, "validation loss {e} vs {r}");
    }
    let boots = &enc["bootstraps"];
    let total = boots["total"].as_u64().unwrap();
    assert!(total > 0);
    assert_eq!(
        total,
        ["softmax", "residual", "state"]
            .iter()
            .map(|k| boots[k].as_u64().unwrap())
            .sum::<u64>()
    );
    let t = &v["times_s"];
    assert!(t["keygen"].is_null());
    let parts: f64 = ["encrypt", "train", "inference", "decrypt"]
        .iter()
        .map(|k| t[k].as_f64().unwrap())
        .sum();
    assert!((parts - t["total"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn bench_train_refuses_bad_arguments() {
    let data = digits();
    let missing = hetal(&["bench", "train", "--data", "/nonexistent/pack"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("feature pack"));
    let bad_hyper = hetal(&["bench", "train", "--data", &data, "--hyper", "nope"]);
    assert!(!bad_hyper.status.success());
    assert!(String::from_utf8_lossy(&bad_hyper.stderr).contains("known"));
    let zero = hetal(&["bench", "train", "--data", &data, "--batch", "0"]);
    assert!(!zero.status.success());
    let insecure = hetal(&[
        "bench",
        "train",
        "--data",
        &data,
        "--backend",
        "ckks",
        "--preset",
        "insecure-boot-n12",
    ]);
    assert!(!insecure.status.success());
    assert!(String::from_utf8_lossy(&insecure.stderr).contains("insecure"));
    let unbootstrappable = hetal(&[
        "bench",
        "train",
        "--data",
        &data,
        "--backend",
        "ckks",
        "--preset",
        "insecure-test-n12",
        "--allow-insecure",
    ]);
    assert!(!unbootstrappable.status.success());
    assert!(String::from_utf8_lossy(&unbootstrappable.stderr).contains("bootstrap"));
}
