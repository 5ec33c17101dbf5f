# Functions and settings of the features stage: paths, input functions, settings, resources, targets.
# The rules are in workflow/rules/features.smk (Snakemake's linter asks to keep functions and rules
# in separate files). features.batch_size and features.compile_frontend change speed only: the extract
# script reads them from the config, they are no params.

from braintune.features.descriptors import DescriptorSettings
from braintune.features.design import DesignSettings
from braintune.features.windows import WindowSettings


FEATURES = config["features"]


DESCRIPTORS = config["features"]["descriptors"]


# Train stories of the low-level impact analysis (the descriptors' design matrices).
LOWLEVEL_STORIES = btconfig.lowlevel_train_stories(config)


# Per-story lists in name order: moving a story between roles changes no list.
FEATURES_STORIES = sorted(STORIES)


FEATURES_WINDOWS = WindowSettings.from_config(FEATURES)


FEATURES_DESIGN = DesignSettings.from_config(FEATURES, config["timing"], config["stories"]["alignment_train"], TEST_STORY)


FEATURES_DESCRIPTORS = DescriptorSettings.from_config(DESCRIPTORS, FEATURES, config["timing"])


FEATURES_DESCRIPTOR_DESIGN = DesignSettings.from_config(FEATURES, config["timing"], LOWLEVEL_STORIES, TEST_STORY, lanczos=False)


def features_path(family, variant, owner, story):
    """Layer features of one story for one checkpoint."""
    return f"results/features/{family}/{variant}/{owner}/{story}.h5"


def features_design_path(family, variant, owner, layer):
    """Design matrices of one layer of one checkpoint."""
    return f"results/features/design/{family}/{variant}/{owner}/layer_{layer}.h5"


def features_descriptors_path(story):
    """Speech descriptors (power spectrum, diphones, triphones, articulation) of one story."""
    return f"results/features/descriptors/{story}.h5"


def features_descriptors_inventory_path():
    return "results/features/descriptors/inventory.json"


def features_descriptor_design_path(name):
    """Design matrices of one speech descriptor."""
    return f"results/features/design/descriptors/{name}.h5"


def _family_params(wildcards):
    """The family entry minus `variants` (adding a variant must not rerun the others' features)."""
    return {k: v for k, v in config["models"][wildcards.family].items() if k != "variants"}


def _checkpoint_input(wildcards):
    if wildcards.variant == "pretrained":
        return {}
    return {"checkpoint": braintuning_model_path(wildcards.family, wildcards.variant, wildcards.owner)}


def _gpu():
    return 0 if config["compute"]["device"] == "cpu" else 1


def features_targets():
    """Final outputs of this stage that the default target `all` requests: the design matrices of every
    (family, variant, owner, layer) that an encoding model uses (alignment.variants and lowlevel.variants;
    the other checkpoints are evaluated downstream only, from their own embeddings) and of every
    speech descriptor."""
    out = []
    for family in families():
        encoded = set(alignment_variants(family)) | set(lowlevel_variants(family))
        for variant in [v for v in variants(family) if v in encoded]:
            owners = list(dict.fromkeys(owner(variant, s) for s in SUBJECTS))
            for who in owners:
                out.extend(features_design_path(family, variant, who, layer) for layer in config["models"][family]["layers"])
    out.extend(features_descriptor_design_path(f) for f in DESCRIPTORS["names"])
    return out
