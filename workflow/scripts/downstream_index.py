"""Corpus indices, TIMIT MFCC/FBANK targets and majority baselines (braintune.downstream.run.build_index)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
settings = run.IndexSettings(**snakemake.params.settings)
run.build_index(settings, run.corpus_paths(list(settings.corpora), snakemake.output.index), snakemake.output.targets,
                snakemake.output.baselines)
