//! `hetal bench scale` end to end in process mode: the binary starts itself as worker processes
//! (one and two), pinned where `taskset` exists, on the INSECURE small preset `insecure-test-n12`
//! with a small shape, products only (`--no-step`). Checks on its JSON: the distributed products
//! equal the single-process ones and the plaintext within the CKKS bound the benchmark computed
//! (and that bound is small enough to fail), the units add up to the sharding's count and are
//! spread over the workers, and the bytes each worker counted are at least what the ciphertexts
//! that had to cross weigh; the operand cache serves the data in steady state; the projection
//! follows its model from the measured figures.

use std::process::Command;

use hetal_learn::matmul::Sharding;
use serde_json::Value;

const SHAPE: (usize, usize, usize) = (64, 16, 4);

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn sum(workers: &Value, key: &str) -> u64 {
    workers.as_array().unwrap().iter().map(|w| u(w, key)).sum()
}

#[test]
fn worker_processes_compute_the_products_and_count_their_traffic() {
    let (a, b, c) = SHAPE;
    let out = Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args([
            "bench",
            "scale",
            "--shape",
            &format!("{a},{b},{c}"),
            "--workers",
            "1,2",
            "--preset",
            "insecure-test-n12",
            "--allow-insecure",
            "--no-step",
            "--project-to",
            "2,8",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["kind"], "hetal-bench-scale");
    assert_eq!(report["mode"], "processes");
    let ops = &report["operands"];
    let (ct_bottom, ct_top) = (u(ops, "ct_bytes_bottom"), u(ops, "ct_bytes_top"));
    assert!(0 < ct_bottom && ct_bottom < ct_top, "{ops}");
    let x_blocks = u(ops, "x_blocks");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "two products at 1 and 2 workers");

    // The sharding the trainer uses: by diagonal pair, then block column of X (one block row).
    let pairs = c.next_power_of_two() / 2;
    let x_cols = x_blocks as usize;
    for row in rows {
        let k = u(row, "workers") as usize;
        let op = row["op"].as_str().unwrap();
        let (err, diff, bound) = (f(row, "max_error"), f(row, "max_diff"), f(row, "bound"));
        assert!(
            err <= bound && diff <= 2.0 * bound,
            "{op} k={k}: {err:e} / {diff:e} > {bound:e}"
        );
        assert!(bound < 0.05, "the bound {bound:e} must be able to fail");

        let expected = Sharding::for_workers(k, pairs, x_cols)
            .specs(pairs, 1, x_cols)
            .unwrap()
            .len() as u64;
        let steady = &row["per_worker"];
        let first = &row["first_per_worker"];
        assert_eq!(steady.as_array().unwrap().len(), k);
        assert_eq!(u(row, "units"), expected, "{op} k={k}");
        assert_eq!(sum(steady, "units"), expected);
        assert_eq!(sum(first, "units"), expected);
        assert_eq!(u(row, "units_local"), 0, "no unit fell back to the trainer");
        let balance = &row["balance"];
        assert_eq!(
            (u(balance, "min"), u(balance, "max")),
            (expected / k as u64, expected.div_ceil(k as u64)),
            "least-loaded scheduling spreads {expected} units over {k}: {balance}"
        );

        // Each computed unit returns at least one ciphertext; the keys went out once, in full.
        for (run, label) in [(steady, "steady"), (first, "first")] {
            assert!(
                sum(run, "bytes_sent") >= expected * ct_bottom,
                "{op} k={k} {label}: {run}"
            );
        }
        if op == "DiagABT" {
            // First use: every worker got its keys, and X crossed at least once.
            for w in first.as_array().unwrap() {
                assert!(u(w, "key_bytes") > 0, "{w}");
            }
            assert!(
                sum(first, "bytes_received") >= sum(first, "key_bytes") + x_blocks * ct_top,
                "{op} k={k}: {first}"
            );
        }
        // Steady state: no keys, X served from the cache, and only operands derived from the
        // weights (at least one per worker) cross again.
        assert_eq!(sum(steady, "key_bytes"), 0);
        assert!(sum(steady, "operands_cached") >= x_blocks, "{steady}");
        assert!(sum(steady, "bytes_received") >= k as u64 * ct_bottom);
        if op == "DiagABT" {
            assert!(sum(steady, "bytes_received") < sum(first, "bytes_received"));
        }
        assert!(f(row, "wall_s") > 0.0 && f(row, "local_s") > 0.0);
    }

    // The projection: at 8 machines with fewer units than machines, compute is one unit's
    // share of the base run's work; every figure from the bases.
    let bases = report["projection_bases"].as_array().unwrap();
    let link = f(&report, "link_gbps");
    for p in report["projection"].as_array().unwrap() {
        let base = bases.iter().find(|b| b["op"] == p["op"]).unwrap();
        let part = &base["parts"][0];
        let m = u(p, "machines");
        let units = part["units_at"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e[0].as_u64() == Some(m))
            .unwrap()[1]
            .as_u64()
            .unwrap();
        let compute = units.div_ceil(m) as f64 * f(part, "compute_s") / units as f64;
        let network = units as f64 * f(base, "bytes_per_unit") * 8.0 / (link * 1e9);
        let total = f(base, "serial_s") + compute + network;
        assert!(
            (f(p, "total_s") - total).abs() <= 1e-9 * total.max(1.0),
            "{p}"
        );
        assert!(f(part, "compute_s") > 0.0 && f(base, "bytes_per_unit") > 0.0);
    }
}
