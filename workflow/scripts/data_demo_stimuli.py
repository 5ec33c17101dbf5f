"""Rule data_demo_stimuli: stories, WAVs, TextGrids and respdict of the miniature."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.data.demo import generate_stimuli
from braintune.data.demo_settings import StimulusSettings
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
root = Path(smk.output.respdict[0]).parents[1]  # the dataset root: respdict.json is derivative/respdict.json
generate_stimuli(StimulusSettings.from_params(smk.params.settings), root, smk.output.metadata)
