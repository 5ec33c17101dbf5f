"""Rule download_atlas: the Glasser HCP-MMP1 annotation and the fsaverage spheres (configured URLs)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.download import FetchOptions, fetch_urls
from braintune.utils import start_job

start_job(snakemake.log[0])
fetch_urls(
    dict(zip(snakemake.params.urls, snakemake.output)),
    FetchOptions.from_config(snakemake.params.download),
    md5=dict(snakemake.params.md5),
)
