# Stage: lowlevel (docs/artifacts.md): impact of low-level speech features on brain alignment
# (paper 3.4.2, DECISIONS.md 8). One job per (family, variant, subject) covers every low-level
# feature x layer. B_o comes from the alignment results when the low-level train set is the
# alignment train set (the default), else it is refitted on the low-level train set in the job.


rule lowlevel:
    """Low-level features regressed out of every layer's features, residual alignment B_r and
    R = 100 (B_o - B_r) / B_o per region, layer and feature (DECISIONS.md 8)."""
    input:
        unpack(_lowlevel_inputs),
    output:
        h5=lowlevel_path("{family}", "{variant}", "{subject}"),
        tsv=lowlevel_table_path("{family}", "{variant}", "{subject}"),
    params:
        alignment=alignment_fit_settings(),
        lowlevel=lowlevel_fit_settings(),
        features=lowlevel_feature_names(),
        layers=lambda w: lowlevel_layers(w.family),
        labels=_lowlevel_labels,
        train_stories=LOWLEVEL_STORIES,
        test_story=TEST_STORY,
        root=DATASET,
        seed=config["seed"],
        test_trim=config["timing"]["test_trim"],
        missing_story=config["dataset"]["missing_story"],
        device=config["compute"]["device"],
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
        * len(lowlevel_layers(w.family))
        * len(lowlevel_feature_names()),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/lowlevel_fit.py"
