//! `hetal embed`: the feature-extraction stage HETAL runs before training — a frozen sentence
//! transformer for text, a frozen ViT for images — on this machine's CPU, from a local model
//! directory (no network).
//!
//! ```text
//! hetal embed --model DIR (--text FILE | --images DIR) --out F.npy [--batch B] [--threads T]
//!             [--pooling cls|mean]
//! ```
//!
//! `--text FILE`: one input per line (empty lines are inputs too). `--images DIR`: the
//! `.png`/`.jpg`/`.jpeg` files directly in DIR, in byte order of their names (the order is
//! printed with `-v`). The output is a float32 `.npy` matrix with one row per input, in input
//! order, ready for `hetal train`. Model directory layouts: see [`hetal_embed::text`] and
//! [`hetal_embed::image`]. Broken models or inputs exit with code 3 and name the file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hetal_data::npy::{NpyArray, NpyData, write_npy};
use hetal_embed::{EmbedError, Embeddings, ImageEmbedder, ImagePooling, TextEmbedder};

use super::exit::Refusal;
use crate::progress::Progress;

/// Examples shown by `hetal embed --help`.
pub const EXAMPLES: &str = "\
Examples:
  # sentence embeddings with all-mpnet-base-v2 (a sentence-transformers directory)
  hetal embed --model models/all-mpnet-base-v2 --text utterances.txt --out features_train.npy
  # CLS features of a ViT (a Hugging Face directory with model.safetensors)
  hetal embed --model models/vit-base-patch16-224 --images photos/ --out features.npy --batch 16
  # then train on them
  hetal train --train features_train.npy --train-labels labels_train.npy --val ... ";

/// How an image becomes a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolingArg {
    /// The CLS token's final state.
    Cls,
    /// The mean of the patch tokens' final states.
    Mean,
}

/// Arguments of `hetal embed`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct EmbedArgs {
    /// Model directory: `config.json`, `model.safetensors`, and `tokenizer.json` (text) or
    /// `preprocessor_config.json` (images).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Text file, one input per line.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "images",
        required_unless_present = "images"
    )]
    pub text: Option<PathBuf>,
    /// Directory of .png/.jpg/.jpeg images (rows in file-name order).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Output `.npy` file (float32, one row per input).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Threads for the tensor kernels (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Image pooling (ignored for text, whose pooling the model directory sets).
    #[arg(long, value_enum, default_value = "cls")]
    pub pooling: PoolingArg,
}

/// Exit code 3 for problems with the model directory or the inputs; the rest are runtime errors.
fn classify(err: EmbedError) -> anyhow::Error {
    match err {
        EmbedError::Compute(_) => anyhow::Error::from(err),
        EmbedError::Io { .. } => anyhow::Error::from(err),
        other => Refusal::BadInput(other.to_string()).into(),
    }
}

/// Runs `hetal embed`.
pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(t) = args.threads {
        builder = builder.num_threads(t as usize);
    }
    let pool = builder.build().context("starting the thread pool")?;
    let started = Instant::now();
    let embeddings = pool.install(|| embed(args))?;
    let array = NpyArray {
        shape: vec![embeddings.rows, embeddings.dim],
        data: NpyData::F32(embeddings.data),
    };
    let bytes = write_npy(&array).context("encoding the output")?;
    std::fs::write(&args.out, bytes).with_context(|| format!("writing {}", args.out.display()))?;
    Progress::global().say(format!(
        "embedded {} inputs into {} ({}x{} float32) in {:.1} s",
        embeddings.rows,
        args.out.display(),
        embeddings.rows,
        embeddings.dim,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn embed(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let batch = args.batch as usize;
    let progress = Progress::global();
    if let Some(text_file) = &args.text {
        let text = std::fs::read_to_string(text_file).map_err(|e| {
            Refusal::BadInput(format!(
                "{}: cannot read as UTF-8 text: {e}",
                text_file.display()
            ))
        })?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return Err(Refusal::BadInput(format!("{}: no lines", text_file.display())).into());
        }
        let loading = progress.spinner("loading the text model");
        let model = TextEmbedder::load(&args.model).map_err(classify)?;
        loading.finish_and_clear();
        tracing::info!(
            dim = model.dim(),
            max_seq_length = model.max_seq_length(),
            head = ?model.head(),
            "text model loaded from {}",
            args.model.display()
        );
        let bar = progress.bar(lines.len() as u64, "embedding text", "inputs");
        let out = model
            .embed(&lines, batch, &mut |done| bar.set_position(done as u64))
            .map_err(classify)?;
        bar.finish_and_clear();
        Ok(out)
    } else if let Some(dir) = &args.images {
        let files = hetal_embed::list_images(dir).map_err(classify)?;
        for (i, f) in files.iter().enumerate() {
            tracing::debug!(row = i, file = %f.display(), "image");
        }
        let pooling = match args.pooling {
            PoolingArg::Cls => ImagePooling::Cls,
            PoolingArg::Mean => ImagePooling::Mean,
        };
        let loading = progress.spinner("loading the image model");
        let model = ImageEmbedder::load(&args.model, pooling).map_err(classify)?;
        loading.finish_and_clear();
        let bar = progress.bar(files.len() as u64, "embedding images", "inputs");
        let out = model
            .embed_files(&files, batch, &mut |done| bar.set_position(done as u64))
            .map_err(classify)?;
        bar.finish_and_clear();
        Ok(out)
    } else {
        Err(Refusal::BadInput("give --text FILE or --images DIR".to_owned()).into())
    }
}
