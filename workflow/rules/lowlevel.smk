# Stage: lowlevel (docs/artifacts.md): impact of low-level speech features on brain alignment
# (paper 3.4.2, DECISIONS.md 8). One job per (family, variant, subject) covers every low-level
# feature x layer. B_o comes from the alignment results when the low-level train set is the
# alignment train set (the default), else it is refitted on the low-level train set in the job.

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


rule lowlevel:
    """Low-level features regressed out of every layer's features, residual alignment B_r and
    R = 100 (B_o - B_r) / B_o per region, layer and feature (DECISIONS.md 8)."""
    input:
        unpack(_lowlevel_inputs),
    output:
        h5=lowlevel_path("{family}", "{variant}", "{subject}"),
        tsv=lowlevel_table_path("{family}", "{variant}", "{subject}"),
    params:
        alignment=alignment_fit_settings(),
        lowlevel=lowlevel_fit_settings(),
        features=lowlevel_feature_names(),
        layers=lambda w: lowlevel_layers(w.family),
        labels=_lowlevel_labels,
        train_stories=LOWLEVEL_STORIES,
        test_story=TEST_STORY,
        root=DATASET,
        seed=config["seed"],
        test_trim=config["timing"]["test_trim"],
        missing_story=config["dataset"]["missing_story"],
        device=config["compute"]["device"],
    log:
        "logs/lowlevel/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/lowlevel/{family}/{variant}/{subject}.tsv"
    threads: LOWLEVEL_IMPACT["threads"]
    resources:
        gpu=_alignment_backend_gpu(),
        mem_mb=lambda w, input: int(LOWLEVEL_IMPACT["mem_mb"] + input.size_mb),
        # minutes: one encoding fit per feature x layer (see rule alignment)
        runtime=lambda w: (2 if _alignment_backend_gpu() else 45)
        * len(lowlevel_layers(w.family))
        * len(lowlevel_feature_names()),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/lowlevel_fit.py"


def lowlevel_targets():
    """Final outputs of this stage that `rule all` requests."""
    return [
        path
        for family in families()
        for variant in lowlevel_variants(family)
        for subject in SUBJECTS
        for path in (lowlevel_path(family, variant, subject), lowlevel_table_path(family, variant, subject))
    ]
