"""All downstream scores in one long table, the layer-averaged summary and the participant means."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
run.collect(run.CollectSettings(**snakemake.params.settings), snakemake.input.probes, snakemake.input.asr,
            snakemake.input.baselines, snakemake.output.scores, snakemake.output.summary, snakemake.output.means)
