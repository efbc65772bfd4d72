import json,sys,re
from collections import OrderedDict
shapes=OrderedDict()
for f in sys.argv[1:]:
    d=json.load(open(f))
    t=open(f.replace('.json','.time')).read()
    rss=int(re.search(r'Maximum resident set size \(kbytes\): (\d+)',t).group(1))/1024/1024
    s=shapes.setdefault(tuple(d['shape']),{'algos':OrderedDict(),'rss':[]})
    s['rss'].append(rss)
    for a in d['algorithms']:
        if a['measured'] or a['name'] not in s['algos']:
            if not (a['name'] in s['algos'] and s['algos'][a['name']]['measured']):
                s['algos'][a['name']]=a
rows=[];sp=[]
for sh,s in shapes.items():
    shape='(%d, %d, %d)'%sh
    first=True
    al=s['algos']
    for a in al.values():
        c=a['counts']; cnt='%d/%d/%d'%(c['cmult'],c['mult'],c['rot'])
        nm=a['name'].replace('DiagATB-PRotUp','DiagATB PRotUp')
        if a['measured']:
            rows.append('| %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %d→%d | %.1e | %s |'%(shape if first else '', nm, a['wall_s'],a['cpu_s'],cnt,a['priced_ours_cpu_s'],a['priced_peer_cpu_s'],a['cpu_s']/a['priced_peer_cpu_s'],a['input_level'],a['output_level'],a['max_abs_error'],'%.2f GiB'%max(s['rss']) if first else ''))
        else:
            rows.append('| %s | %s (priced, not run) | — | — | %s | %.2f | %.2f | — | — | — | |'%(shape if first else '', nm,cnt,a['priced_ours_cpu_s'],a['priced_peer_cpu_s']))
        first=False
    for fast,slow in (('DiagABT','ColMajor'),('DiagATB','RowMajor'),('DiagATB-PRotUp','RowMajor')):
        f,b=al[fast],al[slow]
        if not f['measured']: continue
        bc = b['cpu_s'] if b['measured'] else b['priced_ours_cpu_s']
        bw = b['wall_s'] if b['measured'] else b['priced_ours_s']
        sp.append('%s: %s over %s %.2f× CPU / %.2f× wall%s'%(shape,fast,slow,bc/f['cpu_s'],bw/f['wall_s'],'' if b['measured'] else ' (baseline priced at our per-op times, not run)'))
print('| shape | algorithm | wall s | CPU s | counted CMult/Mult/Rot | priced at our CPU s | priced at SEAL CPU s | ours ÷ SEAL-priced | levels | max error | peak RSS |')
print('|---|---|---:|---:|---|---:|---:|---:|---|---:|---:|')
print('\n'.join(rows)); print(); print('\n'.join(sp))
