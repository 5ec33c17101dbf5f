"""Snakemake script of rule demo_stimuli: stories, WAVs, TextGrids and respdict of the miniature."""

from braintune.data.demo import generate_stimuli
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821 (snakemake injects it)
params = snakemake.params  # noqa: F821
config = {
    "demo": dict(params.demo),
    "timing": dict(params.timing),
    "stories": dict(params.stories),
    "dataset": {"root": params.root},
}
generate_stimuli(config, metadata_path=snakemake.output.metadata)  # noqa: F821
