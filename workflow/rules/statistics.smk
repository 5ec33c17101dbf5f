# Stage: statistics (docs/artifacts.md): tidy tables of brain alignment and low-level impact and
# the paired Wilcoxon signed-rank tests of DECISIONS.md 10. One job for the whole config.


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
