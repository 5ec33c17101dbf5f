"""The one-run device check (benchmarks/device.py) works at reduced size on the CPU, so that the GPU
session that runs it at full size finds it working; a stage cut short by its time limit or by the run's
budget keeps what it printed and is reported as such."""

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_device_check_runs_reduced_on_cpu(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "device.py"), "--reduced", "--timeout", "120", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ") and "| 0 |" in line]
    stages = {line.split("|")[1].strip(): line.split("|")[4] for line in table}
    assert set(stages) == {"features", "braintuning (wav2vec2)", "braintuning (whisper)", "braintuning cache (wav2vec2)",
                           "braintuning cache (whisper)", "ridge alignment"}
    # every stage reported its headline throughput and its ratio against the naive approach
    for headline in stages.values():
        assert "ratio" in headline and headline.strip() != "-"
    # the profiles that explain an MFU gap, and the ridge's alphas held to the float64 CPU fit
    for stage in ("features", "braintuning cache (wav2vec2)", "braintuning cache (whisper)"):
        assert "time by kernel class" in stages[stage] and "%" in stages[stage]
    assert "alphas equal to CPU float64 100.00% of 200" in stages["ridge alignment"]
    # what comes back from the device: the table and every stage's output
    assert (tmp_path / "device-table.md").read_text() in done.stdout
    assert "ratio cached/recompute" in (tmp_path / "device.log").read_text()


def load_device_check():
    spec = importlib.util.spec_from_file_location("device_check", REPO / "benchmarks" / "device.py")
    device = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(device)
    return device


def test_device_check_cuts_a_stage_at_its_limit_and_skips_past_the_budget(tmp_path, monkeypatch):
    device = load_device_check()
    (tmp_path / "slow.py").write_text("import sys, time\nprint('measured 42', flush=True)\ntime.sleep(float(sys.argv[1]))\n")
    monkeypatch.setattr(device, "HERE", tmp_path)
    monkeypatch.setattr(device, "MIN_STAGE_S", 1.0)
    monkeypatch.setattr(device, "STAGES", {
        "slow": ("slow.py", [], ["30"], {"value": r"measured (\d+)"}),
        "next": ("slow.py", [], ["0"], {"value": r"measured (\d+)"}),
    })
    out = tmp_path / "out"
    assert device.main(["--reduced", "--timeout", "1", "--budget", "1.5", "--out", str(out)]) == 1
    table = (out / "device-table.md").read_text()
    assert "| slow | 124 |" in table and "value 42" in table  # killed at 1 s, its output kept
    assert "| next | skipped |" in table  # 0.5 s of the budget left, under MIN_STAGE_S
    assert "measured 42" in (out / "device.log").read_text()


def test_device_check_stops_before_any_stage_when_a_module_is_missing(monkeypatch, capsys):
    device = load_device_check()
    monkeypatch.setattr(device, "REQUIRED_MODULES", ("torch", "no_such_module_here"))
    monkeypatch.setattr(device, "run_stage", lambda *a: (_ for _ in ()).throw(AssertionError("a stage ran")))
    assert device.main(["--reduced"]) == 2
    err = capsys.readouterr().err
    assert "no_such_module_here" in err and "--wheels" in err
