"""Every config value that names something is checked before any job runs: a bad name fails with the
key named and the valid names listed."""

from pathlib import Path

import pytest

from braintune import config as btconfig

REPO = Path(__file__).resolve().parents[1]


def _demo():
    return btconfig.load_config(REPO / "config" / "config.yaml")


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value


#: (key, bad value, pattern the message must match: the key, then a valid name of the demo)
BAD_NAMES = [
    ("statistics.reference_variant", "nosuchvariant", r"statistics\.reference_variant.*valid: .*braintuned"),
    ("figures.downstream.comparison_family", "nosuchfamily", r"figures\.downstream\.comparison_family.*valid: .*wav2vec2"),
    ("figures.downstream.base_family", "nosuchfamily", r"figures\.downstream\.base_family.*valid: .*hubert"),
    ("figures.downstream.data_size_family", "nosuchfamily", r"figures\.downstream\.data_size_family.*valid: .*wav2vec2"),
    ("lowlevel.layers", [99], r"lowlevel\.layers.*99.*wav2vec2: \[1, 2, 3, 4\]"),
    ("lowlevel.layers", [5, 6], r"lowlevel\.layers.*no layer of wav2vec2.*\[1, 2, 3, 4\]"),
    ("figures.families", ["wav2vec2", "wav2vec3"], r"figures\.families.*wav2vec3.*valid: .*hubert_large"),
    ("figures.regions", ["late_langauge"], r"figures\.regions.*late_langauge.*valid: .*late_language.*all"),
    ("figures.scale.region", "nowhere", r"figures\.scale\.region.*valid: .*late_language"),
    ("figures.scale.base_family", "nosuchfamily", r"figures\.scale\.base_family.*valid: .*hubert"),
    ("alignment.regions", ["AG"], r"alignment\.regions.*'AG'.*valid: .*IFG"),
    ("alignment.variants", ["pretrained", "brainstuned"], r"alignment\.variants.*brainstuned.*valid: .*braintuned"),
    ("lowlevel.variants", ["nosuchvariant"], r"lowlevel\.variants.*valid: .*pretrained"),
    ("downstream.variants", ["nosuchvariant"], r"downstream\.variants.*valid: .*pretrained"),
    ("downstream.asr.variants", ["nosuchvariant"], r"downstream\.asr\.variants.*valid: .*pretrained"),
    ("figures.variants", ["pretrained", "stimulus"], r"figures\.variants.*stimulus.*valid: .*bigslm"),
    ("figures.variants_random", ["nosuchvariant"], r"figures\.variants_random.*valid: .*random"),
    ("figures.reference_variant", "random", r"figures\.reference_variant.*statistics\.reference_variant 'braintuned'"),
    ("figures.baseline_variant", "stimulus", r"figures\.baseline_variant.*'stimulus'.*valid: .*pretrained"),
    ("figures.flatmap_family", "nosuchfamily", r"figures\.flatmap_family.*valid: .*wav2vec2"),
    ("figures.representative_subject", "UTS07", r"figures\.representative_subject.*UTS07.*valid: UTS01, UTS02, UTS03"),
    ("figures.flatmap_subjects", ["UTS07"], r"figures\.flatmap_subjects.*valid: UTS01"),
    ("figures.nc_subjects", ["UTS01", "UTS08"], r"figures\.nc_subjects.*UTS08.*valid: UTS01"),
    ("downstream.tasks", ["phonemes", "phonems"], r"downstream\.tasks.*phonems.*valid: .*sentence_type"),
    ("downstream.probe.epochs", {"default": 10, "emotions": 3}, r"downstream\.probe\.epochs.*emotions.*valid: .*emotion"),
    ("preprocess.nc_override", {"UTS07": "nc.npy"}, r"preprocess\.nc_override.*UTS07.*valid: UTS01"),
    ("data.demo.missing_stories", {"UTS02": ["sols"]}, r"data\.demo\.missing_stories\.UTS02.*sols.*valid: .*souls"),
    ("data.demo.missing_stories", {"UTS05": ["souls"]}, r"data\.demo\.missing_stories.*UTS05.*valid: UTS01"),
    ("lowlevel.features", ["powspec", "diphones"], r"lowlevel\.features.*'diphones' is not one of .*'diphone'"),
    ("statistics.cross_family", [{"reference_family": "hubert", "reference_variant": "braintune",
                                  "family": "hubert_large", "variant": "pretrained"}],
     r"statistics\.cross_family\.0\.reference_variant.*valid: .*braintuned"),
    ("models.hubert.variants", ["pretrained", "nosuchvariant"], r"models\.hubert\.variants.*nosuchvariant"),
    ("models.hubert.variants", ["pretrained", "lmtuned_t5"], r"models\.hubert\.variants.*braintuning\.targets\.lmtuned_t5"),
    ("braintuning.variant_overrides", {"lmtuned": {"max_epochs": 3}}, r"braintuning\.variant_overrides.*lmtuned"),
    ("braintuning.multi.train_subjects", ["UTS01", "UTS07"], r"braintuning\.multi\.train_subjects.*UTS07.*valid: UTS01"),
    ("braintuning.multi.val_stories", ["souls"], r"braintuning\.multi\.val_stories.*also training stories.*souls"),
    ("braintuning.multi.train_stories", ["souls", "wheretheressmoke"],
     r"braintuning\.multi\.train_stories.*test story 'wheretheressmoke'"),
    ("alignment.curve.variants", ["pretrained", "multibraintunned"],
     r"alignment\.curve\.variants.*multibraintunned.*valid: .*braintuned"),
    ("alignment.curve.sizes", [3, 50], r"alignment\.curve\.sizes.*\[50\] exceed the 7 stories"),
    ("alignment.curve.reference_variant", "braintuned",
     r"alignment\.curve\.reference_variant.*braintuned.*valid: pretrained, multibraintuned"),
    ("figures.curve_region", "Broca", r"figures\.curve_region.*Broca.*valid: .*late_language"),
    ("alignment.curve.families", ["wav2vec3"], r"alignment\.curve\.families.*wav2vec3.*valid: .*wav2vec2"),
    ("alignment.curve.donors", ["UTS09"], r"alignment\.curve\.donors.*UTS09.*valid: UTS01, UTS02, UTS03"),
    ("alignment.curve.order", ["souls", "howtodraw"], r"alignment\.curve\.order.*missing: \[.*avatar"),
]


@pytest.mark.parametrize("key, value, expected", BAD_NAMES, ids=[f"{k}={v}" for k, v, _ in BAD_NAMES])
def test_a_bad_name_fails_with_its_key_and_the_valid_names(key, value, expected):
    config = _demo()
    _set(config, key, value)
    with pytest.raises(btconfig.ConfigError, match=expected):
        btconfig.validate_config(config)


@pytest.mark.parametrize("split", ["braintuning_train", "braintuning_val", "alignment_train", "lowlevel_train"])
def test_story_lists_are_not_empty(split):
    config = _demo()
    config["stories"][split] = []
    with pytest.raises(btconfig.ConfigError, match=rf"stories\.{split}.*should be non-empty"):
        btconfig.validate_config(config)


def test_lowlevel_features_are_computed_ones():
    config = _demo()
    config["features"]["descriptors"]["names"] = ["powspec"]
    config["lowlevel"]["features"] = ["diphone"]
    with pytest.raises(btconfig.ConfigError, match=r"lowlevel\.features.*'diphone'.*valid: powspec"):
        btconfig.validate_config(config)


def test_lowlevel_layers_keep_each_familys_own():
    config = _demo()
    config["lowlevel"]["layers"] = [4, 6]  # 6: only hubert_large has it
    btconfig.validate_config(config)
    assert btconfig.lowlevel_layers(config, "wav2vec2") == [4]
    assert btconfig.lowlevel_layers(config, "hubert_large") == [4, 6]
    config["lowlevel"]["layers"] = None
    assert btconfig.lowlevel_layers(config, "hubert_large") == [1, 2, 3, 4, 5, 6]


def test_optional_families_may_be_absent():
    """A large family or cross-family comparison that models does not list is skipped, not an error."""
    config = _demo()
    del config["models"]["hubert_large"]
    btconfig.validate_config(config)
    assert config["figures"]["scale"]["large_family"] == "hubert_large"


def test_region_names_follow_the_region_source():
    demo = _demo()
    assert btconfig.region_names(demo) == ["late_language", "primary_auditory", "early_auditory", "LTC", "IFG", "all"]
    paper = btconfig.defaults()
    assert btconfig.region_names(paper) == ["AG", "LTC", "IFG", "MFG", "A1", "late_language", "primary_auditory",
                                            "early_auditory", "all"]


def test_stage_variants_select_in_family_order():
    config = _demo()
    config["alignment"]["variants"] = ["random", "pretrained"]
    assert btconfig.stage_variants(config, "alignment", "wav2vec2") == ["pretrained", "random"]
    assert btconfig.stage_variants(config, "downstream", "hubert_large") == ["pretrained", "braintuned"]


def test_multibraintuned_belongs_to_the_group_of_its_training_subjects():
    config = _demo()
    group = btconfig.multi_group(config)
    assert group == "group_UTS01_UTS02"
    assert btconfig.multi_families(config) == ["wav2vec2"]
    # seen (UTS01) and new (UTS03) participants use the one group checkpoint; the others keep theirs
    assert {btconfig.checkpoint_owner("multibraintuned", s, group) for s in ("UTS01", "UTS03")} == {group}
    assert btconfig.checkpoint_owner("braintuned", "UTS03", group) == "UTS03"
    with pytest.raises(ValueError, match="multi_group"):
        btconfig.checkpoint_owner("multibraintuned", "UTS01")


def test_identity_common_space_needs_the_generated_miniature():
    config = _demo()
    config["data"]["source"] = "openneuro"
    with pytest.raises(btconfig.ConfigError, match=r"commonspace\.method.*identity.*data\.source demo"):
        btconfig.validate_config(config)


def test_curve_runs_follow_families_and_variants():
    config = _demo()
    config["alignment"]["curve"]["donors"] = []  # test_donor_curves_... covers them
    assert btconfig.curve_families(config) == ["wav2vec2"]
    assert btconfig.curve_variants(config, "wav2vec2") == ["pretrained", "multibraintuned"]
    assert btconfig.curve_variants(config, "hubert") == []
    config["alignment"]["curve"]["families"] = None
    assert btconfig.curve_families(config) == ["wav2vec2", "hubert", "whisper", "hubert_large"]
    assert btconfig.curve_variants(config, "hubert") == ["pretrained"]
    config["alignment"]["curve"]["variants"] = []
    assert btconfig.curve_families(config) == []


def test_donor_curves_evaluate_one_participants_braintuned_model_on_the_others():
    """alignment.curve.donors: braintuned_<donor> reads the donor's braintuned checkpoint, for every other
    participant; the tables call those participants `other`."""
    from braintune.statistics import curve_group

    config = _demo()
    assert config["alignment"]["curve"]["donors"] == ["UTS01"]
    assert btconfig.curve_variants(config, "wav2vec2") == ["pretrained", "multibraintuned", "braintuned_UTS01"]
    assert btconfig.curve_subjects(config, "braintuned_UTS01") == ["UTS02", "UTS03"]
    assert btconfig.curve_subjects(config, "pretrained") == ["UTS01", "UTS02", "UTS03"]
    assert btconfig.checkpoint_of("braintuned_UTS01", "UTS03", "group_UTS01_UTS02") == ("braintuned", "UTS01")
    assert btconfig.checkpoint_of("braintuned", "UTS03", "group_UTS01_UTS02") == ("braintuned", "UTS03")
    assert btconfig.checkpoint_of("multibraintuned", "UTS03", "group_UTS01_UTS02") == ("multibraintuned",
                                                                                        "group_UTS01_UTS02")
    assert btconfig.variant_donor("braintuned_n6") is None
    assert [curve_group("braintuned_UTS01", s, ["UTS01", "UTS02"]) for s in ("UTS02", "UTS01")] == ["other", "own"]
    config["alignment"]["curve"]["variants"] = []  # no curve: the donors ask for nothing
    btconfig.validate_config(config)
    assert btconfig.curve_families(config) == []


def test_multi_stories_default_to_the_braintuning_lists():
    config = _demo()
    assert btconfig.multi_stories(config, "train") == config["stories"]["braintuning_train"]
    config["braintuning"]["multi"]["val_stories"] = ["legacy"]
    config["braintuning"]["multi"]["train_stories"] = ["souls"]
    btconfig.validate_config(config)
    assert btconfig.multi_stories(config, "val") == ["legacy"]
