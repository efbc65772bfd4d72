"""Wall / CPU ms per primitive: hetal T1/T2 vs SEAL and desilofhe T1/T2, winner by CPU (all threads)."""
import json, sys, os
d = sys.argv[1]
TS = [t for t in (1, 2) if os.path.exists(os.path.join(d, f'hetal-ops-T{t}.json'))]
h = {t: json.load(open(os.path.join(d, f'hetal-ops-T{t}.json'))) for t in TS}
p = json.load(open(os.path.join(d, 'peers.json')))
peers = {}
for r in p['ops']:
    if 'ops' not in r: continue
    name = r['library'] + ('' if r.get('same_for_threads') else f" T{r['threads_requested']}")
    if r['library'] == 'SEAL': name = 'SEAL'
    peers.setdefault(name, r)
ops = [('keygen_sk_pk_relin', 'keygen_sk_pk_relin', 'key gen: secret + public + relin'),
       ('rotkey_1_step', 'rotkey_1_step', 'key gen: 1 rotation key'),
       ('rotkeys_8_steps', 'rotkeys_8_steps', 'key gen: 8 rotation keys'),
       ('encode', 'encode', 'encode'), ('decode', 'decode', 'decode'),
       ('encrypt_pk', 'encrypt_pk', 'encrypt (public key)'), ('encrypt_sk', 'encrypt_sk', 'encrypt (secret key)'),
       ('decrypt', 'decrypt', 'decrypt'), ('mul', 'mul', 'mul (tensor)'), ('relin', 'relin', 'relinearize'),
       ('rescale', 'rescale', 'rescale'), ('mul_relin_rescale', 'mul_relin_rescale', '**mul + relin + rescale**'),
       ('rotate', 'rotate', '**rotate (1 step)**'), ('rotate_8_hoisted', 'rotate_8', '**8 rotations** (hoisted where offered)')]
def ms(x):
    return '—' if x is None else (f'{x*1e3:.0f}' if x < 100 else f'{x*1e3:.0f}')
def hop(t, k):
    o = h[t]['ops'].get(k)
    return (o['median_s'], o.get('mean_cpu_s')) if o else (None, None)
def pop(r, k):
    o = r['ops'].get(k)
    if not o or 'median_s' not in o: return (None, None)
    return (o['median_s'], o.get('median_cpu_s'))
names = sorted(peers)
print('| op (wall / CPU ms) | ' + ' | '.join(f'**hetal T={t}**' for t in TS) + ' | ' + ' | '.join(names) + ' | ' + ' | '.join(f'T={t} CPU: winner (hetal ÷ fastest peer)' for t in TS) + ' |')
print('|---|' + '---|' * (2 * len(TS) + len(names)))
for hk, pk, label in ops:
    hv = [hop(t, hk) for t in TS]
    pv = {n: pop(peers[n], pk) for n in names}
    cells = [f'{ms(w)} / {ms(c)}' if w is not None else '—' for w, c in hv] + [f'{ms(w)} / {ms(c)}' if w is not None else '—' for w, c in (pv[n] for n in names)]
    wins = []
    for i, t in enumerate(TS):
        hc = hv[i][1]
        pc = [(c, n) for n, (w, c) in pv.items() if c is not None and (n == 'SEAL' or n.endswith(f'T{t}') or n == 'desilofhe')]
        if hc is None or not pc:
            wins.append('—'); continue
        fb, fn = min(pc)
        wins.append(f"{'**hetal**' if hc <= fb else fn} ({hc/fb:.2f}× {fn})")
    win = ' | '.join(wins)
    print(f'| {label} | ' + ' | '.join(cells) + f' | {win} |')
print()
for t in TS:
    pr = h[t]['precision']
    print(f'hetal T{t} precision', {k: (round(v['mean_bits'], 1), round(v['worst_bits'], 1)) for k, v in pr.items() if isinstance(v, dict) and 'mean_bits' in v}, 'peak', h[t].get('peak_rss_bytes'))
for n in names:
    pr = peers[n]['precision']
    print(n, 'precision', {k: (round(v['mean_bits'], 1), round(v['worst_bits'], 1)) for k, v in pr.items()}, 'peak', peers[n].get('peak_rss_bytes'))
