"""Session-6 prims table: hetal (default build and, when present, the avx512 build) at T=1 and T=2
beside SEAL and desilofhe, wall / CPU ms, with the winner per thread count on CPU time (all
threads; steady under load) and on wall time.

    python3 compare.py DIR [AVX512_DIR]      # DIR holds run.sh's hetal-ops-T*.json and peers.json
"""
import json
import os
import sys

OPS = [('keygen_sk_pk_relin', 'keygen_sk_pk_relin', 'key gen: secret + public + relin'),
       ('rotkey_1_step', 'rotkey_1_step', 'key gen: 1 rotation key'),
       ('rotkeys_8_steps', 'rotkeys_8_steps', 'key gen: 8 rotation keys'),
       ('encode', 'encode', 'encode'), ('decode', 'decode', 'decode'),
       ('encrypt_pk', 'encrypt_pk', 'encrypt (public key)'),
       ('encrypt_sk', 'encrypt_sk', 'encrypt (secret key)'),
       ('decrypt', 'decrypt', 'decrypt'), ('mul', 'mul', 'mul (tensor only)'),
       ('relin', 'relin', 'relinearize'), ('rescale', 'rescale', 'rescale'),
       ('mul_relin_rescale', 'mul_relin_rescale', '**mul + relin + rescale**'),
       ('rotate', 'rotate', '**rotate (1 step)**'),
       ('rotate_8_hoisted', 'rotate_8', '**8 rotations** (hoisted where offered)')]


def load_hetal(d, tag):
    out = {}
    for t in (1, 2):
        f = os.path.join(d, f'hetal-ops-T{t}.json')
        if os.path.exists(f):
            out[(tag, t)] = json.load(open(f))
    return out


def ms(x):
    if x is None:
        return '—'
    return f'{x * 1e3:.1f}' if x < 0.1 else f'{x * 1e3:.0f}'


def main():
    d = sys.argv[1]
    hetal = load_hetal(d, 'hetal')
    if len(sys.argv) > 2:
        hetal.update(load_hetal(sys.argv[2], 'hetal avx512'))
    peers = {}
    for r in json.load(open(os.path.join(d, 'peers.json')))['ops']:
        if 'ops' not in r:
            continue
        if r['library'] == 'SEAL':
            peers['SEAL'] = (r, None)  # one thread per operation whatever T is
        elif r['library'] == 'desilofhe':
            peers[f"desilofhe T{r['threads_requested']}"] = (r, r['threads_requested'])

    def hop(key, op):
        o = hetal[key]['ops'].get(op)
        return (o['median_s'], o.get('mean_cpu_s')) if o else (None, None)

    def pop(name, op):
        o = peers[name][0]['ops'].get(op)
        if not o or 'median_s' not in o:
            return (None, None)
        return (o['median_s'], o.get('median_cpu_s'))

    hkeys = sorted(hetal)
    pnames = sorted(peers)
    head = [f'**{tag} T={t}**' for tag, t in hkeys] + pnames
    wins = [f'{tag} T={t}: ÷ fastest peer, CPU / wall' for tag, t in hkeys]
    print('| op (wall / CPU ms) | ' + ' | '.join(head + wins) + ' |')
    print('|---|' + '---|' * (len(head) + len(wins)))
    for hk, pk, label in OPS:
        hv = {k: hop(k, hk) for k in hkeys}
        pv = {n: pop(n, pk) for n in pnames}
        cells = [f'{ms(w)} / {ms(c)}' if w is not None else '—' for w, c in
                 [hv[k] for k in hkeys] + [pv[n] for n in pnames]]
        verdicts = []
        for tag, t in hkeys:
            hw, hc = hv[(tag, t)]
            same_t = [n for n in pnames if peers[n][1] in (None, t)]
            pc = [(pv[n][1], n) for n in same_t if pv[n][1] is not None]
            pw = [(pv[n][0], n) for n in same_t if pv[n][0] is not None]
            if hc is None or not pc:
                verdicts.append('—')
                continue
            (bc, nc), (bw, nw) = min(pc), min(pw)
            mark = '**win**' if hc <= bc and hw <= bw else ('CPU win' if hc <= bc else ('wall win' if hw <= bw else 'loss'))
            verdicts.append(f'{mark}: {hc / bc:.2f}× {nc} / {hw / bw:.2f}× {nw}')
        print(f'| {label} | ' + ' | '.join(cells + verdicts) + ' |')
    print()
    for k in hkeys:
        pr = hetal[k]['precision']
        print(f'{k[0]} T{k[1]} precision (mean, worst bits)',
              {n: (round(v['mean_bits'], 1), round(v['worst_bits'], 1)) for n, v in pr.items()
               if isinstance(v, dict) and 'mean_bits' in v},
              'peak RSS GiB', round((hetal[k].get('peak_rss_bytes') or 0) / 2**30, 2))
    for n in pnames:
        pr = peers[n][0]['precision']
        print(n, 'precision (mean, worst bits)',
              {k: (round(v['mean_bits'], 1), round(v['worst_bits'], 1)) for k, v in pr.items()},
              'peak RSS GiB', round((peers[n][0].get('peak_rss_bytes') or 0) / 2**30, 2))


if __name__ == '__main__':
    main()
