"""Rule preprocess_noise_ceiling: cc_max of the test story's repeats (or a published override) -> noise_ceiling.h5."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preprocess.noise_ceiling import NoiseCeilingSettings, noise_ceiling_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
noise_ceiling_job(
    NoiseCeilingSettings(**smk.params.settings),
    smk.input.test,
    smk.output[0],
    override=smk.input.get("override"),
    chunk_voxels=int(smk.config["preprocess"]["chunk_voxels"]),  # memory only: not a param
)
