"""Rule download_manifest: the dataset's git tree at download.tag -> manifest TSV (path, size, md5)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.manifest import build_manifest, write_manifest
from braintune.utils import start_job

start_job(snakemake.log[0])
repo, tag = snakemake.params.repo, snakemake.params.tag
entries = build_manifest(repo, tag)
write_manifest(snakemake.output[0], entries, source=f"{repo} {tag}")
