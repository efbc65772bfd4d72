"""Markdown tables: rows are operations, columns are library x threads (hetal first when given).

Every column is first normalised to {label, ops, precision, sizes, peak_rss, params, notes}; a value
a library does not offer prints as "—", and a library that failed prints its error under the table.
"""

# (row label, op key) in display order; a row is printed when at least one column has the key.
TIME_ROWS = [
    ("key gen: secret + public + relin", "keygen_sk_pk_relin"),
    ("key gen: 1 rotation key", "rotkey_1_step"),
    ("key gen: 8 rotation keys", "rotkeys_8_steps"),
    ("NTT, one polynomial over all Q limbs", "ntt"),
    ("inverse NTT, same", "intt"),
    ("encode", "encode"),
    ("decode", "decode"),
    ("encode + encrypt (fused)", "encode_encrypt"),
    ("encrypt (public key)", "encrypt_pk"),
    ("encrypt (secret key)", "encrypt_sk"),
    ("decrypt", "decrypt"),
    ("decrypt + decode (fused)", "decrypt_decode"),
    ("mul (tensor)", "mul"),
    ("relinearize", "relin"),
    ("rescale", "rescale"),
    ("**mul + relin + rescale**", "mul_relin_rescale"),
    ("**rotate (1 step)**", "rotate"),
    ("**8 rotations** (hoisted where offered)", "rotate_8"),
]
# Operations whose CPU time (all threads, user + system) gets its own row: steadier than wall time
# on a shared machine, and it shows what a second thread costs.
CPU_ROWS = [
    ("mul + relin + rescale", "mul_relin_rescale"),
    ("rotate (1 step)", "rotate"),
    ("8 rotations", "rotate_8"),
]
PRECISION_ROWS = [
    ("fresh encrypt→decrypt", "fresh"),
    ("mul + relin + rescale", "mul_relin_rescale"),
    ("rotate", "rotate"),
    ("8 rotations (worst of the 8)", "rotate_8"),
]
SIZE_ROWS = [
    ("ciphertext, top level", "ciphertext_top_level"),
    ("ciphertext, top level, seeded (secret-key encryption)", "ciphertext_top_level_compact"),
    ("public key", "public_key"),
    ("relinearization key", "relin_key"),
    ("1 rotation key", "rotation_key_1_step"),
    ("8 rotation keys", "rotation_keys_8_steps"),
]


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def fmt_bytes(count):
    if count is None:
        return "—"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} B"


def fmt_bits(prec):
    if not prec:
        return "—"
    mean, worst = prec.get("mean_bits"), prec.get("worst_bits")
    if mean is None and worst is None:
        return "—"
    return f"{_num(mean)} / {_num(worst)}"


def _num(value):
    return "—" if value is None else f"{value:.1f}"


def peer_column(record):
    """Normalises one peers.py ops record into a table column."""
    lib = record.get("library", "?")
    binding = record.get("binding")
    name = lib if not binding or binding == lib else f"{lib} ({binding})"
    threads = record.get("threads_requested")
    same_for = record.get("same_for_threads")
    star = ""
    if same_for and len(same_for) > 1:
        threads, star = ",".join(str(t) for t in same_for), "¹"
    ops = {k: v.get("median_s") for k, v in record.get("ops", {}).items()}
    cpu = {k: v.get("median_cpu_s") for k, v in record.get("ops", {}).items()}
    sizes = dict(record.get("sizes_bytes", {}))
    if "ciphertext_top_level_serialized" in sizes:
        sizes["ciphertext_top_level"] = sizes.pop("ciphertext_top_level_serialized")
    return {
        "label": f"{name} T={threads}{star}",
        "ops": ops,
        "cpu": cpu,
        "precision": record.get("precision", {}),
        "sizes": sizes,
        "peak_rss": record.get("peak_rss_bytes"),
        "params": describe_params(record.get("params_used", {})),
        "notes": record.get("notes", []),
        "error": record.get("error"),
    }


def describe_params(params):
    if not params:
        return ""
    parts = []
    n = params.get("ring_degree")
    if n:
        parts.append(f"N=2^{n.bit_length() - 1}")
    if params.get("q_limbs") is not None:
        parts.append(f"{params['q_limbs']} Q limbs")
    if params.get("q_bits"):
        bits = params["q_bits"]
        parts.append(f"log Q={sum(bits)}")
    if params.get("special_bits"):
        parts.append(f"P={'+'.join(str(b) for b in params['special_bits'])} bits")
    if params.get("dnum") is not None:
        parts.append(f"dnum={params['dnum']}")
    if params.get("max_level") is not None:
        parts.append(f"max_level={params['max_level']}")
    if params.get("ciphertext_words_per_coefficient") is not None:
        parts.append(f"{params['ciphertext_words_per_coefficient']:.0f} words/coeff in a ciphertext")
    sec = params.get("security")
    if sec and sec.get("bound_128") is not None:
        verdict = "≤" if sec["secure_128"] else "> (INSECURE)"
        parts.append(f"log QP={sec['log_qp']} {verdict} {sec['bound_128']} (128-bit bound)")
    return ", ".join(parts)


def render_ops(columns):
    """The ops table (times, precision, sizes, memory) for already-normalised columns."""
    ok = [c for c in columns if not c.get("error")]
    lines = ["| operation | " + " | ".join(c["label"] for c in ok) + " |",
             "|---|" + "---:|" * len(ok)]
    for label, key in TIME_ROWS:
        if any(c["ops"].get(key) is not None for c in ok):
            lines.append(f"| {label} | " + " | ".join(fmt_time(c["ops"].get(key)) for c in ok) + " |")
    for label, key in CPU_ROWS:
        if any((c.get("cpu") or {}).get(key) is not None for c in ok):
            lines.append(f"| CPU time, all threads: {label} | "
                         + " | ".join(fmt_time((c.get("cpu") or {}).get(key)) for c in ok) + " |")
    for label, key in PRECISION_ROWS:
        if any(c["precision"].get(key) for c in ok):
            lines.append(f"| precision {label} (bits, mean / worst) | "
                         + " | ".join(fmt_bits(c["precision"].get(key)) for c in ok) + " |")
    for label, key in SIZE_ROWS:
        if any(c["sizes"].get(key) is not None for c in ok):
            lines.append(f"| size: {label} | " + " | ".join(fmt_bytes(c["sizes"].get(key)) for c in ok) + " |")
    if any(c.get("peak_rss") for c in ok):
        lines.append("| peak resident memory (process) | " + " | ".join(fmt_bytes(c.get("peak_rss")) for c in ok) + " |")
    out = ["\n".join(lines), ""]
    out.append("Parameters per column:")
    for c in ok:
        out.append(f"- {c['label']}: {c['params']}" + (f" — {'; '.join(c['notes'])}" if c["notes"] else ""))
    if any(c["label"].endswith("¹") for c in ok):
        out.append("- ¹ one thread inside one operation whatever T is: measured once (T=1), valid for each T listed.")
    for c in columns:
        if c.get("error"):
            out.append(f"- {c['label']}: not measured — {c['error']}")
    return "\n".join(out)


def boot_column(record):
    """Normalises one desilofhe bootstrap record into a bootstrap-table column."""
    if record.get("error"):
        return {"label": f"{record.get('library', '?')} T={record.get('threads_requested')}",
                "error": record["error"]}
    return {
        "label": f"desilofhe ({record.get('bootstrap_key')} key) T={record.get('threads_requested')}",
        "ring_degree": record.get("ring_degree"),
        "slots": record.get("slots"),
        "time": (record.get("bootstrap") or {}).get("median_s"),
        "cpu_time": (record.get("bootstrap") or {}).get("median_cpu_s"),
        "levels_left": record.get("levels_left"),
        "precision": record.get("precision"),
        "keygen": record.get("keygen_total_s"),
        "key_bytes": record.get("key_set_bytes"),
        "peak_rss": record.get("peak_rss_bytes"),
        "notes": record.get("notes", []),
    }


def render_bootstrap(columns):
    ok = [c for c in columns if not c.get("error")]
    out = []
    if ok:
        rows = [
            ("ring degree / slots", lambda c: f"2^{c['ring_degree'].bit_length() - 1} / {c['slots']}"
             if c.get("ring_degree") else "—"),
            ("**time per bootstrap**", lambda c: fmt_time(c.get("time"))),
            ("CPU time per bootstrap (all threads)", lambda c: fmt_time(c.get("cpu_time"))),
            ("levels left after bootstrap", lambda c: _plain(c.get("levels_left"))),
            ("precision (bits, mean / worst), inputs in [-1,1]", lambda c: fmt_bits(c.get("precision"))),
            ("bootstrapping key generation", lambda c: fmt_time(c.get("keygen"))),
            ("key set size (serialized)", lambda c: fmt_bytes(c.get("key_bytes"))),
            ("peak resident memory (process)", lambda c: fmt_bytes(c.get("peak_rss"))),
        ]
        out.append("| bootstrapping | " + " | ".join(c["label"] for c in ok) + " |")
        out.append("|---|" + "---:|" * len(ok))
        for label, cell in rows:
            out.append(f"| {label} | " + " | ".join(cell(c) for c in ok) + " |")
        out.append("")
        for c in ok:
            if c.get("notes"):
                out.append(f"- {c['label']}: {'; '.join(c['notes'])}")
    for c in columns:
        if c.get("error"):
            out.append(f"- {c['label']}: not measured — {c['error']}")
    return "\n".join(out)


def _plain(value):
    return "—" if value is None else str(value)


def render(report, hetal_ops=None, hetal_boot=None):
    """The markdown for a peers.py report, with hetal's normalised columns (lists) put first."""
    parts = []
    ops_cols = list(hetal_ops or []) + [peer_column(r) for r in report.get("ops", [])]
    if ops_cols:
        parts.append(render_ops(ops_cols))
    boot_cols = list(hetal_boot or []) + [boot_column(r) for r in report.get("bootstrap", [])]
    if boot_cols:
        parts.append(render_bootstrap(boot_cols))
    return "\n\n".join(parts)
