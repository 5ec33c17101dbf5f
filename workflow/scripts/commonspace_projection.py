"""Rule commonspace_projection: one participant's projection to the shared space -> projection.h5."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.commonspace.run import CommonSpaceSettings, projection_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
inp = smk.input
surface = {}
if "pycortex" in inp.keys():
    surface = {
        "pycortex_subject_dir": inp.pycortex,
        "fsaverage_sphere": {h: inp[f"fsaverage_{h}"] for h in ("lh", "rh")},
        "subject_sphere": {h: inp[f"sphere_{h}"] for h in ("lh", "rh")},
    }
projection_job(
    CommonSpaceSettings.from_params(smk.params.settings),
    smk.wildcards.subject,
    inp.space,
    inp.test,
    smk.output[0],
    **surface,
)
