"""Rule download_atlas: the Glasser HCP-MMP1 annotation and the fsaverage spheres (configured URLs)."""

from braintune.data.download import FetchOptions, fetch_urls
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
fetch_urls(
    dict(zip(snakemake.params.urls, snakemake.output)),
    FetchOptions.from_config(snakemake.params.download),
    md5=dict(snakemake.params.md5),
)
