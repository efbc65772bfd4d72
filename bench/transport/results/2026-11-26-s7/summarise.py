import json, sys, glob, statistics as st
d = sys.argv[1]
def med(xs): return st.median(xs), min(xs), max(xs)
for prefix in ['t2', 't1']:
    runs = [json.load(open(f)) for f in sorted(glob.glob(f'{d}/{prefix}-*.json'))]
    if not runs: continue
    print(f'== {prefix}: {len(runs)} runs')
    keys = ['quic_mb_s','tcp_mb_s','aead_tcp_mb_s','quic_over_tcp','aead_tcp_over_tcp','quic_over_aead_tcp',
            'quic_cpu_s_per_gb','tcp_cpu_s_per_gb','aead_tcp_cpu_s_per_gb','cpu_bound_ratio_ceiling']
    for k in keys:
        m, lo, hi = med([r[k] for r in runs])
        print(f'{k:28s} {m:9.3f} ({lo:.3f}-{hi:.3f})   ' + ' '.join(f'{r[k]:.3f}' for r in runs))
    cpu = lambda r, a, b: r[a] / r[b]
    for name, a, b in [('cpu tcp/quic', 'tcp_cpu_s_per_gb', 'quic_cpu_s_per_gb'),
                       ('cpu tcp/aead', 'tcp_cpu_s_per_gb', 'aead_tcp_cpu_s_per_gb'),
                       ('cpu aead/quic', 'aead_tcp_cpu_s_per_gb', 'quic_cpu_s_per_gb'),
                       ('cpu aead-tcp s/GB', None, None), ('cpu quic-aead s/GB', None, None)]:
        if a:
            xs = [cpu(r, a, b) for r in runs]
        elif name.startswith('cpu aead-tcp'):
            xs = [r['aead_tcp_cpu_s_per_gb'] - r['tcp_cpu_s_per_gb'] for r in runs]
        else:
            xs = [r['quic_cpu_s_per_gb'] - r['aead_tcp_cpu_s_per_gb'] for r in runs]
        m, lo, hi = med(xs)
        print(f'{name:28s} {m:9.3f} ({lo:.3f}-{hi:.3f})   ' + ' '.join(f'{x:.3f}' for x in xs))
    for k in ['seal_mb_s','open_mb_s','copy_mb_s','stream_copy_mb_s','extra_cpu_s_per_gb']:
        m, lo, hi = med([r['ceiling'][k] for r in runs])
        print(f'ceiling.{k:20s} {m:9.3f} ({lo:.3f}-{hi:.3f})')
    m, lo, hi = med([r['quic_ask']['median_us'] for r in runs]); print(f'ask median us {m:.1f} ({lo:.1f}-{hi:.1f})')
    m, lo, hi = med([r['quic_pieces_per_message'] for r in runs]); print(f'pieces/msg {m:.0f}')
    print('mtu', [r['quic_path']['current_mtu'] if r['quic_path'] else None for r in runs])
