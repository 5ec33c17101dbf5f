"""Throughput of causal-window feature extraction: batched against one window at a time.

For each model size (``tiny`` = the demo wav2vec2 of config/config.yaml; ``base`` = the
wav2vec2-base geometry, 94M parameters; ``whisper-small`` = the Whisper-small encoder geometry),
the same full-length windows (paper: 16 s context + 0.1 s chunk) go through
``braintune.features.windows.extract_window_features`` with ``--batch-size`` windows per forward
and with one window per forward; the script prints windows/s of both and their ratio, checks that
both give the same features, and on CUDA the model FLOPs per window (torch's FlopCounterMode),
the achieved TFLOP/s and the fraction of the card's dense bf16 peak. ``--compile`` adds the same batched
run with the convolutional front end compiled (``features.compile_frontend``,
:func:`braintune.features.models.compile_frontend`): its windows/s, the ratio to eager, the front end's
milliseconds per batch eager and compiled (the share of a forward it takes), and the smallest per-layer
correlation of its features with the eager ones. ``--profile`` prints one batch's time by kernel class
(``gpu_profile.kernel_breakdown``): what keeps the forward below the card's peak.

    python benchmarks/features_benchmark.py                       # CPU: tiny and base
    python benchmarks/features_benchmark.py --device cuda --sizes tiny base whisper-small --batch-size 64 --compile
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from gpu_profile import count_syncs, kernel_breakdown

from braintune.config import load_config
from braintune.features import models
from braintune.features.windows import causal_windows, extract_window_features

REPO = Path(__file__).resolve().parents[1]

#: Dense bf16 tensor-core peak (FLOP/s) by card name fragment (vendor data sheets, SXM parts).
BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def family(size: str) -> dict:
    if size == "tiny":
        return load_config(REPO / "config" / "config.yaml")["models"]["wav2vec2"]  # defaults filled
    if size == "base":
        return {"architecture": "wav2vec2", "checkpoint": None, "init_seed": 0, "init": {}, "layers": [2, 5, 7, 8, 10, 11, 12]}
    if size == "whisper-small":
        init = dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072, num_mel_bins=80, max_source_positions=1500)
        return {"architecture": "whisper", "checkpoint": None, "init_seed": 0, "init": init, "layers": [2, 5, 7, 8, 10, 11, 12]}
    raise ValueError(size)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def flops_per_window(model, n_samples: int, device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    audio = np.zeros((1, n_samples), dtype=np.float32)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        models.encoder_forward(model, audio)
    return float(counter.get_total_flops())


def frontend_seconds(model, audio: np.ndarray, batch: int, device, repeats: int) -> float:
    """Seconds of the convolutional front end alone on ``batch`` copies of a window (wav2vec2/HuBERT), best of
    ``repeats`` after a warm-up; NaN for Whisper."""
    encoder = getattr(model, "feature_extractor", None)
    if encoder is None:
        return float("nan")
    x = models.normalize_waveforms(torch.from_numpy(np.tile(audio, (batch, 1))).to(device))
    with torch.no_grad(), models.autocast(device):
        encoder(x)
        return min(timed(lambda: encoder(x), device) for _ in range(repeats))


def peak(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK.items() if k in name), None)


def run(size: str, args, device) -> dict:
    cfg = family(size)
    model = models.prepare_model(cfg, device=device)
    if device.type == "cuda" and not args.cudnn_posconv:
        models.use_matmul_positional_conv(model)  # as run_feature_job does on CUDA
    context, chunk = args.context_s, args.chunk_s
    n_windows = args.windows if args.windows else (256 if device.type == "cuda" else (64 if size == "tiny" else 8))
    seconds = context + chunk * (n_windows + 1)
    audio = np.random.default_rng(0).standard_normal(int(seconds * models.SAMPLE_RATE)).astype(np.float32) * 0.1
    total = len(causal_windows(len(audio), context, chunk))
    select = slice(total - n_windows, total)  # full-length windows only
    layers = cfg["layers"]

    def go(batch):
        return extract_window_features(model, audio, layers, context, chunk, batch_size=batch, select=select)

    go(args.batch_size)  # warm-up (cuDNN autotune, allocator)
    results = {}
    for batch in (args.batch_size, 1):
        reps = []
        for _ in range(args.repeats):
            out = {}
            reps.append(timed(lambda: out.update(r=go(batch)), device))
        results[batch] = (n_windows / min(reps), out["r"])
    (rate_b, (_, feats_b)), (rate_1, (_, feats_1)) = results[args.batch_size], results[1]
    tol = 5e-2 if device.type == "cuda" else 1e-4
    max_dev = max(float(np.abs(feats_b[k] - feats_1[k]).max() / (np.abs(feats_1[k]).max() + 1e-12)) for k in layers)
    row = {
        "size": size, "params_M": models.n_parameters(model) / 1e6, "windows": n_windows,
        "window_s": context + chunk, "batch": args.batch_size,
        "batched_win_s": rate_b, "single_win_s": rate_1, "ratio": rate_b / rate_1, "max_rel_dev": max_dev,
        "same_features": max_dev < tol,
    }
    if args.compile:
        window = audio[-int(round((context + chunk) * models.SAMPLE_RATE)):]
        row["frontend_ms_eager"] = 1e3 * frontend_seconds(model, window, args.batch_size, device, args.repeats)
        compiled = models.prepare_model(cfg, device=device)
        if device.type == "cuda" and not args.cudnn_posconv:
            models.use_matmul_positional_conv(compiled)
        row.update(dict.fromkeys(("compile_s", "compiled_win_s", "compile_ratio", "frontend_ms_compiled",
                                  "min_corr_compiled"), float("nan")))  # Whisper: nothing to compile
        try:  # a compiler stack that cannot build the kernels: reported, and the eager numbers still printed
            if models.compile_frontend(compiled, True):
                row["compile_s"] = timed(lambda: extract_window_features(compiled, audio, layers, context, chunk,
                                                                         batch_size=args.batch_size, select=select), device)
                out = {}
                rate_c = n_windows / min(timed(lambda: out.update(r=extract_window_features(
                    compiled, audio, layers, context, chunk, batch_size=args.batch_size, select=select)), device)
                    for _ in range(args.repeats))
                row["compiled_win_s"], row["compile_ratio"] = rate_c, rate_c / rate_b
                row["frontend_ms_compiled"] = 1e3 * frontend_seconds(compiled, window, args.batch_size, device, args.repeats)
                row["min_corr_compiled"] = min(float(np.corrcoef(out["r"][1][k].ravel(), feats_b[k].ravel())[0, 1])
                                               for k in layers)
        except Exception as err:
            print(f"# {size}: compiling the front end failed: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}",
                  flush=True)
    if args.profile:
        profiled = compiled if args.compile and row["compiled_win_s"] == row["compiled_win_s"] else model
        one_batch = slice(select.stop - args.batch_size, select.stop)
        print(kernel_breakdown(lambda: extract_window_features(profiled, audio, layers, context, chunk,
                                                               batch_size=args.batch_size, select=one_batch),
                               device, f"{size}, one batch of {args.batch_size} windows"
                               f"{', front end compiled' if profiled is not model else ''}"), flush=True)
    if device.type == "cuda":
        # host waits for the GPU during one story of n_windows windows (reading the features back at its end)
        row["syncs_per_story"] = count_syncs(lambda: go(args.batch_size), device)
        flops = flops_per_window(model, int(round((context + chunk) * models.SAMPLE_RATE)), device)
        row["gflop_per_window"] = flops / 1e9
        row["tflop_s"] = flops * rate_b / 1e12
        card_peak = peak(device)
        row["frac_bf16_peak"] = flops * rate_b / card_peak if card_peak else float("nan")
        row["max_mem_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        # bf16 on the GPU against float32 on the CPU, a few windows: the correlation of the features
        cpu_model = models.prepare_model(cfg, device="cpu")
        few = slice(select.stop - 4, select.stop)
        _, on_cpu = extract_window_features(cpu_model, audio, layers, context, chunk, batch_size=4, select=few)
        row["min_corr_vs_cpu_fp32"] = min(
            float(np.corrcoef(on_cpu[k].ravel(), feats_b[k][-4:].ravel())[0, 1]) for k in layers
        )
    return row


def summary(row: dict) -> str:
    """The row's headline numbers in one line (what benchmarks/device.py puts in its table)."""
    parts = [f"batched {row['batched_win_s']:.1f} windows/s, ratio {row['ratio']:.2f} vs one at a time"]
    frac = row.get("frac_bf16_peak", float("nan"))
    if frac == frac:
        parts.append(f"{frac:.1%} of bf16 peak")
    if row.get("compiled_win_s", float("nan")) == row.get("compiled_win_s", float("nan")):
        compiled = f"front end compiled: {row['compiled_win_s']:.1f} windows/s, ratio {row['compile_ratio']:.2f} vs eager"
        if frac == frac:
            compiled += f", {frac * row['compile_ratio']:.1%} of bf16 peak"  # same FLOPs per window
        parts.append(compiled + f", front end {row['frontend_ms_eager']:.1f} -> {row['frontend_ms_compiled']:.1f} ms "
                     f"per batch, min r vs eager {row['min_corr_compiled']:.6f}")
    if "min_corr_vs_cpu_fp32" in row:
        parts.append(f"min r vs CPU float32 {row['min_corr_vs_cpu_fp32']:.6f}")
    if "syncs_per_story" in row:
        parts.append(f"{row['syncs_per_story']} host waits per story of {row['windows']} windows")
    return f"summary {row['size']}: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=["tiny", "base", "whisper-small"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 on CPU, 64 on CUDA")
    parser.add_argument("--windows", type=int, default=None, help="full-length windows timed per size")
    parser.add_argument("--context-s", type=float, default=16.0)
    parser.add_argument("--chunk-s", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cudnn-posconv", action="store_true", help="keep cuDNN's positional convolution (the slow path)")
    parser.add_argument("--compile", action="store_true", help="also time the batched run with the front end compiled")
    parser.add_argument("--profile", action="store_true",
                        help="profile one batch of full windows (compiled front end with --compile): time by kernel class")
    args = parser.parse_args()
    device = models.resolve_device(args.device)
    args.batch_size = args.batch_size or (64 if device.type == "cuda" else 16)
    torch.backends.cudnn.benchmark = True
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    print(f"# device: {where}; torch {torch.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    header = None
    for size in args.sizes:
        row = run(size, args, device)
        if header is None:
            header = list(row)
            print("\t".join(header))
        print("\t".join(f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in header), flush=True)
        print(summary(row), flush=True)


if __name__ == "__main__":
    main()
