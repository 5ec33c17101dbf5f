# Stage: alignment (docs/artifacts.md): voxelwise encoding models of every layer of a checkpoint
# (DECISIONS.md 7). One job per (family, variant, subject) covers every layer: the subject's
# responses are read once and every layer uses the same seeded bootstrap splits.
# Pretrained (shared) checkpoints are aligned for every subject; subject-specific variants use the
# subject's own checkpoint (braintune.config.checkpoint_owner).

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


rule alignment:
    """Encoding models of every layer of one checkpoint for one subject: rho, alpha, rho/NC per
    voxel and B per region (DECISIONS.md 7)."""
    input:
        unpack(_alignment_inputs),
    output:
        h5=alignment_path("{family}", "{variant}", "{subject}"),
        tsv=alignment_table_path("{family}", "{variant}", "{subject}"),
    params:
        alignment=alignment_fit_settings(),
        layers=lambda w: config["models"][w.family]["layers"],
        labels=_alignment_labels,
        root=DATASET,
        seed=config["seed"],
        test_trim=config["timing"]["test_trim"],
        missing_story=config["dataset"]["missing_story"],
        device=config["compute"]["device"],
    log:
        "logs/alignment/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/alignment/{family}/{variant}/{subject}.tsv"
    threads: ALIGNMENT["threads"]
    resources:
        gpu=_alignment_backend_gpu(),
        # responses (float64 on disk -> float32), weights and himalaya's batches
        mem_mb=lambda w, input: int(ALIGNMENT["mem_mb"] + input.size_mb),
        # minutes, for cluster executors: a real layer takes ~1 min on a GPU, 15-40 min on 8 cores
        runtime=lambda w: (2 if _alignment_backend_gpu() else 45) * len(config["models"][w.family]["layers"]),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/alignment_fit.py"


def alignment_targets():
    """Final outputs of this stage that `rule all` requests."""
    return [
        path
        for family in families()
        for variant in alignment_variants(family)
        for subject in SUBJECTS
        for path in (alignment_path(family, variant, subject), alignment_table_path(family, variant, subject))
    ]
