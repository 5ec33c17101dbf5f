"""CTC fine-tuning of one (family, variant, owner) on TIMIT; 1 - WER on the test split."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
run.asr_variant(run.AsrSettings(**snakemake.params.settings), snakemake.input.timit, snakemake.input.get("checkpoint"),
                snakemake.output.scores, snakemake.output.curve, dict(snakemake.wildcards.items()))
