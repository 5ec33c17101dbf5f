"""Download one public downstream corpus, verified against the config manifest."""
from braintune.downstream.download import DOWNLOADERS
from pathlib import Path
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
DOWNLOADERS[snakemake.params.corpus](snakemake.params.cfg, Path(snakemake.output[0]).parent)
