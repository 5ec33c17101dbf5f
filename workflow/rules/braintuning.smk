# Stage: braintuning (see docs/artifacts.md). Brain-tuning (docs/decisions.md 4, 5) and the comparison
# models (paper 3.3.1, D.2): one job per (family, variant, subject), one per stimulus-tuned family
# (owner `shared`), one per precomputed target set (BigSLM, text LMs) covering every brain-tuning story, one
# multi-participant checkpoint per family listing multibraintuned (owner: the group of training participants).
# Paths, settings and input functions: workflow/rules/functions/braintuning.smk.
# Library: braintune.braintuning (tests/test_braintuning*.py).


rule braintuning_targets:
    """BigSLM / text-LM targets of every brain-tuning story (subject independent)."""
    input:
        audio=[preprocess_audio_path(s) for s in BT_STORIES],
        textgrids=[data_textgrid_path(s) for s in BT_STORIES],
        respdict=data_respdict_path(),
    output:
        targets=[braintuning_targets_path("{variant}", s) for s in BT_STORIES],
        info=braintuning_targets_info_path("{variant}"),
    wildcard_constraints:
        variant=r"bigslm|lmtuned_[A-Za-z0-9]+",
    params:
        stories=BT_STORIES,
        settings=lambda w: braintuning_target_settings(w.variant).params(),
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
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/braintuning_targets.py"


rule braintuning_train:
    """Brain-tune one family on one subject (braintuned, braintuned_n<K>, random, bigslm, lmtuned_*)."""
    input:
        unpack(_bt_train_inputs),
    output:
        **_run_outputs("{family}", "{variant}", "{subject}"),
    wildcard_constraints:
        variant=r"braintuned|braintuned_n\d+|random|bigslm|lmtuned_[A-Za-z0-9]+",
        subject=r"UTS0[1-9]",
    params:
        settings=lambda w: braintuning_train_settings(w.family, w.variant).params(),
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
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/braintuning_train.py"


rule braintuning_stimulus:
    """Stimulus-tuned wav2vec2 (paper D.2): one checkpoint shared by every subject."""
    input:
        audio=[preprocess_audio_path(s) for s in config["stories"]["braintuning_train"]],
    output:
        **_run_outputs("{family}", "stimulus", "shared"),
    params:
        settings=lambda w: braintuning_stimulus_settings(w.family).params(),
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
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/braintuning_stimulus.py"


rule braintuning_multi:
    """Brain-tune one family jointly on braintuning.multi.train_subjects (multibraintuned: LoRA, common space);
    the one checkpoint (owner: the group) serves every subject, seen or new."""
    input:
        unpack(_multi_inputs),
    output:
        **_multi_outputs("{family}"),
    params:
        settings=lambda w: braintuning_multi_settings(w.family).params(),
        train={s: _multi_stories(s, "train") for s in BT_MULTI["train_subjects"]},
        val={s: _multi_stories(s, "val") for s in BT_MULTI["train_subjects"]},
        device=BT_DEVICE,
    log:
        f"logs/braintuning_multi/{{family}}/{MULTI_GROUP}.log",
    benchmark:
        f"benchmarks/braintuning_multi/{{family}}/{MULTI_GROUP}.tsv"
    threads: 1 if BT_DEVICE == "cpu" else 4
    resources:
        gpu=_bt_gpu(),
        mem_mb=8000,
        runtime=lambda w: 10 if BT_DEVICE == "cpu" else max(30, 2 * int(BT_MULTI["epochs"])),
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/braintuning_multi.py"
