# Functions and settings of the statistics stage: paths, input functions, params, targets.
# The rules themselves are in workflow/rules/statistics.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

STATISTICS = config["statistics"]


STATISTICS_TABLES = {
    name: f"results/statistics/{name}.tsv"
    for name in (
        "alignment",
        "alignment_subject",
        "alignment_summary",
        "wilcoxon_alignment",
        "lowlevel",
        "lowlevel_subject",
        "lowlevel_summary",
        "wilcoxon_lowlevel",
    )
}


def statistics_table_path(name):
    """One table of the statistics stage (docs/artifacts.md): a key of STATISTICS_TABLES."""
    return STATISTICS_TABLES[name]


def statistics_runs(kind):
    """(family, variant, subject) of every alignment or low-level result of the config, in the
    order of the rule's inputs of that kind."""
    select = alignment_variants if kind == "alignment" else lowlevel_variants
    return [[f, v, s] for f in families() for v in select(f) for s in SUBJECTS]


def statistics_settings():
    """Every config value the tables depend on (the whole statistics section): the rule's params and,
    hashed, the config_hash of the Wilcoxon tables."""
    return dict(STATISTICS)


def statistics_config_hash():
    return stable_hash(statistics_settings())


def statistics_voxels_path(family, subject):
    """Per-voxel differences of the reference variant and each other variant of one family and participant."""
    return f"results/statistics/voxels/{family}/{subject}.h5"


def statistics_voxels_settings():
    """The settings of the statistics_voxels jobs: their params and, hashed, the config_hash of their files."""
    return {"reference_variant": STATISTICS["reference_variant"]}


def _statistics_voxels_inputs(wildcards):
    f, s = wildcards.family, wildcards.subject
    return {
        "alignment": [alignment_path(f, v, s) for v in alignment_variants(f)],
        "lowlevel": [lowlevel_path(f, v, s) for v in lowlevel_variants(f)],
    }


def _statistics_voxels_labels(wildcards):
    return {
        "family": wildcards.family,
        "subject": wildcards.subject,
        "config_hash": stable_hash(statistics_voxels_settings()),
    }


# The tables of the data-efficiency figure (rule statistics_curve; only when alignment.curve.variants is set).
STATISTICS_CURVE_TABLES = {
    name: f"results/statistics/{name}.tsv" for name in ("curve", "curve_summary", "curve_tests", "curve_folds")
}


def statistics_curve_settings():
    """What the curve tables depend on: the reference variant, the training participants of the
    multi-participant checkpoint (seen / new) and the tests' alternative."""
    return {
        "reference_variant": ALIGNMENT["curve"]["reference_variant"],
        "seen_subjects": list(config["braintuning"]["multi"]["train_subjects"]),
        "alternative": STATISTICS["alternative"],
    }


def statistics_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return list(STATISTICS_TABLES.values()) + (list(STATISTICS_CURVE_TABLES.values()) if alignment_curve_runs() else [])
