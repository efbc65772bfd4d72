import numpy as np, desilofhe, math, json
e = desilofhe.Engine(bootstrap=True, mode="cpu", thread_count=1)
N = 2 * e.slot_count
def limbs(v, lvl):
    b = e.serialize_plaintext(e.encode(np.full(e.slot_count, v), lvl))
    d = np.frombuffer(b, dtype=np.uint64, count=(len(b)-55)//8, offset=55)
    L = d.size // N
    return [(int(d[i*N]), int(np.count_nonzero(d[i*N+1:(i+1)*N]))) for i in range(L)]
out = {}
for lvl in range(0, 18):
    P = limbs(1.0, lvl); M = limbs(-1.0, lvl)
    qs, rs = [], []
    for (a, za), (b, zb) in zip(P, M):
        q = a + b
        if za == 0 and zb == 0 and q % (1 << 17) == 1 and q > (1 << 40):
            qs.append(q); rs.append(a)
    Q = 1
    for q in qs: Q *= q
    x = 0
    for r, q in zip(rs, qs):
        Mi = Q // q
        x += r * Mi * pow(Mi, -1, q)
    x %= Q
    if x > Q // 2: x -= Q
    print(f"level {lvl:2d}: {len(qs)} primes {[round(math.log2(q), 2) for q in qs]}, log2 Q = {math.log2(Q):.2f}, log2 Delta = {math.log2(abs(x)):.3f}")
    out[lvl] = {"primes": qs, "log2_Q": math.log2(Q), "log2_delta": math.log2(abs(x))}
json.dump(out, open("desilofhe-chain.json", "w"), indent=1)
