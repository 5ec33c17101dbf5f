"""Shared pytest setup: offline, single-threaded, caches inside the repository.

Also provides ``tiny_dataset``: a very small generated ds003020 miniature (session-scoped) that
every stage's tests can read with the real readers.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

from braintune.utils import set_cache_dirs  # noqa: E402

set_cache_dirs(REPO / "tmp" / ".cache")
