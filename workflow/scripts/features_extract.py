"""Rule features_extract: causal sliding-window features of every story for one checkpoint."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.features.windows import WindowSettings, run_feature_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
# Inference only: nothing stochastic (random initialisations are seeded by models.<family>.init_seed).
wc = smk.wildcards
stories = smk.params.stories
run_feature_job(
    family_cfg=smk.params.family,
    settings=WindowSettings(**smk.params.windows),
    audio_paths=dict(zip(stories, smk.input.audio)),
    out_paths=dict(zip(stories, smk.output)),
    checkpoint_dir=smk.input.get("checkpoint"),
    device=smk.params.device,
    batch_size=int(smk.config["features"]["batch_size"]),  # speed only: not a param
    compile_frontend=smk.config["features"]["compile_frontend"],  # speed only: not a param
    attrs={"family": wc.family, "variant": wc.variant, "owner": wc.owner},
)
