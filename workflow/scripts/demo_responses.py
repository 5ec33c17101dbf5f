"""Snakemake script of rule demo_responses: every subject's responses and the ground truth."""

from braintune.data.demo import generate_responses
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821 (snakemake injects it)
params = snakemake.params  # noqa: F821
config = {
    "demo": dict(params.demo),
    "timing": dict(params.timing),
    "stories": dict(params.stories),
    "dataset": {"root": params.root, "subjects": list(params.subjects)},
}
generate_responses(config, ground_truth_path=snakemake.output.ground_truth,  # noqa: F821
                   metadata_path=snakemake.input.metadata)  # noqa: F821
