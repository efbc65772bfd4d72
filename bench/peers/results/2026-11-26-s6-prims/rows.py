"""Paste-ready rows: per primitive, hetal (default build) T=1 and T=2 against the fastest peer at
the same thread count (T=1 by CPU time, T=2 by wall time), plus the avx512 build at T=1.

    python3 rows.py            # run in this folder
"""
import json

h = {t: json.load(open(f'hetal-ops-T{t}.json')) for t in (1, 2)}
a1 = json.load(open('avx512/hetal-ops-T1.json'))
peers = {}
for r in json.load(open('peers.json'))['ops']:
    if 'ops' not in r:
        continue
    if r['library'] == 'SEAL':
        peers['SEAL'] = (r, None)
    elif r['library'] == 'desilofhe':
        peers[f"desilofhe T{r['threads_requested']}"] = (r, r['threads_requested'])
OPS = [('keygen_sk_pk_relin', 'keygen_sk_pk_relin', 'key gen: secret + public + relin'),
       ('rotkey_1_step', 'rotkey_1_step', 'key gen: 1 rotation key'),
       ('rotkeys_8_steps', 'rotkeys_8_steps', 'key gen: 8 rotation keys'),
       ('encode', 'encode', 'encode'), ('decode', 'decode', 'decode'),
       ('encrypt_pk', 'encrypt_pk', 'encrypt (public key)'),
       ('encrypt_sk', 'encrypt_sk', 'encrypt (secret key)'), ('decrypt', 'decrypt', 'decrypt'),
       ('mul', 'mul', 'mul (tensor only)'), ('relin', 'relin', 'relinearize'),
       ('rescale', 'rescale', 'rescale'),
       ('mul_relin_rescale', 'mul_relin_rescale', '**mul + relin + rescale**'),
       ('rotate', 'rotate', '**rotate (1 step)**'), ('rotate_8_hoisted', 'rotate_8', '**8 rotations**')]


def f(x):
    return '—' if x is None else (f'{x * 1e3:.1f}' if x < 0.1 else f'{x * 1e3:.0f}')


print('| op | hetal T=1 wall / CPU ms | fastest peer T=1 (wall / CPU) | T=1: CPU, wall ratio | '
      'hetal T=2 wall / CPU | fastest peer T=2 (wall / CPU) | T=2: wall, CPU ratio | '
      'hetal avx512 T=1 wall / CPU |')
print('|---|---|---|---|---|---|---|---|')
for hk, pk, label in OPS:
    row = [label]
    for t in (1, 2):
        o = h[t]['ops'][hk]
        hw, hc = o['median_s'], o['mean_cpu_s']
        cand = []
        for n, (r, tt) in peers.items():
            q = r['ops'].get(pk)
            if tt in (None, t) and q and 'median_s' in q:
                key = q['median_cpu_s'] if t == 1 else q['median_s']
                cand.append((key, q['median_s'], q['median_cpu_s'], n))
        if not cand:
            row += [f'{f(hw)} / {f(hc)}', '— (no peer row)', '—']
            continue
        _, pw, pc, n = min(cand)
        if t == 1:
            who = '**hetal**' if hc <= pc else n
            row += [f'{f(hw)} / {f(hc)}', f'{n}: {f(pw)} / {f(pc)}', f'{hc / pc:.2f}×, {hw / pw:.2f}× {who}']
        else:
            who = '**hetal**' if hw <= pw else n
            row += [f'{f(hw)} / {f(hc)}', f'{n}: {f(pw)} / {f(pc)}', f'{hw / pw:.2f}×, {hc / pc:.2f}× {who}']
    o = a1['ops'][hk]
    row.append(f"{f(o['median_s'])} / {f(o['mean_cpu_s'])}")
    print('| ' + ' | '.join(row) + ' |')
