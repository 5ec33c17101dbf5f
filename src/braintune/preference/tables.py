"""Reader of the preference stage's table of participant means (``means.tsv``, written by
:func:`braintune.preference.run.preference_table`); kept apart from :mod:`braintune.preference.run` so
that the figures read it without importing torch."""

from __future__ import annotations

import os

import pandas as pd

from braintune.utils import read_tsv

#: Columns of ``means.tsv``.
MEANS_COLUMNS = ("family", "variant", "layer", "mean", "se", "n")


def read_means(path: str | os.PathLike) -> pd.DataFrame:
    """d per family x variant x layer: mean and SE across participants (``means.tsv``)."""
    return read_tsv(path, MEANS_COLUMNS)
