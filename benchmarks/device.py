"""One device check of the three GPU stages, in one run, printing one table.

On a GPU (``--device cuda``) it builds base-size models from configs and real-size synthetic data and
measures: evaluation-feature windows per second (wav2vec2-base and Whisper-small geometry, 16.1-s
windows, batched vs one at a time), brain-tuning samples per second and model-FLOP utilisation at
batch 128 in bf16 (vs float32), the same with the frozen front end read from its cache (vs recomputed,
FLOPs counted as executed), and one real-size ridge layer (8,700 TRs x 3,072 features x 95,000
voxels) with himalaya's torch_cuda backend (vs a per-alpha solve on a subset). ``--reduced`` runs the
same three scripts at toy sizes on the CPU in about half a minute: the tests run it so the device check
cannot rot between GPU sessions.

    python benchmarks/device.py --device cuda | tee device.txt    # on the GPU machine
    python benchmarks/device.py --reduced                         # CPU smoke run

The device image needs himalaya (carry its wheel) and braintune's ``src/`` on PYTHONPATH; nothing else
beyond torch and transformers. Each stage's script documents its own measurement; this one runs them,
keeps their output, and summarises the headline numbers in one table.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: stage -> (script, arguments on a GPU, arguments of the reduced CPU run, regexes of the headline numbers)
STAGES = {
    "features": (
        "features_benchmark.py",
        ["--device", "cuda", "--sizes", "base", "whisper-small", "--batch-size", "64", "--windows", "512", "--compile"],
        ["--sizes", "tiny", "--windows", "8", "--repeats", "1", "--batch-size", "4", "--context-s", "4", "--chunk-s", "1"],
        {"batched windows/s": r"^\S+\t\S+\t\d+\t\S+\t\d+\t([\d.]+)", "ratio vs one at a time": r"^\S+\t\S+\t\d+\t\S+\t\d+\t[\d.]+\t[\d.]+\t([\d.]+)",
         # with --compile: columns 10-15 are frontend_ms_eager, compile_s, compiled_win_s, compile_ratio, ...
         "front end ms eager": r"^(?:\S+\t){10}([\d.]+)\t", "compiled ratio": r"^(?:\S+\t){13}([\d.]+)\t",
         "front end ms compiled": r"^(?:\S+\t){14}([\d.]+)\t"},
    ),
    "braintuning (wav2vec2)": (
        "braintuning_benchmark.py",
        ["--device", "cuda", "--micro", "64"],
        ["--size", "tiny", "--voxels", "200", "--steps", "1"],
        {"samples/s": r"(?:bf16 autocast:|ours \(frozen CNN, SDPA\):)\s+([\d.]+) samples/s", "MFU": r"MFU ([\d.]+%)",
         "ratio": r"ratio (?:bf16/fp32 =|ours/naive =) ([\d.]+)x"},
    ),
    "braintuning (whisper)": (
        "braintuning_benchmark.py",
        ["--device", "cuda", "--arch", "whisper", "--micro", "32"],
        ["--size", "tiny", "--arch", "whisper", "--voxels", "200", "--steps", "1"],
        {"samples/s": r"(?:bf16 autocast:|ours \(frozen CNN, SDPA\):)\s+([\d.]+) samples/s", "MFU": r"MFU ([\d.]+%)",
         "ratio": r"ratio (?:bf16/fp32 =|ours/naive =) ([\d.]+)x"},
    ),
    "braintuning cache (wav2vec2)": (
        "bench_cnncache.py",
        ["--device", "cuda", "--size", "base"],
        ["--steps", "1"],
        {"samples/s cached": r"^\| cached front end \| ([\d.]+)", "MFU": r"^\| cached front end \|(?:[^|]*\|){3} ([\d.]+%)",
         "ratio": r"ratio cached/recompute: samples/s ([\d.]+)x"},
    ),
    "braintuning cache (whisper)": (
        "bench_cnncache.py",
        ["--device", "cuda", "--size", "base", "--arch", "whisper", "--micro", "32"],
        ["--steps", "1", "--arch", "whisper"],
        {"samples/s cached": r"^\| cached front end \| ([\d.]+)", "MFU": r"^\| cached front end \|(?:[^|]*\|){3} ([\d.]+%)",
         "ratio": r"ratio cached/recompute: samples/s ([\d.]+)x"},
    ),
    "ridge alignment": (
        "alignment_benchmark.py",
        ["--backend", "torch_cuda", "--n-samples", "8700", "--n-features", "3072", "--n-voxels", "95000",
         "--naive-voxels", "2000", "--batch", "auto"],
        ["--n-samples", "300", "--n-features", "64", "--n-voxels", "500", "--n-test", "50"],
        {"fit s": r"ours :\s+([\d.]+) s", "ratio vs per-alpha ridge": r"ratio naive / ours: time ([\d.]+)x",
         "peak GiB": r"ours :.*peak\s+([\d.]+) GiB"},
    ),
}


def run_stage(script: str, args: list[str], timeout: float) -> tuple[int, float, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent / "src"), env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                              timeout=timeout, env=env)
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code, out = 124, (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
    return code, time.perf_counter() - start, out


def headline(patterns: dict[str, str], output: str) -> str:
    found = []
    for name, pattern in patterns.items():
        values = re.findall(pattern, output, re.M)
        if values:
            found.append(f"{name} " + " / ".join(values))
    return "; ".join(found) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--device", default="cuda", choices=["cuda"], help="run the real-size checks on the GPU")
    mode.add_argument("--reduced", action="store_true", help="toy sizes on the CPU (smoke run, used by the tests)")
    parser.add_argument("--only", nargs="+", choices=list(STAGES), help="run only these stages")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per stage")
    args = parser.parse_args(argv)
    rows, failed = [], 0
    for stage, (script, gpu_args, cpu_args, patterns) in STAGES.items():
        if args.only and stage not in args.only:
            continue
        code, wall, output = run_stage(script, cpu_args if args.reduced else gpu_args, args.timeout)
        print(f"===== {stage}: {script} (exit {code}, {wall:.1f} s)\n{output.rstrip()}\n", flush=True)
        rows.append((stage, code, wall, headline(patterns, output)))
        failed += code != 0
    print("| stage | exit | wall s | headline |")
    print("|---|---|---|---|")
    for stage, code, wall, text in rows:
        print(f"| {stage} | {code} | {wall:.1f} | {text} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
