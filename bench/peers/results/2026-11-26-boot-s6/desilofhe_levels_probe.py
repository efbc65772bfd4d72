import numpy as np, desilofhe, math
e = desilofhe.Engine(bootstrap=True, mode="cpu", thread_count=1)
sk = e.create_secret_key(); rk = e.create_relinearization_key(sk)
rng = np.random.default_rng(1)
n = e.slot_count
x = rng.uniform(-1, 1, n); one = np.ones(n)
ct = e.encrypt(x, sk, 17)
d = e.decrypt(ct, sk); print("fresh level 17: max err 2^%.1f mean 2^%.1f" % (math.log2(np.abs(d - x).max()), math.log2(np.abs(d - x).mean())))
for lvl in [10, 3, 1, 0]:
    c = e.encrypt(x, sk, lvl); d = e.decrypt(c, sk)
    print(f"fresh level {lvl}: max err 2^{math.log2(np.abs(d - x).max()):.1f}")
c1 = e.encrypt(one, sk, 17)
cur = ct; want = x.copy()
for step in range(17):
    cur = e.multiply(cur, e.level_down(c1, cur.level) if c1.level != cur.level else c1, rk)
    d = e.decrypt(cur, sk)
    print(f"after {step+1} products by enc(1): level {cur.level}, max err 2^{math.log2(np.abs(d - want).max()):.1f}, mean 2^{math.log2(np.abs(d - want).mean()):.1f}")
# plaintext constant product precision
