//! `hetal bench bootstrap`: argument parsing, input checks, and the measurement path on small
//! INSECURE parameters (N = 2^12). No named preset below N = 2^16 holds a bootstrap, so the
//! measurement runs through `measure_spec` — the function the command calls once it has resolved
//! the preset — on an unnamed insecure chain shaped like `boot-n16`.

use clap::Parser;
use hetal::ckks::circuits::bootstrap::BootstrapParams;
use hetal::ckks::params::{ParameterSpec, SecretDistribution, SecurityLevel};
use hetal::cli::bench_bootstrap::{BenchBootstrapArgs, measure_report, measure_spec, render_table};
use hetal::cli::{BenchCommand, Cli, Command};

/// INSECURE chain holding one bootstrap of `sparse_secret_default` plus 2 application levels:
/// q_0 = 60 bits, application and SlotToCoeff primes of 45, EvalMod of 55, CoeffToSlot of 56,
/// dense ternary secret (the encapsulation makes it bootstrappable), P covering the largest
/// key-switching digit.
fn insecure_bootstrap_spec() -> ParameterSpec {
    let params = BootstrapParams::sparse_secret_default(5);
    let eval_mod =
        params.depth().unwrap() - params.coeff_to_slot_levels - params.slot_to_coeff_levels;
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, 2 + params.slot_to_coeff_levels));
    q_bits.extend(std::iter::repeat_n(55, eval_mod));
    q_bits.extend(std::iter::repeat_n(56, params.coeff_to_slot_levels));
    let dnum = 4;
    let largest_digit: u32 = q_bits.iter().rev().take(q_bits.len().div_ceil(dnum)).sum();
    ParameterSpec {
        name: "insecure-bootstrap-cli-test-n12".into(),
        log_n: 12,
        q_bits,
        p_bits: vec![61; largest_digit.div_ceil(61) as usize],
        log_scale: 45,
        dnum,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::InsecureForTests,
    }
}

fn parse(extra: &[&str]) -> BenchBootstrapArgs {
    let mut argv = vec!["hetal", "bench", "bootstrap"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Bench(BenchCommand::Bootstrap(args)) => args,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn command_line_parses_with_defaults() {
    let args = parse(&[]);
    assert_eq!(args.preset, "boot-n16");
    assert_eq!((args.slots, args.threads, args.reps), (None, None, 1));
    assert!(!args.json && !args.allow_insecure && !args.complex);
    let args = parse(&[
        "--preset",
        "x",
        "--slots",
        "4096",
        "--threads",
        "2",
        "--reps",
        "3",
        "--json",
    ]);
    assert_eq!(
        (args.slots, args.threads, args.reps, args.json),
        (Some(4096), Some(2), 3, true)
    );
}

#[test]
fn bad_inputs_fail_with_clear_errors() {
    let spec = insecure_bootstrap_spec();
    let mut args = parse(&["--slots", "32"]);
    let err = measure_spec(&spec, &args).unwrap_err().to_string();
    assert!(err.contains("--allow-insecure"), "{err}");
    args.allow_insecure = true;
    for (slots, threads, reps) in [
        (Some(48), None, 1),
        (Some(8), None, 1),
        (Some(4096), None, 1),
    ] {
        let a = BenchBootstrapArgs {
            slots,
            threads,
            reps,
            ..args.clone()
        };
        let err = measure_spec(&spec, &a).unwrap_err().to_string();
        assert!(err.contains("power of two from 16 to N/2 = 2048"), "{err}");
    }
    let zero_reps = BenchBootstrapArgs {
        reps: 0,
        ..args.clone()
    };
    assert!(measure_spec(&spec, &zero_reps).is_err());
    let zero_threads = BenchBootstrapArgs {
        threads: Some(0),
        ..args.clone()
    };
    assert!(measure_spec(&spec, &zero_threads).is_err());
    // A named preset whose chain is too short fails before key generation.
    let short = parse(&[
        "--preset",
        "insecure-test-n12",
        "--allow-insecure",
        "--slots",
        "32",
    ]);
    let err = format!("{:#}", measure_report(&short).unwrap_err());
    assert!(err.contains("cannot bootstrap 32 slots"), "{err}");
    assert!(measure_report(&parse(&["--preset", "no-such-preset"])).is_err());
}

#[test]
fn json_report_has_every_documented_field() {
    let spec = insecure_bootstrap_spec();
    let args = parse(&[
        "--slots",
        "32",
        "--threads",
        "1",
        "--reps",
        "2",
        "--allow-insecure",
        "--json",
        "--complex",
    ]);
    let report = measure_spec(&spec, &args).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    println!("{}", serde_json::to_string_pretty(&json).unwrap());
    let table = render_table(&report);
    println!("{table}");
    for needle in [
        "key generation",
        "bootstrap",
        "levels left 2",
        "precision mean",
        "note: ",
    ] {
        assert!(table.contains(needle), "{needle} missing from:\n{table}");
    }
    assert_eq!(json["kind"], "hetal-bench-bootstrap");
    assert_eq!(json["format"], 1);
    assert_eq!(json["threads"], 1);
    assert_eq!(json["reps"], 2);
    assert_eq!(json["slots"], 32);
    assert_eq!(json["log_slots"], 5);
    assert_eq!(json["inputs"], "complex");
    assert_eq!(json["params"]["ring_degree"], 4096);
    assert_eq!(json["params"]["security"], "insecure");
    assert!(json["notes"][0].as_str().unwrap().contains("INSECURE"));

    let shape = &json["bootstrap_params"];
    let depth = shape["depth"].as_u64().unwrap();
    let levels = [
        "coeff_to_slot_levels",
        "eval_mod_levels",
        "slot_to_coeff_levels",
    ]
    .map(|k| shape[k].as_u64().unwrap());
    assert_eq!(levels.iter().sum::<u64>(), depth);
    // The chain was built with 2 application levels above q_0.
    let max_level = json["max_level"].as_u64().unwrap();
    assert_eq!(max_level, spec.q_bits.len() as u64 - 1);
    assert_eq!(json["levels_left"].as_u64().unwrap(), max_level - depth);
    assert_eq!(json["levels_left"], 2);
    assert_eq!(json["input_level"], 0);

    for key in ["keygen_s", "setup_s"] {
        assert!(json[key].as_f64().is_some_and(|s| s > 0.0), "{key}");
    }
    for key in ["keygen_cpu_s", "setup_cpu_s"] {
        assert!(json[key].as_f64().is_some_and(|s| s >= 0.0), "{key}");
    }
    let boot = &json["bootstrap"];
    let samples = boot["samples_s"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(boot["cpu_samples_s"].as_array().map(Vec::len), Some(2));
    let median = boot["median_s"].as_f64().unwrap();
    let min = boot["min_s"].as_f64().unwrap();
    assert!(min > 0.0 && min <= median, "{boot}");
    // One thread: CPU time cannot exceed wall time by more than the tick granularity.
    let cpu = boot["median_cpu_s"].as_f64().unwrap();
    assert!(cpu > 0.0 && cpu <= median * 1.2 + 0.02, "{boot}");
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3, "{phases:?}");
    let phase_sum: f64 = phases.iter().map(|p| p["median_s"].as_f64().unwrap()).sum();
    let max_sample = samples
        .iter()
        .filter_map(|s| s.as_f64())
        .fold(0.0, f64::max);
    assert!(phase_sum <= 2.0 * max_sample, "{phase_sum} vs {max_sample}");

    // Same bounds as the library's bootstrapping tests at these parameters.
    let prec = &json["precision"];
    let (mean, worst) = (
        prec["mean_bits"].as_f64().unwrap(),
        prec["worst_bits"].as_f64().unwrap(),
    );
    assert!(mean >= 20.0 && worst >= 16.0 && mean >= worst, "{prec}");

    let parts = &json["key_set_parts"];
    let part = |k: &str| parts[k].as_u64().unwrap();
    assert_eq!(
        json["key_set_bytes"].as_u64().unwrap(),
        part("evaluation_keys_serialized") + part("encapsulation_keys_serialized")
    );
    assert_eq!(
        json["key_set_bytes_in_memory"].as_u64().unwrap(),
        part("evaluation_keys_in_memory") + part("encapsulation_keys_in_memory")
    );
    // Serialized keys ship their uniform halves as seeds and pack residues to their primes'
    // bit sizes (45 to 61 of 64 bits): between 1/2 · 45/64 and 1/2 of the in-memory size, plus
    // headers and the seeds themselves.
    let (disk, mem) = (
        json["key_set_bytes"].as_u64().unwrap(),
        json["key_set_bytes_in_memory"].as_u64().unwrap(),
    );
    assert!(
        2 * disk < mem + mem / 20 && 128 * disk > 45 * mem,
        "{disk} vs {mem}"
    );
    assert!(json["rotation_keys"].as_u64().unwrap() > 1);
    assert!(json["diagonals"].as_u64().unwrap() > 0);
    let rss = json["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss > mem, "peak RSS {rss} below the key set's {mem}");
    assert!(json["peak_rss_bytes_final"].as_u64().unwrap() >= rss);
}
