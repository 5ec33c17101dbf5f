"""Figure 8: semantic-phonetic preference per layer."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

import pandas as pd

from braintune.downstream import figures
from braintune.utils import start_job

start_job(snakemake.log[0])
figures.fig8(pd.read_csv(snakemake.input[0], sep="\t"), Path(snakemake.output.pdf), Path(snakemake.output.png))
