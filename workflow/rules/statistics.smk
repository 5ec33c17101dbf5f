# Stage: statistics (docs/artifacts.md): tidy tables of brain alignment and low-level impact and
# the paired Wilcoxon signed-rank tests of DECISIONS.md 10. One job for the whole config.

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


rule statistics:
    """Tidy alignment / low-level tables and Wilcoxon tests (brain-tuned vs each other variant,
    across participants per region and across voxels per participant; Holm beside raw p)."""
    input:
        alignment=[alignment_path(*r) for r in _statistics_runs("alignment")],
        alignment_tables=[alignment_table_path(*r) for r in _statistics_runs("alignment")],
        lowlevel=[lowlevel_path(*r) for r in _statistics_runs("lowlevel")],
        lowlevel_tables=[lowlevel_table_path(*r) for r in _statistics_runs("lowlevel")],
        noise_ceiling=[noise_ceiling_path(s) for s in SUBJECTS],
        regions=[regions_path(s) for s in SUBJECTS],
    output:
        **STATISTICS_TABLES,
    params:
        statistics=STATISTICS,
        alignment_sources=_statistics_sources("alignment"),
        lowlevel_sources=_statistics_sources("lowlevel"),
        features=lowlevel_feature_names(),
        config_hash=statistics_config_hash(),
    log:
        "logs/statistics/all.log",
    benchmark:
        "benchmarks/statistics/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/statistics_tables.py"


def statistics_targets():
    """Final outputs of this stage that `rule all` requests."""
    return list(STATISTICS_TABLES.values())
