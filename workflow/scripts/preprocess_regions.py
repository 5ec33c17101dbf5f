"""Rule preprocess_regions: region masks of one subject (Glasser, pycortex overlays or the demo's planted regions)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preprocess.regions import RegionSettings, regions_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
inp = smk.input
inputs = {"ground_truth": inp.get("ground_truth"), "pycortex_subject_dir": inp.get("pycortex")}
if "annot_lh" in inp.keys():
    inputs["annot"] = {h: inp[f"annot_{h}"] for h in ("lh", "rh")}
    inputs["fsaverage_sphere"] = {h: inp[f"fsaverage_{h}"] for h in ("lh", "rh")}
    inputs["subject_sphere"] = {h: inp[f"sphere_{h}"] for h in ("lh", "rh")}
regions_job(RegionSettings(**smk.params.settings), smk.wildcards.subject, inp.test, smk.output.h5, smk.output.table, **inputs)
