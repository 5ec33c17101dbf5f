# Functions and settings of the braintuning stage: paths, input functions, settings, resources, targets.
# The rules are in workflow/rules/braintuning.smk (Snakemake's linter asks to keep functions and rules
# in separate files). Speed-only settings (compute.device excepted: bf16 on CUDA changes the numbers)
# are no params: the scripts read braintuning.num_workers, braintuning.keep_state and
# braintuning.targets.bigslm.batch_size from the config.

from snakemake.exceptions import WorkflowError

from braintune.braintuning import plan as btplan
from braintune.braintuning.run import BrainTuningSettings, MultiRunSettings, StimulusTuningSettings, TargetSettings
from braintune.braintuning.variants import parse_variant, trained_variants


BT = config["braintuning"]


BT_DEVICE = config["compute"]["device"]


BT_MULTI = BT["multi"]


# Every variant of every family is checked before any job runs (unknown names, missing target models,
# stimulus on an architecture without a pre-training head, too few stories for braintuned_n<K>).
BT_VARIANTS = {family: trained_variants(config, family) for family in families()}


BT_TARGET_SETS = sorted({spec.target for specs in BT_VARIANTS.values() for spec in specs if spec.precomputed})


# The precomputed targets cover every brain-tuning story (train and validation), in name order: moving a
# story between the two splits reruns only the brain-tuning jobs.
BT_STORIES = sorted(set(config["stories"]["braintuning_train"]) | set(config["stories"]["braintuning_val"]))


def braintuning_run_path(family, variant, owner):
    """Folder of one trained checkpoint: model/, training.json, curve.tsv, curve.png."""
    return f"results/braintuning/{family}/{variant}/{owner}"


def braintuning_model_path(family, variant, owner):
    """The trained backbone (Hugging Face save_pretrained folder) of one checkpoint."""
    return f"{braintuning_run_path(family, variant, owner)}/model"


def braintuning_targets_path(variant, story):
    """Precomputed targets (BigSLM / text LM) of one story."""
    return f"results/braintuning/targets/{variant}/{story}.npy"


def braintuning_targets_info_path(variant):
    return f"results/braintuning/targets/{variant}/info.json"


def _run_outputs(family, variant, owner):
    base = braintuning_run_path(family, variant, owner)
    return dict(
        model=directory(f"{base}/model"),
        training=f"{base}/training.json",
        curve=f"{base}/curve.tsv",
        png=f"{base}/curve.png",
    )


def _multi_outputs(family):
    """The group checkpoint of the multi-participant brain-tuning: braintune.braintuning.multi.save_multi's folder
    (model/ merged, adapter/, head.pt) plus training.json and the curve."""
    base = braintuning_run_path(family, btconfig.MULTI_VARIANT, MULTI_GROUP)
    return dict(
        **_run_outputs(family, btconfig.MULTI_VARIANT, MULTI_GROUP),
        adapter=directory(f"{base}/adapter"),
        head=f"{base}/head.pt",
    )


def _multi_stories(subject, split):
    """The multi-participant training (`train`) or validation (`val`) stories `subject` has."""
    return data_available_stories(subject, f"multi_{split}")


def _multi_inputs(wildcards):
    """Audio of every story any training participant has, their responses (train then validation stories, in
    participant order), their projections and the shared space."""
    stories = {s: _multi_stories(s, "train") + _multi_stories(s, "val") for s in BT_MULTI["train_subjects"]}
    return {
        "audio": [preprocess_audio_path(story) for story in dict.fromkeys(x for v in stories.values() for x in v)],
        "respdict": data_respdict_path(),
        "responses": [data_response_path(s, story) for s, names in stories.items() for story in names],
        "projections": [commonspace_projection_path(s) for s in BT_MULTI["train_subjects"]],
        "space": commonspace_space_path(),
    }


def braintuning_multi_settings(family):
    """The settings of the multi-participant checkpoint of `family` (its params and training.json config_hash)."""
    return MultiRunSettings.from_config(BT, family, config["models"][family], config["seed"], PREPROCESS["sample_rate"],
                                        config["timing"])


def _bt_stories(subject, split):
    """The brain-tuning stories `subject` has (UTS04 lacks `life`: skipped with a warning, docs/decisions.md 3)."""
    return data_available_stories(subject, split)


def _bt_train_stories(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_stories(wildcards.subject, "braintuning_train")
    return stories[: spec.n_train_stories] if spec.n_train_stories else stories


def _bt_train_inputs(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    inputs = {
        "audio": [preprocess_audio_path(s) for s in stories],
        "respdict": data_respdict_path(),
    }
    if spec.needs_subject:
        inputs["nc"] = preprocess_noise_ceiling_path(wildcards.subject)
        inputs["responses"] = [data_response_path(wildcards.subject, s) for s in stories]
    if spec.precomputed:
        inputs["targets"] = [braintuning_targets_path(spec.target, s) for s in stories]
    return inputs


def _bt_gpu():
    """GPU jobs when the config asks for cuda (or auto: use one where there is one)."""
    return 0 if BT_DEVICE == "cpu" else 1


def _bt_resources(wildcards):
    spec = parse_variant(wildcards.variant)
    family_cfg = config["models"][wildcards.family]
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    overrides = BT["variant_overrides"].get(wildcards.variant, {})
    return btplan.estimate_resources(
        btplan.story_rows(data_respdict_path(), stories),
        btplan.n_outputs_estimate(spec.target, BT),
        btplan.family_parameters(family_cfg),
        int(overrides.get("max_epochs", BT["max_epochs"])),
        BT_DEVICE,
        family_cfg["architecture"],
        int(BT["num_workers"]),
    )


def braintuning_train_settings(family, variant):
    """The settings one brain-tuning job depends on (its params and its training.json config_hash)."""
    return BrainTuningSettings.from_config(
        BT, family, config["models"][family], variant, config["seed"], PREPROCESS["sample_rate"], config["timing"]
    )


def braintuning_target_settings(variant):
    return TargetSettings.from_config(BT, variant, config["seed"], PREPROCESS["sample_rate"], config["timing"])


def braintuning_stimulus_settings(family):
    return StimulusTuningSettings.from_config(BT, family, config["models"][family], config["seed"])


def _bt_check_gated_checkpoints():
    """Fail before any job runs when a gated hub model (e.g. Llama-2) is needed but cannot be loaded:
    a target set whose targets are not computed yet, or a family's checkpoint."""
    problems = [
        btplan.gated_access_problem(BT["targets"][target]["checkpoint"], f"braintuning.targets.{target}.checkpoint")
        for target in BT_TARGET_SETS
        if not os.path.exists(braintuning_targets_info_path(target))
    ] + [btplan.gated_access_problem(config["models"][f]["checkpoint"], f"models.{f}.checkpoint") for f in families()]
    problems = [p for p in problems if p]
    if problems:
        raise WorkflowError("\n".join(problems))


_bt_check_gated_checkpoints()


def braintuning_targets():
    """Final outputs of this stage that the default target `all` requests - every trained checkpoint of the config's
    families x variants x subjects (stimulus: one per family, owner `shared`; multibraintuned: one per family, owner
    the group)."""
    out = []
    for family, specs in BT_VARIANTS.items():
        for spec in specs:
            owners = list(dict.fromkeys(owner(spec.name, s) for s in SUBJECTS))
            for who in owners:
                base = braintuning_run_path(family, spec.name, who)
                out += [f"{base}/model", f"{base}/training.json", f"{base}/curve.tsv", f"{base}/curve.png"]
                if spec.multi:
                    out += [f"{base}/adapter", f"{base}/head.pt"]
    return out
