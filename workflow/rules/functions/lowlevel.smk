# Functions and settings of the lowlevel stage: paths, input functions, params, resources, targets.
# The rules themselves are in workflow/rules/lowlevel.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

LOWLEVEL_IMPACT = config["lowlevel"]


def lowlevel_path(family, variant, subject):
    return f"results/lowlevel/{family}/{variant}/{subject}.h5"


def lowlevel_table_path(family, variant, subject):
    return f"results/lowlevel/{family}/{variant}/{subject}.tsv"


def lowlevel_variants(family):
    """Variants of `family` in lowlevel.variants (null: all) that the family lists."""
    return btconfig.stage_variants(config, "lowlevel", family)


def lowlevel_layers(family):
    """lowlevel.layers (null: every layer) that `family` has; braintune.config.validate_config has
    checked before any job that each analysed family has one and that no listed layer is unknown."""
    return btconfig.lowlevel_layers(config, family)


def lowlevel_feature_names():
    """lowlevel.features (null: every low-level feature the features stage computes; names checked
    by braintune.config.validate_config)."""
    wanted = LOWLEVEL_IMPACT["features"]
    return list(config["features"]["descriptors"]["names"] if wanted is None else wanted)


def lowlevel_reuses_alignment():
    return list(LOWLEVEL_STORIES) == list(config["stories"]["alignment_train"])


def lowlevel_settings():
    """Every config value a low-level impact result depends on, as the keyword arguments of
    braintune.lowlevel.impact.LowlevelSettings.from_config (with the alignment settings built by the
    script): the params of the lowlevel jobs and, hashed, the config_hash their artifacts carry.
    The low-level train stories are the resolved list (stories.lowlevel_train: null and the
    alignment list it means are the same settings)."""
    return {
        "section": {k: LOWLEVEL_IMPACT[k] for k in ("lambdas", "n_folds")},
        "alignment": alignment_settings(),
        "train_stories": list(LOWLEVEL_STORIES),
        "test_story": TEST_STORY,
    }


def lowlevel_config_hash():
    return stable_hash(lowlevel_settings())


def _lowlevel_layers(wildcards):
    return lowlevel_layers(wildcards.family)


def _lowlevel_response_stories(wildcards):
    """Stories whose responses the job reads, in the order of input.responses (params.stories)."""
    return data_available_stories(wildcards.subject, "lowlevel_train") + [TEST_STORY]


def _lowlevel_inputs(wildcards):
    who = owner(wildcards.variant, wildcards.subject)
    inputs = {
        "designs": [
            features_design_path(wildcards.family, wildcards.variant, who, layer)
            for layer in _lowlevel_layers(wildcards)
        ],
        "lowlevel": [features_descriptor_design_path(f) for f in lowlevel_feature_names()],
        "responses": [data_response_path(wildcards.subject, s) for s in _lowlevel_response_stories(wildcards)],
        "noise_ceiling": preprocess_noise_ceiling_path(wildcards.subject),
        "regions": preprocess_regions_path(wildcards.subject),
    }
    if lowlevel_reuses_alignment():
        inputs["alignment"] = alignment_path(wildcards.family, wildcards.variant, wildcards.subject)
    return inputs


def _lowlevel_labels(wildcards):
    """Columns of every table row and attributes of the h5 file (no path)."""
    return {
        "family": wildcards.family,
        "variant": wildcards.variant,
        "subject": wildcards.subject,
        "owner": owner(wildcards.variant, wildcards.subject),
        "config_hash": lowlevel_config_hash(),
    }


def lowlevel_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return [
        path
        for family in families()
        for variant in lowlevel_variants(family)
        for subject in SUBJECTS
        for path in (lowlevel_path(family, variant, subject), lowlevel_table_path(family, variant, subject))
    ]
