"""Rule download_manifest: the dataset's git tree at download.tag -> manifest TSV (path, size, md5)."""

from braintune.data.manifest import build_manifest, write_manifest
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
repo, tag = snakemake.params.repo, snakemake.params.tag
entries = build_manifest(repo, tag)
write_manifest(snakemake.output[0], entries, source=f"{repo} {tag}")
