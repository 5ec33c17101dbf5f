"""Rule data_demo_responses: every subject's responses and the ground truth."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.data.demo import generate_responses
from braintune.data.demo_settings import ResponseSettings
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
generate_responses(
    ResponseSettings.from_params(smk.params.settings),
    root=Path(smk.input.respdict[0]).parents[1],  # the dataset root: respdict.json is derivative/respdict.json
    ground_truth_path=smk.output.ground_truth,
    metadata_path=smk.input.metadata,
    pycortex_filestore=smk.config["data"]["demo"]["pycortex_filestore"],
)
