"""Download rules: fetch one group of planned dataset files (verified) from the S3 export."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
import logging
from pathlib import Path

from braintune.data.download import FetchOptions, fetch, resolve
from braintune.data.manifest import read_manifest
from braintune.utils import start_job

start_job(snakemake.log[0])
params = snakemake.params
download = params.download
entries = resolve(list(params.paths), read_manifest(snakemake.input.manifest), tuple(download.get("exclude", ())))
logging.getLogger("braintune.download").info(
    "%d files, %.3f GB from %s", len(entries), sum(e.size for e in entries) / 1e9, download["base_url"]
)
fetch(entries, params.root, FetchOptions.from_config(download), staging=Path(params.root) / ".staging")
