"""Figure 8: semantic-phonetic preference per layer (braintune.figures.preference)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.figures import preference
from braintune.preference.tables import read_means
from braintune.utils import start_job

start_job(snakemake.log[0])
preference.fig8(read_means(snakemake.input.means), Path(snakemake.output.fig8_pdf),
                Path(snakemake.output.fig8_png))
