import numpy as np, warnings
warnings.simplefilter("error")
from fastbp import bench as B
for key in ("two", "multi", "1024", "256x3", "32"):
    for dt in ("float32", "float64"):
        for n in (1, 100):
            cs = [c for c in B.cases(("step",), (n,), (dt,), (key,), ("standardized",)) if c.impl in ("fastbp", "numpy")]
            for c in cs:
                fn = c.make()
                for _ in range(2000 if n == 1 else 400): fn()
            # inspect the weights via closure? rebuild and step
            from fastbp.bench.steps import build, net
            from fastbp.optimizer import SGD
            from fastbp.bench.data import pool
            from fastbp.bench.base import batches
            m = build(net(key), dt); opt = SGD(0.01)
            x, t = pool("standardized", dt); bs = batches(x, t, n)
            for i in range(2000 if n == 1 else 400):
                xb, tb = bs[i % len(bs)]; opt.update(m.params, m.gradient(xb, tb))
            print(key, dt, n, float(m.loss(*bs[0])), all(np.isfinite(v).all() for v in m.params.values()))
