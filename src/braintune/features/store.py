"""Feature files of the features stage (HDF5), readable without torch.

``results/features/{family}/{variant}/{owner}/{story}.h5``: ``times`` float64 (W,) (window ends,
seconds from audio onset), ``layer_{i}`` float32 (W, H), attrs describing the windows and model.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import h5py
import numpy as np

from braintune.utils import atomic_output, open_h5


def write_features(path: str | os.PathLike, times: np.ndarray, layers: Mapping[int, np.ndarray], attrs: Mapping) -> None:
    """One story's feature file, written atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("times", data=np.asarray(times, dtype=np.float64))
        for layer, values in layers.items():
            h5.create_dataset(f"layer_{int(layer)}", data=values.astype(np.float32, copy=False))
        for key, value in attrs.items():
            h5.attrs[key] = value


def read_features(path: str | os.PathLike, layers: Sequence[int] | None = None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``times`` and ``{layer: (W, H)}`` of a feature file."""
    with open_h5(path) as h5:
        available = sorted(int(k.split("_", 1)[1]) for k in h5 if k.startswith("layer_"))
        wanted = available if layers is None else [int(layer) for layer in layers]
        missing = [layer for layer in wanted if layer not in available]
        if missing:
            raise KeyError(f"{path}: no layer_{missing[0]} (has layers {available})")
        return h5["times"][()], {layer: h5[f"layer_{layer}"][()] for layer in wanted}
