"""Snakemake script of rules `design_<family>` and `design_lowlevel` (no torch import)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.features.design import run_lowlevel_design_job, run_model_design_job
from braintune.responses import load_respdict
from braintune.utils import start_job

start_job(snakemake.log[0])
p = snakemake.params
respdict = load_respdict(Path(snakemake.input.respdict).parents[1])
common = dict(respdict=respdict, timing=p.timing, train_stories=p.train_stories, test_story=p.test_story, delays=p.delays)
features = dict(zip(p.stories, snakemake.input.features))
if snakemake.rule == "design_lowlevel":
    run_lowlevel_design_job(features, dict(zip(p.names, snakemake.output)), **common)
else:
    wc = snakemake.wildcards
    run_model_design_job(
        features,
        dict(zip(p.layers, snakemake.output)),
        lanczos_window=p.lanczos["lanczos_window"],
        lanczos_cutoff_mult=p.lanczos["lanczos_cutoff_mult"],
        attrs={"family": p.family, "variant": wc.variant, "owner": wc.owner},
        **common,
    )
