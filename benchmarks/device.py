"""One device check of the three GPU stages, in one run, printing one table.

On a GPU (``--device cuda``) it builds base-size models from configs and real-size synthetic data and
measures: evaluation-feature windows per second (wav2vec2-base and Whisper-small geometry, 16.1-s
windows, batched vs one at a time, the front end compiled vs eager), brain-tuning samples per second and
model-FLOP utilisation at batch 128 in bf16 with the frozen front end read from its cache (vs recomputed,
FLOPs counted as executed) and recomputed (vs float32), and one real-size ridge layer (8,700 TRs x 3,072
features x 95,000 voxels) with himalaya's torch_cuda backend (vs a per-alpha solve on a subset; its alphas
held to the same fit in float64 on the CPU). The features and cached brain-tuning stages also profile one
step by kernel class (benchmarks/gpu_profile.py): where the time goes that the card's peak leaves unused.
``--reduced`` runs the same scripts at toy sizes on the CPU in about half a minute: the tests run it so the
device check cannot rot between GPU sessions.

    python benchmarks/device.py --wheels .whl      # here, with network: what the GPU image lacks
    python benchmarks/device.py --device cuda --budget 540 --out results-dir    # on the GPU machine
    python benchmarks/device.py --reduced                                       # CPU smoke run

Stages run in order of what the performance targets depend on; each streams its output as it comes to the
console and to ``--out``/device.log, and the table (``--out``/device-table.md) is rewritten after each one,
so a run cut short keeps what it measured. ``--budget`` bounds the whole run (stages that would start with
under ``MIN_STAGE_S`` left are skipped and reported). Before any stage it checks that the modules the
stages import are there. Each stage's script documents its own measurement; this one runs them, keeps
their output, and summarises the headline numbers in one table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: distributions the stages import beyond torch, transformers, numpy, scipy and scikit-learn (what a bare CUDA image
#: with PyTorch has): ``--wheels`` downloads them, at this environment's versions, for a GPU machine without network
DEVICE_WHEELS = ("himalaya", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py")
#: modules the stages import, checked before any stage starts
REQUIRED_MODULES = ("torch", "transformers", "numpy", "scipy", "sklearn", "himalaya", "jsonschema")
#: a stage that would start with less of ``--budget`` left is skipped
MIN_STAGE_S = 30.0

#: the three largest kernel classes of a ``--profile`` line (benchmarks/gpu_profile.py)
PROFILE = r"^profile (?:[^:]*cached front end|[^:]*one batch[^:]*): .*kernel classes: ((?:[^,]+,){2}[^,]+)"
CACHE_HEADLINE = {"samples/s cached": r"^\| cached front end \| ([\d.]+)",
                  "MFU": r"^\| cached front end \|(?:[^|]*\|){3} ([\d.]+%)",
                  "ratio": r"ratio cached/recompute: samples/s ([\d.]+)x",
                  "host waits per step": r"host waits for the GPU per cached step: (\d+)", "time by kernel class": PROFILE}

#: stage -> (script, arguments on a GPU, arguments of the reduced CPU run, regexes of the headline numbers), in the
#: order they run: what the performance targets (docs/performance.md) depend on first, so that a run cut short keeps those
STAGES = {
    "features": (
        "features_benchmark.py",
        ["--device", "cuda", "--sizes", "base", "whisper-small", "--batch-size", "64", "--windows", "512", "--compile",
         "--profile"],
        ["--sizes", "tiny", "--windows", "8", "--repeats", "1", "--batch-size", "4", "--context-s", "4", "--chunk-s", "1",
         "--compile", "--profile"],
        {"": r"^summary (.*)$", "time by kernel class": PROFILE},
    ),
    "braintuning cache (wav2vec2)": (
        "bench_cnncache.py",
        ["--device", "cuda", "--size", "base", "--profile"],
        ["--steps", "1", "--profile"],
        CACHE_HEADLINE,
    ),
    "ridge alignment": (
        "alignment_benchmark.py",
        ["--backend", "torch_cuda", "--n-samples", "8700", "--n-features", "3072", "--n-voxels", "95000",
         "--naive-voxels", "2000", "--reference-voxels", "2000", "--batch", "auto"],
        ["--n-samples", "300", "--n-features", "64", "--n-voxels", "500", "--n-test", "50", "--reference-voxels", "200"],
        {"fit s": r"ours :\s+([\d.]+) s", "ratio vs per-alpha ridge": r"ratio naive / ours: time ([\d.]+)x",
         "peak GiB": r"ours :.*peak\s+([\d.]+) GiB",
         "alphas equal to CPU float64": r"alphas equal to the CPU float64 fit on ([\d.]+% of \d+) voxels"},
    ),
    "braintuning cache (whisper)": (
        "bench_cnncache.py",
        ["--device", "cuda", "--size", "base", "--arch", "whisper", "--micro", "32", "--profile"],
        ["--steps", "1", "--arch", "whisper", "--profile"],
        CACHE_HEADLINE,
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
}


def run_stage(script: str, args: list[str], timeout: float, echo) -> tuple[int, float, str]:
    """Run one stage's script, passing each line of its output to ``echo`` as it comes (so that a run cut short
    still leaves what it printed); exit code 124 when it outlasts ``timeout`` seconds."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent / "src"), env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    killed = threading.Event()

    def kill() -> None:  # its whole process group: torch.compile's worker processes would otherwise hold the pipe open
        killed.set()
        os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        echo(line)
    code = proc.wait()
    timer.cancel()
    return (124 if killed.is_set() else code), time.perf_counter() - start, "".join(lines)


def headline(patterns: dict[str, str], output: str) -> str:
    found = []
    for name, pattern in patterns.items():
        values = re.findall(pattern, output, re.M)
        if values:
            found.append((f"{name} " if name else "") + " / ".join(v.strip() for v in values))
    return "; ".join(found) or "-"


def table(rows: list[tuple[str, str, float, str]]) -> str:
    lines = ["| stage | exit | wall s | headline |", "|---|---|---|---|"]
    lines += [f"| {stage} | {code} | {wall:.1f} | {text} |" for stage, code, wall, text in rows]
    return "\n".join(lines) + "\n"


def download_wheels(dest: Path, python_version: str) -> int:
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in DEVICE_WHEELS]
    platforms = [arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", python_version, *platforms, "--dest", str(dest), *pins]
    print(" ".join(command), flush=True)
    return subprocess.run(command).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--device", default="cuda", choices=["cuda"], help="run the real-size checks on the GPU")
    mode.add_argument("--reduced", action="store_true", help="toy sizes on the CPU (smoke run, used by the tests)")
    parser.add_argument("--only", nargs="+", choices=list(STAGES), help="run only these stages")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per stage")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run: each stage gets at most what is left, and a stage that would "
                        f"start with under {MIN_STAGE_S:.0f} s left is skipped (reported, exit 1)")
    parser.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None,
                        help="also write device.log (every stage's output, as it comes) and device-table.md (the "
                        "table, rewritten after each stage) here; default $OUT where set")
    parser.add_argument("--wheels", type=Path, metavar="DIR",
                        help="download wheels of DEVICE_WHEELS (this environment's versions) for --python-version on "
                        "x86-64 Linux into DIR and exit; install them there with pip install --no-index --target")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python, for --wheels")
    args = parser.parse_args(argv)
    if args.wheels:
        return download_wheels(args.wheels, args.python_version)
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"device check: cannot import {', '.join(missing)} here; on a machine without network, carry the wheels "
              f"that `python benchmarks/device.py --wheels DIR` downloads (docs/performance.md, 'The device check')",
              file=sys.stderr)
        return 2
    log = None
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        log = (args.out / "device.log").open("w")

    def echo(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if log:
            log.write(text)
            log.flush()

    began = time.perf_counter()
    rows = []
    for stage, (script, gpu_args, cpu_args, patterns) in STAGES.items():
        if args.only and stage not in args.only:
            continue
        budget_left = float("inf") if args.budget is None else args.budget - (time.perf_counter() - began)
        left = min(args.timeout, budget_left)
        if budget_left < MIN_STAGE_S:
            echo(f"===== {stage}: skipped, {max(budget_left, 0):.0f} s of the budget left\n\n")
            rows.append((stage, "skipped", 0.0, "-"))
        else:
            stage_args = cpu_args if args.reduced else gpu_args
            echo(f"===== {stage}: {script} {' '.join(stage_args)} (at most {left:.0f} s)\n")
            code, wall, output = run_stage(script, stage_args, left, echo)
            echo(f"===== {stage}: exit {code}, {wall:.1f} s\n\n")
            rows.append((stage, str(code), wall, headline(patterns, output)))
        if args.out:
            (args.out / "device-table.md").write_text(table(rows))
    echo(table(rows))
    if log:
        log.close()
    return 1 if any(code != "0" for _, code, _, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
