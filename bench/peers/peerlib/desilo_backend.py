"""DESILO FHE (`desilofhe`, CPU mode): the primitives at the nearest parameters its API allows.

desilofhe does not take a ring degree or prime sizes: `Engine(max_level=L)` chooses N and the
modulus chain itself. To match "q_limbs" Q primes we ask for max_level = q_limbs - 1 (a fresh
ciphertext then has as many levels as a chain of q_limbs primes with one base prime) and report
the ring degree it picked. `multiply` with a relinearization key rescales inside the call, so
rescale is not separately measurable. Rotations use fixed (per-step) rotation keys, and the 8
rotations use `rotate_many`, desilofhe's batched rotation of one ciphertext.
"""

from importlib.metadata import version

import desilofhe

from . import measure


def run(spec):
    """Measures desilofhe's primitives at the nearest parameters to `spec`; returns the JSON record."""
    threads = spec["threads"]
    max_level = len(spec["q_bits"]) - 1
    engine = desilofhe.Engine(max_level=max_level, mode="cpu", thread_count=threads)
    n = 2 * engine.slot_count
    reps = spec["reps"]
    steps = spec["rot_steps"]
    ops = {}
    notes = [
        f"parameters chosen by desilofhe from max_level={max_level} (q_limbs - 1); it picked N=2^{n.bit_length() - 1}",
        "multiply(ct, ct, relin_key) relinearizes and rescales in one call; rescale is not separable",
    ]
    if n != 1 << spec["log_n"]:
        notes.append(f"ring degree differs from the requested 2^{spec['log_n']}")

    def keygen():
        sk = engine.create_secret_key()
        return sk, engine.create_public_key(sk), engine.create_relinearization_key(sk)

    ops["keygen_sk_pk_relin"], (secret_key, public_key, relin_key) = measure.timed(keygen, reps)
    ops["rotkey_1_step"], _ = measure.timed(lambda: engine.create_fixed_rotation_key(secret_key, steps[0]), reps)
    ops[f"rotkeys_{len(steps)}_steps"], rot_keys = measure.timed(lambda: [engine.create_fixed_rotation_key(secret_key, s) for s in steps], 0)

    slots = engine.slot_count
    x = measure.random_inputs(slots, spec["seed"])
    y = measure.random_inputs(slots, spec["seed"] + 1)
    ops["encode"], pt_x = measure.timed(lambda: engine.encode(x), reps)
    pt_y = engine.encode(y)
    ops["encrypt_pk"], ct_x = measure.timed(lambda: engine.encrypt(pt_x, public_key), reps)
    ct_y = engine.encrypt(pt_y, public_key)
    ops["encrypt_sk"], _ = measure.timed(lambda: engine.encrypt(pt_x, secret_key), reps,
                                         note="secret-key encryption; serializes at full size")
    ops["decrypt"], pt_dec = measure.timed(lambda: engine.decrypt_to_plaintext(ct_x, secret_key), reps)
    ops["decode"], _ = measure.timed(lambda: engine.decode(pt_dec), reps)
    fresh = measure.precision_bits(engine.decrypt(ct_x, secret_key), x)

    ops["mul"], _ = measure.timed(lambda: engine.multiply(ct_x, ct_y), reps, note="tensor product (and rescale), no relinearization")
    ops["mul_relin_rescale"], product = measure.timed(lambda: engine.multiply(ct_x, ct_y, relin_key), reps)
    mul_prec = measure.precision_bits(engine.decrypt(product, secret_key), x * y)

    ops["rotate"], rotated = measure.timed(lambda: engine.rotate(ct_x, rot_keys[0]), reps)
    rot_prec = measure.precision_bits(engine.decrypt(rotated, secret_key), measure.rotated_left(x, steps[0]))
    ops[f"rotate_{len(steps)}"], many = measure.timed(lambda: engine.rotate_many(ct_x, rot_keys), reps, note="rotate_many with fixed rotation keys")
    many_prec = measure.worst_precision([
        measure.precision_bits(engine.decrypt(ct, secret_key), measure.rotated_left(x, s))
        for ct, s in zip(many, steps)
    ])

    sizes = {
        "ciphertext_top_level": ct_x.serialized_nbytes,
        "public_key": public_key.serialized_nbytes,
        "relin_key": relin_key.serialized_nbytes,
        "rotation_key_1_step": rot_keys[0].serialized_nbytes,
        f"rotation_keys_{len(steps)}_steps": sum(k.serialized_nbytes for k in rot_keys),
    }
    return {
        "library": "desilofhe",
        "binding": "desilofhe",
        "version": version("desilofhe"),
        "threads_used": threads,
        "params_used": {
            "ring_degree": n,
            "slots": slots,
            "max_level": engine.max_level,
            "q_limbs": engine.max_level + 1,
            "ciphertext_words_per_coefficient": ct_x.serialized_nbytes / (2 * n * 8),
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
