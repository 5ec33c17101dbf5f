"""Rule regions: region masks of one subject (Glasser, pycortex overlays or the demo's planted regions)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.regions import subject_regions, write_region_table, write_regions
from braintune.responses import n_voxels
from braintune.utils import start_job

start_job(snakemake.log[0])
inp = snakemake.input
config = dict(snakemake.config)
subject = snakemake.wildcards.subject
inputs = {"ground_truth": inp.get("ground_truth")}
if "annot_lh" in inp.keys():
    inputs["annot"] = {h: inp[f"annot_{h}"] for h in ("lh", "rh")}
    inputs["fsaverage_sphere"] = {h: inp[f"fsaverage_{h}"] for h in ("lh", "rh")}
    inputs["subject_sphere"] = {h: inp[f"sphere_{h}"] for h in ("lh", "rh")}
masks, parcels, attrs = subject_regions(config, subject, n_voxels(inp.test), inputs)
write_regions(snakemake.output.h5, masks, n_voxels(inp.test), attrs)
write_region_table(snakemake.output.table, masks, parcels)
