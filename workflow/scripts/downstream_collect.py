"""All downstream scores in one long table and the layer-averaged summary."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
run.collect(snakemake.input.probes, snakemake.input.asr, snakemake.output.scores, snakemake.output.summary)
