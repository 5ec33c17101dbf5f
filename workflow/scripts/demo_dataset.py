"""Snakemake script of rule demo_dataset: generate the ds003020 miniature (braintune.data.demo)."""

import json

from braintune.data.demo import generate
from braintune.utils import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821 (snakemake injects it)
params = snakemake.params  # noqa: F821
config = {
    "demo": dict(params.demo),
    "timing": dict(params.timing),
    "stories": dict(params.stories),
    "dataset": {"root": params.root, "subjects": list(params.subjects)},
}
summary = generate(config, ground_truth_path=snakemake.output.ground_truth)  # noqa: F821
log.info("summary: %s", json.dumps(summary))
