"""Figure 8: semantic-phonetic preference per layer."""
from pathlib import Path

import pandas as pd

from braintune.downstream import figures
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
figures.fig8(pd.read_csv(snakemake.input[0], sep="\t"), Path(snakemake.output.pdf), Path(snakemake.output.png))
