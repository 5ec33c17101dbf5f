"""Reader of the downstream stage's table of participant means (``means.tsv``, written by
:func:`braintune.downstream.run.collect`); kept apart from :mod:`braintune.downstream.run` so that the
figures read it without importing torch."""

from __future__ import annotations

import os

import pandas as pd

from braintune.utils import read_tsv

#: Columns of ``means.tsv``.
MEANS_COLUMNS = ("family", "variant", "task", "metric", "mean", "se", "n", "baseline", "gain", "gain_se",
                 "n_parameters", "train_stories")


def read_means(path: str | os.PathLike) -> pd.DataFrame:
    """The participant means (``means.tsv``): mean +- SE, gain over the majority baseline, per model and task."""
    return read_tsv(path, MEANS_COLUMNS)
