"""CTC fine-tuning of one (family, variant, owner) on TIMIT; 1 - WER on the test split."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
w = snakemake.wildcards
config = {"downstream": {"asr": snakemake.params.asr}, "seed": snakemake.params.seed, "compute": snakemake.params.compute,
          "models": {w.family: snakemake.params.model}}
run.asr_variant(config, w.family, w.variant, w.owner, snakemake.input.get("checkpoint") or None,
                snakemake.input.timit, snakemake.output.scores, snakemake.output.curve)
