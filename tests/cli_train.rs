//! `hetal train`, `hetal predict`, `hetal inspect` on a model and `hetal completions`, through the
//! binary; bad inputs through the library's planning step (which runs before any key is made)
//! for the exact exit codes, and through the binary for the messages.
//!
//! The fast tests run on the slot simulator (`--backend sim`) with the INSECURE test preset
//! `insecure-test-n13` (2^12 slots), which needs `--allow-insecure`. The real CKKS run is
//! `#[ignore]`d: `cargo test --release --test cli_train -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use hetal::cli::exit::{BAD_INPUT, SECURITY, exit_code};
use hetal::cli::{Cli, Command as Sub};
use hetal::data::npy::{NpyArray, NpyData, parse_npy, write_npy};
use hetal::model::ModelFile;
use hetal::report::TrainingReport;

fn digits(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/digits")
        .join(file)
}

fn hetal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args(args)
        .env_remove("HETAL_PRESET")
        .env_remove("HETAL_BACKEND")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Reads an int label vector (int32 or int64) from a `.npy` file.
fn labels(path: &Path) -> Vec<i64> {
    match parse_npy(&std::fs::read(path).unwrap()).unwrap().data {
        NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I64(v) => v,
        other => panic!("labels of dtype {:?}", other.dtype()),
    }
}

/// `(agreeing, rows)` from the line `hetal train` prints after classifying the test split by
/// encrypted inference on the evaluator.
fn inference_agreement(log: &str) -> (usize, usize) {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy by encrypted inference on the evaluator: "))
        .unwrap_or_else(|| panic!("no encrypted-inference line in {log}"));
    let (_, rest) = line.split_once(" %; ").expect("accuracy then agreement");
    let (agree, rest) = rest.split_once(" of ").expect("A of N");
    let rows = rest.split_whitespace().next().expect("N");
    (agree.parse().unwrap(), rows.parse().unwrap())
}

#[test]
fn train_on_the_simulator_then_predict_inspect_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let (ftr, fva, fte) = (
        digits("features_train.npy"),
        digits("features_val.npy"),
        digits("features_test.npy"),
    );
    let out = hetal(&[
        "train",
        "--train",
        s(&ftr),
        "--val",
        s(&fva),
        "--test",
        s(&fte),
        "--backend",
        "sim",
        "--preset",
        "insecure-test-n13",
        "--allow-insecure",
        "--epochs",
        "4",
        "--network",
        "memory",
        "--out",
        s(&out_dir),
    ]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    println!("{log}");
    assert!(
        log.contains("INSECURE"),
        "the insecure preset is labelled: {log}"
    );

    // The report: four epochs at most, accuracies, confusion matrix over the test split.
    let report =
        TrainingReport::from_json(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert!(out_dir.join("report.html").exists());
    assert_eq!(report.command, "train");
    assert!(!report.epochs.is_empty() && report.epochs.len() <= 4);
    assert_eq!(report.accuracy.split, "test");
    assert_eq!(report.accuracy.rows, 360);
    assert_eq!(report.confusion.total(), 360);
    assert!(
        (report.confusion.accuracy() - report.accuracy.encrypted).abs() < 1e-12,
        "the confusion matrix is the encrypted model's"
    );
    // Four epochs on digits already classify well; the simulator's approximate softmax tracks
    // the exact one, so the two models land close together.
    assert!(report.accuracy.encrypted > 0.85, "{report:?}");
    assert!(report.accuracy.gap_points().abs() < 5.0, "{report:?}");

    // The test split was also classified by encrypted inference on the evaluator; the
    // simulator's logits are exact, so every prediction is the decrypted model's and the
    // accuracy is the same.
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy by encrypted inference on the evaluator: "))
        .unwrap_or_else(|| panic!("no encrypted-inference line in {log}"));
    let acc: f64 = line.split_once(" %; ").unwrap().0.parse().unwrap();
    assert!(
        (acc - 100.0 * report.accuracy.encrypted).abs() < 0.006,
        "{acc} vs {}",
        report.accuracy.encrypted
    );
    assert_eq!(inference_agreement(&log), (360, 360), "{line}");

    // The model file: checksummed, and its recorded accuracy is the report's.
    let model_path = out_dir.join("model.hetal");
    let model = ModelFile::load(&model_path).unwrap();
    assert_eq!((model.body().classes, model.body().dim), (10, 64));
    assert_eq!(model.body().test_accuracy, Some(report.accuracy.encrypted));

    // Prediction by encrypted inference reproduces the reported test accuracy exactly (the
    // simulator's logits are exact, so the argmax is the decrypted model's).
    let preds = dir.path().join("preds.npy");
    let out = hetal(&[
        "predict",
        "--model",
        s(&model_path),
        "--data",
        s(&fte),
        "--labels",
        s(&digits("labels_test.npy")),
        "--out",
        s(&preds),
        "--allow-insecure",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let predicted = labels(&preds);
    let truth = labels(&digits("labels_test.npy"));
    assert_eq!(predicted.len(), truth.len());
    let hits = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    let acc = hits as f64 / truth.len() as f64;
    assert!(
        (acc - report.accuracy.encrypted).abs() < 1e-12,
        "predict {acc} vs train's report {}",
        report.accuracy.encrypted
    );
    assert!(
        text(&out).contains("360 of 360 agree with the plaintext model"),
        "{}",
        text(&out)
    );

    // Real CKKS inference (DiagABT on ciphertexts under the model's INSECURE test preset):
    // encryption noise can flip only near-ties, so at most one row of 360 may differ.
    let out = hetal(&[
        "predict",
        "--model",
        s(&model_path),
        "--data",
        s(&fte),
        "--labels",
        s(&digits("labels_test.npy")),
        "--backend",
        "ckks",
        "--allow-insecure",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let ckks_acc: f64 = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .and_then(|a| a.trim_end_matches(" %").parse().ok())
        .expect("accuracy line");
    assert!(
        (ckks_acc - 100.0 * report.accuracy.encrypted).abs() <= 100.0 / 360.0 + 0.01,
        "CKKS inference {ckks_acc} % vs {} %",
        100.0 * report.accuracy.encrypted
    );

    // CSV output has one prediction per row.
    let csv = dir.path().join("preds.csv");
    let out = hetal(&[
        "predict",
        "--model",
        s(&model_path),
        "--data",
        s(&fte),
        "--out",
        s(&csv),
        "--allow-insecure",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], "prediction");
    let from_csv: Vec<i64> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
    assert_eq!(from_csv, predicted);

    // hetal inspect recognises the model and never prints weights.
    let out = hetal(&["inspect", s(&model_path), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["object"], "Model");
    assert_eq!(v["preset"], "insecure-test-n13");
    assert_eq!(v["details"]["classes"], "10");
    let largest = model
        .regression()
        .weights()
        .iter()
        .fold(0.0f64, |m, w| if w.abs() > m.abs() { *w } else { m });
    assert!(largest.abs() > 1e-3, "a trained model has nonzero weights");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains(&largest.to_string()), "{shown}");
    assert!(!shown.contains(&format!("{largest:.4}")), "{shown}");

    // A corrupted model is refused with the file named.
    let mut bytes = std::fs::read(&model_path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    let bad = dir.path().join("bad.hetal");
    std::fs::write(&bad, bytes).unwrap();
    let out = hetal(&["inspect", s(&bad)]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("bad.hetal") && text(&out).contains("checksum"),
        "{}",
        text(&out)
    );
}

/// `hetal train --dataset-dir D --memory-budget B` on the simulator: the trainer streams the
/// encrypted training set from D, and with a budget below the dataset's size it trains to the
/// very weights of the in-memory run and reports a peak within the budget.
#[test]
fn a_dataset_on_disk_within_a_small_budget_trains_to_the_in_memory_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (ftr, fva) = (digits("features_train.npy"), digits("features_val.npy"));
    let run = |name: &str, extra: &[&str]| -> (TrainingReport, ModelFile) {
        let out_dir = dir.path().join(name);
        let mut args = vec![
            "train",
            "--train",
            s(&ftr),
            "--val",
            s(&fva),
            "--backend",
            "sim",
            "--preset",
            "insecure-test-n13",
            "--allow-insecure",
            "--epochs",
            "2",
            "--batch-size",
            "128",
            "--network",
            "memory",
            "--no-evaluator",
            "--out",
            s(&out_dir),
        ];
        args.extend(extra);
        let out = hetal(&args);
        assert!(out.status.success(), "{}", text(&out));
        let report = TrainingReport::from_json(
            &std::fs::read_to_string(out_dir.join("report.json")).unwrap(),
        )
        .unwrap();
        (
            report,
            ModelFile::load(&out_dir.join("model.hetal")).unwrap(),
        )
    };
    let (plain_report, in_memory) = run("memory", &[]);
    assert_eq!(
        plain_report.dataset, None,
        "no dataset store without --dataset-dir"
    );

    // A budget that holds everything tells the dataset's size and batch count.
    let store = dir.path().join("enc");
    let (roomy, _) = run(
        "roomy",
        &["--dataset-dir", s(&store), "--memory-budget", "1000000000"],
    );
    let stats = roomy.dataset.expect("the dataset store's figures");
    let batches = roomy.config.steps_per_epoch as u64;
    assert!(batches >= 4, "{batches} batches");
    let batch_bytes = stats.stored_bytes.div_ceil(batches);

    // Two and a half batches of budget: well below the dataset.
    let budget = batch_bytes * 5 / 2;
    assert!(budget < stats.stored_bytes);
    let budget_arg = budget.to_string();
    let (report, model) = run(
        "streamed",
        &["--dataset-dir", s(&store), "--memory-budget", &budget_arg],
    );
    let d = report.dataset.expect("the dataset store's figures");
    println!("{d:?} (batches of about {batch_bytes} bytes)");
    assert_eq!(d.memory_budget_bytes, budget);
    assert_eq!(d.stored_bytes, stats.stored_bytes);
    assert!(d.peak_resident_bytes <= budget, "{d:?}");
    assert!(d.peak_resident_bytes > 0, "{d:?}");
    assert!(
        d.loads > batches,
        "batches were evicted and read again: {d:?}"
    );
    // The simulator is exact: the same weights bit for bit.
    assert_eq!(
        model.regression().weights(),
        in_memory.regression().weights()
    );
    // A budget without a dataset directory is a configuration error (exit 3).
    let out = hetal(&[
        "train",
        "--train",
        s(&digits("features_train.npy")),
        "--val",
        s(&digits("features_val.npy")),
        "--backend",
        "sim",
        "--preset",
        "insecure-test-n13",
        "--allow-insecure",
        "--network",
        "memory",
        "--memory-budget",
        "4096",
    ]);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "{}", text(&out));
    assert!(text(&out).contains("dataset directory"), "{}", text(&out));
}

#[test]
fn completions_print_a_script_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = hetal(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.len() > 500, "{shell}: {script}");
        assert!(
            script.contains("predict") && script.contains("learning-rate"),
            "{shell}"
        );
    }
    let out = hetal(&["completions", "tcsh"]);
    assert!(!out.status.success());
}

#[test]
fn help_lists_examples_and_exit_codes() {
    let out = hetal(&["--help"]);
    assert!(text(&out).contains("Exit codes:") && text(&out).contains("security refusal"));
    for sub in ["train", "predict"] {
        let out = hetal(&[sub, "--help"]);
        assert!(out.status.success());
        assert!(text(&out).contains("Examples:"), "{sub}: {}", text(&out));
    }
}

fn write_npy_file(path: &Path, array: NpyArray) {
    std::fs::write(path, write_npy(&array).unwrap()).unwrap();
}

/// A small valid data set in `dir`: 8 rows, 3 features, 2 classes.
fn small_pack(dir: &Path) {
    for split in ["train", "val"] {
        write_npy_file(
            &dir.join(format!("features_{split}.npy")),
            NpyArray {
                shape: vec![8, 3],
                data: NpyData::F32((0..24).map(|i| i as f32 / 24.0).collect()),
            },
        );
        write_npy_file(
            &dir.join(format!("labels_{split}.npy")),
            NpyArray {
                shape: vec![8],
                data: NpyData::I32((0..8).map(|i| i % 2).collect()),
            },
        );
    }
}

/// Plans `hetal train` on `dir`'s pack with `extra` flags: the error's exit code and message.
fn plan_error(dir: &Path, extra: &[&str]) -> (i32, String) {
    let ftr = dir.join("features_train.npy");
    let fva = dir.join("features_val.npy");
    let mut args = vec![
        "hetal",
        "train",
        "--train",
        s(&ftr),
        "--val",
        s(&fva),
        "--backend",
        "sim",
    ];
    args.extend_from_slice(extra);
    let Sub::Train(train) = Cli::try_parse_from(&args).unwrap().command else {
        panic!("not a train command");
    };
    let err = hetal::cli::train::plan(&train).unwrap_err();
    (exit_code(&err), format!("{err:#}"))
}

/// Plans with `extra` and expects a bad-input refusal (exit code) whose message names `file` and
/// says `detail`.
fn expect_bad_input(dir: &Path, extra: &[&str], file: &str, detail: &str) {
    let (code, msg) = plan_error(dir, extra);
    assert_eq!(code, BAD_INPUT, "{msg}");
    assert!(msg.contains(file) && msg.contains(detail), "{msg}");
}

/// Replaces `file` of the small pack with `array`, expects the refusal naming it, and restores
/// the valid pack.
fn expect_bad_npy(dir: &Path, extra: &[&str], file: &str, array: NpyArray, detail: &str) {
    write_npy_file(&dir.join(file), array);
    expect_bad_input(dir, extra, file, detail);
    small_pack(dir);
}

#[test]
fn bad_inputs_name_the_file_and_exit_with_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secure = ["--preset", "insecure-test-n10", "--allow-insecure"];

    // A valid pack plans fine.
    small_pack(d);
    let ok = {
        let ftr = d.join("features_train.npy");
        let fva = d.join("features_val.npy");
        let mut args = vec!["hetal", "train", "--train", s(&ftr), "--val", s(&fva)];
        args.extend_from_slice(&secure);
        let Sub::Train(t) = Cli::try_parse_from(&args).unwrap().command else {
            panic!()
        };
        hetal::cli::train::plan(&t)
    };
    assert!(ok.is_ok(), "{ok:?}");

    // Insecure preset without the opt-in: security refusal.
    let (code, msg) = plan_error(d, &["--preset", "insecure-test-n10"]);
    assert_eq!(code, SECURITY, "{msg}");
    assert!(msg.contains("--allow-insecure"), "{msg}");

    // NaN in the validation features.
    let mut values: Vec<f32> = (0..24).map(|i| i as f32).collect();
    values[7] = f32::NAN;
    expect_bad_npy(
        d,
        &secure,
        "features_val.npy",
        NpyArray {
            shape: vec![8, 3],
            data: NpyData::F32(values),
        },
        "NaN at row 2, column 1",
    );

    // A validation label the training labels never reach (2 classes: 0 and 1).
    expect_bad_npy(
        d,
        &secure,
        "labels_val.npy",
        NpyArray {
            shape: vec![8],
            data: NpyData::I32(vec![0, 1, 0, 1, 5, 1, 0, 1]),
        },
        "label 5 at row 4",
    );

    // Shape mismatch: 7 labels for 8 rows.
    expect_bad_npy(
        d,
        &secure,
        "labels_train.npy",
        NpyArray {
            shape: vec![7],
            data: NpyData::I32(vec![0, 1, 0, 1, 0, 1, 0]),
        },
        "8 feature rows but 7 labels",
    );

    // More classes than the preset's slots can pack (2^9 slots hold at most 16 classes).
    expect_bad_input(
        d,
        &[&secure[..], &["--classes", "17"]].concat(),
        "labels_train.npy",
        "at most 16",
    );

    // An empty file.
    std::fs::write(d.join("features_train.npy"), b"").unwrap();
    expect_bad_input(d, &secure, "features_train.npy", "empty");
    small_pack(d);

    // An unknown key in the config file.
    let config = d.join("hetal.toml");
    std::fs::write(&config, "learning_rate = 0.5\nlearnin_rate = 2.0\n").unwrap();
    expect_bad_input(
        d,
        &[&secure[..], &["--config", s(&config)]].concat(),
        "hetal.toml",
        "learnin_rate",
    );

    // Through the binary: a failure, with the same file named on stderr.
    let out = hetal(&[
        "train",
        "--train",
        s(&d.join("features_train.npy")),
        "--val",
        s(&d.join("features_val.npy")),
        "--config",
        s(&config),
        "--backend",
        "sim",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hetal.toml") && stderr.contains("learnin_rate"),
        "{stderr}"
    );

    // A usage error is clap's (exit 2).
    let out = hetal(&["train", "--train"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Real CKKS training with bootstrapping on the INSECURE small bootstrappable preset, then
/// encrypted prediction. Slow (minutes on 2 cores): `cargo test --release --test cli_train --
/// --ignored`.
#[test]
#[ignore]
fn train_and_predict_with_ckks_on_the_insecure_bootstrappable_preset() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("ckks");
    let out = hetal(&[
        "train",
        "--train",
        s(&digits("features_train.npy")),
        "--val",
        s(&digits("features_val.npy")),
        "--test",
        s(&digits("features_test.npy")),
        "--backend",
        "ckks",
        "--preset",
        "insecure-boot-n12",
        "--allow-insecure",
        "--epochs",
        "2",
        "--out",
        s(&out_dir),
    ]);
    let log = text(&out);
    println!("{log}");
    assert!(out.status.success(), "{log}");
    let report =
        TrainingReport::from_json(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert!(report.operations.bootstraps > 0, "{report:?}");
    assert!(report.accuracy.gap_points().abs() < 5.0, "{report:?}");
    // Encrypted inference on the evaluator: CKKS noise on the logits can flip only near-ties,
    // so at most one of the 360 test rows may disagree with the decrypted model.
    let (agree, rows) = inference_agreement(&log);
    assert!(rows == 360 && agree + 1 >= rows, "{agree} of {rows}");
    let out = hetal(&[
        "predict",
        "--model",
        s(&out_dir.join("model.hetal")),
        "--data",
        s(&digits("features_test.npy")),
        "--labels",
        s(&digits("labels_test.npy")),
        "--allow-insecure",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let acc: f64 = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .and_then(|a| a.trim_end_matches(" %").parse().ok())
        .expect("accuracy line");
    assert!(
        (acc - 100.0 * report.accuracy.encrypted).abs() <= 100.0 / 360.0 + 0.01,
        "encrypted inference {acc} % vs the decrypted model's {} %",
        100.0 * report.accuracy.encrypted
    );
}
