"""Brain-tuning training throughput for a base-size model (random init of wav2vec2-base's configuration).

Measures samples/s of the trainer's optimiser step (:func:`braintune.braintuning.trainer.optimizer_step`:
frozen CNN front end, SDPA attention, backbone in eval mode, mean pooling + linear head onto the voxels,
gradient accumulation) on 10-s windows, against the naive set-up in the same run:

- CPU (default): ours vs naive = CNN not frozen (gradients through the feature encoder) and eager attention.
  A few steps at a small batch; CPU brain-tuning is for tests only (docs/protocol.md 9).
- ``--device cuda``: batch 128 in bf16 autocast (micro-batches of ``--micro``) vs the same in float32; model
  FLOPs per step counted with ``torch.utils.flop_counter.FlopCounterMode`` (forward + backward of the whole
  model, frozen CNN forward included) and model-FLOP utilisation = FLOP/s / the card's dense bf16 peak
  (``--peak-tflops``, default 989.4 for H100/H200 SXM). Runs in well under 2 minutes on an H100.

    python benchmarks/braintuning_benchmark.py                  # CPU
    python benchmarks/braintuning_benchmark.py --device cuda    # GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from braintune.features import models  # noqa: E402
from braintune.braintuning.trainer import BrainTuner, optimizer_step  # noqa: E402

SR = 16000


#: A tiny configuration of each architecture, for a quick CPU check of the benchmark itself.
TINY = {
    "whisper": {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "num_mel_bins": 80, "max_source_positions": 1500},
    "wav2vec2": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                 "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4},
}


def family(attn: str, arch: str, size: str = "base") -> dict:
    if size == "tiny":
        init = dict(TINY["whisper" if arch == "whisper" else "wav2vec2"])
        return {"architecture": arch, "checkpoint": None, "init_seed": 0, "init": init, "attn_implementation": attn}
    if arch == "whisper":  # whisper-small's encoder
        init = {"d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12, "encoder_ffn_dim": 3072,
                "num_mel_bins": 80, "max_source_positions": 1500}
    else:  # Wav2Vec2Config() defaults are wav2vec2-base (95M parameters)
        init = {}
    return {"architecture": arch, "checkpoint": None, "init_seed": 0, "init": init, "attn_implementation": attn}


def make(arch: str, attn: str, n_out: int, device: torch.device, freeze: bool, matmul_posconv: bool = False,
         size: str = "base"):
    model = BrainTuner(models.build_model(family(attn, arch, size)), n_out, seed=0)
    if freeze:
        models.freeze_frontend(model.backbone)
    model.to(device)
    if matmul_posconv:
        models.use_matmul_positional_conv(model.backbone)
    groups = [
        {"params": [p for p in model.backbone.parameters() if p.requires_grad], "lr": 5e-5},
        {"params": list(model.head.parameters()), "lr": 1e-4},
    ]
    return model, torch.optim.Adam(groups)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(model, opt, batch, micro, steps, device, window, n_out, autocast=True):
    g = torch.Generator().manual_seed(0)
    waves = torch.randn(batch, window, generator=g) * 0.1
    targets = torch.randn(batch, n_out, generator=g)
    if device.type == "cuda":
        waves, targets = waves.pin_memory(), targets.pin_memory()
    ctx = models.autocast if autocast else (lambda d: torch.autocast("cuda", enabled=False))
    orig = models.autocast
    models.autocast = ctx
    try:
        optimizer_step(model, opt, waves, targets, micro, device)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            optimizer_step(model, opt, waves, targets, micro, device)
        sync(device)
    finally:
        models.autocast = orig
    return batch * steps / (time.perf_counter() - t0)


def step_flops(model, opt, batch, micro, device, window, n_out):
    from torch.utils.flop_counter import FlopCounterMode

    waves = torch.randn(micro, window) * 0.1
    targets = torch.randn(micro, n_out)
    counter = FlopCounterMode(display=False)
    with counter:
        optimizer_step(model, opt, waves, targets, micro, device)
    return counter.get_total_flops() * (batch / micro)


def check_posconv(arch, device, window):
    """Loss and gradients of one float32 step with the matmul positional convolution against cuDNN's."""
    grads = []
    for matmul in (False, True):
        torch.manual_seed(0)
        model, _ = make(arch, "sdpa", 64, device, freeze=True, matmul_posconv=matmul)
        waves = torch.randn(2, window, generator=torch.Generator().manual_seed(1)).to(device) * 0.1
        loss = model(waves).pow(2).mean()
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (l0, g0), (l1, g1) = grads
    rel = max(float((a - b).norm() / (a.norm() + 1e-12)) for a, b in zip(g0, g1))
    print(f"positional conv as matmul vs cuDNN (fp32): loss {l0:.6f} vs {l1:.6f}, max relative gradient difference {rel:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--arch", default="wav2vec2", choices=["wav2vec2", "hubert", "whisper"])
    parser.add_argument("--size", default="base", choices=["base", "tiny"],
                        help="base: the paper's model size; tiny: a quick check of the benchmark itself")
    parser.add_argument("--batch", type=int, default=None, help="samples per optimiser step (cpu 2, cuda 128)")
    parser.add_argument("--micro", type=int, default=None, help="micro-batch (cpu 2, cuda 32)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (cpu 2, cuda 5)")
    parser.add_argument("--voxels", type=int, default=25_000, help="head outputs (UTS01: 23,539 voxels > NC 0.4)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the backbone (cuda)")
    parser.add_argument("--matmul-posconv", action="store_true",
                        help="positional convolution as unfold + matmul (models.use_matmul_positional_conv); "
                        "faster for inference, slower for training on an H200 (docs/performance.md)")
    parser.add_argument("--profile", action="store_true", help="print the top CUDA kernels of one step (cuda)")
    parser.add_argument("--no-cudnn-benchmark", action="store_true", help="disable cuDNN autotuning of the CNN convs")
    parser.add_argument("--peak-tflops", type=float, default=989.4, help="dense bf16 peak of the card")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (128 if cuda else 2)
    micro = args.micro or (32 if cuda else 2)
    steps = args.steps or (5 if cuda else 2)
    window = 10 * SR
    threads = torch.get_num_threads()
    print(f"device {device}{' (' + torch.cuda.get_device_name() + ')' if cuda else f', {threads} threads'}; "
          f"{args.arch} {args.size} config, 10-s windows, batch {batch} (micro {micro}), {args.voxels} outputs, {steps} steps")
    torch.manual_seed(0)
    if cuda:
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    model, opt = make(args.arch, "sdpa", args.voxels, device, freeze=True,
                      matmul_posconv=cuda and args.matmul_posconv, size=args.size)
    if cuda and args.matmul_posconv and args.arch != "whisper":
        check_posconv(args.arch, device, window)
    n_params = models.n_parameters(model.backbone)
    print(f"backbone {n_params / 1e6:.1f}M parameters")
    if cuda:
        flops = step_flops(model, opt, batch, micro, device, window, args.voxels)
        print(f"cudnn.benchmark={torch.backends.cudnn.benchmark} compile={args.compile}")
        if args.compile:
            model.backbone.forward = torch.compile(model.backbone.forward, dynamic=False)
        ours = throughput(model, opt, batch, micro, steps, device, window, args.voxels, autocast=True)
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                throughput(model, opt, batch, micro, 1, device, window, args.voxels, autocast=True)
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=60))
        mem = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
        fp32 = throughput(model, opt, batch, micro, steps, device, window, args.voxels, autocast=False)
        achieved = flops * ours / batch
        print(f"model FLOPs per step: {flops / 1e12:.1f} TFLOP ({flops / batch / 1e9:.0f} GFLOP per sample)")
        print(f"bf16 autocast:  {ours:8.1f} samples/s  {achieved / 1e12:6.1f} TFLOP/s  MFU {achieved / (args.peak_tflops * 1e12):.1%}  peak mem {mem:.1f} GiB")
        print(f"float32 (naive): {fp32:8.1f} samples/s  ratio bf16/fp32 = {ours / fp32:.2f}x")
        epoch_s = 8738 / ours
        print(f"=> one paper epoch (8,738 windows): {epoch_s:.0f} s; 30 epochs {30 * epoch_s / 60:.1f} min")
    else:
        ours = throughput(model, opt, batch, micro, steps, device, window, args.voxels)
        del model, opt
        naive_model, naive_opt = make(args.arch, "eager", args.voxels, device, freeze=False, size=args.size)
        naive = throughput(naive_model, naive_opt, batch, micro, steps, device, window, args.voxels)
        print(f"ours (frozen CNN, SDPA):      {ours:.3f} samples/s ({batch / ours:.1f} s per step of {batch})")
        print(f"naive (CNN trained, eager):   {naive:.3f} samples/s")
        print(f"ratio ours/naive = {ours / naive:.2f}x")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
