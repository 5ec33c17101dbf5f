"""Snakemake script of rule `lowlevel_features`: low-level speech features of every story."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.features.lowlevel import run_lowlevel_job
from braintune.responses import load_respdict
from braintune.utils import start_job

start_job(snakemake.log[0])
p = snakemake.params
run_lowlevel_job(
    wav_paths=dict(zip(p.stories, snakemake.input.wav)),
    textgrid_paths=dict(zip(p.stories, snakemake.input.textgrid)),
    out_paths=dict(zip(p.stories, snakemake.output.features)),
    inventory_path=snakemake.output.inventory,
    respdict=load_respdict(Path(snakemake.input.respdict).parents[1]),
    timing=p.timing,
    cfg=p.lowlevel,
    lanczos_cutoff_mult=p.lanczos["lanczos_cutoff_mult"],
    lanczos_window=p.lanczos["lanczos_window"],
)
