"""Table 7 at N = 2^16 from session 5's and session 6's `matmul_bench --json` files, one row per
(shape, algorithm): the measured run where there is one, else the formula counts priced only.

    python3 render.py [--levels DIR] ../2026-11-26-s5-matmul/s*.json s*.json

Each JSON needs its `/usr/bin/time -v` output beside it (TAG.time) for the peak RSS. With
--levels DIR, DIR holds `sim-A-B-C.json` files (`matmul_bench --backend sim` with the
per-level peer prices): their `priced_peer_by_level_cpu_s` is the SEAL price of the same counts
with each operation at its level, shown beside the level-12 price."""
import json, os, re, sys
from collections import OrderedDict

args = sys.argv[1:]
levels_dir = None
if args[:1] == ["--levels"]:
    levels_dir, args = args[1], args[2:]
shapes = OrderedDict()
for f in args:
    d = json.load(open(f))
    t = open(f[:-5] + ".time").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024 / 1024
    s = shapes.setdefault(tuple(d["shape"]), {"algos": {}, "rss": {}, "src": {}})
    for a in d["algorithms"]:
        have = s["algos"].get(a["name"])
        if a["measured"] or have is None:
            if not (have and have["measured"]):
                s["algos"][a["name"]] = a
                if a["measured"]:
                    s["rss"][a["name"]] = rss
                    s["src"][a["name"]] = os.path.abspath(f)

def level_priced(shape, name):
    if not levels_dir:
        return None
    p = os.path.join(levels_dir, "sim-%d-%d-%d.json" % shape)
    if not os.path.exists(p):
        return None
    for a in json.load(open(p))["algorithms"]:
        if a["name"] == name and a["measured"]:
            return a.get("priced_peer_by_level_cpu_s")
    return None

order = ["DiagABT", "ColMajor", "DiagATB", "DiagATB-PRotUp", "RowMajor"]
print("| shape | algorithm | wall s | CPU s | counted CMult/Mult/Rot | priced at our CPU s | priced at SEAL CPU s (L12) | ours ÷ SEAL-priced | SEAL by level CPU s | ours ÷ by level | levels | max error | peak RSS | run |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
speed = []
for sh, s in shapes.items():
    al = s["algos"]
    first = True
    for name in order:
        a = al[name]
        c = a["counts"]
        cnt = "%d/%d/%d" % (c["cmult"], c["mult"], c["rot"])
        nm = name.replace("DiagATB-PRotUp", "DiagATB PRotUp")
        lp = level_priced(sh, name)
        lps = "%.2f" % lp if lp else "—"
        shape = "(%d, %d, %d)" % sh if first else ""
        first = False
        if a["measured"]:
            lr = "%.2f" % (a["cpu_s"] / lp) if lp else "—"
            print("| %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %s | %s | %d→%d | %.1e | %.2f GiB | %s |" % (
                shape, nm, a["wall_s"], a["cpu_s"], cnt, a["priced_ours_cpu_s"], a["priced_peer_cpu_s"],
                a["cpu_s"] / a["priced_peer_cpu_s"], lps, lr, a["input_level"], a["output_level"],
                a["max_abs_error"], s["rss"][name], s["src"][name].split("/")[-2][11:] + "/" + s["src"][name].split("/")[-1][:-5]))
        else:
            print("| %s | %s (priced, not run) | — | — | %s | %.2f | %.2f | — | %s | — | — | — | | |" % (
                shape, nm, cnt, a["priced_ours_cpu_s"], a["priced_peer_cpu_s"], lps))
    for fast, slow in (("DiagABT", "ColMajor"), ("DiagATB", "RowMajor"), ("DiagATB-PRotUp", "RowMajor")):
        f, b = al[fast], al[slow]
        if not f["measured"]:
            continue
        if b["measured"]:
            same = s["src"][fast] == s["src"][slow]
            speed.append("(%d, %d, %d): %s over %s **%.2f× CPU** (measured both; wall %.2f×%s)" % (
                sh + (fast, slow, b["cpu_s"] / f["cpu_s"], b["wall_s"] / f["wall_s"],
                      ", same run" if same else ", separate runs at different loads: compare CPU")))
        else:
            speed.append("(%d, %d, %d): %s over %s %.2f× CPU (baseline priced at our per-op CPU times, not run)" % (
                sh + (fast, slow, b["priced_ours_cpu_s"] / f["cpu_s"])))
print()
print("\n".join(speed))
