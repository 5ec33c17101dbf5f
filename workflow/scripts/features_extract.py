"""Snakemake script of rule `features`: causal sliding-window features of every story."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.features.windows import run_feature_job
from braintune.utils import start_job

start_job(snakemake.log[0])
# Inference only: nothing stochastic (random initialisations are seeded by models.<family>.init_seed).
wc = snakemake.wildcards
stories = snakemake.params.stories
features_cfg = {**snakemake.params.windows, "batch_size": snakemake.config["features"]["batch_size"]}
run_feature_job(
    family_cfg=snakemake.params.family,
    features_cfg=features_cfg,
    audio_paths=dict(zip(stories, snakemake.input.audio)),
    out_paths=dict(zip(stories, snakemake.output)),
    checkpoint_dir=snakemake.input.get("checkpoint"),
    device=snakemake.params.device,
    attrs={"family": wc.family, "variant": wc.variant, "owner": wc.owner},
)
