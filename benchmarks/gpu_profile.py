"""Where a step's time goes: one ``torch.profiler`` run of a callable, its kernels grouped into classes.

The benchmarks' ``--profile`` prints this so that a single device run both measures a stage and explains the
part of the card's peak it leaves unused (docs/performance.md): tensor-core GEMMs and flash attention run near
peak, whereas convolutions without tensor-core kernels, normalisation and other elementwise work are
memory-bound. On CUDA it times device kernels (``self_device_time_total``); on the CPU, where the reduced
runs of the tests exercise it, the operators' own CPU time.
"""

from __future__ import annotations

import re

import torch
from torch.profiler import ProfilerActivity, profile

#: (class, pattern of kernel or operator names), first match wins: torch.compile's fused Triton kernels name
#: the ops they fuse, and cuDNN's convolution kernels contain "gemm", so those two come first.
CLASSES = (
    ("fused (compiled)", r"triton|compiledfxgraph"),
    ("attention", r"flash|fmha|attention|sdpa|_efficient"),
    ("convolution", r"conv|cudnn|winograd|implicit_"),
    ("GEMM", r"gemm|nvjet|matmul|cutlass|xmma|wgmma|\bmm\b|aten::mm|addmm|bmm|linear"),
    ("normalisation", r"norm"),
    ("optimiser", r"adam|foreach|multi_tensor"),
    ("copy / layout", r"copy|memcpy|memset|cat\b|cat_|transpose|contiguous|index|gather|scatter|unfold|pad"),
)


def classify(name: str) -> str:
    lowered = name.lower()
    return next((cls for cls, pattern in CLASSES if re.search(pattern, lowered)), "elementwise / other")


def _self_time(event, cuda: bool) -> float:
    if cuda:
        # torch >= 2.4 names it self_device_time_total; older releases self_cuda_time_total
        name = "self_device_time_total" if hasattr(event, "self_device_time_total") else "self_cuda_time_total"
        return float(getattr(event, name))
    return float(event.self_cpu_time_total)


def kernel_breakdown(step, device: torch.device, label: str, top: int = 8) -> str:
    """Run ``step()`` once under the profiler; return lines: the share of time per class (largest first), then
    the ``top`` kernels by time with their class. Times are microseconds summed over the step."""
    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        step()
        if cuda:
            torch.cuda.synchronize()
    times = [(event.key, _self_time(event, cuda)) for event in prof.key_averages()]
    times = [(name, t) for name, t in times if t > 0]
    total = sum(t for _, t in times) or 1.0
    by_class: dict[str, float] = {}
    for name, t in times:
        by_class[classify(name)] = by_class.get(classify(name), 0.0) + t
    where = "device time" if cuda else "CPU time (operators' own)"
    classes = ", ".join(f"{cls} {100 * t / total:.1f}%" for cls, t in sorted(by_class.items(), key=lambda kv: -kv[1]))
    lines = [f"profile {label}: {total / 1e3:.1f} ms of {where}; kernel classes: {classes}"]
    for name, t in sorted(times, key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * t / total:5.1f}%  {classify(name):<20} {name[:110]}")
    return "\n".join(lines)


def count_syncs(step, device: torch.device) -> int | None:
    """How many times ``step()`` makes the host wait for the GPU (``torch.cuda.set_sync_debug_mode`` warnings:
    reading a value back, a pageable copy, an explicit synchronize); None off CUDA. A loop that waits once per
    batch cannot queue the next batch's kernels while the current one runs."""
    if device.type != "cuda":
        return None
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)
