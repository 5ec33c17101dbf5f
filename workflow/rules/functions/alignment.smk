# Functions and settings of the alignment stage: paths, input functions, params, resources, targets.
# The rules themselves are in workflow/rules/alignment.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.utils import stable_hash


ALIGNMENT = config["alignment"]


# Keys of the alignment section that never change a result of the alignment rule: the variant selection
# (which jobs exist), the solver's voxel/alpha batch sizes (memory; braintune.alignment.ridge.RidgeBatches,
# read by the rule scripts from the config, outside params), the job's threads and memory, and the
# data-efficiency curve (its own rule alignment_curve; its sizes are that rule's params).
ALIGNMENT_NOT_SETTINGS = (
    "variants", "n_targets_batch", "n_alphas_batch", "n_targets_batch_refit", "threads", "mem_mb", "curve"
)


def alignment_path(family, variant, subject):
    return f"results/alignment/{family}/{variant}/{subject}.h5"


def alignment_table_path(family, variant, subject):
    return f"results/alignment/{family}/{variant}/{subject}.tsv"


def alignment_variants(family):
    """Variants of `family` to align: alignment.variants (null: all) that the family lists."""
    return btconfig.stage_variants(config, "alignment", family)


def alignment_settings():
    """Every config value an alignment fit depends on, as the keyword arguments of
    braintune.alignment.encoding.AlignmentSettings.from_config: the rule's params and, hashed, the
    config_hash its artifacts carry. compute.device counts only for alignment.backend: auto."""
    return {
        "section": {k: v for k, v in ALIGNMENT.items() if k not in ALIGNMENT_NOT_SETTINGS},
        "seed": config["seed"],
        "test_trim": config["timing"]["test_trim"],
        "missing_story": config["data"]["missing_story"],
        "device": config["compute"]["device"] if ALIGNMENT["backend"] == "auto" else None,
    }


def alignment_config_hash():
    return stable_hash(alignment_settings())


def _alignment_backend_gpu():
    backend = ALIGNMENT["backend"]
    if backend == "torch_cuda":
        return 1
    return int(backend == "auto" and config["compute"]["device"] != "cpu")


def _alignment_layers(wildcards):
    return list(config["models"][wildcards.family]["layers"])


def _alignment_response_stories(wildcards):
    """Stories whose responses the job reads, in the order of input.responses (params.stories)."""
    return data_available_stories(wildcards.subject, "alignment_train") + [TEST_STORY]


def _alignment_inputs(wildcards):
    variant, who = checkpoint(wildcards.variant, wildcards.subject)
    return {
        "designs": [
            features_design_path(wildcards.family, variant, who, layer)
            for layer in _alignment_layers(wildcards)
        ],
        "responses": [data_response_path(wildcards.subject, s) for s in _alignment_response_stories(wildcards)],
        "noise_ceiling": preprocess_noise_ceiling_path(wildcards.subject),
        "regions": preprocess_regions_path(wildcards.subject),
    }


def _alignment_labels(wildcards):
    """Columns of every table row and attributes of the h5 file (no path)."""
    return {
        "family": wildcards.family,
        "variant": wildcards.variant,
        "subject": wildcards.subject,
        "owner": checkpoint(wildcards.variant, wildcards.subject)[1],
        "config_hash": alignment_config_hash(),
    }


def alignment_curve_path(family, variant, subject):
    """The data-efficiency curve of one checkpoint and subject: B per layer, subset size and region."""
    return f"results/alignment/{family}/{variant}/{subject}.curve.tsv"


def alignment_curve_runs():
    """(family, variant, subject) of every curve: alignment.curve.variants (and the donor variants of
    alignment.curve.donors) x families x data.subjects (a donor's own curve is its braintuned one)."""
    return [
        (family, variant, subject)
        for family in btconfig.curve_families(config)
        for variant in btconfig.curve_variants(config, family)
        for subject in btconfig.curve_subjects(config, variant)
    ]


def alignment_curve_settings():
    """What a curve depends on beyond the alignment settings: the subset sizes, the order in which stories are
    added and the TR (its minutes)."""
    curve = ALIGNMENT["curve"]
    return {"sizes": list(curve["sizes"]), "order": curve["order"], "tr_s": float(config["timing"]["tr_s"])}


def alignment_targets():
    """Final outputs of this stage that the default target `all` requests (the curves: alignment.curve.variants)."""
    return [
        path
        for family in families()
        for variant in alignment_variants(family)
        for subject in SUBJECTS
        for path in (alignment_path(family, variant, subject), alignment_table_path(family, variant, subject))
    ] + [alignment_curve_path(*run) for run in alignment_curve_runs()]
