"""Shared helpers: atomic outputs leave nothing half-written; hashes are stable."""

import json
import os
import stat

import pytest

from braintune.utils import atomic_output, stable_hash


def test_atomic_output_moves_into_place_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_start_job_freezes_the_import_objects_and_reenables_the_collector(tmp_path):
    """A job script disables the GC before its imports; start_job moves what they made to the permanent
    generation, turns the GC back on, and logs to the rule's log file."""
    import subprocess
    import sys

    script = (
        "import gc\n"
        "gc.disable()\n"
        "import json\n"
        "from braintune.utils import start_job\n"
        "log = start_job(__import__('sys').argv[1])\n"
        "log.info('started')\n"
        "print(json.dumps({'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "job.log")], capture_output=True, text=True, check=True)
    state = json.loads(out.stdout)
    assert state["enabled"] and state["frozen"] > 1000
    assert "started" in (tmp_path / "job.log").read_text()
