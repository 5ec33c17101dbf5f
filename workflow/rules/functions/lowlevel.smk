# Functions and settings of the lowlevel stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/lowlevel.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

LOWLEVEL_IMPACT = config["lowlevel"]


def lowlevel_path(family, variant, subject):
    return f"results/lowlevel/{family}/{variant}/{subject}.h5"


def lowlevel_table_path(family, variant, subject):
    return f"results/lowlevel/{family}/{variant}/{subject}.tsv"


def lowlevel_variants(family):
    """Variants of `family` in lowlevel.variants (null: all) that the family lists."""
    wanted = LOWLEVEL_IMPACT.get("variants")
    return [v for v in variants(family) if wanted is None or v in wanted]


def lowlevel_layers(family):
    """lowlevel.layers (null: every layer of the family) that the family has."""
    wanted = LOWLEVEL_IMPACT.get("layers")
    layers = config["models"][family]["layers"]
    return [layer for layer in layers if wanted is None or layer in wanted] or layers[-1:]


def lowlevel_feature_names():
    """lowlevel.features (null: every feature the features stage computes)."""
    return list(LOWLEVEL_IMPACT.get("features") or config["lowlevel_features"]["names"])


def lowlevel_reuses_alignment():
    return list(LOWLEVEL_STORIES) == list(config["stories"]["alignment_train"])


def lowlevel_fit_settings():
    return {k: v for k, v in LOWLEVEL_IMPACT.items() if k not in ("variants", "threads", "mem_mb")}


def lowlevel_config_hash(family):
    return stable_hash(
        {
            "lowlevel": lowlevel_fit_settings(),
            "lowlevel_features": config["lowlevel_features"],
            "alignment": alignment_config_hash(family),
        }
    )


def _lowlevel_inputs(wildcards):
    who = owner(wildcards.variant, wildcards.subject)
    stories = available_stories(wildcards.subject, "lowlevel_train") + [TEST_STORY]
    inputs = {
        "designs": [
            design_path(wildcards.family, wildcards.variant, who, layer)
            for layer in lowlevel_layers(wildcards.family)
        ],
        "lowlevel": [lowlevel_design_path(f) for f in lowlevel_feature_names()],
        "responses": [str(bt_response_path(DATASET, wildcards.subject, s)) for s in stories],
        "noise_ceiling": noise_ceiling_path(wildcards.subject),
        "regions": regions_path(wildcards.subject),
    }
    if lowlevel_reuses_alignment():
        inputs["alignment"] = alignment_path(wildcards.family, wildcards.variant, wildcards.subject)
    return inputs


def _lowlevel_labels(wildcards):
    return {
        "family": wildcards.family,
        "variant": wildcards.variant,
        "subject": wildcards.subject,
        "owner": owner(wildcards.variant, wildcards.subject),
        "config_hash": lowlevel_config_hash(wildcards.family),
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
