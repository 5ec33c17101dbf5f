"""A finished workspace is relocatable: no artifact records an absolute path.

Runs on a workspace where the demo DAG has finished (``BRAINTUNE_FINISHED_WORKSPACE``, set by
``.ci/run`` after the demo); skipped otherwise. The path-recording helper itself is tested always.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from braintune.utils import portable_path

WORKSPACE = os.environ.get("BRAINTUNE_FINISHED_WORKSPACE")


def test_portable_path_is_relative_inside_the_workspace_and_a_name_outside(tmp_path, monkeypatch):
    inside = tmp_path / "ws" / "results" / "a.h5"
    inside.parent.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "ws")
    assert portable_path(inside) == "results/a.h5"
    assert portable_path("results/a.h5") == "results/a.h5"
    assert portable_path(tmp_path / "elsewhere" / "b.npy") == "b.npy"


@pytest.mark.skipif(not WORKSPACE, reason="needs a finished demo workspace (BRAINTUNE_FINISHED_WORKSPACE)")
def test_no_artifact_records_an_absolute_workspace_path():
    root = Path(WORKSPACE).resolve()
    needle = str(root).encode()
    offenders = []
    for top in ("results", "resources"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and needle in path.read_bytes():
                offenders.append(str(path.relative_to(root)))
    assert not offenders, f"artifacts holding {root}: {offenders[:20]}"
