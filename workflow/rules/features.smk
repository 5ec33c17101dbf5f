# Stage: features (docs/artifacts.md). Speech-model features of causal sliding windows, the
# low-level speech features, and the design matrices of the encoding models.
#
# Jobs: one `features` job per (family, variant, owner) covering every story (the model is loaded
# once; finished stories survive a failed job, see braintune.features.windows); one `design_<family>`
# job per (family, variant, owner) writing every layer's design matrix (numpy only, no torch);
# one `lowlevel_features` job and one `design_lowlevel` job for the whole config.


rule features:
    """Causal sliding-window features of every story for one checkpoint (DECISIONS.md 6)."""
    input:
        unpack(_checkpoint_input),
        audio=[preprocess_audio_path(s) for s in STORIES],
    output:
        [feature_path("{family}", "{variant}", "{owner}", s) for s in STORIES],
    params:
        family=_family_params,
        windows={k: FEATURES[k] for k in ("context_s", "chunk_s")},
        stories=STORIES,
        device=config["compute"]["device"],
    log:
        "logs/features/{family}/{variant}/{owner}.log",
    benchmark:
        "benchmarks/features/{family}/{variant}/{owner}.tsv"
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
            f"design_{_family}"
        input:
            features=[feature_path(_family, "{variant}", "{owner}", s) for s in STORIES],
            respdict=f"{DATASET}/derivative/respdict.json",
        output:
            [design_path(_family, "{variant}", "{owner}", layer) for layer in config["models"][_family]["layers"]],
        params:
            family=_family,
            layers=config["models"][_family]["layers"],
            **_DESIGN_PARAMS,
        log:
            f"logs/design_{_family}/{{variant}}/{{owner}}.log",
        benchmark:
            f"benchmarks/design_{_family}/{{variant}}/{{owner}}.tsv"
        threads: 1
        resources:
            mem_mb=4000,
        conda:
            "../envs/torch.yaml"
        script:
            "../scripts/features_design.py"


rule lowlevel_features:
    """Power spectrum, diphones, triphones and articulation of every story on its TR grid, and
    the di/triphone inventory of the configured stories."""
    input:
        wav=[f"{DATASET}/stimuli/{s}.wav" for s in STORIES],
        textgrid=[f"{DATASET}/derivative/TextGrids/{s}.TextGrid" for s in STORIES],
        respdict=f"{DATASET}/derivative/respdict.json",
    output:
        features=[f"results/lowlevel_features/{s}.h5" for s in STORIES],
        inventory="results/lowlevel_features/inventory.json",
    params:
        lowlevel=LOWLEVEL,
        lanczos={k: FEATURES[k] for k in ("lanczos_window", "lanczos_cutoff_mult")},
        timing=config["timing"],
        stories=STORIES,
    log:
        "logs/lowlevel_features/all.log",
    benchmark:
        "benchmarks/lowlevel_features/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/features_lowlevel.py"


rule design_lowlevel:
    """Design matrices of the low-level features (train = the low-level analysis train stories)."""
    input:
        features=[f"results/lowlevel_features/{s}.h5" for s in STORIES],
        inventory="results/lowlevel_features/inventory.json",
        respdict=f"{DATASET}/derivative/respdict.json",
    output:
        [lowlevel_design_path(f) for f in LOWLEVEL["names"]],
    params:
        names=LOWLEVEL["names"],
        **{**_DESIGN_PARAMS, "train_stories": LOWLEVEL_STORIES},
    log:
        "logs/design_lowlevel/all.log",
    benchmark:
        "benchmarks/design_lowlevel/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/features_design.py"
