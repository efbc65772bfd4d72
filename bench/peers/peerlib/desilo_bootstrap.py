"""DESILO FHE bootstrapping (`Engine(bootstrap=True)`, CPU mode): time, levels left, precision, memory.

desilofhe fixes its bootstrapping parameters (N = 2^16, full 2^15 slots); version 2.0.0 exposes no
sparse-slot bootstrapping, so only full slots are measured. Two key variants exist:
* "small": a roll key plus the small bootstrap key (documented at about 3.8 GB, slower);
* "medium": the full bootstrap key of fixed rotation keys (documented at about 12.3 GB, faster).
Inputs are real, uniform in [-1, 1] (desilofhe's documented input range), encrypted at level 0.
"""

import time
from importlib.metadata import version

import desilofhe

from . import measure


def run(spec):
    """Bootstraps with desilofhe at `spec["threads"]` threads and `spec["bootstrap_key"]` keys."""
    threads = spec["threads"]
    key_kind = spec["bootstrap_key"]
    secs, engine = measure.timed_once(lambda: desilofhe.Engine(bootstrap=True, mode="cpu", thread_count=threads))
    n = 2 * engine.slot_count
    keygen = {"engine_setup": secs}
    keygen_cpu_start = time.process_time()
    secs, secret_key = measure.timed_once(engine.create_secret_key)
    keygen["secret"] = secs
    secs, public_key = measure.timed_once(lambda: engine.create_public_key(secret_key))
    keygen["public"] = secs
    secs, relin_key = measure.timed_once(lambda: engine.create_relinearization_key(secret_key))
    keygen["relin"] = secs
    secs, conj_key = measure.timed_once(lambda: engine.create_conjugation_key(secret_key))
    keygen["conjugation"] = secs
    key_sizes = {
        "relin": relin_key.serialized_nbytes,
        "conjugation": conj_key.serialized_nbytes,
    }
    if key_kind == "small":
        secs, roll_key = measure.timed_once(lambda: engine.create_roll_key(secret_key))
        keygen["roll"] = secs
        secs, small_key = measure.timed_once(lambda: engine.create_small_bootstrap_key(secret_key))
        keygen["small_bootstrap"] = secs
        key_sizes["roll"] = roll_key.serialized_nbytes
        key_sizes["small_bootstrap"] = small_key.serialized_nbytes

        def bootstrap(ct):
            return engine.bootstrap(ct, relin_key, conj_key, roll_key, small_key)

    elif key_kind == "medium":
        secs, boot_key = measure.timed_once(lambda: engine.create_bootstrap_key(secret_key, size="medium"))
        keygen["bootstrap_medium"] = secs
        key_sizes["bootstrap_medium"] = boot_key.serialized_nbytes

        def bootstrap(ct):
            return engine.bootstrap(ct, relin_key, conj_key, boot_key)

    else:
        raise ValueError(f"unknown bootstrap key kind {key_kind!r} (expected small or medium)")

    keygen_cpu = time.process_time() - keygen_cpu_start
    rss_after_keys = measure.peak_rss_bytes()
    slots = engine.slot_count
    x = measure.random_inputs(slots, spec["seed"])
    ct = engine.encrypt(x, public_key, 0)
    boot_timing, out = measure.timed(lambda: bootstrap(ct), spec["boot_reps"])
    prec = measure.precision_bits(engine.decrypt(out, secret_key), x)
    return {
        "library": "desilofhe",
        "version": version("desilofhe"),
        "threads_used": threads,
        "bootstrap_key": key_kind,
        "ring_degree": n,
        "slots": slots,
        "max_level": engine.max_level,
        "input_level": ct.level,
        "levels_left": out.level,
        "bootstrap": boot_timing,
        "precision": prec,
        "keygen_s": keygen,
        "keygen_total_s": sum(v for k, v in keygen.items() if k != "engine_setup"),
        "keygen_total_cpu_s": keygen_cpu,
        "key_sizes_bytes": key_sizes,
        "key_set_bytes": sum(key_sizes.values()),
        "peak_rss_after_keygen_bytes": rss_after_keys,
        "notes": ["desilofhe 2.0.0 has no sparse-slot bootstrapping API; full slots only"],
    }
