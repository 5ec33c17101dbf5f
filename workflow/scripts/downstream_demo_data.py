"""Write the demo stand-ins of the downstream corpora and of the preference word corpus."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
run.demo_corpora(run.DemoSettings(**snakemake.params.settings), Path(snakemake.output[0]).parent)
