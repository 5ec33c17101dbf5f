"""Rule features_descriptors: speech descriptors (power spectrum, di/triphones, articulation) of every story."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.features.descriptors import DescriptorSettings, run_descriptors_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
stories = list(smk.params.stories)
run_descriptors_job(
    DescriptorSettings.from_params(smk.params.settings),
    wav_paths=dict(zip(stories, smk.input.wav)),
    textgrid_paths=dict(zip(stories, smk.input.textgrid)),
    respdict_path=smk.input.respdict,
    out_paths=dict(zip(stories, smk.output.features)),
    inventory_path=smk.output.inventory,
)
