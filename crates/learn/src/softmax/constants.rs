//! HETAL's published constants (`src/benchmark/softmax.py` of the authors' repository).

/// Cheon et al.'s comparison polynomial `f` (degree 7, odd): `(35x − 35x³ + 21x⁵ − 5x⁷)/16`.
pub const CMP_F: [f64; 8] = [
    0.0,
    35.0 / 16.0,
    0.0,
    -35.0 / 16.0,
    0.0,
    21.0 / 16.0,
    0.0,
    -5.0 / 16.0,
];

/// Cheon et al.'s comparison polynomial `g` (degree 7, odd):
/// `(4589x − 16577x³ + 25614x⁵ − 12860x⁷)/1024`.
pub const CMP_G: [f64; 8] = [
    0.0,
    4589.0 / 1024.0,
    0.0,
    -16577.0 / 1024.0,
    0.0,
    25614.0 / 1024.0,
    0.0,
    -12860.0 / 1024.0,
];

/// HETAL's benchmark composition: `comp = (f^{∘1}(g^{∘2}(x)) + 1)/2`.
pub const CMP_G_ROUNDS: usize = 2;
/// Number of `f` applications after the `g`s.
pub const CMP_F_ROUNDS: usize = 1;

/// `exp(x) ≈ p(x/8)^8` with this degree-8 `p` (coefficients `a₀…a₈`).
pub const EXP_P: [f64; 9] = [
    1.000000001945585,
    0.9999999388932228,
    0.499999859398392,
    0.16666798775227673,
    0.04166711228500117,
    0.008328336039797088,
    0.0013881473292497602,
    0.00020492629147503022,
    2.551385701569812e-05,
];
/// Squarings after `p` (`2^3 = 8`).
pub const EXP_SQUARINGS: usize = 3;

/// Domain-extension ratio `L`.
pub const DEP_L: f64 = 2.0;
/// Domain-extension base radius `r` (the last step maps onto `[-r, r]`).
pub const DEP_R: f64 = 8.0;

/// Goldschmidt inverse range parameter of the benchmark: `z ∈ (0, 2R)`.
pub const INV_R: f64 = 100.0;
/// Goldschmidt iterations of the benchmark.
pub const INV_ITERATIONS: usize = 16;

/// The input range HETAL covers: logits in `[-128, 128]`.
pub const RANGE: f64 = 128.0;

/// HETAL's measured maximum errors at range 128 for c = 3, 7, 10 (normal, precise), from the
/// reference document's run of the authors' script; the targets `hetal-rs` must beat.
pub const PUBLISHED_MAX_ERROR: [(usize, f64, f64); 3] = [
    (3, 3.72e-3, 2.21e-3),
    (7, 8.52e-3, 6.42e-3),
    (10, 2.00e-2, 8.57e-3),
];
