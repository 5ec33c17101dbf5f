"""Snakemake script of rule demo_stimuli: stories, WAVs, TextGrids and respdict of the miniature."""

from braintune.data.demo import generate_stimuli
from braintune.data.demo_layout import config_from_params
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821 (snakemake injects it)
generate_stimuli(config_from_params(snakemake.params), metadata_path=snakemake.output.metadata)  # noqa: F821
