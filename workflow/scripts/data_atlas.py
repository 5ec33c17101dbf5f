"""Rule data_atlas: the Glasser HCP-MMP1 annotation and the fsaverage spheres (configured URLs)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.download import FetchOptions, fetch_urls
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
# network settings change no result (every file is verified): read from the config, not params
fetch_urls(dict(zip(smk.params.urls, smk.output)), FetchOptions.from_config(smk.config["data"]["download"]), md5=dict(smk.params.md5))
