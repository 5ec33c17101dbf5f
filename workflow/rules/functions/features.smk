# Functions and settings of the features stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/features.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.features.lowlevel import NAMES as LOWLEVEL_NAMES


FEATURES = config["features"]


LOWLEVEL = config["lowlevel_features"]


LOWLEVEL_STORIES = btconfig.lowlevel_train_stories(config)


def feature_path(family, variant, owner, story):
    return f"results/features/{family}/{variant}/{owner}/{story}.h5"


def design_path(family, variant, owner, layer):
    return f"results/design/{family}/{variant}/{owner}/layer_{layer}.h5"


def lowlevel_design_path(feature):
    return f"results/design/lowlevel/{feature}.h5"


def _family_params(wildcards):
    """The family entry minus `variants` (adding a variant must not rerun the others' features)."""
    return {k: v for k, v in config["models"][wildcards.family].items() if k != "variants"}


def _checkpoint_input(wildcards):
    if wildcards.variant == "pretrained":
        return {}
    return {"checkpoint": f"results/braintuning/{wildcards.family}/{wildcards.variant}/{wildcards.owner}/model"}


def _gpu():
    return 0 if config["compute"]["device"] == "cpu" else 1


_DESIGN_PARAMS = dict(
    timing=config["timing"],
    lanczos={k: FEATURES[k] for k in ("lanczos_window", "lanczos_cutoff_mult")},
    delays=FEATURES["delays"],
    stories=STORIES,
    train_stories=config["stories"]["alignment_train"],
    test_story=TEST_STORY,
)


def features_targets():
    """Final outputs of this stage that the default target `all` requests: the design matrices of every
    (family, variant, owner, layer) that an encoding model uses (alignment.variants and lowlevel.variants;
    the other checkpoints are evaluated downstream only, from their own embeddings) and of every
    low-level feature."""
    out = []
    for family in families():
        encoded = set(alignment_variants(family)) | set(lowlevel_variants(family))
        for variant in [v for v in variants(family) if v in encoded]:
            owners = [owner(variant, None)] if btconfig.is_shared_variant(variant) else SUBJECTS
            for who in owners:
                out.extend(design_path(family, variant, who, layer) for layer in config["models"][family]["layers"])
    out.extend(lowlevel_design_path(f) for f in LOWLEVEL["names"])
    return out
