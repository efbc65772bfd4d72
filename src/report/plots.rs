//! The report's plots, drawn with `plotters` into SVG strings (embedded inline in the HTML, so
//! the page needs no other file and no script).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ConfusionMatrix, EpochReport, ReportError, StageTime};

const ENCRYPTED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const PLAINTEXT: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const BAR: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

fn plot_err(plot: &'static str) -> impl Fn(String) -> ReportError {
    move |message| ReportError::Plot { plot, message }
}

/// Runs `draw` on a fresh SVG canvas of `size` pixels and returns the SVG text.
fn svg(
    plot: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| plot_err(plot)(e.to_string()))?;
        draw(&root).map_err(plot_err(plot))?;
        root.present().map_err(|e| plot_err(plot)(e.to_string()))?;
    }
    Ok(out)
}

/// Validation loss per epoch: the encrypted run as the client decrypted it, and the plaintext
/// reference with the same hyper-parameters.
pub fn loss_per_epoch(epochs: &[EpochReport]) -> Result<String, ReportError> {
    let encrypted: Vec<(f64, f64)> = epochs
        .iter()
        .map(|e| (e.epoch as f64, e.encrypted_val_loss))
        .filter(|(_, y)| y.is_finite())
        .collect();
    let plaintext: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| e.plaintext_val_loss.map(|l| (e.epoch as f64, l)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    let x_max = epochs.iter().map(|e| e.epoch).max().unwrap_or(1).max(1) as f64;
    let y_max = encrypted
        .iter()
        .chain(&plaintext)
        .map(|&(_, y)| y)
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.15;
    svg("validation loss", (640, 360), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Validation loss per epoch", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5..x_max + 0.5, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("cross-entropy")
            .x_labels(epochs.len().clamp(2, 12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        // The plaintext line is drawn first, wide and pale, so that the encrypted line stays
        // visible on top of it where the two agree.
        for (name, points, color, width, radius) in [
            ("plaintext reference", &plaintext, PLAINTEXT, 6, 7),
            ("encrypted (client decrypted)", &encrypted, ENCRYPTED, 2, 3),
        ] {
            if points.is_empty() {
                continue;
            }
            let line = if width > 2 {
                color.mix(0.45).stroke_width(width)
            } else {
                color.stroke_width(width)
            };
            chart
                .draw_series(LineSeries::new(points.iter().copied(), line))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], line));
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, radius, color.mix(0.8).filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Wall time per stage as horizontal bars.
pub fn time_per_stage(stages: &[StageTime]) -> Result<String, ReportError> {
    let n = stages.len().max(1);
    let t_max = stages
        .iter()
        .map(|s| s.seconds)
        .filter(|s| s.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.2;
    let height = 90 + 36 * n as u32;
    svg("time per stage", (640, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Time per stage", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..t_max, 0.0..n as f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("seconds")
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                // Labels sit at the bar centres (i + 0.5), listed from the top.
                let slot = y - y.floor();
                let i = y.floor() as usize;
                if (slot - 0.5).abs() < 1e-6 && i < n {
                    stages
                        .get(n - 1 - i)
                        .map(|s| s.name.clone())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(stages.iter().enumerate().map(|(i, s)| {
                let row = (n - 1 - i) as f64;
                let secs = if s.seconds.is_finite() {
                    s.seconds
                } else {
                    0.0
                };
                Rectangle::new([(0.0, row + 0.18), (secs, row + 0.82)], BAR.filled())
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(stages.iter().enumerate().map(|(i, s)| {
                let row = (n - 1 - i) as f64;
                let secs = if s.seconds.is_finite() {
                    s.seconds
                } else {
                    0.0
                };
                Text::new(
                    format!("{:.1} s", s.seconds),
                    (secs + t_max * 0.01, row + 0.62),
                    ("sans-serif", 13),
                )
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// The confusion matrix as a heat map with the count in each cell.
pub fn confusion(matrix: &ConfusionMatrix) -> Result<String, ReportError> {
    let k = matrix.classes.max(1);
    let max = matrix.max_count().max(1) as f64;
    svg("confusion matrix", (520, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Confusion matrix (encrypted model)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..k as f64, 0.0..k as f64)
            .map_err(|e| e.to_string())?;
        let centre = |v: &f64| {
            let slot = v - v.floor();
            if (slot - 0.5).abs() < 1e-6 {
                format!("{}", v.floor() as usize)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .x_labels(2 * k + 1)
            .y_labels(2 * k + 1)
            .x_label_formatter(&centre)
            .y_label_formatter(&|y| {
                // True class 0 at the top, as confusion matrices are usually read.
                let slot = y - y.floor();
                let row = y.floor() as usize;
                if (slot - 0.5).abs() < 1e-6 && row < k {
                    format!("{}", k - 1 - row)
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        let cells = matrix
            .counts
            .iter()
            .enumerate()
            .flat_map(|(t, row)| row.iter().enumerate().map(move |(p, &count)| (t, p, count)));
        let cells: Vec<(usize, usize, u64)> = cells.collect();
        chart
            .draw_series(cells.iter().map(|&(t, p, count)| {
                let y = (k - 1 - t) as f64;
                let shade = count as f64 / max;
                let fill = RGBColor(
                    (255.0 - 200.0 * shade) as u8,
                    (255.0 - 120.0 * shade) as u8,
                    255,
                );
                Rectangle::new(
                    [(p as f64 + 0.02, y + 0.02), (p as f64 + 0.98, y + 0.98)],
                    fill.filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(cells.iter().filter(|c| c.2 > 0).map(|&(t, p, count)| {
                let y = (k - 1 - t) as f64;
                Text::new(
                    count.to_string(),
                    (p as f64 + 0.35, y + 0.62),
                    ("sans-serif", 13),
                )
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn plots_are_svg_with_drawn_elements() {
        let r = sample();
        let loss = loss_per_epoch(&r.epochs).unwrap();
        assert!(loss.starts_with("<svg"));
        // Two series of three points each are drawn as circles.
        assert_eq!(loss.matches("<circle").count(), 6);
        assert!(loss.contains("plaintext reference"));
        let stages = time_per_stage(&r.stages).unwrap();
        assert!(stages.contains("key generation") && stages.contains("10.0 s"));
        let cm = confusion(&r.confusion).unwrap();
        // 9 cells plus the background, one label per non-zero cell.
        assert!(cm.matches("<rect").count() >= 9);
        let nonzero = r.confusion.counts.iter().flatten().filter(|&&c| c > 0);
        assert!(cm.matches("<text").count() >= nonzero.count());
    }

    #[test]
    fn empty_inputs_still_draw() {
        assert!(loss_per_epoch(&[]).unwrap().starts_with("<svg"));
        assert!(time_per_stage(&[]).unwrap().starts_with("<svg"));
        let m = ConfusionMatrix::from_predictions(&[], &[], 0).unwrap();
        assert!(confusion(&m).unwrap().starts_with("<svg"));
    }
}
