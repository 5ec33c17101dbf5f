"""Rule figures_flatmaps: pycortex flatmaps (figs 2c, 3c, 13, 14, 15) of the per-voxel results."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.figures.jobs import make_flatmap_figures
from braintune.utils import set_cache_dirs, start_job

snakemake = globals()["snakemake"]
set_cache_dirs(".cache")
start_job(snakemake.log[0])
files = snakemake.params.files
make_flatmap_figures(
    files=files,
    targets=snakemake.params.pycortex,
    outputs=snakemake.params.paths,
    figures=snakemake.params.figures,
    family=snakemake.params.family,
    nc_threshold=snakemake.params.nc_threshold,
)
