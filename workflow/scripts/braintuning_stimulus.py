"""Rule braintuning_stimulus: self-supervised stimulus-tuning of a wav2vec2 family; see braintune.braintuning.stimulus."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.braintuning.run import run_stimulus
from braintune.utils import start_job

start_job(snakemake.log[0])
run_stimulus(
    snakemake.params.config,
    family=snakemake.wildcards.family,
    stories=list(snakemake.params.stories),
    out_dir=Path(snakemake.output.training).parent,
    device=snakemake.params.device,
)
