"""Rules data_download_<job>: fetch one group of planned dataset files (verified) from the S3 export."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.download import FetchOptions, download_files
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
# network settings change no result (every file is verified): read from the config, not params
download_files(list(smk.output), smk.input.manifest, tuple(smk.params.exclude), FetchOptions.from_config(smk.config["data"]["download"]))
