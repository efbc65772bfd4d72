//! Broken model directories: every problem is a typed error that names the file at fault.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use hetal_embed::tiny::{TinyText, TinyVit, write_tiny_text, write_tiny_vit};
use hetal_embed::{EmbedError, ImageEmbedder, ImagePooling, TextEmbedder};

fn tiny_text() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_text(dir.path(), &TinyText::default()).unwrap();
    dir
}

fn load_err(dir: &Path) -> EmbedError {
    TextEmbedder::load(dir).unwrap_err()
}

/// Rewrites `file` (JSON) in `dir` with `edit` applied to its text.
fn edit(dir: &Path, file: &str, edit: impl Fn(String) -> String) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = edit(text.clone());
    assert_ne!(changed, text, "the edit of {file} changed nothing");
    std::fs::write(path, changed).unwrap();
}

#[test]
fn missing_files_are_named() {
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let dir = tiny_text();
        std::fs::remove_file(dir.path().join(file)).unwrap();
        match load_err(dir.path()) {
            EmbedError::MissingFile { path } => assert!(path.ends_with(file), "{path:?}"),
            other => panic!("{file}: {other}"),
        }
    }
    let dir = tiny_text();
    std::fs::remove_file(dir.path().join("1_Pooling/config.json")).unwrap();
    let err = load_err(dir.path());
    assert!(
        matches!(err, EmbedError::MissingFile { ref path } if path.ends_with("1_Pooling/config.json")),
        "{err}"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    let dir = tiny_text();
    let path = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let name = "encoder.layer.1.intermediate.dense.weight";
    tensors.insert(
        name.to_owned(),
        Tensor::zeros((31, 16), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &path).unwrap();
    match load_err(dir.path()) {
        EmbedError::TensorShape {
            path: p,
            name: n,
            expected,
            actual,
        } => {
            assert!(p.ends_with("model.safetensors"));
            assert_eq!(n, name);
            assert_eq!((expected, actual), (vec![32, 16], vec![31, 16]));
        }
        other => panic!("{other}"),
    }
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    tensors.remove("encoder.relative_attention_bias.weight");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = load_err(dir.path());
    assert!(
        matches!(err, EmbedError::MissingTensor { ref name, .. } if name == "encoder.relative_attention_bias.weight"),
        "{err}"
    );
}

#[test]
fn a_truncated_weights_file_is_rejected() {
    let dir = tiny_text();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(dir.path());
    assert!(
        matches!(err, EmbedError::Safetensors { ref path, .. } if path.ends_with("model.safetensors")),
        "{err}"
    );
}

/// A change of a configuration file's text.
type Edit = fn(String) -> String;

#[test]
fn unsupported_configurations_name_their_file() {
    let cases: [(&str, Edit, &str); 6] = [
        (
            "config.json",
            |t| t.replace("\"mpnet\"", "\"roberta\""),
            "model_type",
        ),
        (
            "config.json",
            |t| t.replace("\"gelu\"", "\"swish\""),
            "hidden_act",
        ),
        (
            "config.json",
            |t| t.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"),
            "multiple",
        ),
        (
            "1_Pooling/config.json",
            |t| {
                t.replace(
                    "\"pooling_mode_cls_token\": false",
                    "\"pooling_mode_cls_token\": true",
                )
            },
            "several",
        ),
        (
            "modules.json",
            |t| t.replace("models.Normalize", "models.Dense"),
            "not supported",
        ),
        (
            "sentence_bert_config.json",
            |t| t.replace("32", "4000"),
            "max_seq_length",
        ),
    ];
    for (file, change, words) in cases {
        let dir = tiny_text();
        edit(dir.path(), file, change);
        match load_err(dir.path()) {
            EmbedError::Config { path, message } => {
                assert!(path.ends_with(file), "{file}: error names {path:?}");
                assert!(message.contains(words), "{file}: {message}");
            }
            other => panic!("{file}: {other}"),
        }
    }
    let dir = tiny_text();
    edit(dir.path(), "config.json", |t| {
        t.replace("\"hidden_size\"", "\"hidden\"")
    });
    assert!(
        matches!(load_err(dir.path()), EmbedError::Json { ref path, .. } if path.ends_with("config.json"))
    );
    let dir = tiny_text();
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    assert!(
        matches!(load_err(dir.path()), EmbedError::Tokenizer { ref path, .. } if path.ends_with("tokenizer.json"))
    );
}

#[test]
fn vit_configuration_errors_name_their_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_vit(dir.path(), &TinyVit::default()).unwrap();
    edit(dir.path(), "config.json", |t| {
        t.replace("\"patch_size\": 4", "\"patch_size\": 5")
    });
    let err = ImageEmbedder::load(dir.path(), ImagePooling::Cls).unwrap_err();
    assert!(
        matches!(err, EmbedError::Config { ref path, .. } if path.ends_with("config.json")),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    write_tiny_vit(dir.path(), &TinyVit::default()).unwrap();
    edit(dir.path(), "preprocessor_config.json", |t| {
        t.replace("\"height\": 16", "\"height\": 32")
    });
    let err = ImageEmbedder::load(dir.path(), ImagePooling::Cls).unwrap_err();
    assert!(
        matches!(err, EmbedError::Config { ref path, .. } if path.ends_with("preprocessor_config.json")),
        "{err}"
    );
    // A text model is not an image model.
    let text = tiny_text();
    let err = ImageEmbedder::load(text.path(), ImagePooling::Cls).unwrap_err();
    assert!(matches!(err, EmbedError::Config { .. }), "{err}");
}
