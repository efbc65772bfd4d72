//! `hetal simulate` end to end: five QUIC nodes on loopback train one epoch on the bundled
//! digits pack and the client's decrypted validation loss, decision and test accuracy come out.

use std::process::Command;

#[test]
fn simulate_prints_the_clients_epochs_and_the_accuracy() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
    let out = Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args([
            "simulate",
            "--workers",
            "2",
            "--epochs",
            "2",
            "--slots",
            "4096",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(text.contains("5 nodes on QUIC loopback"), "{text}");
    let epochs: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("validation loss ").nth(1))
        .filter_map(|rest| rest.split(',').next()?.trim().parse().ok())
        .collect();
    assert_eq!(epochs.len(), 2, "{text}");
    assert!(epochs[1] < epochs[0], "the loss decreases: {epochs:?}");
    let accuracy: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy of the decrypted best model: "))
        .and_then(|s| s.trim_end_matches(" %").parse().ok())
        .expect("accuracy line");
    assert!(accuracy > 80.0, "{accuracy}");
    assert!(
        text.contains("0 on the trainer"),
        "all units went to the workers: {text}"
    );
}
