"""Rule noise_ceiling: cc_max of the test story's repeats (or a published override) -> noise_ceiling.h5."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.noise_ceiling import write_noise_ceiling
from braintune.utils import start_job

start_job(snakemake.log[0])
p = snakemake.params
write_noise_ceiling(
    snakemake.input.test,
    snakemake.output[0],
    threshold=float(p.threshold),
    nc_rows=p.nc_rows,
    test_trim=int(p.test_trim),
    data_norm=bool(p.data_norm),
    override=snakemake.input.get("override"),
    chunk_voxels=int(p.chunk_voxels),
)
