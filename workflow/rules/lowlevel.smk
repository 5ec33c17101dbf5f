# Stage: lowlevel (docs/artifacts.md): impact of low-level speech features on brain alignment
# (paper 3.4.2, docs/decisions.md 8). One job per (family, variant, subject) covers every low-level
# feature x layer. B_o comes from the alignment results when the low-level train set is the
# alignment train set (the default), else it is refitted on the low-level train set in the job.


rule lowlevel:
    """Low-level features regressed out of every layer's features, residual alignment B_r and
    R = 100 (B_o - B_r) / B_o per region, layer and feature (docs/decisions.md 8)."""
    input:
        unpack(_lowlevel_inputs),
    output:
        h5=lowlevel_path("{family}", "{variant}", "{subject}"),
        tsv=lowlevel_table_path("{family}", "{variant}", "{subject}"),
    params:
        # the settings (hashed into labels.config_hash) and which input is which layer, feature and
        # story; batch sizes are speed-only: the script reads them from the config
        settings=lowlevel_settings(),
        layers=_lowlevel_layers,
        features=lowlevel_feature_names(),
        stories=_lowlevel_response_stories,
        labels=_lowlevel_labels,
    log:
        "logs/lowlevel/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/lowlevel/{family}/{variant}/{subject}.tsv"
    threads: LOWLEVEL_IMPACT["threads"]
    resources:
        gpu=_alignment_backend_gpu(),
        mem_mb=lambda w, input: int(LOWLEVEL_IMPACT["mem_mb"] + input.size_mb),
        # minutes: one encoding fit per feature x layer (see rule alignment)
        runtime=lambda w: (2 if _alignment_backend_gpu() else 45)
        * len(_lowlevel_layers(w))
        * len(lowlevel_feature_names()),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/lowlevel_fit.py"
