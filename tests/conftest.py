"""Shared pytest setup: offline, single-threaded, caches inside the repository.

Also provides ``tiny_dataset``: a very small generated ds003020 miniature (session-scoped) that
every stage's tests can read with the real readers.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

from braintune.utils import set_cache_dirs  # noqa: E402

set_cache_dirs(REPO / "tmp" / ".cache")


import pytest  # noqa: E402

#: pycortex filestore (writable copy of S1) shared by every test session; masks and region volumes
#: are cached there, so only the first session pays for them.
TEST_FILESTORE = REPO / "tmp" / ".cache" / "pycortex-db"


def tiny_config(root, seed: int = 0) -> dict:
    """The demo config shrunk for tests: 2 subjects, 4 stories (incl. the test story), ~30-50 s of
    speech each, every 50th voxel of S1's thin mask (745 voxels), 4 repeats, test_trim 5."""
    from braintune.config import load_config

    config = load_config(REPO / "config" / "config.yaml")  # defaults filled, as the workflow sees it
    root = str(root)
    config["data"].update(root=f"{root}/ds003020", subjects=["UTS01", "UTS02"])
    config["stories"].update(
        braintuning_train=["souls", "howtodraw"],
        braintuning_val=["stagefright"],
        alignment_train=["souls", "howtodraw", "stagefright"],
        lowlevel_train=None,
        test="wheretheressmoke",
    )
    config["timing"]["test_trim"] = 5
    config["data"]["demo"].update(
        seed=seed,
        ground_truth=f"{root}/ground_truth.h5",
        pycortex_filestore=str(TEST_FILESTORE),
        story_duration_s=[30, 36],
        test_story_duration_s=50,
        n_repeats=4,
        voxel_stride=50,
    )
    return config


def demo_settings(config: dict):
    """The generator's settings of a config: ``(StimulusSettings, ResponseSettings)``, as the workflow
    builds them (workflow/rules/functions/data.smk)."""
    from braintune.config import all_stories
    from braintune.data.demo_settings import ResponseSettings, StimulusSettings

    stories, test = all_stories(config), config["stories"]["test"]
    return (
        StimulusSettings.from_config(config["data"]["demo"], config["timing"], stories, test),
        ResponseSettings.from_config(config["data"]["demo"], config["timing"], stories, test, config["data"]["subjects"]),
    )


def generate_demo(config: dict) -> dict:
    """Generate the miniature a config describes (under ``data.root``; ground truth at
    ``data.demo.ground_truth``; S1 copied into ``data.demo.pycortex_filestore``); returns the summary."""
    from braintune.data.demo import generate

    stimuli, responses = demo_settings(config)
    return generate(stimuli, responses, config["data"]["root"], config["data"]["demo"]["ground_truth"],
                    config["data"]["demo"]["pycortex_filestore"])


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A very small generated ds003020 miniature: ``(dataset_root: Path, config: dict)``.

    Same layout and formats as the real dataset (``config["data"]["root"]`` is the root,
    ``config["data"]["demo"]["ground_truth"]`` the ground truth). See :func:`tiny_config` for its size.
    """
    base = tmp_path_factory.mktemp("tiny_demo")
    config = tiny_config(base)
    generate_demo(config)
    return Path(config["data"]["root"]), config
