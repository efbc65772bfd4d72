//! `report.html` in a real browser: headless Chromium loads the page with a probe script
//! injected at the top of `<head>` (the report itself has no script), which records every error
//! event and `console.error` call, then measures each plot's SVG after layout and writes the
//! results into the DOM; `--dump-dom` hands them back. Skips with a message when Chromium is not
//! installed (Debian package `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

use hetal::learn::train::{Decision, Preset};
use hetal::report::{
    Accuracy, ConfusionMatrix, EpochReport, Operations, PartyTraffic, PresetInfo, REPORT_VERSION,
    RunConfig, StageTime, TrainingReport,
};

const PROBE: &str = r#"<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error event: ' + (e.message || (e.target && e.target.outerHTML) || 'unknown'));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var figures = [];
  document.querySelectorAll('figure').forEach(function (f) {
    var svg = f.querySelector('svg');
    var r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    var style = svg ? getComputedStyle(svg) : null;
    var drawn = svg ? svg.querySelectorAll('rect,circle,polyline,path,line,text').length : 0;
    // Shapes that themselves have a painted area (not zero-size leftovers).
    var painted = 0;
    if (svg) svg.querySelectorAll('rect,circle,polyline,path,line').forEach(function (el) {
      var b = el.getBBox();
      if (b.width > 0 || b.height > 0) painted++;
    });
    figures.push({ id: f.id, width: r.width, height: r.height, drawn: drawn, painted: painted,
      visible: !!style && style.display !== 'none' && style.visibility === 'visible' });
  });
  var out = document.createElement('pre');
  out.id = 'hetal-check';
  out.textContent = 'HETAL-CHECK:' + JSON.stringify({ errors: window.__errors, figures: figures }) + ':END';
  document.body.appendChild(out);
});
</script>"#;

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn sample_report() -> TrainingReport {
    let truth: Vec<usize> = (0..40).map(|i| i % 4).collect();
    let predicted: Vec<usize> = truth
        .iter()
        .enumerate()
        .map(|(i, &t)| if i % 7 == 0 { (t + 1) % 4 } else { t })
        .collect();
    let confusion = ConfusionMatrix::from_predictions(&truth, &predicted, 4).unwrap();
    TrainingReport {
        version: REPORT_VERSION,
        command: "demo".into(),
        config: RunConfig {
            data: "data/<digits>".into(),
            backend: "ckks".into(),
            hyper: Preset::Digits.hyper(),
            softmax: "hetal-rs".into(),
            workers: 2,
            evaluator: true,
            train_rows: 100,
            val_rows: 40,
            test_rows: 40,
            features: 8,
            classes: 4,
            block_rows: 128,
            block_cols: 16,
            steps_per_epoch: 1,
            rationale: vec!["a choice & its reason".into()],
        },
        preset: PresetInfo {
            name: "boot-n16".into(),
            ring_degree: 1 << 16,
            slots: 1 << 15,
            log_qp: Some(1717),
            secure: true,
            bootstrapping: true,
        },
        epochs: (1..=4)
            .map(|e| EpochReport {
                epoch: e,
                encrypted_val_loss: 2.0 / e as f64 + 0.01,
                encrypted_val_accuracy: 0.6 + 0.05 * e as f64,
                plaintext_val_loss: Some(2.0 / e as f64),
                plaintext_val_accuracy: Some(0.6 + 0.05 * e as f64),
                decision: if e == 4 {
                    Decision::Stop
                } else {
                    Decision::Continue
                },
                new_best: true,
                seconds: 100.0,
            })
            .collect(),
        accuracy: Accuracy {
            split: "test".into(),
            rows: truth.len(),
            encrypted: confusion.accuracy(),
            plaintext: 0.9,
        },
        confusion,
        stages: ["key generation", "encryption", "upload", "training steps"]
            .iter()
            .zip([60.0, 2.0, 5.0, 400.0])
            .map(|(n, s)| StageTime {
                name: (*n).into(),
                seconds: s,
            })
            .collect(),
        operations: Operations {
            epochs: 4,
            steps: 4,
            bootstraps: 30,
            ..Operations::default()
        },
        traffic: vec![PartyTraffic {
            party: "client".into(),
            bytes: 1 << 30,
            what: "keys".into(),
        }],
        total_seconds: 480.0,
        dataset: None,
    }
}

/// The page with the probe injected right after `<head>`.
fn probed(page: &str) -> String {
    page.replacen("<head>", &format!("<head>{PROBE}"), 1)
}

fn run_chromium(browser: &Path, page: &Path, profile: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1100,2000",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text the probe wrote into its `<pre>` (the script's own source also names the marker,
/// so the search starts at the element).
fn probe_output(dom: &str) -> &str {
    const MARK: &str = "<pre id=\"hetal-check\">HETAL-CHECK:";
    let start = dom
        .find(MARK)
        .unwrap_or_else(|| panic!("the probe did not run; DOM:\n{dom}"))
        + MARK.len();
    let end = dom[start..].find(":END").expect("probe output terminated") + start;
    &dom[start..end]
}

#[test]
fn report_html_loads_without_errors_and_every_plot_is_drawn() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no chromium found (install the Debian package `chromium`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = sample_report();
    let (_, html) = report.write_to_dir(dir.path()).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let probe_page = dir.path().join("probed.html");
    std::fs::write(&probe_page, probed(&page)).unwrap();
    let dom = run_chromium(&browser, &probe_page, &dir.path().join("profile"));
    let json = probe_output(&dom);
    // The DOM dump escapes nothing inside <pre> but `&`, `<`, `>`.
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let check: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(check["errors"], serde_json::json!([]), "page errors");
    let figures = check["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["plot-loss", "plot-stages", "plot-confusion"]);
    for f in figures {
        let id = &f["id"];
        assert!(f["visible"].as_bool().unwrap(), "{id} hidden");
        assert!(f["width"].as_f64().unwrap() > 100.0, "{id}: {f}");
        assert!(f["height"].as_f64().unwrap() > 100.0, "{id}: {f}");
        assert!(
            f["painted"].as_u64().unwrap() > 0,
            "{id}: nothing painted: {f}"
        );
    }
    // Each plot draws at least its data: 2 × 4 loss points, 4 stage bars, 16 confusion cells.
    let drawn = |i: usize| figures[i]["drawn"].as_u64().unwrap();
    assert!(drawn(0) >= 8, "{}", figures[0]);
    assert!(drawn(1) >= 4, "{}", figures[1]);
    assert!(drawn(2) >= 16, "{}", figures[2]);
}

#[test]
fn the_probe_reports_a_broken_page() {
    // The check above can fail: a page with a failing resource and a console error is caught.
    let Some(browser) = chromium() else {
        eprintln!("skipped: no chromium found (install the Debian package `chromium`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        probed(
            "<!DOCTYPE html><html><head></head><body><img src=\"missing.png\">\
             <script>console.error('boom')</script><figure id=\"f\"><svg width=\"0\" height=\"0\"></svg></figure></body></html>",
        ),
    )
    .unwrap();
    let dom = run_chromium(&browser, &page, &dir.path().join("profile"));
    let tail = probe_output(&dom);
    assert!(tail.contains("boom"), "{tail}");
    assert!(tail.contains("missing.png"), "{tail}");
    assert!(
        tail.contains("&quot;width&quot;:0") || tail.contains("\"width\":0"),
        "{tail}"
    );
}
