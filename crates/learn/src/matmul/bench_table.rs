//! Plain-text table of a [`MatmulBench`], printed by `hetal bench matmul` and the
//! `matmul_bench` example alike.

use super::bench::MatmulBench;
use super::bench_prices::OpPrices;
use std::fmt::Write as _;

fn secs(x: Option<f64>) -> String {
    x.map_or("—".into(), |s| format!("{s:.3}"))
}

fn ms(p: &OpPrices) -> String {
    format!(
        "Mult {:.1} ms, CMult {:.1} ms, Rot {:.1} ms",
        p.mult * 1e3,
        p.cmult * 1e3,
        p.rot * 1e3
    )
}

/// The report as a table: header (parameters, per-op prices), one row per algorithm (measured
/// wall and CPU seconds, counted ops priced at our and the peer's per-op times, counts, levels,
/// error), then the speed-ups.
pub fn render_table(r: &MatmulBench) -> String {
    let mut out = String::new();
    let ring = if r.ring_degree > 0 {
        format!(", N = {}", r.ring_degree)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "hetal bench matmul: shape (a,b,c) = ({}, {}, {}), unit {}×{}, {} backend, preset {} (inputs at level {}{}), threads {}, workers {}",
        r.shape[0],
        r.shape[1],
        r.shape[2],
        r.unit[0],
        r.unit[1],
        r.backend,
        r.preset,
        r.levels,
        ring,
        r.threads.map_or("default".to_string(), |t| t.to_string()),
        r.workers
    );
    if let Some(k) = r.keygen_s {
        let _ = writeln!(
            out,
            "keygen {k:.2} s wall, {} s CPU ({} rotation keys); encryption + decryption {:.2} s",
            secs(r.keygen_cpu_s),
            r.rotation_keys,
            r.encrypt_decrypt_s
        );
    }
    let _ = writeln!(out, "our per-op wall: {}", ms(&r.ours.wall));
    if let Some(cpu) = &r.ours.cpu {
        let _ = writeln!(out, "our per-op CPU:  {}", ms(cpu));
    }
    if let Some(p) = &r.peer {
        let from: Vec<String> = p.source.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(
            out,
            "peer per-op wall: {} ({})",
            ms(&p.wall),
            from.join(", ")
        );
        if let Some(cpu) = &p.cpu {
            let _ = writeln!(out, "peer per-op CPU:  {}", ms(cpu));
        }
    }
    let _ = writeln!(
        out,
        "{:<15} {:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>16} {:>16} {:>6} {:>9}",
        "algorithm",
        "prod",
        "wall s",
        "CPU s",
        "ours@w",
        "ours@cpu",
        "peer@w",
        "peer@cpu",
        "counted C/M/R",
        "formula C/M/R",
        "levels",
        "max err"
    );
    for a in &r.algorithms {
        let levels = a
            .output_level
            .map_or("—".into(), |o| format!("{}→{o}", a.input_level));
        let _ = writeln!(
            out,
            "{:<15} {:>4} {:>9} {:>9} {:>9.3} {:>9} {:>9} {:>9} {:>16} {:>16} {:>6} {:>9}{}",
            a.name,
            if a.product.starts_with("Aᵀ") {
                "AᵀB"
            } else {
                "ABᵀ"
            },
            secs(a.wall_s),
            secs(a.cpu_s),
            a.priced_ours_s,
            secs(a.priced_ours_cpu_s),
            secs(a.priced_peer_s),
            secs(a.priced_peer_cpu_s),
            format!("{}/{}/{}", a.counts.cmult, a.counts.mult, a.counts.rot),
            format!(
                "{}/{}/{}",
                a.predicted.cmult, a.predicted.mult, a.predicted.rot
            ),
            levels,
            a.max_abs_error.map_or("—".into(), |e| format!("{e:.2e}")),
            if a.measured {
                ""
            } else {
                "  (not run: priced only)"
            }
        );
    }
    for s in &r.speedups {
        let fmt = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.2}×"));
        let _ = writeln!(
            out,
            "speed-up {} over {}: {} wall, {} CPU{}",
            s.fast,
            s.slow,
            fmt(s.wall),
            fmt(s.cpu),
            if s.baseline_priced {
                " (baseline priced at our per-op times, not measured)"
            } else {
                ""
            }
        );
    }
    for a in &r.algorithms {
        let Some(levels) = &a.levels else { continue };
        let priced = match a.priced_peer_by_level_s {
            Some(w) => format!(
                "; peer-priced by level {w:.3} s wall, {} s CPU",
                secs(a.priced_peer_by_level_cpu_s)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "by level, {} (CMult/Mult/Rot): {}{priced}",
            a.name,
            levels.summary(1)
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::bench::{BenchOptions, bench_sim};

    #[test]
    fn table_has_a_row_per_algorithm_and_marks_priced_baselines() {
        let opts = BenchOptions {
            shape: (50, 37, 5),
            seed: 1,
            workers: 1,
            algorithms: vec!["DiagABT".into(), "DiagATB".into(), "RowMajor".into()],
            op_reps: 1,
            threads: Some(1),
        };
        let r = bench_sim(1 << 10, &opts, None).unwrap();
        let text = render_table(&r);
        for a in &r.algorithms {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{:<15}", a.name)))
                .unwrap_or_else(|| panic!("no row for {}", a.name));
            assert_eq!(line.contains("not run"), !a.measured, "{line}");
        }
        assert!(text.contains("speed-up DiagABT over ColMajor"));
        // Each measured row's level split, from its input level down.
        assert!(text.contains("by level, DiagABT (CMult/Mult/Rot): L12 "));
        assert!(text.contains("by level, RowMajor") && !text.contains("by level, ColMajor"));
        assert!(text.contains("baseline priced"));
    }
}
