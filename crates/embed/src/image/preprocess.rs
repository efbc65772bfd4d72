//! Image preprocessing as `preprocessor_config.json` describes it (Hugging Face
//! `ViTImageProcessor`): convert to RGB, resize to a fixed size, rescale, normalise per channel.

use std::path::Path;

use image::imageops::FilterType;
use serde::Deserialize;

use crate::error::{EmbedError, Result, read_file, read_json};

/// Largest accepted image side after resizing, and largest decoded image (pixels per side).
const MAX_SIDE: u32 = 1 << 14;

/// `size` as the processor file writes it: one number or a height/width pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeField {
    Square(u32),
    HeightWidth { height: u32, width: u32 },
}

#[derive(Debug, Deserialize)]
struct ProcessorFile {
    #[serde(default = "yes")]
    do_resize: bool,
    size: Option<SizeField>,
    #[serde(default = "bilinear")]
    resample: u32,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "inv255")]
    rescale_factor: f32,
    #[serde(default = "yes")]
    do_normalize: bool,
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
}

fn yes() -> bool {
    true
}
fn bilinear() -> u32 {
    2
}
fn inv255() -> f32 {
    1.0 / 255.0
}

/// The resolved preprocessing.
#[derive(Debug, Clone)]
pub struct Preprocess {
    /// Output height and width in pixels (the model's input size).
    pub height: u32,
    /// Output width in pixels.
    pub width: u32,
    /// Resampling filter.
    pub filter: FilterType,
    /// Whether images are resized (if not, they must already have the model's size).
    pub resize: bool,
    /// Factor applied to 0..255 values (1/255 by default; 1 when rescaling is off).
    pub rescale: f32,
    /// Per-channel mean subtracted after rescaling (0 when normalisation is off).
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by (1 when normalisation is off).
    pub std: [f32; 3],
}

impl Preprocess {
    /// Reads `path` (Hugging Face defaults where it is absent: resize to `image_size` bilinear,
    /// rescale by 1/255, normalise with mean 0.5 and standard deviation 0.5). The output size
    /// must equal the model's `image_size`.
    pub fn load(path: &Path, image_size: u32) -> Result<Self> {
        let file: ProcessorFile = if path.exists() {
            read_json(path)?
        } else {
            serde_json::from_str("{}").map_err(|source| EmbedError::Json {
                path: path.to_path_buf(),
                source,
            })?
        };
        let bad = |message: String| EmbedError::Config {
            path: path.to_path_buf(),
            message,
        };
        let (height, width) = match file.size {
            None => (image_size, image_size),
            Some(SizeField::Square(s)) => (s, s),
            Some(SizeField::HeightWidth { height, width }) => (height, width),
        };
        if height != image_size || width != image_size {
            return Err(bad(format!(
                "size {height}x{width} differs from the model's image_size {image_size}"
            )));
        }
        let filter = match file.resample {
            0 => FilterType::Nearest,
            1 => FilterType::Lanczos3,
            2 => FilterType::Triangle,
            3 => FilterType::CatmullRom,
            other => {
                return Err(bad(format!(
                    "resample {other} is not supported (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic)"
                )));
            }
        };
        let channel_triple = |v: Option<Vec<f32>>, default: f32, name: &str| -> Result<[f32; 3]> {
            match v {
                None => Ok([default; 3]),
                Some(v) => <[f32; 3]>::try_from(v.as_slice())
                    .map_err(|_| bad(format!("{name} has {} values, expected 3 (RGB)", v.len()))),
            }
        };
        let (mean, std) = if file.do_normalize {
            (
                channel_triple(file.image_mean, 0.5, "image_mean")?,
                channel_triple(file.image_std, 0.5, "image_std")?,
            )
        } else {
            ([0.0; 3], [1.0; 3])
        };
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || mean.iter().any(|m| !m.is_finite())
            || !file.rescale_factor.is_finite()
        {
            return Err(bad(
                "image_mean, image_std and rescale_factor must be finite, image_std positive"
                    .to_owned(),
            ));
        }
        Ok(Self {
            height,
            width,
            filter,
            resize: file.do_resize,
            rescale: if file.do_rescale {
                file.rescale_factor
            } else {
                1.0
            },
            mean,
            std,
        })
    }

    /// Decodes the image at `path` and returns its `3 × height × width` values (channel-major).
    pub fn load_image(&self, path: &Path) -> Result<Vec<f32>> {
        let bytes = read_file(path)?;
        let decode_error = |source| EmbedError::Image {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| decode_error(image::ImageError::IoError(e)))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        reader.limits(limits);
        let decoded = reader.decode().map_err(decode_error)?;
        let rgb = if self.resize {
            decoded
                .resize_exact(self.width, self.height, self.filter)
                .to_rgb8()
        } else {
            decoded.to_rgb8()
        };
        if rgb.width() != self.width || rgb.height() != self.height {
            return Err(EmbedError::Input(format!(
                "{}: image is {}x{}, the model takes {}x{} and resizing is off",
                path.display(),
                rgb.width(),
                rgb.height(),
                self.width,
                self.height
            )));
        }
        Ok(self.to_chw(&rgb))
    }

    /// Rescales and normalises an RGB image of the model's size into channel-major values.
    fn to_chw(&self, rgb: &image::RgbImage) -> Vec<f32> {
        let plane = (self.width * self.height) as usize;
        let mut out = vec![0f32; 3 * plane];
        for (i, pixel) in rgb.pixels().enumerate() {
            for c in 0..3 {
                let v = f32::from(pixel[c]) * self.rescale;
                out[c * plane + i] = (v - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}
