"""Corpus indices, TIMIT MFCC/FBANK targets and majority baselines (braintune.downstream.run.build_index)."""
from pathlib import Path

from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
config = {"downstream": snakemake.params.downstream, "seed": snakemake.params.seed}
run.build_index(config, Path(snakemake.output.targets).parent, snakemake.output.targets, snakemake.output.baselines)
