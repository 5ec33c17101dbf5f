"""Alignment ridge benchmark: our fit (an SVD per split on himalaya's backends, explicit bootstrap splits,
the reference's score accumulated in float64, voxel batches) against a plain per-alpha numpy ridge on the
same data and splits.

Prints wall time, peak memory and their ratios, and how often both choose the same alpha;
``--reference-voxels`` also holds our alphas to the same fit in float64 on the CPU.

    # CPU, small (the numbers in docs/performance.md)
    OMP_NUM_THREADS=2 python benchmarks/alignment_benchmark.py --n-samples 2000 --n-features 768 --n-voxels 10000
    # one real-size layer on a GPU (8,700 TRs x 3,072 features x 95,000 voxels); the naive baseline
    # runs on a voxel subset and is scaled linearly (it is linear in voxels)
    python benchmarks/alignment_benchmark.py --backend torch_cuda --n-samples 8700 --n-features 3072 \
        --n-voxels 95000 --naive-voxels 2000 --reference-voxels 2000 --batch auto

Peak memory: tracemalloc (numpy allocations, CPU backends) or torch.cuda.max_memory_allocated
(torch_cuda), plus the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import time
import tracemalloc

import numpy as np

from braintune.alignment.ridge import (
    RidgeBatches,
    RidgeSettings,
    bootstrap_chunk_splits,
    fit_ridge_cv,
    huth_alphas,
    reference_score,
    use_backend,
)
from braintune.preprocess.noise_ceiling import pearson_columns


def synthetic(n: int, p: int, v: int, n_test: int, seed: int = 0):
    """Low-rank planted signal (cheap to make at 95k voxels) plus noise; float32."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, p), dtype=np.float32)
    rank = 16
    latent = X @ (rng.standard_normal((p, rank), dtype=np.float32) / np.sqrt(p))
    gain = rng.uniform(0, 1, v).astype(np.float32)
    Y = latent @ rng.standard_normal((rank, v), dtype=np.float32) * gain / np.sqrt(rank)
    Y += rng.standard_normal(Y.shape, dtype=np.float32)
    Y -= Y[:n].mean(0)
    Y /= Y[:n].std(0)
    return X[:n], Y[:n], X[n:], Y[n:]


def naive_ridge(X, Y, splits, alphas):
    """Plain per-alpha ridge: (X'X + a^2 I)^-1 X'Y by np.linalg.solve for every split and alpha,
    the same selection score, then a refit per chosen alpha."""
    scores = np.zeros((len(splits), len(alphas), Y.shape[1]), dtype=np.float32)
    for b, (train, held) in enumerate(splits):
        xtx = X[train].T @ X[train]
        xty = X[train].T @ Y[train]
        eye = np.eye(X.shape[1], dtype=X.dtype)
        for i, a in enumerate(alphas):
            W = np.linalg.solve(xtx + np.float32(a**2) * eye, xty)
            scores[b, i] = reference_score(Y[held], X[held] @ W)
    best = scores.mean(0).argmax(0)
    coef = np.zeros((X.shape[1], Y.shape[1]), dtype=np.float32)
    xtx, xty = X.T @ X, X.T @ Y
    for i in np.unique(best):
        cols = best == i
        coef[:, cols] = np.linalg.solve(xtx + np.float32(alphas[i] ** 2) * np.eye(X.shape[1], dtype=X.dtype), xty[:, cols])
    return alphas[best], coef


def measure(fn, backend: str):
    cuda = backend == "torch_cuda"
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    if cuda:
        import torch

        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    if cuda:
        import torch

        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = tracemalloc.get_traced_memory()[1] / 2**30
        tracemalloc.stop()
    return out, wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=2000, help="train TRs")
    parser.add_argument("--n-features", type=int, default=768, help="delayed features")
    parser.add_argument("--n-voxels", type=int, default=10000)
    parser.add_argument("--n-test", type=int, default=251, help="test TRs (the reference: 251)")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch", "torch_cuda"])
    parser.add_argument("--batch", default="5000",
                        help="n_targets_batch: a number, or auto (from the card's free memory on torch_cuda)")
    parser.add_argument("--naive-voxels", type=int, default=None,
                        help="run the naive baseline on this many voxels and scale its time linearly")
    parser.add_argument("--skip-naive", action="store_true", help="time and measure our fit only")
    parser.add_argument("--reference-voxels", type=int, default=0,
                        help="also fit this many voxels with the same code in float64 on the CPU (numpy) and report "
                        "on how many of them our fit chose the same alpha")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    X, Y, Xt, Yt = synthetic(args.n_samples, args.n_features, args.n_voxels, args.n_test, args.seed)
    splits = bootstrap_chunk_splits(args.n_samples, seed=args.seed)
    alphas = huth_alphas(1, 4, 15)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}; backend {args.backend}")
    print(f"data: X {X.shape}, Y {Y.shape}, test {Xt.shape[0]} rows, 3 bootstraps x 15 alphas "
          f"(made in {time.perf_counter() - t0:.1f} s)")

    settings = RidgeSettings(alphas=alphas, alpha_convention="huth", score="reference", backend=args.backend)
    batches = RidgeBatches(n_targets=args.batch if args.batch == "auto" else int(args.batch))
    # warm-up outside the timing: imports (himalaya, sklearn, torch), BLAS and CUDA initialisation
    fit_ridge_cv(X, Y[:, :8], splits, settings, batches)
    use_backend("numpy")
    naive_ridge(X[:, :8], Y[:, :8], splits, alphas)

    def ours():
        fit = fit_ridge_cv(X, Y, splits, settings, batches)
        return fit, pearson_columns(fit.predict(Xt), Yt)

    (fit, rho), t_ours, m_ours = measure(ours, args.backend)
    use_backend("numpy")
    print(f"ours : {t_ours:8.2f} s  peak {m_ours:6.2f} GiB  mean test r {np.nanmean(rho):.3f}")

    if args.reference_voxels:
        # the same fit (splits, alphas, score) in float64 on the CPU: what the GPU's float32 choice is held to
        v_ref = min(args.reference_voxels, args.n_voxels)
        reference = dataclasses.replace(settings, backend="numpy", dtype="float64")
        ref_fit, t_ref, _ = measure(lambda: fit_ridge_cv(X, Y[:, :v_ref], splits, reference, RidgeBatches()), "numpy")
        use_backend("numpy")
        equal = np.mean(ref_fit.alphas == fit.alphas[:v_ref])
        print(f"alphas equal to the CPU float64 fit on {100 * equal:.2f}% of {v_ref} voxels "
              f"(the float64 fit: {t_ref:.1f} s)")
    if args.skip_naive:
        print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
        return
    v_naive = min(args.naive_voxels or args.n_voxels, args.n_voxels)
    scale = args.n_voxels / v_naive
    (alpha_naive, coef_naive), t_naive, m_naive = measure(lambda: naive_ridge(X, Y[:, :v_naive], splits, alphas), "numpy")
    t_naive_full = t_naive * scale
    same = np.mean(np.isclose(alpha_naive, fit.alphas[:v_naive], rtol=1e-4))
    within = np.mean(np.abs(np.log(alpha_naive) - np.log(fit.alphas[:v_naive])) <= np.log(alphas[1] / alphas[0]) + 1e-6)
    rho_naive = pearson_columns(Xt @ coef_naive, Yt[:, :v_naive])
    note = f" (measured on {v_naive} voxels x {scale:.1f})" if scale != 1 else ""
    print(f"naive: {t_naive_full:8.2f} s{note}  peak {m_naive:6.2f} GiB (numpy)")
    print(f"ratio naive / ours: time {t_naive_full / t_ours:.2f}x")
    print(f"same alpha on {100 * same:.1f}% of voxels ({100 * within:.1f}% within one grid step); "
          f"max |test r difference| {np.nanmax(np.abs(rho_naive - rho[:v_naive])):.4f}")
    print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
