"""Reads the JSON of `hetal bench ops` / `hetal bench bootstrap` into table columns and peer params.

The reader is deliberately tolerant: a field hetal does not (yet) emit prints as "—" instead of
failing the whole table, and several spellings of a field are accepted (listed per field below),
so the driver keeps working while hetal's CLI evolves.
"""

import json

# Canonical op key -> names hetal may use for it (first match wins).
OP_ALIASES = {
    "ntt": ["ntt", "ntt_forward", "forward_ntt"],
    "intt": ["intt", "ntt_inverse", "inverse_ntt"],
    "keygen_sk_pk_relin": ["keygen_sk_pk_relin", "keygen", "key_generation", "keygen_basic"],
    "rotkey_1_step": ["rotkey_1_step", "rotation_keygen", "rotkey", "keygen_rotation", "galois_keygen"],
    "rotkeys_8_steps": ["rotkeys_8_steps", "rotation_keys_8", "keygen_rotations_8"],
    "encode": ["encode"],
    "decode": ["decode"],
    "encrypt_pk": ["encrypt_pk", "encrypt_public", "encrypt"],
    "encrypt_sk": ["encrypt_sk", "encrypt_symmetric", "encrypt_secret"],
    "decrypt": ["decrypt"],
    "mul": ["mul", "mul_tensor", "tensor"],
    "relin": ["relin", "relinearize"],
    "rescale": ["rescale"],
    "mul_relin_rescale": ["mul_relin_rescale", "mul_relin_rescale_s", "mul_relin"],
    "rotate": ["rotate", "rotate_1", "rotation"],
    "rotate_8": ["rotate_8", "rotate_8_hoisted", "hoisted_rotations_8", "hoisted_8", "rotate_hoisted_8"],
}
PRECISION_ALIASES = {
    "fresh": ["fresh", "encrypt_decrypt", "decrypt"],
    "mul_relin_rescale": ["mul_relin_rescale", "mul", "mul_relin"],
    "rotate": ["rotate", "rotation"],
    "rotate_8": ["rotate_8_hoisted", "rotate_8", "hoisted_8"],
}
TIME_FIELDS = [("median_s", 1.0), ("seconds", 1.0), ("time_s", 1.0), ("secs", 1.0),
               ("median_ms", 1e-3), ("ms", 1e-3), ("time_ms", 1e-3), ("median_us", 1e-6),
               ("us", 1e-6), ("median_ns", 1e-9), ("ns", 1e-9)]


def load(path):
    """Parses a JSON file; returns None when the file is missing, empty or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError:
        return None


def _first(obj, *names):
    if not isinstance(obj, dict):
        return None
    for name in names:
        if name in obj and obj[name] is not None:
            return obj[name]
    return None


def _seconds(value):
    """A time in seconds from a number (taken as seconds) or a record with a time field."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        for field, factor in TIME_FIELDS:
            if isinstance(value.get(field), (int, float)):
                return float(value[field]) * factor
    return None


def _ops_map(doc):
    """name -> raw record, from either {"ops": {name: rec}} or {"ops": [{"name": .., ...}]}."""
    ops = _first(doc, "ops", "operations", "timings", "results")
    if isinstance(ops, dict):
        return ops
    if isinstance(ops, list):
        return {str(_first(r, "name", "op", "operation")): r for r in ops if isinstance(r, dict)}
    return {}


def params(doc):
    """The parameter set hetal ran at: ring degree, Q and P prime sizes, dnum, scale, threads."""
    p = _first(doc, "params", "parameters", "preset") or {}
    if not isinstance(p, dict):
        p = {}
    merged = dict(doc if isinstance(doc, dict) else {}, **p)
    n = _first(merged, "ring_degree", "n", "N", "degree")
    log_n = _first(merged, "log_n", "log_ring_degree", "logn")
    if n is None and log_n is not None:
        n = 1 << int(log_n)
    q_bits = _first(merged, "q_bits", "q_prime_bits", "q_moduli_bits", "log_q_primes")
    p_bits = _first(merged, "p_bits", "special_bits", "p_prime_bits", "special_prime_bits")
    q_limbs = _first(merged, "q_limbs", "q_count", "limbs", "num_q")
    if q_limbs is None and isinstance(q_bits, list):
        q_limbs = len(q_bits)
    return {
        "ring_degree": int(n) if n else None,
        "q_limbs": int(q_limbs) if q_limbs else None,
        "q_bits": q_bits if isinstance(q_bits, list) else None,
        "special_bits": p_bits if isinstance(p_bits, list) else None,
        "dnum": _first(merged, "dnum", "digits", "digit_count"),
        "scale_bits": _first(merged, "log_scale", "scale_bits", "log_delta"),
        "threads": _first(merged, "threads", "thread_count"),
        "preset": _first(merged, "preset", "name", "preset_name") if not isinstance(
            _first(merged, "preset"), dict) else _first(p, "name"),
    }


def ops_column(doc, threads):
    """A table column (see table.py) for one `hetal bench ops --json` document."""
    label = f"**hetal** T={threads}"
    if doc is None:
        return {"label": label, "error": "no JSON from `hetal bench ops`"}
    raw = _ops_map(doc)
    ops = {}
    for key, names in OP_ALIASES.items():
        for name in names:
            if name in raw:
                ops[key] = _seconds(raw[name])
                break
    cpu = {}
    for key, names in OP_ALIASES.items():
        for name in names:
            if isinstance(raw.get(name), dict):
                cpu[key] = _first(raw[name], "median_cpu_s", "mean_cpu_s", "cpu_s")
                break
    prec_raw = _first(doc, "precision", "precision_bits") or {}
    precision = {}
    for key, names in PRECISION_ALIASES.items():
        for name in names:
            rec = prec_raw.get(name) if isinstance(prec_raw, dict) else None
            if rec is None and isinstance(raw.get(name), dict):
                rec = _first(raw[name], "precision", "precision_bits")
            if isinstance(rec, dict):
                precision[key] = {
                    "mean_bits": _first(rec, "mean_bits", "mean", "avg_bits"),
                    "worst_bits": _first(rec, "worst_bits", "max_err_bits", "min_bits", "worst"),
                }
                break
    sizes_raw = _first(doc, "sizes_bytes", "sizes", "bytes") or {}
    sizes = {
        "ciphertext_top_level": _first(sizes_raw, "ciphertext_top_level", "ciphertext", "ciphertext_bytes"),
        "ciphertext_top_level_compact": _first(sizes_raw, "ciphertext_top_level_compact", "ciphertext_seeded",
                                               "seeded_ciphertext", "ciphertext_symmetric"),
        "public_key": _first(sizes_raw, "public_key", "pk"),
        "relin_key": _first(sizes_raw, "relin_key", "relinearization_key", "relin_key_bytes"),
        "rotation_key_1_step": _first(sizes_raw, "galois_key_1_step", "rotation_key_1_step", "rotation_key"),
        "rotation_keys_8_steps": _first(sizes_raw, "rotation_keys_8_steps", "rotation_keys_8", "rotation_keys"),
    }
    par = params(doc)
    return {
        "label": label,
        "ops": ops,
        "cpu": cpu,
        "precision": precision,
        "sizes": {k: v for k, v in sizes.items() if v is not None},
        "peak_rss": _first(doc, "peak_rss_bytes", "peak_rss", "max_rss_bytes"),
        "params": _describe(par),
        "notes": [str(n) for n in (doc.get("notes") or [])],
    }


def boot_column(doc, threads, slots_label=""):
    """A bootstrap-table column for one `hetal bench bootstrap --json` document.

    Fields are looked up at the top level, then under `ops`, `params`, `sizes_bytes`.
    """
    label = f"**hetal** {slots_label}T={threads}".strip()
    if doc is None:
        return {"label": label, "error": "no JSON from `hetal bench bootstrap`"}
    par = params(doc)
    scopes = [doc] + [doc[k] for k in ("ops", "params", "sizes_bytes", "keys") if isinstance(doc.get(k), dict)]

    def find(*names):
        for scope in scopes:
            value = _first(scope, *names)
            if value is not None:
                return value
        return None

    prec = find("precision", "precision_bits") or {}
    if isinstance(prec, dict) and isinstance(prec.get("bootstrap"), dict):
        prec = prec["bootstrap"]
    boot = find("bootstrap", "bootstrap_time", "time", "bootstrap_s")
    return {
        "label": label,
        "ring_degree": par["ring_degree"],
        "slots": find("slots", "slot_count"),
        "time": _seconds(boot),
        "cpu_time": _seconds(find("bootstrap_cpu", "cpu", "bootstrap_cpu_s", "cpu_s"))
        or (boot.get("median_cpu_s") if isinstance(boot, dict) else None),
        "levels_left": find("levels_left", "levels_after", "output_level", "level_after"),
        "precision": {
            "mean_bits": _first(prec, "mean_bits", "mean"),
            "worst_bits": _first(prec, "worst_bits", "min_bits", "worst"),
        },
        "keygen": _seconds(find("keygen", "keygen_s", "key_generation", "bootstrap_keygen", "keygen_bootstrap")),
        "key_bytes": find("key_set_bytes", "bootstrap_keys", "bootstrap_key_bytes", "key_bytes", "keys_bytes"),
        "peak_rss": find("peak_rss_bytes", "peak_rss"),
        "notes": [str(n) for n in (doc.get("notes") or [])],
    }


def _describe(par):
    parts = []
    if par.get("preset"):
        parts.append(f"preset {par['preset']}")
    if par.get("ring_degree"):
        parts.append(f"N=2^{int(par['ring_degree']).bit_length() - 1}")
    if par.get("q_limbs"):
        parts.append(f"{par['q_limbs']} Q limbs")
    if par.get("q_bits"):
        parts.append(f"log Q={sum(par['q_bits'])}")
    if par.get("special_bits"):
        parts.append(f"P={'+'.join(str(b) for b in par['special_bits'])} bits")
    if par.get("dnum") is not None:
        parts.append(f"dnum={par['dnum']}")
    if par.get("scale_bits") is not None:
        parts.append(f"scale 2^{par['scale_bits']}")
    return ", ".join(parts)
