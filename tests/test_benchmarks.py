"""The one-run device check (benchmarks/device.py) works at reduced size on the CPU, so that the GPU
session that runs it at full size finds it working."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_device_check_runs_reduced_on_cpu():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "device.py"), "--reduced", "--timeout", "120"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ") and "| 0 |" in line]
    stages = {line.split("|")[1].strip() for line in table}
    assert stages == {"features", "braintuning (wav2vec2)", "braintuning (whisper)", "braintuning cache (wav2vec2)",
                      "braintuning cache (whisper)", "ridge alignment"}
    # every stage reported its headline throughput and its ratio against the naive approach
    for line in table:
        headline = line.split("|")[4]
        assert "ratio" in headline and headline.strip() != "-"
