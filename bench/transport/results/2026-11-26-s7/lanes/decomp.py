import json, sys
exec(open('cat.py').read().split('rows = ')[0].replace("f'perf-{lane}.data'","f'{P}-perf-{lane}.data'"))
P = sys.argv[1]
GB = 48 * 26e6 / 1e9
b1, t1 = cats('none'); b2, t2 = cats('none2')
print('baselines', t1, t2)
base = {k: (b1[k]+b2[k])/2 for k in set(b1)|set(b2)}; btot=(t1+t2)/2
rows = {l: cats(l) for l in ['tcp','aead','quic']}
ms = lambda n: n / 2999 / GB
keys = sorted({k for c,_ in rows.values() for k in c})
print(f"{'category (CPU s per GB, baseline off)':40s}" + ''.join(f'{l:>8s}' for l in rows))
for k in keys: print(f'{k:40s}' + ''.join(f'{ms(rows[l][0][k]-base.get(k,0)):8.3f}' for l in rows))
print(f"{'total':40s}" + ''.join(f'{ms(rows[l][1]-btot):8.3f}' for l in rows))
for l, k in [('tcp','tcp'),('aead','aead_tcp'),('quic','quic')]:
    r = json.load(open(f'{P}-{l}.json')); print(l, 'bench cpu s/GB', round(r[f'{k}_cpu_s_per_gb'],3), 'MB/s', round(r[f'{k}_mb_s']))
