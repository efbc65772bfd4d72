//! The projection of `hetal bench scale` to many worker machines, from what one run measured.
//!
//! Model, per multiplication (a training step sums its two):
//!
//! `T(M) = serial + ⌈U(M) / M⌉ · W / U(M) + U(M) · β · 8 / G`
//!
//! * `W`: the workers' compute seconds of the multiplication in the *base* run (the one with
//!   the fewest workers; each of its workers had its whole share of this machine's cores), so
//!   one unit of `U(M)` costs `W / U(M)` on a machine like this one (the split itself is taken
//!   as free; splitting block columns repeats a few rotations, so this is optimistic there);
//! * `U(M)`: the number of work units the trainer cuts the multiplication into for `M`
//!   workers ([`hetal_learn::matmul::Sharding::for_workers`]): with fewer units than machines
//!   the extra machines idle;
//! * `β`: message bytes per unit, both directions, measured in the run with the most workers
//!   in steady state (operands of the data cached on the workers, those derived from the
//!   weights sent every step); all of them cross the trainer's one link of `G` bit/s, one after
//!   the other (no overlap with compute: pessimistic);
//! * `serial`: the trainer's own part, measured in the base run: the wall time less the
//!   busiest worker's compute (preparing and combining units, messaging, and in a step the
//!   softmax, updates and bootstraps).

use serde::Serialize;

/// What the projection of one measured thing (a multiplication or a step) starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionBase {
    /// "DiagABT", "DiagATB" or "step".
    pub op: String,
    /// Worker count of the run `serial_s` and the compute come from.
    pub base_workers: usize,
    /// Trainer-side seconds that do not shrink with more workers.
    pub serial_s: f64,
    /// Per multiplication of the thing: workers' compute seconds in the base run and the
    /// number of units at each projected machine count (`(machines, units)`).
    pub parts: Vec<ProjectedPart>,
    /// Message bytes per unit (both directions), steady state.
    pub bytes_per_unit: f64,
}

/// One multiplication inside a projected thing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectedPart {
    /// "DiagABT" or "DiagATB".
    pub op: String,
    /// Workers' compute seconds in the base run.
    pub compute_s: f64,
    /// `(machines, units)` for each projected machine count.
    pub units_at: Vec<(usize, usize)>,
}

/// The projected time at one machine count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projected {
    /// "DiagABT", "DiagATB" or "step".
    pub op: String,
    /// Worker machines.
    pub machines: usize,
    /// Work units (all multiplications of the thing).
    pub units: usize,
    /// Compute on the busiest machine, seconds.
    pub compute_s: f64,
    /// Bytes through the trainer's link, seconds.
    pub network_s: f64,
    /// The trainer's serial part, seconds.
    pub serial_s: f64,
    /// The projected wall time, seconds.
    pub total_s: f64,
}

/// The model in one line (printed with the projection).
pub fn model_text(link_gbps: f64) -> String {
    format!(
        "T(M) = serial + Σ_mult ⌈U(M)/M⌉·W/U(M) + U(M)·β·8/G; W = workers' compute in the \
         fewest-worker run, β = bytes per unit in the most-worker run (steady state), serial = \
         that run's wall less its busiest worker's compute, G = {link_gbps} Gbit/s"
    )
}

/// Projects `base` to `machines` machines over a link of `link_gbps`; `None` when a part has
/// no unit count for `machines` or the link is not a positive speed.
pub fn project(base: &ProjectionBase, machines: usize, link_gbps: f64) -> Option<Projected> {
    if machines == 0 || !(link_gbps.is_finite() && link_gbps > 0.0) {
        return None;
    }
    let mut compute_s = 0.0;
    let mut units = 0;
    for part in &base.parts {
        let u = part
            .units_at
            .iter()
            .find(|(m, _)| *m == machines)
            .map(|&(_, u)| u)
            .filter(|&u| u > 0)?;
        compute_s += u.div_ceil(machines) as f64 * part.compute_s / u as f64;
        units += u;
    }
    let network_s = units as f64 * base.bytes_per_unit * 8.0 / (link_gbps * 1e9);
    Some(Projected {
        op: base.op.clone(),
        machines,
        units,
        compute_s,
        network_s,
        serial_s: base.serial_s,
        total_s: base.serial_s + compute_s + network_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ProjectionBase {
        ProjectionBase {
            op: "DiagABT".into(),
            base_workers: 1,
            serial_s: 0.5,
            parts: vec![ProjectedPart {
                op: "DiagABT".into(),
                compute_s: 8.0,
                units_at: vec![(8, 8), (32, 8)],
            }],
            bytes_per_unit: 1.25e8,
        }
    }

    #[test]
    fn units_spread_over_machines_and_idle_machines_do_not_help() {
        let b = base();
        let at8 = project(&b, 8, 10.0).unwrap();
        // 8 units of 1 s on 8 machines: 1 s; 8 × 125 MB at 10 Gbit/s: 0.8 s.
        assert!((at8.compute_s - 1.0).abs() < 1e-12);
        assert!((at8.network_s - 0.8).abs() < 1e-12);
        assert!((at8.total_s - 2.3).abs() < 1e-12);
        // Only 8 units exist: 32 machines are no faster.
        let at32 = project(&b, 32, 10.0).unwrap();
        assert_eq!(at32.total_s, at8.total_s);
        assert!(project(&b, 4, 10.0).is_none(), "no unit count for 4");
        assert!(project(&b, 8, 0.0).is_none());
    }
}
