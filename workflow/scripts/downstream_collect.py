"""All downstream scores in one long table and the layer-averaged summary."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
run.collect(snakemake.input.probes, snakemake.input.asr, snakemake.output.scores, snakemake.output.summary)
