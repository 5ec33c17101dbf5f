# Stage: braintuning (see docs/artifacts.md). Brain-tuning (DECISIONS.md 4, 5) and the comparison
# models (paper 3.3.1, D.2): one job per (family, variant, subject), one per stimulus-tuned family
# (owner `shared`), one per precomputed target set (BigSLM, text LMs) covering every story.
# Library: braintune.braintuning (tests/test_braintuning*.py).

from braintune.braintuning import plan as btplan
from braintune.braintuning.variants import parse_variant, trained_variants

BT = config["braintuning"]
BT_DEVICE = config["compute"]["device"]
# Every variant of every family is checked before any job runs (unknown names, missing target models,
# stimulus on an architecture without a pre-training head, too few stories for braintuned_n<K>).
BT_VARIANTS = {family: trained_variants(config, family) for family in families()}
BT_TARGET_SETS = sorted({spec.target for specs in BT_VARIANTS.values() for spec in specs if spec.precomputed})
BT_STORIES = list(dict.fromkeys(config["stories"]["braintuning_train"] + config["stories"]["braintuning_val"]))


def _bt_stories(subject, split):
    """The brain-tuning stories `subject` has (UTS04 lacks `life`: skipped with a warning, D3)."""
    from braintune.preprocess import available_stories

    return available_stories(config, subject, split)


def _bt_train_stories(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_stories(wildcards.subject, "braintuning_train")
    return stories[: spec.n_train_stories] if spec.n_train_stories else stories


def _bt_train_inputs(wildcards):
    spec = parse_variant(wildcards.variant)
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    inputs = {
        "audio": [btplan.audio_path(s) for s in stories],
        "respdict": f"{DATASET}/derivative/respdict.json",
    }
    if spec.needs_subject:
        inputs["nc"] = btplan.nc_path(wildcards.subject)
        inputs["responses"] = [f"{DATASET}/derivative/preprocessed_data/{wildcards.subject}/{s}.hf5" for s in stories]
    if spec.precomputed:
        inputs["targets"] = [btplan.targets_path(spec.target, s) for s in stories]
    return inputs


def _bt_gpu():
    """GPU jobs when the config asks for cuda (or auto: use one where there is one)."""
    return 0 if BT_DEVICE == "cpu" else 1


def _bt_resources(wildcards):
    spec = parse_variant(wildcards.variant)
    family_cfg = config["models"][wildcards.family]
    stories = _bt_train_stories(wildcards) + _bt_stories(wildcards.subject, "braintuning_val")
    overrides = (BT.get("variant_overrides") or {}).get(wildcards.variant) or {}
    return btplan.estimate_resources(
        btplan.story_rows(DATASET, stories),
        btplan.n_outputs_estimate(spec.target, BT),
        btplan.family_parameters(family_cfg),
        int(overrides.get("max_epochs", BT["max_epochs"])),
        BT_DEVICE,
        family_cfg["architecture"],
        int(BT.get("num_workers", 0)),
    )


def _bt_params(wildcards):
    """The config this job depends on (a change elsewhere does not rerun it)."""
    return {
        "seed": config["seed"],
        "dataset": {"root": DATASET},
        "timing": config["timing"],
        "preprocess": {"sample_rate": config["preprocess"]["sample_rate"]},
        "braintuning": btplan.variant_config(BT, wildcards.variant),
        "models": {wildcards.family: btplan.training_family_config(config["models"][wildcards.family])},
    }


rule braintuning_targets:
    """BigSLM / text-LM targets of every brain-tuning story (subject independent)."""
    input:
        audio=[btplan.audio_path(s) for s in BT_STORIES],
        textgrids=[str(btplan.textgrid_path(DATASET, s)) for s in BT_STORIES],
        respdict=f"{DATASET}/derivative/respdict.json",
    output:
        targets=[btplan.targets_path("{variant}", s) for s in BT_STORIES],
        info="results/braintuning/targets/{variant}/info.json",
    wildcard_constraints:
        variant=r"bigslm|lmtuned_[A-Za-z0-9]+",
    params:
        config=lambda w: {
            "seed": config["seed"],
            "dataset": {"root": DATASET},
            "timing": config["timing"],
            "preprocess": {"sample_rate": config["preprocess"]["sample_rate"]},
            "braintuning": {"context_trs": BT["context_trs"], "targets": {w.variant: BT["targets"][w.variant]}},
        },
        stories=BT_STORIES,
        device=BT_DEVICE,
    log:
        "logs/braintuning_targets/{variant}.log",
    benchmark:
        "benchmarks/braintuning_targets/{variant}.tsv"
    threads: 2
    resources:
        gpu=_bt_gpu(),
        mem_mb=lambda w: 4096 + (30000 if "llama" in str(BT["targets"][w.variant].get("checkpoint")) else 4000),
        runtime=lambda w: 10 if BT_DEVICE == "cpu" else 60,
    script:
        "../scripts/braintuning_targets.py"


rule braintuning_train:
    """Brain-tune one family on one subject (braintuned, braintuned_n<K>, random, bigslm, lmtuned_*)."""
    input:
        unpack(_bt_train_inputs),
    output:
        model=directory("results/braintuning/{family}/{variant}/{subject}/model"),
        training="results/braintuning/{family}/{variant}/{subject}/training.json",
        curve="results/braintuning/{family}/{variant}/{subject}/curve.tsv",
        png="results/braintuning/{family}/{variant}/{subject}/curve.png",
    wildcard_constraints:
        variant=r"braintuned|braintuned_n\d+|random|bigslm|lmtuned_[A-Za-z0-9]+",
        subject=r"UTS0[1-9]",
    params:
        config=_bt_params,
        train=_bt_train_stories,
        val=lambda w: _bt_stories(w.subject, "braintuning_val"),
        device=BT_DEVICE,
    log:
        "logs/braintuning_train/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/braintuning_train/{family}/{variant}/{subject}.tsv"
    threads: 1 if BT_DEVICE == "cpu" else 4
    resources:
        gpu=_bt_gpu(),
        mem_mb=lambda w: _bt_resources(w)["mem_mb"],
        runtime=lambda w: _bt_resources(w)["runtime"],
    script:
        "../scripts/braintuning_train.py"


rule braintuning_stimulus:
    """Stimulus-tuned wav2vec2 (paper D.2): one checkpoint shared by every subject."""
    input:
        audio=[btplan.audio_path(s) for s in config["stories"]["braintuning_train"]],
    output:
        model=directory("results/braintuning/{family}/stimulus/shared/model"),
        training="results/braintuning/{family}/stimulus/shared/training.json",
        curve="results/braintuning/{family}/stimulus/shared/curve.tsv",
        png="results/braintuning/{family}/stimulus/shared/curve.png",
    params:
        config=lambda w: {
            "seed": config["seed"],
            "braintuning": {"stimulus": BT["stimulus"]},
            "models": {w.family: btplan.training_family_config(config["models"][w.family])},
        },
        stories=config["stories"]["braintuning_train"],
        device=BT_DEVICE,
    log:
        "logs/braintuning_stimulus/{family}.log",
    benchmark:
        "benchmarks/braintuning_stimulus/{family}.tsv"
    threads: 1 if BT_DEVICE == "cpu" else 4
    resources:
        gpu=_bt_gpu(),
        mem_mb=8000,
        runtime=lambda w: 10 if BT_DEVICE == "cpu" else max(30, 2 * int(BT["stimulus"]["epochs"])),
    script:
        "../scripts/braintuning_stimulus.py"


def braintuning_targets():
    """Final outputs of this stage that `rule all` requests: every trained checkpoint of the config's
    families x variants x subjects (stimulus: one per family, owner `shared`)."""
    out = []
    for family, specs in BT_VARIANTS.items():
        for spec in specs:
            owners = ["shared"] if spec.shared else SUBJECTS
            for who in owners:
                base = btplan.run_dir(family, spec.name, who)
                out += [f"{base}/model", f"{base}/training.json", f"{base}/curve.tsv", f"{base}/curve.png"]
    return out
