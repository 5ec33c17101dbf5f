"""Corpus indices, TIMIT MFCC/FBANK targets and majority baselines (braintune.downstream.run.build_index)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
config = {"downstream": snakemake.params.downstream, "seed": snakemake.params.seed}
run.build_index(config, Path(snakemake.output.targets).parent, snakemake.output.targets, snakemake.output.baselines)
