"""Figures 4, 9, 10, 11 and 12 (braintune.figures.downstream) from the downstream participant means."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.downstream.tables import read_means
from braintune.figures import downstream
from braintune.utils import start_job

start_job(snakemake.log[0])
settings = downstream.DownstreamFigureSettings(**snakemake.params.settings)
out = {name: {ext: Path(snakemake.output[f"{name}_{ext}"]) for ext in ("pdf", "png")} for name in downstream.FIGURES}
downstream.downstream_figures(read_means(snakemake.input.means), settings, out)
