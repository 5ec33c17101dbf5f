# Functions and settings of the braintuning stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/braintuning.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.braintuning import plan as btplan


from braintune.braintuning.variants import parse_variant, trained_variants


BT = config["braintuning"]


BT_DEVICE = config["compute"]["device"]


# Every variant of every family is checked before any job runs (unknown names, missing target models,
# stimulus on an architecture without a pre-training head, too few stories for braintuned_n<K>).
BT_VARIANTS = {family: trained_variants(config, family) for family in families()}


BT_TARGET_SETS = sorted({spec.target for specs in BT_VARIANTS.values() for spec in specs if spec.precomputed})


BT_STORIES = list(dict.fromkeys(config["stories"]["braintuning_train"] + config["stories"]["braintuning_val"]))


def _bt_stories(subject, split):
    """The brain-tuning stories `subject` has (UTS04 lacks `life`: skipped with a warning, D3)."""
    from braintune.preprocess import available_stories

    return available_stories(config, subject, split)


def _bt_train_stories(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_stories(wildcards.subject, "braintuning_train")
    return stories[: spec.n_train_stories] if spec.n_train_stories else stories


def _bt_train_inputs(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    inputs = {
        "audio": [btplan.audio_path(s) for s in stories],
        "respdict": f"{DATASET}/derivative/respdict.json",
    }
    if spec.needs_subject:
        inputs["nc"] = btplan.nc_path(wildcards.subject)
        inputs["responses"] = [f"{DATASET}/derivative/preprocessed_data/{wildcards.subject}/{s}.hf5" for s in stories]
    if spec.precomputed:
        inputs["targets"] = [btplan.targets_path(spec.target, s) for s in stories]
    return inputs


def _bt_gpu():
    """GPU jobs when the config asks for cuda (or auto: use one where there is one)."""
    return 0 if BT_DEVICE == "cpu" else 1


def _bt_resources(wildcards):
    spec = parse_variant(wildcards.variant)
    family_cfg = config["models"][wildcards.family]
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    overrides = (BT.get("variant_overrides") or {}).get(wildcards.variant) or {}
    return btplan.estimate_resources(
        btplan.story_rows(DATASET, stories),
        btplan.n_outputs_estimate(spec.target, BT),
        btplan.family_parameters(family_cfg),
        int(overrides.get("max_epochs", BT["max_epochs"])),
        BT_DEVICE,
        family_cfg["architecture"],
        int(BT.get("num_workers", 0)),
    )


def _bt_params(wildcards):
    """The config this job depends on (a change elsewhere does not rerun it)."""
    return {
        "seed": config["seed"],
        "dataset": {"root": DATASET},
        "timing": config["timing"],
        "preprocess": {"sample_rate": config["preprocess"]["sample_rate"]},
        "braintuning": btplan.variant_config(BT, wildcards.variant),
        "models": {wildcards.family: btplan.training_family_config(config["models"][wildcards.family])},
    }


def braintuning_targets():
    """Final outputs of this stage that the default target `all` requests - every trained checkpoint of the config's
    families x variants x subjects (stimulus: one per family, owner `shared`)."""
    out = []
    for family, specs in BT_VARIANTS.items():
        for spec in specs:
            owners = ["shared"] if spec.shared else SUBJECTS
            for who in owners:
                base = btplan.run_dir(family, spec.name, who)
                out += [f"{base}/model", f"{base}/training.json", f"{base}/curve.tsv", f"{base}/curve.png"]
    return out
