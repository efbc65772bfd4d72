//! Pack-then-bootstrap refresh of the model state.
//!
//! The weights `W` and the look-ahead `V` are row-tiled `c × (d+1)` matrices: each of their
//! `⌈(d+1)/s1⌉` blocks repeats one `period × s1` tile `s0/period` times, so a block carries
//! `s0/period` times fewer distinct values than it has slots (64× at HETAL's MNIST shape).
//! Bootstrapping them block by block pays for all those copies. Instead:
//!
//! 1. **pack** (one level): block `j` keeps only its tile `t(j)` (one CMult by a tile mask, no
//!    rotation: every tile of a row-tiled block holds the same values), blocks go two per tile as
//!    the real and imaginary parts (`i` folded into the mask), and the masked blocks are summed —
//!    `2·s0/period` blocks per ciphertext;
//! 2. **bootstrap** the packed ciphertexts (one for both `W` and `V` at every HETAL shape);
//! 3. **unpack** (one level): per tile, one CMult by `½` on the tile, `log₂(s0/period)`
//!    rotations re-tile it over the block, and one conjugation separates the real part
//!    (`A + Ā`) from the imaginary part (`i·(Ā − A)`, a free multiplication by `i`).
//!
//! The refreshed state sits at `bootstrap_level − 1`, as with the plain pair bootstrap
//! (`W + i·V` per block, then separate), which the refresher falls back to when a block cannot
//! spare the packing level or a block holds a single tile.
//!
//! CKKS bootstrapping needs every slot in [-1, 1], but the stored state of a long run can outgrow
//! that even divided by the trainer's weight scale (digits at its own preset, 40 epochs, did:
//! the simulator refused a refresh of -1.0012 - 1.0037i). Both paths therefore
//! bootstrap `W/`[`STATE_RANGE`] and multiply back after: in the packed path the factors ride
//! on the packing and unpacking masks (no extra level or operation); the pair path spends one
//! scalar product on them when the blocks have a level to spare (the level policy keeps one:
//! [`super::levels::LevelPolicy`] never leaves the state below `bootstrap_min + PACK_LEVELS`).

use num_complex::Complex64;

use crate::eval::SlotEvaluator;
use crate::pack::{BlockMatrix, Layout};
use crate::{Error, Result};

/// Levels the packed refresh needs above the bootstrappable level (the packing masks).
pub const PACK_LEVELS: usize = 1;

/// The weights and look-ahead may reach ±`STATE_RANGE` (rather than CKKS bootstrapping's ±1):
/// they are divided by it before their bootstrap and multiplied back after. A power of two, so
/// the simulator stays exact; it costs log2(4) = 2 bits of the bootstrap's precision.
pub const STATE_RANGE: f64 = 4.0;

/// Refreshed matrices and what it cost.
#[derive(Debug, Clone)]
pub struct Refreshed<C> {
    /// The inputs, in order, at `bootstrap_level − 1` (same layout and values).
    pub matrices: Vec<BlockMatrix<C>>,
    /// Ciphertexts bootstrapped.
    pub bootstraps: usize,
    /// Whether the packed path was taken (false: one pair bootstrap per two blocks).
    pub packed: bool,
}

/// Geometry shared by every matrix being refreshed.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    slots: usize,
    tile_len: usize,
    tiles: usize,
}

impl Tiling {
    fn of<C>(mats: &[&BlockMatrix<C>], slots: usize) -> Result<Self> {
        let first = mats
            .first()
            .ok_or_else(|| Error::InvalidInput("nothing to refresh".into()))?;
        let unit = first.unit();
        let Layout::RowTiled { period } = first.layout() else {
            return Err(Error::InvalidInput(format!(
                "packed refresh needs row-tiled matrices, got {:?}",
                first.layout()
            )));
        };
        if mats
            .iter()
            .any(|m| m.unit() != unit || m.layout() != first.layout())
        {
            return Err(Error::InvalidInput(
                "matrices refreshed together must share unit shape and layout".into(),
            ));
        }
        if unit.slots() != slots {
            return Err(Error::SlotLength {
                expected: slots,
                got: unit.slots(),
            });
        }
        let tile_len = period * unit.s1();
        Ok(Self {
            slots,
            tile_len,
            tiles: slots / tile_len,
        })
    }

    /// `value` on the slots of tile `t`, zero elsewhere.
    fn mask(&self, t: usize, value: Complex64) -> Vec<Complex64> {
        let mut m = vec![Complex64::new(0.0, 0.0); self.slots];
        m[t * self.tile_len..(t + 1) * self.tile_len].fill(value);
        m
    }
}

/// Refreshes `mats` (row-tiled, same unit shape) to `bootstrap_level − 1` with as few
/// bootstraps as possible: packed when every block is at level ≥ `bootstrap_min + PACK_LEVELS`
/// and a block holds several tiles, else one pair bootstrap per two blocks.
pub fn refresh_row_tiled<E: SlotEvaluator>(
    ev: &E,
    mats: &[&BlockMatrix<E::Ct>],
    bootstrap_min: usize,
) -> Result<Refreshed<E::Ct>> {
    let tiling = Tiling::of(mats, ev.slots())?;
    let blocks: Vec<&E::Ct> = mats.iter().flat_map(|m| m.blocks()).collect();
    let lowest = blocks.iter().map(|c| ev.level(c)).min().unwrap_or(0);
    let packed = tiling.tiles > 1 && lowest >= bootstrap_min + PACK_LEVELS;
    let (fresh, bootstraps) = if packed {
        refresh_packed(ev, &blocks, tiling)?
    } else {
        refresh_pairs(ev, &blocks, lowest > bootstrap_min)?
    };
    let mut rest = fresh.into_iter();
    let matrices = mats
        .iter()
        .map(|m| {
            let own: Vec<E::Ct> = rest.by_ref().take(m.blocks().len()).collect();
            BlockMatrix::from_blocks(m.rows(), m.cols(), m.unit(), m.layout(), own)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Refreshed {
        matrices,
        bootstraps,
        packed,
    })
}

/// The refreshed weights and look-ahead.
#[derive(Debug, Clone)]
pub struct StateRefresh<C> {
    /// Refreshed weights `W`.
    pub w: BlockMatrix<C>,
    /// Refreshed look-ahead `V` (`None` when none was given).
    pub v: Option<BlockMatrix<C>>,
    /// Ciphertexts bootstrapped.
    pub bootstraps: usize,
}

/// Refreshes the trainer's state: `W` and, for Nesterov, `V` together
/// ([`refresh_row_tiled`]).
pub fn refresh_weights<E: SlotEvaluator>(
    ev: &E,
    w: &BlockMatrix<E::Ct>,
    v: Option<&BlockMatrix<E::Ct>>,
    bootstrap_min: usize,
) -> Result<StateRefresh<E::Ct>> {
    let mats: Vec<&BlockMatrix<E::Ct>> = std::iter::once(w).chain(v).collect();
    let out = refresh_row_tiled(ev, &mats, bootstrap_min)?;
    let mut fresh = out.matrices.into_iter();
    let w = fresh
        .next()
        .ok_or_else(|| Error::InvalidInput("refresh returned no weights".into()))?;
    Ok(StateRefresh {
        w,
        v: fresh.next(),
        bootstraps: out.bootstraps,
    })
}

/// Real and imaginary part of `fresh` times two, i.e. `(f + f̄, i·(f̄ − f))` for `f = fresh/2`.
fn split<E: SlotEvaluator>(ev: &E, half: &E::Ct) -> Result<(E::Ct, E::Ct)> {
    let conj = ev.conjugate(half)?;
    let re = ev.add(half, &conj)?;
    let im = ev.mul_i(&ev.sub(&conj, half)?)?;
    Ok((re, im))
}

/// One bootstrap of `a + i·b` per pair of blocks (an odd last block goes alone); the packed
/// ciphertexts are bootstrapped as one stage ([`SlotEvaluator::bootstrap_many`]). With a level
/// to spare, the pairs are divided by [`STATE_RANGE`] before and multiplied back after.
fn refresh_pairs<E: SlotEvaluator>(
    ev: &E,
    blocks: &[&E::Ct],
    spare_level: bool,
) -> Result<(Vec<E::Ct>, usize)> {
    let range = if spare_level { STATE_RANGE } else { 1.0 };
    let half = Complex64::new(0.5 * range, 0.0);
    let packed = blocks
        .chunks(2)
        .map(|pair| {
            let joined = match pair {
                [a, b] => ev.add(a, &ev.mul_i(b)?),
                [a] => Ok((*a).clone()),
                _ => Err(Error::InvalidInput("empty block pair".into())),
            }?;
            if spare_level {
                ev.mul_scalar(&joined, Complex64::new(1.0 / STATE_RANGE, 0.0))
            } else {
                Ok(joined)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let fresh = ev.bootstrap_many(&packed)?;
    let mut out = Vec::with_capacity(blocks.len());
    for (pair, fresh) in blocks.chunks(2).zip(&fresh) {
        let (re, im) = split(ev, &ev.mul_scalar(fresh, half)?)?;
        out.push(re);
        if pair.len() == 2 {
            out.push(im);
        }
    }
    Ok((out, fresh.len()))
}

/// Packs `2·tiles` blocks per ciphertext, bootstraps the packed ciphertexts as one stage
/// ([`SlotEvaluator::bootstrap_many`]), unpacks and re-tiles.
fn refresh_packed<E: SlotEvaluator>(
    ev: &E,
    blocks: &[&E::Ct],
    tiling: Tiling,
) -> Result<(Vec<E::Ct>, usize)> {
    // The masks also carry the division by STATE_RANGE (packing) and its inverse (unpacking).
    let one = Complex64::new(1.0 / STATE_RANGE, 0.0);
    let i = Complex64::new(0.0, 1.0 / STATE_RANGE);
    let half = Complex64::new(0.5 * STATE_RANGE, 0.0);
    let groups: Vec<&[&E::Ct]> = blocks.chunks(2 * tiling.tiles).collect();
    let mut packed = Vec::with_capacity(groups.len());
    for group in &groups {
        // Block 2t goes to the real part of tile t, block 2t + 1 to its imaginary part.
        let mut acc: Option<E::Ct> = None;
        for (k, block) in group.iter().enumerate() {
            let factor = if k % 2 == 0 { one } else { i };
            let part = ev.mul_const(block, &tiling.mask(k / 2, factor))?;
            acc = Some(match acc {
                None => part,
                Some(acc) => ev.add(&acc, &part)?,
            });
        }
        packed.push(acc.ok_or_else(|| Error::InvalidInput("empty block group".into()))?);
    }
    let fresh = ev.bootstrap_many(&packed)?;
    let mut out = Vec::with_capacity(blocks.len());
    for (group, fresh) in groups.iter().zip(&fresh) {
        for (t, pair) in group.chunks(2).enumerate() {
            let mut tile = ev.mul_const(fresh, &tiling.mask(t, half))?;
            // Re-tile: tile t is copied over the whole block by log₂(tiles) doublings. The
            // rotation amounts are multiples of the tile length, so the copies wrap exactly.
            let mut span = 1;
            while span < tiling.tiles {
                let r = ev.rotate(&tile, -((span * tiling.tile_len) as isize))?;
                tile = ev.add(&tile, &r)?;
                span *= 2;
            }
            let (re, im) = split(ev, &tile)?;
            out.push(re);
            if pair.len() == 2 {
                out.push(im);
            }
        }
    }
    Ok((out, fresh.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator, SlotCodec};
    use crate::pack::{UnitShape, pack, unpack};
    use ndarray::Array2;

    fn sim() -> Simulator {
        Simulator::new(SimConfig {
            bootstrap_max_abs: Some(1.0),
            ..SimConfig::with_slots(1 << 10)
        })
        .unwrap()
    }

    fn encrypted(
        sim: &Simulator,
        m: &Array2<f64>,
        unit: UnitShape,
        level: usize,
    ) -> BlockMatrix<crate::eval::SimCt> {
        let period = m.nrows().next_power_of_two();
        pack(m.view(), Layout::RowTiled { period }, unit)
            .unwrap()
            .try_map(|b| sim.encrypt_at(b, level))
            .unwrap()
    }

    fn decrypted(sim: &Simulator, m: &BlockMatrix<crate::eval::SimCt>) -> Vec<Vec<Complex64>> {
        m.blocks().iter().map(|c| sim.decrypt(c).unwrap()).collect()
    }

    #[test]
    fn packed_refresh_keeps_every_slot_with_one_bootstrap() {
        let sim = sim();
        // 3 classes (period 4), 64 × 16 blocks: 16 tiles per block, 41 features + bias → 3
        // blocks per matrix; W and V (6 blocks) fit one packed ciphertext.
        let unit = UnitShape::new(64, 16).unwrap();
        let w = Array2::from_shape_fn((3, 42), |(i, j)| ((i * 42 + j) % 17) as f64 / 20.0 - 0.4);
        let v = w.mapv(|x| 0.5 - x);
        let (cw, cv) = (encrypted(&sim, &w, unit, 4), encrypted(&sim, &v, unit, 5));
        let out = refresh_row_tiled(&sim, &[&cw, &cv], 3).unwrap();
        assert!(out.packed);
        assert_eq!(out.bootstraps, 1);
        assert_eq!(sim.counts().bootstrap, 1);
        for (before, after) in [&cw, &cv].into_iter().zip(&out.matrices) {
            assert_eq!(after.layout(), before.layout());
            for b in after.blocks() {
                assert_eq!(sim.level(b), sim.bootstrap_level() - 1);
            }
            // Every slot, copies and padding included, comes back.
            for (x, y) in decrypted(&sim, before)
                .iter()
                .flatten()
                .zip(decrypted(&sim, after).iter().flatten())
            {
                assert!((x - y).norm() < 1e-12, "{x} vs {y}");
            }
        }
        let plain = |m: &BlockMatrix<crate::eval::SimCt>| {
            let slots = m.try_map(|c| sim.decrypt(c)).unwrap();
            unpack(&slots).unwrap()
        };
        assert_eq!(plain(&out.matrices[0]), w);
        assert_eq!(plain(&out.matrices[1]), v);
    }

    #[test]
    fn weights_beyond_one_are_refreshed_within_the_bootstrap_range() {
        // The simulator refuses to bootstrap a slot beyond ±1; W and V up to ±3.9 pass on both
        // paths and come back exactly (the factors are powers of two).
        let big = |rows, cols| {
            Array2::from_shape_fn((rows, cols), |(i, j)| {
                ((i * cols + j) % 13) as f64 * 0.6 - 3.6
            })
        };
        // Packed: 16 tiles per block.
        let sim = sim();
        let unit = UnitShape::new(64, 16).unwrap();
        let (w, v) = (big(3, 42), big(3, 42).mapv(|x| -x));
        let (cw, cv) = (encrypted(&sim, &w, unit, 4), encrypted(&sim, &v, unit, 4));
        let out = refresh_row_tiled(&sim, &[&cw, &cv], 3).unwrap();
        assert!(out.packed);
        let plain = |sim: &Simulator, m: &BlockMatrix<crate::eval::SimCt>| {
            unpack(&m.try_map(|c| sim.decrypt(c)).unwrap()).unwrap()
        };
        assert_eq!(plain(&sim, &out.matrices[0]), w);
        assert_eq!(plain(&sim, &out.matrices[1]), v);
        // Pairs (one tile per block), with a level to spare.
        let sim = self::sim();
        let unit = UnitShape::new(4, 256).unwrap();
        let w = big(3, 300);
        let cw = encrypted(&sim, &w, unit, 4);
        let out = refresh_row_tiled(&sim, &[&cw, &cw], 3).unwrap();
        assert!(!out.packed);
        for m in &out.matrices {
            assert_eq!(plain(&sim, m), w);
        }
        // Without a spare level the pair path cannot scale: the bound is ±1 again.
        let cw = encrypted(&sim, &w, unit, 3);
        assert!(matches!(
            refresh_row_tiled(&sim, &[&cw], 3),
            Err(Error::Bootstrap(_))
        ));
    }

    #[test]
    fn many_blocks_need_one_bootstrap_per_two_blocks_per_tile() {
        let sim = sim();
        // Period 8 in 16 × 64 blocks: 2 tiles, so 4 blocks per packed ciphertext; 5 + 5 blocks.
        let unit = UnitShape::new(16, 64).unwrap();
        let w = Array2::from_shape_fn((7, 300), |(i, j)| ((i + 3 * j) % 11) as f64 / 11.0 - 0.5);
        let cw = encrypted(&sim, &w, unit, 6);
        let out = refresh_row_tiled(&sim, &[&cw, &cw], 3).unwrap();
        assert_eq!(cw.blocks().len(), 5);
        assert_eq!(out.bootstraps, (2 * 5usize).div_ceil(4));
        for m in &out.matrices {
            for (x, y) in decrypted(&sim, &cw)
                .iter()
                .flatten()
                .zip(decrypted(&sim, m).iter().flatten())
            {
                assert!((x - y).norm() < 1e-12);
            }
        }
    }

    /// Records the size of every bootstrap stage, then bootstraps locally.
    #[derive(Default)]
    struct Stages(std::sync::Mutex<Vec<usize>>);

    impl crate::eval::BootstrapExecutor<Simulator> for Stages {
        fn bootstrap_many(
            &self,
            ev: &Simulator,
            cts: &[crate::eval::SimCt],
        ) -> Result<Vec<crate::eval::SimCt>> {
            self.0.lock().unwrap().push(cts.len());
            ev.bootstrap_many(cts)
        }
    }

    #[test]
    fn every_refresh_is_one_stage_of_independent_bootstraps() {
        let unit = UnitShape::new(16, 64).unwrap();
        let w = Array2::from_shape_fn((7, 300), |(i, j)| ((i * 5 + j) % 13) as f64 / 13.0 - 0.5);
        for (level, bootstraps) in [(6, 3), (3, 5)] {
            let stages = Stages::default();
            let ev = crate::eval::BootstrapVia::new(sim(), &stages);
            let cw = encrypted(ev.inner(), &w, unit, level);
            let out = refresh_row_tiled(&ev, &[&cw, &cw], 3).unwrap();
            // Packed (4 blocks per ciphertext) or in pairs: all in a single stage.
            assert_eq!(out.bootstraps, bootstraps);
            assert_eq!(*stages.0.lock().unwrap(), vec![bootstraps]);
            for m in &out.matrices {
                for (x, y) in decrypted(ev.inner(), &cw)
                    .iter()
                    .flatten()
                    .zip(decrypted(ev.inner(), m).iter().flatten())
                {
                    assert!((x - y).norm() < 1e-12, "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn falls_back_to_pairs_without_a_spare_level() {
        let sim = sim();
        let unit = UnitShape::new(64, 16).unwrap();
        let w = Array2::from_shape_fn((3, 40), |(i, j)| (i as f64 - j as f64) / 50.0);
        let cw = encrypted(&sim, &w, unit, 3);
        let out = refresh_row_tiled(&sim, &[&cw], 3).unwrap();
        assert!(!out.packed);
        assert_eq!(out.bootstraps, cw.blocks().len().div_ceil(2));
        for (x, y) in decrypted(&sim, &cw)
            .iter()
            .flatten()
            .zip(decrypted(&sim, &out.matrices[0]).iter().flatten())
        {
            assert!((x - y).norm() < 1e-12);
        }
        assert_eq!(
            sim.level(&out.matrices[0].blocks()[0]),
            sim.bootstrap_level() - 1
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let sim = sim();
        let unit = UnitShape::new(64, 16).unwrap();
        let w = Array2::from_shape_fn((3, 10), |(i, j)| (i + j) as f64 / 20.0);
        let cw = encrypted(&sim, &w, unit, 6);
        assert!(refresh_row_tiled::<Simulator>(&sim, &[], 3).is_err());
        let major =
            BlockMatrix::from_blocks(3, 10, unit, Layout::RowMajor, cw.blocks().to_vec()).unwrap();
        assert!(refresh_row_tiled(&sim, &[&major], 3).is_err());
        assert!(refresh_row_tiled(&sim, &[&cw, &major], 3).is_err());
        let other = UnitShape::new(32, 32).unwrap();
        let small = encrypted(&sim, &w, other, 6);
        assert!(refresh_row_tiled(&sim, &[&cw, &small], 3).is_err());
    }
}
