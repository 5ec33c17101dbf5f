"""Demo responses: storage as the real files (contiguous float64) vs chunked gzip-1 + shuffle of
values rounded to data.demo.quantum (what braintune.data.demo writes by default).

Prints size, write and read time of one subject's demo-sized test story (10 repeats x 76 rows x
37,226 voxels) and the ratios. Run: python benchmarks/demo_storage.py
"""

import os
import tempfile
import time

import numpy as np

from braintune.data.demo import _write_hf5
from braintune.preprocess.responses import read_repeats


def main(n_rep=10, rows=76, voxels=37226, quantum=2.0**-8):
    rng = np.random.default_rng(0)
    reps = rng.standard_normal((n_rep, rows, voxels))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, compression in (("contiguous float64 (real files)", "none"), ("gzip-1 + shuffle, 2^-8 quantum", "gzip")):
            path = os.path.join(tmp, f"{compression}.hf5")
            t0 = time.perf_counter()
            _write_hf5(path, {"data": reps.mean(axis=0), "individual_repeats": reps}, compression, quantum)
            t1 = time.perf_counter()
            read_repeats(path)
            t2 = time.perf_counter()
            results[name] = (os.path.getsize(path), t1 - t0, t2 - t1)
            print(f"{name:34s} {results[name][0] / 1e6:8.1f} MB  write {results[name][1]:5.2f} s  read {results[name][2]:5.2f} s")
    (raw, compressed) = results.values()
    print(f"size ratio {raw[0] / compressed[0]:.2f}x smaller; write {compressed[1] / raw[1]:.1f}x slower; read {compressed[2] / raw[2]:.1f}x slower")


if __name__ == "__main__":
    main()
