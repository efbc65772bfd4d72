import subprocess, re, sys, collections
GB = (24 + 1) * 26e6 / 1e9   # timed rounds + warm-up, per lane run
def cats(lane):
    out = subprocess.run(['perf','report','-i',f'perf-{lane}.data','--no-children','-n','--sort','comm,sym','--stdio'],capture_output=True,text=True).stdout
    c = collections.Counter(); total = 0
    for line in out.splitlines():
        m = re.match(r'\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(\S+)', line)
        if not m: continue
        n = int(m.group(2)); comm = m.group(3); sym = m.group(5); total += n
        if 'aes_gcm_enc' in sym: k='aes seal'
        elif 'aes_gcm_dec' in sym: k='aes open'
        elif 'memmove' in sym or 'memcpy' in sym: k='user copy ' + ('receiver' if comm=='bench-receiver' else 'sender')
        elif sym in ('_copy_to_iter','_copy_from_iter') : k='kernel copy'
        elif sym in ('clear_page_erms','exc_page_fault','unmap_page_range','memcg1_commit_charge','__list_del_entry_valid_or_report') or 'page' in sym or 'folio' in sym: k='pages (faults, zeroing, unmap)'
        else: k='other'
        c[k]+=n
    return c, total
rows = {l: cats(l) for l in ['tcp','aead','quic']}
ms = lambda n: n / 2999 / GB   # CPU s per GB
keys = sorted({k for c,_ in rows.values() for k in c})
print(f"{'category (s per GB)':34s}" + ''.join(f'{l:>8s}' for l in rows))
for k in keys: print(f'{k:34s}' + ''.join(f'{ms(rows[l][0][k]):8.3f}' for l in rows))
print(f"{'total samples / GB':34s}" + ''.join(f'{ms(rows[l][1]):8.3f}' for l in rows))
