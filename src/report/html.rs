//! `report.html`: one self-contained page (inline CSS and SVG, no script, no external file) with
//! the run's figures and plots.

use std::fmt::Write as _;

use hetal_learn::train::Decision;

use super::{ReportError, TrainingReport, plots};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count with a binary-prefixed unit.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| "—".into())
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.insecure{background:#fdd;border:2px solid #c00;padding:8px;font-weight:bold}\
.headline{font-size:1.3em}figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}";

/// Renders the page.
pub fn render(report: &TrainingReport) -> Result<String, ReportError> {
    let loss_svg = plots::loss_per_epoch(&report.epochs)?;
    let stages_svg = plots::time_per_stage(&report.stages)?;
    let confusion_svg = plots::confusion(&report.confusion)?;
    let c = &report.config;
    let p = &report.preset;
    let a = &report.accuracy;
    let mut h = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>hetal {} report</title><style>{STYLE}</style></head><body>",
        escape(&report.command)
    );
    let _ = writeln!(h, "<h1>hetal {} report</h1>", escape(&report.command));
    if !p.secure {
        let _ = writeln!(
            h,
            "<p class=\"insecure\">INSECURE parameters ({}): for trying the interface only; \
             these ciphertexts protect nothing.</p>",
            escape(&p.name)
        );
    }
    if c.backend != "ckks" {
        let _ = writeln!(
            h,
            "<p class=\"insecure\">Backend {}: no encryption at all (exact slot simulator).</p>",
            escape(&c.backend)
        );
    }
    let _ = writeln!(
        h,
        "<p class=\"headline\">{} accuracy: encrypted model <b>{}</b>, plaintext model <b>{}</b> \
         ({} rows; gap {:.2} points). Total time {:.1} s.</p>",
        escape(&a.split),
        pct(a.encrypted),
        pct(a.plaintext),
        a.rows,
        a.gap_points(),
        report.total_seconds
    );
    let _ = writeln!(
        h,
        "<h2>Configuration</h2><table>\
         <tr><th class=\"l\">data</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">backend</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">preset</th><td class=\"l\">{} (N = {}, {} slots, log QP {}, {}, {})</td></tr>\
         <tr><th class=\"l\">rows</th><td class=\"l\">train {} / validation {} / test {}; {} features, {} classes</td></tr>\
         <tr><th class=\"l\">packing</th><td class=\"l\">blocks of {} × {}; {} step(s) per epoch</td></tr>\
         <tr><th class=\"l\">training</th><td class=\"l\">learning rate {}, batch {}, up to {} epochs, patience {}, {:?}, softmax {}</td></tr>\
         <tr><th class=\"l\">parties</th><td class=\"l\">client, trainer, {} worker(s){}</td></tr>\
         </table>",
        escape(&c.data),
        escape(&c.backend),
        escape(&p.name),
        p.ring_degree,
        p.slots,
        p.log_qp.map_or_else(|| "—".to_string(), |b| b.to_string()),
        if p.secure {
            "128-bit secure"
        } else {
            "INSECURE"
        },
        if p.bootstrapping {
            "bootstrapping"
        } else {
            "no bootstrapping"
        },
        c.train_rows,
        c.val_rows,
        c.test_rows,
        c.features,
        c.classes,
        c.block_rows,
        c.block_cols,
        c.steps_per_epoch,
        c.hyper.learning_rate,
        c.hyper.batch_size,
        c.hyper.max_epochs,
        c.hyper.patience,
        c.hyper.optimizer,
        escape(&c.softmax),
        c.workers,
        if c.evaluator { ", evaluator" } else { "" },
    );
    if !c.rationale.is_empty() {
        h.push_str("<h3>Why these choices</h3><ul>");
        for line in &c.rationale {
            let _ = write!(h, "<li>{}</li>", escape(line));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(
        "<h2>Epochs</h2><table><tr><th>epoch</th><th>encrypted val. loss</th>\
         <th>plaintext val. loss</th><th>encrypted val. acc.</th><th>plaintext val. acc.</th>\
         <th class=\"l\">client decision</th><th>seconds</th></tr>\n",
    );
    for e in &report.epochs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}{}</td><td>{:.1}</td></tr>",
            e.epoch,
            e.encrypted_val_loss,
            opt(e.plaintext_val_loss, |l| format!("{l:.4}")),
            pct(e.encrypted_val_accuracy),
            opt(e.plaintext_val_accuracy, pct),
            match e.decision {
                Decision::Continue => "continue",
                Decision::Stop => "stop",
            },
            if e.new_best { " (new best)" } else { "" },
            e.seconds
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<figure id=\"plot-loss\">{loss_svg}<figcaption>Validation loss per epoch: the encrypted run \
         as the client decrypted it, and the plaintext reference with the same hyper-parameters.\
         </figcaption></figure>"
    );
    h.push_str("<h2>Time</h2><table><tr><th class=\"l\">stage</th><th>seconds</th></tr>");
    for s in &report.stages {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{:.2}</td></tr>",
            escape(&s.name),
            s.seconds
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<figure id=\"plot-stages\">{stages_svg}<figcaption>Wall time per stage.</figcaption></figure>"
    );
    let o = &report.operations;
    let _ = writeln!(
        h,
        "<h2>Operations</h2><table>\
         <tr><th class=\"l\">epochs</th><td>{}</td></tr><tr><th class=\"l\">steps</th><td>{}</td></tr>\
         <tr><th class=\"l\">bootstraps (trainer)</th><td>{}</td></tr>\
         <tr><th class=\"l\">work units on workers / trainer / re-sent</th><td>{} / {} / {}</td></tr></table>",
        o.epochs, o.steps, o.bootstraps, o.units_on_workers, o.units_on_trainer, o.units_resent
    );
    h.push_str(
        "<h2>Traffic</h2><table><tr><th class=\"l\">party</th><th>sent</th><th class=\"l\">what</th></tr>",
    );
    for t in &report.traffic {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            escape(&t.party),
            human_bytes(t.bytes),
            escape(&t.what)
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<h2>Confusion matrix</h2><figure id=\"plot-confusion\">{confusion_svg}<figcaption>\
         Encrypted-trained model on the {} split: rows are true classes, columns predictions.\
         </figcaption></figure>",
        escape(&a.split)
    );
    h.push_str("</body></html>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn page_holds_the_figures_and_escapes_free_text() {
        let r = sample();
        let page = render(&r).unwrap();
        assert!(page.contains("INSECURE"));
        assert!(page.contains("full batch &lt;one block&gt; &amp; &quot;quotes&quot;"));
        assert!(!page.contains("<one block>"));
        for id in ["plot-loss", "plot-stages", "plot-confusion"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        // One table row per epoch in the epochs table.
        assert_eq!(page.matches("(new best)").count(), r.epochs.len());
        assert!(!page.contains("<script"));
    }
}
