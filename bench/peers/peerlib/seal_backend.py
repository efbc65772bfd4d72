"""Microsoft SEAL through the `seal-python` bindings (SEAL 4.x), which expose every step separately.

SEAL has no multithreading inside one operation, so the thread count is recorded as 1 whatever was
asked. SEAL allows a single special prime (the last modulus), i.e. key switching with one digit per
Q prime. Its own security check has no entry for N = 2^16, so the context is built with
`sec_level_type.none` and the total log(QP) is checked here against the 128-bit bound instead.
"""

import os
import tempfile

import seal

from . import measure, security

SEAL_MAX_PRIME_BITS = 60


def _file_size(save):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "obj")
        save(path)
        return os.path.getsize(path)


def run(spec):
    """Measures SEAL's primitives at the parameters of `spec`; returns the JSON record."""
    n = 1 << spec["log_n"]
    notes = ["SEAL runs one operation on one thread; threads_used is 1 whatever was asked"]
    q_bits = [min(b, SEAL_MAX_PRIME_BITS) for b in spec["q_bits"]]
    if q_bits != spec["q_bits"]:
        notes.append(f"Q primes clamped to SEAL's {SEAL_MAX_PRIME_BITS}-bit maximum")
    special = min(max(spec["special_bits"]), SEAL_MAX_PRIME_BITS)
    if len(spec["special_bits"]) != 1:
        notes.append(f"SEAL takes one special prime: used one of {special} bits instead of {spec['special_bits']}")
    all_bits = q_bits + [special]

    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(n)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(n, all_bits))
    context = seal.SEALContext(parms, True, seal.sec_level_type.none)
    if not context.parameters_set():
        raise RuntimeError(f"SEAL rejected the parameters: {context.parameter_error_message()}")
    scale = 2.0 ** spec["scale_bits"]
    reps = spec["reps"]
    steps = spec["rot_steps"]
    ops = {}

    def keygen():
        gen = seal.KeyGenerator(context)
        return gen, gen.create_public_key(), gen.create_relin_keys()

    # Warm-up, then median over reps (key generation is cheap enough to repeat at these sizes).
    ops["keygen_sk_pk_relin"], (gen, public_key, relin_keys) = measure.timed(keygen, reps)
    def galois_keys(key_steps):
        keys = seal.GaloisKeys()
        gen.create_galois_keys(key_steps, keys)
        return keys

    ops["rotkey_1_step"], _ = measure.timed(lambda: galois_keys([steps[0]]), reps)
    ops[f"rotkeys_{len(steps)}_steps"], galois = measure.timed(lambda: galois_keys(steps), 0)

    encoder = seal.CKKSEncoder(context)
    encryptor = seal.Encryptor(context, public_key)
    sym_encryptor = seal.Encryptor(context, gen.secret_key())
    decryptor = seal.Decryptor(context, gen.secret_key())
    evaluator = seal.Evaluator(context)
    slots = encoder.slot_count()
    x = measure.random_inputs(slots, spec["seed"])
    y = measure.random_inputs(slots, spec["seed"] + 1)

    ops["encode"], pt_x = measure.timed(lambda: encoder.encode(x, scale), reps)
    pt_y = encoder.encode(y, scale)
    ops["encrypt_pk"], ct_x = measure.timed(lambda: encryptor.encrypt(pt_x), reps)
    ct_y = encryptor.encrypt(pt_y)
    ops["encrypt_sk"], _ = measure.timed(lambda: sym_encryptor.encrypt_symmetric(pt_x), reps,
                                         note="the binding returns an expanded (unseeded) ciphertext")
    ops["decrypt"], pt_dec = measure.timed(lambda: decryptor.decrypt(ct_x), reps)
    ops["decode"], _ = measure.timed(lambda: encoder.decode(pt_dec), reps)
    fresh = measure.precision_bits(encoder.decode(decryptor.decrypt(ct_x)), x)

    ops["mul"], prod = measure.timed(lambda: evaluator.multiply(ct_x, ct_y), reps)
    ops["relin"], relin = measure.timed(lambda: evaluator.relinearize(prod, relin_keys), reps)
    ops["rescale"], _ = measure.timed(lambda: evaluator.rescale_to_next(relin), reps)

    def mul_relin_rescale():
        return evaluator.rescale_to_next(evaluator.relinearize(evaluator.multiply(ct_x, ct_y), relin_keys))

    ops["mul_relin_rescale"], product = measure.timed(mul_relin_rescale, reps)
    mul_prec = measure.precision_bits(encoder.decode(decryptor.decrypt(product)), x * y)

    ops["rotate"], rotated = measure.timed(lambda: evaluator.rotate_vector(ct_x, steps[0], galois), reps)
    rot_prec = measure.precision_bits(encoder.decode(decryptor.decrypt(rotated)), measure.rotated_left(x, steps[0]))
    ops[f"rotate_{len(steps)}"], many = measure.timed(lambda: [evaluator.rotate_vector(ct_x, s, galois) for s in steps], reps, note="no hoisting in SEAL: independent rotations")

    many_prec = measure.worst_precision([
        measure.precision_bits(encoder.decode(decryptor.decrypt(ct)), measure.rotated_left(x, s))
        for ct, s in zip(many, steps)
    ])
    sizes = {
        "ciphertext_top_level": ct_x.save_size(seal.compr_mode_type.none),
        "public_key": _file_size(public_key.save),
        "relin_key": _file_size(relin_keys.save),
        "rotation_key_1_step": _file_size(galois_keys([steps[0]]).save),
        f"rotation_keys_{len(steps)}_steps": _file_size(galois.save),
    }
    total_bits = sum(all_bits)
    return {
        "library": "SEAL",
        "binding": "seal-python",
        "version": _version(),
        "threads_used": 1,
        "params_used": {
            "ring_degree": n,
            "slots": slots,
            "q_limbs": len(q_bits),
            "q_bits": q_bits,
            "special_bits": [special],
            "scale_bits": spec["scale_bits"],
            "security": security.check(n, total_bits),
        },
        "ops": ops,
        "precision": {
            "fresh": fresh,
            "mul_relin_rescale": mul_prec,
            "rotate": rot_prec,
            f"rotate_{len(steps)}": many_prec,
        },
        "sizes_bytes": sizes,
        "notes": notes,
    }


def _version():
    from importlib.metadata import version

    return version("seal-python")
