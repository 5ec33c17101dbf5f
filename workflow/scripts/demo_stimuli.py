"""Snakemake script of rule demo_stimuli: stories, WAVs, TextGrids and respdict of the miniature."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.demo import generate_stimuli
from braintune.data.demo_layout import config_from_params
from braintune.utils import start_job

start_job(snakemake.log[0])  # noqa: F821 (snakemake injects it)
generate_stimuli(config_from_params(snakemake.params), metadata_path=snakemake.output.metadata)  # noqa: F821
