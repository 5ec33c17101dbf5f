"""CTC fine-tuning of one (family, variant, owner) on TIMIT; 1 - WER on the test split."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
w = snakemake.wildcards
config = {"downstream": {"asr": snakemake.params.asr}, "seed": snakemake.params.seed, "compute": snakemake.params.compute,
          "models": {w.family: snakemake.params.model}}
run.asr_variant(config, w.family, w.variant, w.owner, snakemake.input.get("checkpoint") or None,
                snakemake.input.timit, snakemake.output.scores, snakemake.output.curve)
