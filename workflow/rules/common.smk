# Shared setup: caches inside the working directory, config validation before any job runs,
# and the helpers that turn the config into wildcard values. The logic lives in
# braintune.config so that it is unit-tested without Snakemake.

import os
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir).parent / "src")
sys.path.insert(0, SRC)
# Rule scripts (also inside --use-conda environments, which pin only third-party packages)
# import braintune from this checkout.
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))

from braintune import config as btconfig
from braintune.utils import set_cache_dirs

# pycortex, matplotlib and Hugging Face write into $HOME unless told otherwise.
set_cache_dirs(".cache")

# Fills every absent key with its schema default (in place), then checks values and names.
btconfig.validate_config(config, source="configuration")

DATASET = config["data"]["root"]
SUBJECTS = list(config["data"]["subjects"])
STORIES = btconfig.all_stories(config)
TEST_STORY = config["stories"]["test"]


wildcard_constraints:
    subject=r"UTS0[1-9]",
    story=r"[a-z0-9]+",
    family=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",
    owner=r"shared|UTS0[1-9]|group(_UTS0[1-9])+",
    layer=r"\d+",


def families():
    """Model families of the config, in order."""
    return list(config["models"])


def variants(family):
    """Variants of one family (pretrained first)."""
    return list(config["models"][family]["variants"])


# Owner of the multi-participant checkpoint (multibraintuned): the group of braintuning.multi.train_subjects.
MULTI_GROUP = btconfig.multi_group(config)


def owner(variant, subject):
    """`shared` for pretrained/stimulus-tuned checkpoints, the group for multibraintuned, else the subject."""
    return btconfig.checkpoint_owner(variant, subject, MULTI_GROUP)


def checkpoint(variant, subject):
    """(variant, owner) of the checkpoint an alignment of `subject` reads: a donor variant braintuned_<donor>
    (alignment.curve.donors) reads the donor's braintuned checkpoint, any other variant its own (owner())."""
    return btconfig.checkpoint_of(variant, subject, MULTI_GROUP)


def all_targets():
    """Everything the default target `all` builds; each stage contributes its final outputs."""
    return (
        data_targets()
        + preprocess_targets()
        + commonspace_targets()
        + features_targets()
        + braintuning_targets()
        + alignment_targets()
        + lowlevel_targets()
        + statistics_targets()
        + figures_targets()
        + downstream_targets()
        + preference_targets()
    )
