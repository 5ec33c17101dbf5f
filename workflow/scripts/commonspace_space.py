"""Rule commonspace_space: the shared space of the multi-participant brain-tuning -> space.h5."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.commonspace.run import CommonSpaceSettings, space_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
inp = smk.input
space_job(
    CommonSpaceSettings.from_params(smk.params.settings),
    smk.output[0],
    annot={h: inp[f"annot_{h}"] for h in ("lh", "rh")} if "annot_lh" in inp.keys() else None,
    ground_truth=inp.get("ground_truth"),
    # where the demo generator copied pycortex's S1 (its ground truth is the input that stands for it)
    pycortex_filestore=smk.config["data"]["demo"]["pycortex_filestore"] if "ground_truth" in inp.keys() else None,
)
