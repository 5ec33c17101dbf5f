"""Snakemake script of rule demo_responses: every subject's responses and the ground truth."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.demo import generate_responses
from braintune.data.demo_layout import config_from_params
from braintune.utils import start_job

start_job(snakemake.log[0])  # noqa: F821 (snakemake injects it)
generate_responses(
    config_from_params(snakemake.params),  # noqa: F821
    ground_truth_path=snakemake.output.ground_truth,  # noqa: F821
    metadata_path=snakemake.input.metadata,  # noqa: F821
)
