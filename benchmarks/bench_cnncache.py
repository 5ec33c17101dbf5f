"""Brain-tuning step with the frozen front end recomputed vs read from its cache (braintune.braintuning.cnncache).

Times samples/s of the trainer's optimiser step (:func:`braintune.braintuning.trainer.optimizer_step`, frozen
front end, SDPA, bf16 autocast on CUDA) on 10-s windows two ways in one run: recomputing the front end (CNN
feature encoder; Whisper log-mel + conv1/conv2) every step, and gathering its output from a
:class:`~braintune.braintuning.cnncache.FrontendCache` of the batch's windows (the gather is timed). FLOPs per step
are counted with ``torch.utils.flop_counter.FlopCounterMode`` as executed: the cached step does not run the
front end, so its work is not counted; MFU on CUDA = achieved FLOP/s / the card's dense bf16 peak
(``--peak-tflops``). Also prints the one-off cost of building the cache, the largest output difference between
the two ways (0 on CPU), and the cache's size for a paper subject (8,738 training windows). ``--profile`` adds
each mode's time by kernel class (``gpu_profile.kernel_breakdown``), which explains the MFU gap.

    python benchmarks/bench_cnncache.py                                   # tiny wav2vec2 on CPU, < 1 min
    python benchmarks/bench_cnncache.py --size base --device cuda [--arch whisper]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from braintuning_benchmark import make, sync  # noqa: E402
from gpu_profile import count_syncs, kernel_breakdown  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from braintune.braintuning.cnncache import FrontendCache  # noqa: E402
from braintune.braintuning.trainer import optimizer_step  # noqa: E402
from braintune.features import models  # noqa: E402

SR = 16000
#: Training windows of one subject in the paper's set-up (docs/performance.md).
PAPER_WINDOWS = 8738


def timed(modes: dict, steps: int, device: torch.device) -> tuple[dict, dict]:
    """Median seconds per call of each mode's step and its peak GPU memory (GiB; None on CPU). The modes
    alternate, step by step, so that a change of machine load (a shared CPU) affects them alike."""
    peak = {}
    for name, step in modes.items():  # warm-up, with the peak memory of one step
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        step()
        sync(device)
        peak[name] = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    seconds = {name: [] for name in modes}
    for _ in range(steps):
        for name, step in modes.items():
            t0 = time.perf_counter()
            step()
            sync(device)
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in seconds.items()}, peak


def executed_flops(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--arch", default="wav2vec2", choices=["wav2vec2", "hubert", "whisper"])
    parser.add_argument("--size", default="tiny", choices=["tiny", "base"],
                        help="tiny: a quick CPU check; base: the paper's size (wav2vec2/HuBERT-base, whisper-small)")
    parser.add_argument("--batch", type=int, default=None, help="samples per optimiser step (cpu 4, cuda 128)")
    parser.add_argument("--micro", type=int, default=None, help="micro-batch (cpu 2, cuda 64)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per mode (their median is reported)")
    parser.add_argument("--voxels", type=int, default=None, help="head outputs (cpu 200, cuda 25,000)")
    parser.add_argument("--peak-tflops", type=float, default=989.4, help="dense bf16 peak of the card (H100/H200 SXM)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one step of each mode: its time by kernel class and top kernels")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (128 if cuda else 4)
    micro = args.micro or (64 if cuda else 2)
    voxels = args.voxels or (25_000 if cuda else 200)
    window = 10 * SR
    if cuda:
        torch.backends.cudnn.benchmark = True  # as run_braintuning
    where = f"{device} ({torch.cuda.get_device_name()})" if cuda else f"{device}, {torch.get_num_threads()} threads"
    print(f"device {where}; "
          f"{args.arch} {args.size}, 10-s windows, batch {batch} (micro {micro}), {voxels} outputs, {args.steps} steps")
    torch.manual_seed(0)
    model, opt = make(args.arch, "sdpa", voxels, device, freeze=True, size=args.size)
    g = torch.Generator().manual_seed(0)
    waves = torch.randn(batch, window, generator=g) * 0.1
    targets = torch.randn(batch, voxels, generator=g)
    if cuda:
        waves, targets = waves.pin_memory(), targets.pin_memory()
    index = np.arange(batch)

    chunks = [(index[lo : lo + micro], waves[lo : lo + micro]) for lo in range(0, batch, micro)]
    t0 = time.perf_counter()
    cache = FrontendCache.build(model.backbone, chunks, batch, window, device, setting=True)
    sync(device)
    build_s = time.perf_counter() - t0
    per_window = cache.nbytes // batch
    with torch.no_grad(), models.autocast(device):
        recomputed = model(waves[:micro]).float()
        diff = (recomputed - model.from_frontend(cache.features(index[:micro]), window).float()).abs().max()

    def recompute(n):  # one optimiser step on the first n windows of the batch
        optimizer_step(model, opt, waves[:n], targets[:n], micro, device)

    def cached(n):
        optimizer_step(model, opt, cache.features(index[:n]), targets[:n], micro, device, cached_window=window)

    modes = {"recompute front end": recompute, "cached front end": cached}
    # FLOPs of one micro-batch's forward and backward, scaled to the batch
    flops = {name: executed_flops(lambda step=step: step(micro)) * batch / micro for name, step in modes.items()}
    seconds, peak = timed({name: lambda step=step: step(batch) for name, step in modes.items()}, args.steps, device)
    rows = {name: (batch / seconds[name], flops[name], peak[name]) for name in modes}

    print(f"front-end cache: {tuple(cache.store.shape[1:])} {str(cache.store.dtype).removeprefix('torch.')} per window "
          f"= {per_window / 1e6:.3f} MB; built at {batch / build_s:.1f} windows/s ({build_s:.2f} s for {batch}); "
          f"a paper subject's {PAPER_WINDOWS:,} windows: {PAPER_WINDOWS * per_window / 1e9:.2f} GB")
    print(f"largest prediction difference, recomputed vs cached: {float(diff):.3g}")
    print("| mode | samples/s | GFLOP/sample executed | TFLOP/s | MFU | peak GiB |")
    print("|---|---|---|---|---|---|")
    for name, (rate, step_flops, mem) in rows.items():
        achieved = step_flops / batch * rate
        mfu = f"{achieved / (args.peak_tflops * 1e12):.1%}" if cuda else "-"
        print(f"| {name} | {rate:.3f} | {step_flops / batch / 1e9:.2f} | {achieved / 1e12:.3g} | {mfu} | "
              f"{'-' if mem is None else f'{mem:.1f}'} |")
    (r0, f0, _), (r1, f1, _) = rows.values()
    print(f"ratio cached/recompute: samples/s {r1 / r0:.2f}x, executed FLOPs per step {f1 / f0:.2f}x")
    if cuda:  # 0 lets the host queue the next step while the GPU runs this one
        print(f"host waits for the GPU per cached step: {count_syncs(lambda: cached(batch), device)}")
    if args.profile:  # where the time goes that MFU leaves unused
        for name, step in modes.items():
            print(kernel_breakdown(lambda step=step: step(batch), device, f"{args.arch} {name}"))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
