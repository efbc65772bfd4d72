//! `hetal params [--check]`: lists the CKKS parameter presets and, with `--check`, verifies every
//! secure preset against the Homomorphic Encryption Standard's 128-bit bound on log(QP).

use anyhow::bail;
use clap::Args;
use hetal_ckks::params::presets::{BOOT_N16, BOOT_N16_BUDGET, PRESETS, largest_digit_bits};
use hetal_ckks::params::security;
use hetal_ckks::params::{ParameterSpec, SecurityLevel};

/// Arguments of `hetal params`.
#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// Check every preset against the HE Standard bound and fail if a secure one exceeds it.
    #[arg(long)]
    pub check: bool,
}

/// One table row describing a preset.
fn row(spec: &ParameterSpec) -> String {
    let bound =
        security::max_log_qp_128(spec.log_n).map_or_else(|| "-".to_string(), |b| b.to_string());
    let claim = match spec.security {
        SecurityLevel::Bits128 => "128-bit",
        SecurityLevel::InsecureForTests => "INSECURE",
    };
    format!(
        "{:<18} {:>5} {:>6} {:>6} {:>3} {:>3} {:>6} {:>4} {:>5} {:>8} {:>6}",
        spec.name,
        format!("2^{}", spec.log_n),
        spec.log_qp(),
        spec.max_level(),
        spec.q_bits.len(),
        spec.p_bits.len(),
        spec.max_slots(),
        spec.dnum,
        spec.log_scale,
        claim,
        bound,
    )
}

/// Runs `hetal params`.
pub fn run(args: &ParamsArgs) -> anyhow::Result<()> {
    println!(
        "{:<18} {:>5} {:>6} {:>6} {:>3} {:>3} {:>6} {:>4} {:>5} {:>8} {:>6}  purpose",
        "preset", "N", "logQP", "levels", "q", "p", "slots", "dnum", "logΔ", "security", "bound"
    );
    for preset in PRESETS {
        println!("{}  {}", row(&preset.spec()), preset.purpose);
    }
    println!("bound: {}", security::SOURCE);
    let b = BOOT_N16_BUDGET;
    println!(
        "{BOOT_N16} level budget (bottom to top): q0, {} application, {} SlotToCoeff, {} EvalMod, {} CoeffToSlot",
        b.application, b.slot_to_coeff, b.eval_mod, b.coeff_to_slot
    );
    if !args.check {
        return Ok(());
    }
    println!();
    let mut failures = Vec::new();
    for preset in PRESETS {
        let spec = preset.spec();
        match security::check(&spec) {
            Ok(report) => {
                let verdict = match spec.security {
                    SecurityLevel::Bits128 => "OK",
                    SecurityLevel::InsecureForTests => "no claim",
                };
                println!("{verdict:<8} {report}");
            }
            Err(err) => {
                println!("FAILED   {}: {err}", spec.name);
                failures.push(spec.name.clone());
            }
        }
        let p_bits: u32 = spec.p_bits.iter().sum();
        let digit = largest_digit_bits(&spec);
        if p_bits < digit {
            println!(
                "FAILED   {}: special modulus P has {p_bits} bits, below the largest key-switching digit ({digit} bits)",
                spec.name
            );
            failures.push(spec.name.clone());
        }
    }
    if !failures.is_empty() {
        bail!("presets failing the check: {}", failures.join(", "));
    }
    println!("all presets pass");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_passes_the_check_and_rows_name_it() {
        run(&ParamsArgs { check: true }).unwrap();
        for preset in PRESETS {
            let spec = preset.spec();
            let line = row(&spec);
            assert!(line.starts_with(preset.name), "{line}");
            assert!(line.contains(&spec.log_qp().to_string()));
        }
    }
}
