//! The image pipeline on a tiny random ViT that the test writes itself: shapes, determinism,
//! batch invariance, CLS against mean pooling, and preprocessing of real PNG/JPEG files.

use std::path::{Path, PathBuf};

use hetal_embed::tiny::{TinyVit, write_tiny_vit};
use hetal_embed::{EmbedError, ImageEmbedder, ImagePooling, list_images};

fn model(pooling: ImagePooling) -> (tempfile::TempDir, ImageEmbedder) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_vit(dir.path(), &TinyVit::default()).unwrap();
    let embedder = ImageEmbedder::load(dir.path(), pooling).unwrap();
    (dir, embedder)
}

/// Writes `count` distinct gradient images of `side` pixels (PNG, with one JPEG) into `dir`.
fn write_images(dir: &Path, count: usize, side: u32) -> Vec<PathBuf> {
    (0..count)
        .map(|k| {
            let img = image::RgbImage::from_fn(side, side, |x, y| {
                let k = k as u32;
                image::Rgb([
                    ((x * 7 + k * 40) % 256) as u8,
                    ((y * 5 + k * 90) % 256) as u8,
                    ((x * y + k * 13) % 256) as u8,
                ])
            });
            let ext = if k == 1 { "jpg" } else { "png" };
            let path = dir.join(format!("img{k:02}.{ext}"));
            img.save(&path).unwrap();
            path
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn images_are_listed_in_name_order_and_embedded_per_row() {
    let (_m, vit) = model(ImagePooling::Cls);
    let images = tempfile::tempdir().unwrap();
    let written = write_images(images.path(), 5, 24);
    std::fs::write(images.path().join("notes.txt"), "not an image").unwrap();
    let listed = list_images(images.path()).unwrap();
    assert_eq!(listed, written);
    let mut seen = Vec::new();
    let out = vit.embed_files(&listed, 2, &mut |n| seen.push(n)).unwrap();
    assert_eq!((out.rows, out.dim), (5, 16));
    assert_eq!(seen, vec![2, 4, 5]);
    assert!(out.data.iter().all(|v| v.is_finite()));
    assert!(max_abs_diff(out.row(0), out.row(1)) > 1e-3);
    // Deterministic, and a batch equals single calls.
    let again = vit.embed_files(&listed, 5, &mut |_| {}).unwrap();
    assert!(max_abs_diff(&out.data, &again.data) < 1e-5);
    for (i, path) in listed.iter().enumerate() {
        let single = vit
            .embed_files(std::slice::from_ref(path), 1, &mut |_| {})
            .unwrap();
        assert!(max_abs_diff(out.row(i), single.row(0)) < 1e-5);
    }
}

#[test]
fn preprocessing_rescales_and_normalises() {
    // A uniform image of value 255 becomes 1.0 everywhere ((255/255 - 0.5) / 0.5), at any size.
    let (_m, vit) = model(ImagePooling::Mean);
    let images = tempfile::tempdir().unwrap();
    let path = images.path().join("white.png");
    image::RgbImage::from_pixel(37, 21, image::Rgb([255, 255, 255]))
        .save(&path)
        .unwrap();
    let from_file = vit.embed_files(&[path], 1, &mut |_| {}).unwrap();
    let from_pixels = vit.embed_pixels(vec![1.0; 3 * 16 * 16], 1).unwrap();
    assert!(max_abs_diff(&from_file.data, &from_pixels) < 1e-5);
}

#[test]
fn cls_and_mean_pooling_differ() {
    let (_a, cls) = model(ImagePooling::Cls);
    let (_b, mean) = model(ImagePooling::Mean);
    let pixels: Vec<f32> = (0..3 * 16 * 16)
        .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
        .collect();
    let a = cls.embed_pixels(pixels.clone(), 1).unwrap();
    let b = mean.embed_pixels(pixels, 1).unwrap();
    assert_eq!(a.len(), 16);
    assert!(max_abs_diff(&a, &b) > 1e-3);
}

#[test]
fn bad_images_and_directories_are_named() {
    let (_m, vit) = model(ImagePooling::Cls);
    let images = tempfile::tempdir().unwrap();
    assert!(matches!(
        list_images(images.path()),
        Err(EmbedError::Input(_))
    ));
    let broken = images.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let err = vit.embed_files(&[broken], 1, &mut |_| {}).unwrap_err();
    assert!(matches!(err, EmbedError::Image { .. }), "{err}");
    assert!(err.to_string().contains("broken.png"), "{err}");
    let wrong = vit.embed_pixels(vec![0.0; 10], 1).unwrap_err();
    assert!(matches!(wrong, EmbedError::Input(_)));
}
