"""Flatmap rendering cost: one process for every flatmap (rule figures_flatmaps) against the naive
one process (job) per flatmap, on pycortex's sample subject S1 (the demo's voxel space).

Prints the cold-cache cost (pycortex builds its flatmap cache in the subject folder on the first
map of a given height), the warm per-map cost in one process, and the per-map cost when every map
pays Python + pycortex import and cache loading in its own process, with the ratio.

    python benchmarks/figures_flatmaps_benchmark.py [--maps 4] [--height 1024] [--filestore DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RENDER = """
import sys, time
t0 = time.perf_counter()
from braintune.utils import set_cache_dirs
set_cache_dirs({cache!r})
import numpy as np, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from braintune.data import demo_cortex
from braintune.figures import flatmaps
cortex = demo_cortex.use_filestore({filestore!r})
n = int(cortex.db.get_mask("S1", "fullhead", "thin").sum())
target = flatmaps.Target({filestore!r}, "S1", "fullhead")
rng = np.random.default_rng(0)
times = []
for i in range({maps}):
    t = time.perf_counter()
    fig = flatmaps.difference_figure([flatmaps.Panel("S1", rng.normal(size=n).astype(np.float32), target)],
                                     colorbar_label="d", height={height}, with_rois=False)
    fig.savefig({out!r} + f"/map{{i}}.png", dpi=100)
    plt.close(fig)
    times.append(time.perf_counter() - t)
print("TIMES", time.perf_counter() - t0, *times)
"""


def run(code: str) -> tuple[float, list[float]]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("TIMES")][-1].split()[1:]
    return time.perf_counter() - t, [float(x) for x in line[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=4)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--filestore", default=None, help="writable S1 filestore (default: a fresh temporary copy)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bt-flatmap-bench-"))
    filestore = args.filestore or str(work / "pycortex-db")
    fmt = dict(cache=str(work / "cache"), filestore=filestore, height=args.height, out=str(work))
    try:
        wall, times = run(RENDER.format(maps=1, **fmt))
        print(f"cold cache, first map (height {args.height}): {times[0]:.1f} s (process {wall:.1f} s)")
        wall_one, times = run(RENDER.format(maps=args.maps, **fmt))
        print(f"one process, {args.maps} maps: {wall_one:.1f} s wall ({sum(times) / len(times):.2f} s per map "
              f"after import)")
        walls = [run(RENDER.format(maps=1, **fmt))[0] for _ in range(args.maps)]
        naive = sum(walls)
        print(f"one process per map (naive), {args.maps} maps: {naive:.1f} s wall ({naive / args.maps:.2f} s per map)")
        print(f"ratio naive / one process: {naive / wall_one:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
