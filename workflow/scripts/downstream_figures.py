"""Figures 4, 9, 10, 11 and 12 (braintune.downstream.figures)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

import pandas as pd

from braintune.downstream import figures
from braintune.utils import start_job

start_job(snakemake.log[0])
summary = pd.read_csv(snakemake.input.summary, sep="\t")
baselines = pd.read_csv(snakemake.input.baselines, sep="\t")
out = {k: Path(v) for k, v in snakemake.output.items()}
figures.downstream_figures(summary, baselines, snakemake.params.figures, snakemake.params.families,
                           snakemake.params.n_train_stories, out)
