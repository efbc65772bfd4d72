"""Upper bounds on log2(QP) for 128-bit classical security with a ternary secret.

N <= 2^15: the Homomorphic Encryption Standard (Albrecht et al., 2018), Table 1, as also used by
SEAL's `CoeffModulus.MaxBitCount`. N = 2^16 and 2^17: OpenFHE's extended table
(`src/core/lib/lattice/stdlatticeparms.cpp`, HEStd_128_classic, HEStd_ternary).
"""

LOG_QP_BOUND_128 = {
    1024: 27,
    2048: 54,
    4096: 109,
    8192: 218,
    16384: 438,
    32768: 881,
    65536: 1772,
    131072: 3576,
}


def check(ring_degree, total_bits):
    """Returns a small JSON record: the bound, the total and whether it is within the bound."""
    bound = LOG_QP_BOUND_128.get(ring_degree)
    return {
        "log_qp": total_bits,
        "bound_128": bound,
        "secure_128": bound is not None and total_bits <= bound,
    }
