"""Rule braintuning_train: brain-tune one (family, variant, subject); see braintune.braintuning.run."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.braintuning.run import run_braintuning
from braintune.utils import start_job

start_job(snakemake.log[0])
cfg = snakemake.params.config
run_braintuning(
    cfg,
    family=snakemake.wildcards.family,
    variant=snakemake.wildcards.variant,
    subject=snakemake.wildcards.subject,
    train_stories=list(snakemake.params.train),
    val_stories=list(snakemake.params.val),
    out_dir=Path(snakemake.output.training).parent,
    device=snakemake.params.device,
)
