# Functions and settings of the alignment stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/alignment.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.utils import stable_hash


ALIGNMENT = config["alignment"]


def alignment_path(family, variant, subject):
    return f"results/alignment/{family}/{variant}/{subject}.h5"


def alignment_table_path(family, variant, subject):
    return f"results/alignment/{family}/{variant}/{subject}.tsv"


def alignment_variants(family):
    """Variants of `family` to align: alignment.variants (null: all) that the family lists."""
    wanted = ALIGNMENT.get("variants")
    return [v for v in variants(family) if wanted is None or v in wanted]


def alignment_fit_settings():
    """The keys that change a fit (not the variant selection)."""
    return {k: v for k, v in ALIGNMENT.items() if k not in ("variants", "threads", "mem_mb")}


def alignment_config_hash(family):
    """Hash of every config value an alignment result of `family` depends on."""
    return stable_hash(
        {
            "alignment": alignment_fit_settings(),
            "seed": config["seed"],
            "stories": config["stories"],
            "timing": config["timing"],
            "preprocess": config["preprocess"],
            "features": config["features"],
            "model": config["models"][family],
        }
    )


def _alignment_backend_gpu():
    backend = ALIGNMENT["backend"]
    if backend == "torch_cuda":
        return 1
    return int(backend == "auto" and config["compute"]["device"] != "cpu")


def _alignment_inputs(wildcards):
    who = owner(wildcards.variant, wildcards.subject)
    stories = available_stories(wildcards.subject, "alignment_train") + [TEST_STORY]
    return {
        "designs": [
            design_path(wildcards.family, wildcards.variant, who, layer)
            for layer in config["models"][wildcards.family]["layers"]
        ],
        "responses": [str(bt_response_path(DATASET, wildcards.subject, s)) for s in stories],
        "noise_ceiling": noise_ceiling_path(wildcards.subject),
        "regions": regions_path(wildcards.subject),
    }


def _alignment_labels(wildcards):
    return {
        "family": wildcards.family,
        "variant": wildcards.variant,
        "subject": wildcards.subject,
        "owner": owner(wildcards.variant, wildcards.subject),
        "config_hash": alignment_config_hash(wildcards.family),
    }


def alignment_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return [
        path
        for family in families()
        for variant in alignment_variants(family)
        for subject in SUBJECTS
        for path in (alignment_path(family, variant, subject), alignment_table_path(family, variant, subject))
    ]
