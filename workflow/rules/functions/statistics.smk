# Functions and settings of the statistics stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/statistics.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

STATISTICS = config["statistics"]


STATISTICS_TABLES = {
    "alignment": "results/statistics/alignment.tsv",
    "alignment_subject": "results/statistics/alignment_subject.tsv",
    "wilcoxon_alignment": "results/statistics/wilcoxon_alignment.tsv",
    "lowlevel": "results/statistics/lowlevel.tsv",
    "lowlevel_subject": "results/statistics/lowlevel_subject.tsv",
    "wilcoxon_lowlevel": "results/statistics/wilcoxon_lowlevel.tsv",
}


def _statistics_runs(kind):
    """(family, variant, subject) of every alignment or low-level result of the config."""
    select = alignment_variants if kind == "alignment" else lowlevel_variants
    return [(f, v, s) for f in families() for v in select(f) for s in SUBJECTS]


def statistics_config_hash():
    return stable_hash(
        {
            "statistics": STATISTICS,
            "alignment": {f: alignment_config_hash(f) for f in families()},
            "lowlevel": {f: lowlevel_config_hash(f) for f in families()},
        }
    )


def _statistics_sources(kind):
    path = alignment_path if kind == "alignment" else lowlevel_path
    return [
        {
            "family": f,
            "variant": v,
            "subject": s,
            "path": path(f, v, s),
            "noise_ceiling": noise_ceiling_path(s),
            "regions": regions_path(s),
        }
        for f, v, s in _statistics_runs(kind)
    ]


def statistics_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return list(STATISTICS_TABLES.values())
