"""Microsoft SEAL through TenSEAL: the higher-level API most Python users reach SEAL with.

TenSEAL fuses steps (encode+encrypt, decrypt+decode, multiply+relinearize+rescale) and exposes no
single-ciphertext rotation, so only those rows are measured. It builds its SEAL context with SEAL's
default 128-bit check, whose table stops at N = 2^15: at N = 2^16 it refuses, and the refusal is
recorded as the result. Its `n_threads` feeds TenSEAL's own pool (used across vector elements of
tensor operations), not the inside of one SEAL operation.
"""

from importlib.metadata import version

import tenseal as ts

from . import measure, security


def run(spec):
    """Measures TenSEAL's fused primitives at the parameters of `spec`; returns the JSON record."""
    n = 1 << spec["log_n"]
    special = min(max(spec["special_bits"]), 60)
    bits = [min(b, 60) for b in spec["q_bits"]] + [special]
    reps = spec["reps"]
    ops = {}

    def make_context():
        try:
            ctx = ts.context(ts.SCHEME_TYPE.CKKS, n, coeff_mod_bit_sizes=bits, n_threads=spec["threads"])
        except ValueError as err:
            bound = security.LOG_QP_BOUND_128.get(n)
            why = ("SEAL's table stops at N=2^15" if n > 32768
                   else f"log QP exceeds SEAL's 128-bit bound of {bound} bits at this N")
            raise RuntimeError(
                f"TenSEAL refused N=2^{spec['log_n']}, log QP={sum(bits)} ({err}): it always applies SEAL's "
                f"128-bit check and {why}"
            ) from None
        ctx.global_scale = 2.0 ** spec["scale_bits"]
        return ctx

    ops["keygen_sk_pk_relin"], context = measure.timed(make_context, reps, note="context creation: secret, public and relin keys")
    slots = n // 2
    x = measure.random_inputs(slots, spec["seed"])
    y = measure.random_inputs(slots, spec["seed"] + 1)
    xs, ys = x.tolist(), y.tolist()
    ops["encode_encrypt"], ct_x = measure.timed(lambda: ts.ckks_vector(context, xs), reps)
    ct_y = ts.ckks_vector(context, ys)
    ops["decrypt_decode"], _ = measure.timed(ct_x.decrypt, reps)
    fresh = measure.precision_bits(ct_x.decrypt(), x)
    ops["mul_relin_rescale"], product = measure.timed(lambda: ct_x * ct_y, reps)
    mul_prec = measure.precision_bits(product.decrypt(), x * y)
    return {
        "library": "SEAL",
        "binding": "tenseal",
        "version": version("tenseal"),
        "threads_used": 1,
        "params_used": {
            "ring_degree": n,
            "slots": slots,
            "q_limbs": len(bits) - 1,
            "q_bits": bits[:-1],
            "special_bits": [special],
            "scale_bits": spec["scale_bits"],
            "security": security.check(n, sum(bits)),
        },
        "ops": ops,
        "precision": {"fresh": fresh, "mul_relin_rescale": mul_prec},
        "sizes_bytes": {"ciphertext_top_level_serialized": len(ct_x.serialize())},
        "notes": ["TenSEAL exposes no single-ciphertext rotation; one SEAL operation runs on one thread"],
    }
