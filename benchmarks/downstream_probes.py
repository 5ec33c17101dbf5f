"""Benchmark: all layers' linear probes trained at once (batched matmul) against one probe per layer.

The naive approach is the reference's: a separate nn.Linear + Adam per layer, looped. Both train the
same number of full-batch epochs on the same features; the script prints wall times, the ratio, and
checks that the predictions agree.

    OMP_NUM_THREADS=1 python benchmarks/downstream_probes.py [--layers 12] [--n 4000] [--hidden 768]
"""

import argparse
import time

import numpy as np
import torch

from braintune.downstream.probes import ProbeConfig, train_classification_probes


def naive(x_train, y_train, x_test, n_classes, cfg):
    preds = []
    for layer in range(x_train.shape[0]):
        torch.manual_seed(cfg.seed)
        head = torch.nn.Linear(x_train.shape[2], n_classes)
        opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
        xt, yt = torch.from_numpy(x_train[layer]), torch.from_numpy(y_train)
        for _ in range(cfg.epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(xt), yt).backward()
            opt.step()
        with torch.no_grad():
            preds.append(head(torch.from_numpy(x_test[layer])).argmax(-1).numpy())
    return np.stack(preds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--classes", type=int, default=35)
    ap.add_argument("--epochs", type=int, default=100)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((a.classes, a.hidden)).astype(np.float32)
    y = rng.integers(0, a.classes, a.n)
    x = (centers[y][None] + 2 * rng.standard_normal((a.layers, a.n, a.hidden))).astype(np.float32)
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    split = int(0.8 * a.n)
    cfg = ProbeConfig(epochs=a.epochs, standardize=False)
    warm = ProbeConfig(epochs=2, standardize=False)  # torch's one-off initialisation is not the probes' cost
    train_classification_probes(x[:, :50], y[:50], x[:, 50:60], "multiclass", a.classes, warm)
    naive(x[:, :50], y[:50].astype(np.int64), x[:, 50:60], a.classes, warm)
    t0 = time.perf_counter()
    fast = train_classification_probes(x[:, :split], y[:split], x[:, split:], "multiclass", a.classes, cfg)
    t1 = time.perf_counter()
    slow = naive(x[:, :split], y[:split].astype(np.int64), x[:, split:], a.classes, cfg)
    t2 = time.perf_counter()
    agree = (fast == slow).mean()
    print(f"layers={a.layers} n={a.n} hidden={a.hidden} classes={a.classes} epochs={a.epochs} "
          f"threads={torch.get_num_threads()}")
    print(f"batched: {t1 - t0:.2f} s   per-layer loop: {t2 - t1:.2f} s   ratio: {(t2 - t1) / (t1 - t0):.2f}x   "
          f"prediction agreement: {agree:.3f} (differs only by initialisation)")


if __name__ == "__main__":
    main()
