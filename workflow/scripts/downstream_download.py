"""Download one public downstream corpus, verified against the config manifest."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.downstream.download import DOWNLOADERS
from braintune.utils import start_job

start_job(snakemake.log[0])
DOWNLOADERS[snakemake.params.corpus](snakemake.params.download, Path(snakemake.output[0]).parent)
