"""The rehearsal: the paper protocol's code paths, run end to end offline on miniature fixtures.

A paper run downloads ds003020 from OpenNeuro, the Glasser atlas, checkpoints from the Hugging Face hub
and the downstream corpora; the rehearsal builds small stand-ins of each, in the real formats and
layouts, and serves them from a loopback HTTP server so that the real download, verification and
analysis code runs on them unchanged. :mod:`.dataset` exports the demo's generated miniature as a
ds003020 tree (S3-style export, git-annex repository, pycortex databases, FreeSurfer spheres) plus a
synthetic Glasser atlas; :mod:`.hub` fills a Hugging Face cache with tiny models under the paper's hub
ids; :mod:`.corpora` writes the downstream corpora in their distribution formats; :mod:`.server` is
the loopback server and :mod:`.__main__` the runner (``python -m braintune.rehearsal``) that builds the
fixtures, writes the configuration overrides that point the pipeline at them and runs Snakemake.
"""
