"""Benchmarks of the download and preprocess stages, each against the naive approach, in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_preprocess.py

1. cc_max: vectorised and streamed over voxel chunks of an HDF5 file vs a per-voxel Python loop
   (the reference's shape of computation), on (10, 291, V) repeats like UTS01-03's test story.
2. Download: a bounded pool of 4 transfers vs one file after another, over a loopback server that adds
   a fixed latency per request (as a remote S3 does); identical verified bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
import tracemalloc
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np

from braintune.data.download import FetchOptions, fetch
from braintune.data.manifest import Entry
from braintune.preprocess.noise_ceiling import cc_max, noise_ceiling_from_file


def naive_cc_max(reps: np.ndarray) -> np.ndarray:
    out = np.zeros(reps.shape[2])
    n = reps.shape[0]
    for v in range(reps.shape[2]):
        y = reps[:, :, v].astype(np.float64)
        sp = (n * np.var(y.mean(0), ddof=1) - 1.0) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = 1 / np.sqrt(1 + (1 / n) * (1 / sp - 1))
        out[v] = 0.0 if not np.isfinite(c) else c
    return out


def bench_cc_max(tmp: Path, n_vox: int = 20000) -> None:
    rng = np.random.default_rng(0)
    sp = rng.uniform(0, 0.6, n_vox)
    z = rng.standard_normal((291, n_vox))
    reps = np.sqrt(sp) * z + np.sqrt(1 - sp) * rng.standard_normal((10, 291, n_vox))
    path = tmp / "test.hf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("individual_repeats", data=reps)
    t = time.perf_counter()
    ref = naive_cc_max(reps)
    t_naive = time.perf_counter() - t
    t = time.perf_counter()
    vec = cc_max(reps)
    t_vec = time.perf_counter() - t
    tracemalloc.start()
    t = time.perf_counter()
    streamed, _ = noise_ceiling_from_file(path, chunk_voxels=4096)
    t_stream = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.allclose(vec, ref) and np.allclose(streamed, ref, atol=1e-5)
    print(f"cc_max (10 x 291 x {n_vox}): per-voxel loop {t_naive:.2f} s, vectorised in memory {t_vec:.2f} s "
          f"({t_naive / t_vec:.0f}x), streamed from HDF5 in 4096-voxel chunks {t_stream:.2f} s "
          f"({t_naive / t_stream:.0f}x incl. reading); streaming peak {peak / 1e6:.0f} MB vs file "
          f"{reps.nbytes / 1e6:.0f} MB in float64")


class SlowHandler(SimpleHTTPRequestHandler):
    latency_s = 0.1

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        time.sleep(self.latency_s)
        super().do_GET()


def bench_download(tmp: Path, n_files: int = 24, size: int = 256_000) -> None:
    www = tmp / "www"
    www.mkdir()
    rng = np.random.default_rng(1)
    entries = []
    for i in range(n_files):
        data = rng.bytes(size)
        (www / f"f{i}.bin").write_bytes(data)
        entries.append(Entry(f"f{i}.bin", size, hashlib.md5(data).hexdigest(), True))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SlowHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    times = {}
    try:
        for parallel in (1, 4):
            opts = FetchOptions(base_url=base, max_parallel=parallel, retries=5, backoff_s=2.0, timeout_s=60.0,
                                min_free_gb=0.0)
            t = time.perf_counter()
            fetch(entries, tmp / f"out{parallel}", opts, show_progress=False)
            times[parallel] = time.perf_counter() - t
    finally:
        httpd.shutdown()
        httpd.server_close()
    print(f"download of {n_files} x {size // 1000} kB with {SlowHandler.latency_s * 1000:.0f} ms latency per request: "
          f"serial {times[1]:.2f} s, 4 parallel {times[4]:.2f} s ({times[1] / times[4]:.1f}x)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        bench_cc_max(Path(tmp))
        bench_download(Path(tmp))
