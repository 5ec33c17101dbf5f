"""The JSON schema accepts both shipped configs and names the key of every bad value."""

import copy
from pathlib import Path

import pytest
import yaml

from braintune import config as btconfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [REPO / "config" / "config.yaml", REPO / "config" / "ds003020.yaml"]


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    assert btconfig.load_config(path)["dataset"]["subjects"]


def test_unknown_key_is_named():
    cfg = _load(CONFIGS[0])
    cfg["timing"]["tr_seconds"] = 2.0
    with pytest.raises(btconfig.ConfigError, match=r"timing.*tr_seconds"):
        btconfig.validate_config(cfg)


def test_unknown_top_level_section_is_named():
    cfg = _load(CONFIGS[0])
    cfg["ridge"] = {}
    with pytest.raises(btconfig.ConfigError, match="ridge"):
        btconfig.validate_config(cfg)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (("timing", "tr_s"), -2.0, r"timing\.tr_s"),
        (("timing", "trim_start"), "ten", r"timing\.trim_start"),
        (("dataset", "source"), "datalad", r"dataset\.source"),
        (("dataset", "subjects"), ["S1"], r"dataset\.subjects\.0"),
        (("preprocess", "nc_threshold"), 1.5, r"preprocess\.nc_threshold"),
    ],
)
def test_bad_values_name_their_key(key, value, expected):
    cfg = _load(CONFIGS[0])
    section, name = key
    cfg[section][name] = value
    with pytest.raises(btconfig.ConfigError, match=expected):
        btconfig.validate_config(cfg)


def test_missing_required_key_is_named():
    cfg = _load(CONFIGS[0])
    del cfg["timing"]["tr_s"]
    with pytest.raises(btconfig.ConfigError, match="tr_s"):
        btconfig.validate_config(cfg)


def test_test_story_in_a_training_set_is_rejected():
    cfg = _load(CONFIGS[0])
    cfg["stories"]["alignment_train"] = cfg["stories"]["alignment_train"] + [cfg["stories"]["test"]]
    with pytest.raises(btconfig.ConfigError, match=r"stories\.alignment_train.*test story"):
        btconfig.validate_config(cfg)


def test_all_stories_is_ordered_and_unique():
    cfg = _load(CONFIGS[1])
    stories = btconfig.all_stories(cfg)
    assert len(stories) == len(set(stories))
    assert stories[-1] == "wheretheressmoke"
    assert "life" in stories and "stagefright" in stories
    # the paper protocol needs the 24 brain-tuning stories, 2 validation stories and the test story
    assert len(stories) == 27


def test_lowlevel_train_defaults_to_alignment_train():
    cfg = _load(CONFIGS[0])
    assert btconfig.lowlevel_train_stories(cfg) == cfg["stories"]["alignment_train"]
    cfg2 = copy.deepcopy(cfg)
    cfg2["stories"]["lowlevel_train"] = ["souls"]
    assert btconfig.lowlevel_train_stories(cfg2) == ["souls"]


def test_checkpoint_owner():
    assert btconfig.checkpoint_owner("pretrained", "UTS01") == "shared"
    assert btconfig.checkpoint_owner("stimulus", "UTS01") == "shared"
    assert btconfig.checkpoint_owner("braintuned", "UTS02") == "UTS02"
    assert btconfig.checkpoint_owner("random", "UTS03") == "UTS03"
