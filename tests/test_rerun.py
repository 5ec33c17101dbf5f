"""Rerun precision: which rules a one-key config change reruns on a finished demo workspace.

Snakemake reruns a job when an input, its params, its code or its environment changed. The table
below states, for representative one-key changes of the demo config, the exact set of rules that
must rerun: speed- and memory-only settings rerun nothing, a figure setting reruns that figure,
a brain-tuning setting reruns what depends on the brain-tuned checkpoints, and so on. docs/reruns.md
shows the same table (a test keeps them equal).

The dry runs need a workspace where the demo DAG has finished (`snakemake --cores 2`); `.ci/run`
sets ``BRAINTUNE_FINISHED_WORKSPACE`` to its checkout after running the demo. Without it the
dry-run test is skipped; the documentation check always runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = os.environ.get("BRAINTUNE_FINISHED_WORKSPACE")

with open(REPO / "config" / "config.yaml") as _handle:
    _DEMO = yaml.safe_load(_handle)

#: Rules downstream of a new brain-tuned checkpoint (every trained variant's features and everything after).
_AFTER_CHECKPOINT = {
    "braintuning_train",
    "features_extract",
    "features_design_wav2vec2",
    "features_design_hubert",
    "features_design_whisper",
    "features_design_hubert_large",
    "alignment",
    "lowlevel",
    "statistics",
    "statistics_voxels",
    "figures_bars",
    "figures_flatmaps",
    "downstream_embed",
    "downstream_asr",
    "downstream_probe",
    "downstream_collect",
    "figures_downstream",
    "preference_d",
    "figures_preference",
}

#: Rules downstream of the multi-participant checkpoint beyond _AFTER_CHECKPOINT's (the demo's data-efficiency curves
#: of wav2vec2 pretrained and multibraintuned, their tables and figure).
_AFTER_MULTI = {"braintuning_multi", "alignment_curve", "statistics_curve", "figures_curve"}

_ALL_RULES = _AFTER_CHECKPOINT | _AFTER_MULTI | {
    "commonspace_space",
    "commonspace_projection",
    "data_demo_stimuli",
    "data_demo_responses",
    "preprocess_audio",
    "preprocess_noise_ceiling",
    "preprocess_regions",
    "features_descriptors",
    "features_design_descriptors",
    "braintuning_targets",
    "braintuning_stimulus",
}

#: The demo's stimuli and the rules that read nothing of the responses (a setting of the responses alone reruns the others).
_FROM_STIMULI_ONLY = {
    "data_demo_stimuli",
    "preprocess_audio",
    "features_descriptors",
    "features_design_descriptors",
    "braintuning_targets",
    "braintuning_stimulus",
}

_TRAIN = list(_DEMO["stories"]["braintuning_train"])
_VAL = list(_DEMO["stories"]["braintuning_val"])

#: (change, config override, rules that must rerun). The override is merged into config/config.yaml.
CASES = [
    ("nothing", {}, set()),
    ("features.batch_size", {"features": {"batch_size": 1}}, set()),
    ("features.compile_frontend", {"features": {"compile_frontend": True}}, set()),
    ("alignment.n_targets_batch", {"alignment": {"n_targets_batch": 97}}, set()),
    ("alignment.threads", {"alignment": {"threads": 2}}, set()),
    ("preprocess.chunk_voxels", {"preprocess": {"chunk_voxels": 1000}}, set()),
    ("downstream.embed_batch_size", {"downstream": {"embed_batch_size": 1}}, set()),
    ("data.download.retries (inactive in the demo)", {"data": {"download": {"retries": 1}}}, set()),
    (
        "stories.lowlevel_train: the list that null means",
        {"stories": {"lowlevel_train": list(_DEMO["stories"]["alignment_train"])}},
        set(),
    ),
    ("figures.flatmap_height", {"figures": {"flatmap_height": 640}}, {"figures_flatmaps"}),
    ("statistics.alpha", {"statistics": {"alpha": 0.01}}, {"statistics", "figures_bars"}),
    (
        "alignment.cv.n_boots",
        {"alignment": {"cv": {"n_boots": 4}}},
        {"alignment", "lowlevel", "statistics", "statistics_voxels", "figures_bars", "figures_flatmaps", "alignment_curve",
         "statistics_curve", "figures_curve"},
    ),
    (
        "lowlevel.n_folds",
        {"lowlevel": {"n_folds": 5}},
        {"lowlevel", "statistics", "statistics_voxels", "figures_bars", "figures_flatmaps"},
    ),
    (
        "a story moved from brain-tuning train to validation",
        {"stories": {"braintuning_train": _TRAIN[:-1], "braintuning_val": _VAL + _TRAIN[-1:]}},
        _AFTER_CHECKPOINT | {"braintuning_stimulus"} | _AFTER_MULTI,
    ),
    # the demo's curves include UTS01's brain-tuned model on the others (alignment.curve.donors)
    ("braintuning.max_epochs", {"braintuning": {"max_epochs": 3}},
     _AFTER_CHECKPOINT | {"alignment_curve", "statistics_curve", "figures_curve"}),
    (
        "braintuning.multi.epochs",
        {"braintuning": {"multi": {"epochs": 3}}},
        {"braintuning_multi", "features_extract", "features_design_wav2vec2", "alignment_curve", "statistics_curve",
         "figures_curve", "downstream_embed", "downstream_probe", "downstream_collect", "figures_downstream",
         "preference_d", "figures_preference"},
    ),
    ("alignment.curve.sizes", {"alignment": {"curve": {"sizes": [3, 7]}}},
     {"alignment_curve", "statistics_curve", "figures_curve"}),
    ("alignment.curve.order", {"alignment": {"curve": {"order": _DEMO["stories"]["alignment_train"][::-1]}}},
     {"alignment_curve", "statistics_curve", "figures_curve"}),
    ("figures.curve_region", {"figures": {"curve_region": "LTC"}}, {"figures_curve"}),
    ("data.demo.seed", {"data": {"demo": {"seed": 1}}}, set(_ALL_RULES)),
    (
        "data.demo.shared_weight_fraction",
        {"data": {"demo": {"shared_weight_fraction": 0.25}}},
        _ALL_RULES - _FROM_STIMULI_ONLY,
    ),
]


def rules_to_rerun(workspace: Path, override: dict, tmp_path: Path) -> set[str]:
    """Rules a dry run of the demo config plus ``override`` would run in ``workspace``."""
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump(override))
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "-n",
        "--nolock",
        "--cores",
        "2",
        "--configfile",
        str(workspace / "config" / "config.yaml"),
        str(extra),
    ]
    done = subprocess.run(command, cwd=workspace, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout + done.stderr
    if "Nothing to be done" in output:
        return set()
    stats = output.split("Job stats:", 1)[1]
    rules = set()
    for line in stats.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        rules.add(match.group(1))
    return rules - {"all", "total"}


@pytest.mark.skipif(not WORKSPACE, reason="needs a finished demo workspace (BRAINTUNE_FINISHED_WORKSPACE)")
@pytest.mark.parametrize("change, override, expected", CASES, ids=[c[0] for c in CASES])
def test_one_key_change_reruns_exactly(change, override, expected, tmp_path):
    assert rules_to_rerun(Path(WORKSPACE), override, tmp_path) == expected, change


def test_docs_table_matches_cases():
    """docs/reruns.md has one row per case, ``| change | rules |``, listing the same rules ("none": no rule)."""
    rows = {}
    for line in (REPO / "docs" / "reruns.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2:
            rows[cells[0]] = set(re.findall(r"`([a-z_0-9]+)`", cells[1]))
    for change, _, expected in CASES:
        assert change in rows, f"docs/reruns.md has no row for {change!r}"
        assert rows[change] == expected, f"docs/reruns.md row {change!r}: {sorted(rows[change] ^ expected)}"
