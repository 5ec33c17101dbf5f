"""Rule data_manifest: the dataset's git tree at data.download.tag -> manifest TSV (path, size, md5)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.data.manifest import build_manifest, write_manifest
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
repo, tag = smk.params.repo, smk.params.tag
write_manifest(smk.output[0], build_manifest(repo, tag), source=f"{repo} {tag}")
