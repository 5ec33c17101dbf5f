# Stage: features (docs/artifacts.md). Speech-model features of causal sliding windows, the speech
# descriptors (the low-level speech features) and the design matrices of the encoding models.
# Paths, settings and input functions: workflow/rules/functions/features.smk.
#
# Jobs: one `features_extract` job per (family, variant, owner) covering every story (the model is
# loaded once; finished stories survive a failed job, see braintune.features.windows); one
# `features_design_<family>` job per (family, variant, owner) writing every layer's design matrix
# (numpy only, no torch); one `features_descriptors` job and one `features_design_descriptors` job
# for the whole config.


rule features_extract:
    """Causal sliding-window features of every story for one checkpoint (docs/decisions.md 6)."""
    input:
        unpack(_checkpoint_input),
        audio=[preprocess_audio_path(s) for s in FEATURES_STORIES],
    output:
        [features_path("{family}", "{variant}", "{owner}", s) for s in FEATURES_STORIES],
    params:
        family=_family_params,
        windows=FEATURES_WINDOWS.params(),
        stories=FEATURES_STORIES,
        device=config["compute"]["device"],
    log:
        "logs/features_extract/{family}/{variant}/{owner}.log",
    benchmark:
        "benchmarks/features_extract/{family}/{variant}/{owner}.tsv"
    threads: 1 if config["compute"]["device"] == "cpu" else 4
    resources:
        gpu=_gpu(),
        mem_mb=8000,
        runtime=lambda w: 30 if config["compute"]["device"] == "cpu" else 60,
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/features_extract.py"


for _family in config["models"]:

    rule:
        """Design matrices of every layer of one checkpoint: Lanczos to TRs, trims, per-story
        z-score, FIR delays within each story."""
        name:
            f"features_design_{_family}"
        input:
            features=[features_path(_family, "{variant}", "{owner}", s) for s in FEATURES_STORIES],
            respdict=data_respdict_path(),
        output:
            [features_design_path(_family, "{variant}", "{owner}", layer) for layer in config["models"][_family]["layers"]],
        params:
            family=_family,
            layers=config["models"][_family]["layers"],
            stories=FEATURES_STORIES,
            settings=FEATURES_DESIGN.params(),
        log:
            f"logs/features_design_{_family}/{{variant}}/{{owner}}.log",
        benchmark:
            f"benchmarks/features_design_{_family}/{{variant}}/{{owner}}.tsv"
        threads: 1
        resources:
            mem_mb=4000,
        conda:
            "../envs/torch.yaml"
        script:
            "../scripts/features_design.py"


rule features_descriptors:
    """Power spectrum, diphones, triphones and articulation of every story on its TR grid, and
    the di/triphone inventory of the configured stories."""
    input:
        wav=[data_stimulus_path(s) for s in FEATURES_STORIES],
        textgrid=[data_textgrid_path(s) for s in FEATURES_STORIES],
        respdict=data_respdict_path(),
    output:
        features=[features_descriptors_path(s) for s in FEATURES_STORIES],
        inventory=features_descriptors_inventory_path(),
    params:
        stories=FEATURES_STORIES,
        settings=FEATURES_DESCRIPTORS.params(),
    log:
        "logs/features_descriptors/all.log",
    benchmark:
        "benchmarks/features_descriptors/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/features_descriptors.py"


rule features_design_descriptors:
    """Design matrices of the speech descriptors (train = the low-level analysis train stories)."""
    input:
        features=[features_descriptors_path(s) for s in FEATURES_STORIES],
        inventory=features_descriptors_inventory_path(),
        respdict=data_respdict_path(),
    output:
        [features_descriptor_design_path(f) for f in DESCRIPTORS["names"]],
    params:
        names=DESCRIPTORS["names"],
        stories=FEATURES_STORIES,
        settings=FEATURES_DESCRIPTOR_DESIGN.params(),
    log:
        "logs/features_design_descriptors/all.log",
    benchmark:
        "benchmarks/features_design_descriptors/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/features_design.py"
