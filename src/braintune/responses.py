"""Preprocessed fMRI responses of ds003020 (``derivative/preprocessed_data/{subject}/{story}.hf5``).

Files store float64; we read float32 (half the memory; the ridge runs in float32). NaNs are counted,
logged and set to zero, as the reference does with ``nan_to_num``. Files are read one story at a time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np

log = logging.getLogger(__name__)


def response_path(root: str | os.PathLike, subject: str, story: str) -> Path:
    return Path(root) / "derivative" / "preprocessed_data" / subject / f"{story}.hf5"


def respdict_path(root: str | os.PathLike) -> Path:
    return Path(root) / "derivative" / "respdict.json"


def load_respdict(root: str | os.PathLike) -> dict[str, int]:
    """``{story: n_TRs}`` from ``derivative/respdict.json``."""
    path = respdict_path(root)
    if not path.exists():
        raise FileNotFoundError(f"{path}: respdict.json missing")
    with open(path) as handle:
        respdict = json.load(handle)
    if not isinstance(respdict, dict) or not all(isinstance(v, int) for v in respdict.values()):
        raise ValueError(f"{path}: expected a JSON object of story -> integer TR count")
    return respdict


def _read(path: Path, dataset: str, columns: np.ndarray | slice | None = None) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"{path}: response file missing (a git-annex link without content?)")
    try:
        with h5py.File(path, "r") as handle:
            if dataset not in handle:
                raise KeyError(f"{path}: no dataset '{dataset}' (found {sorted(handle.keys())})")
            data = handle[dataset]
            if columns is None:
                out = data[...].astype(np.float32)
            else:
                # a slice reads one hyperslab (fast); an index array reads those columns
                index = columns if isinstance(columns, slice) else np.asarray(columns)
                out = data[..., index].astype(np.float32)
    except OSError as err:
        raise OSError(f"{path}: unreadable or truncated HDF5 file ({err})") from err
    n_nan = int(np.isnan(out).sum())
    if n_nan:
        log.warning("%s[%s]: %d NaN values set to 0", path, dataset, n_nan)
        np.nan_to_num(out, copy=False)
    return out


def read_responses(path: str | os.PathLike, columns: np.ndarray | None = None) -> np.ndarray:
    """The ``data`` dataset as float32 (T, V), optionally only ``columns`` (voxels)."""
    return _read(Path(path), "data", columns)


def read_repeats(path: str | os.PathLike, columns: np.ndarray | None = None) -> np.ndarray:
    """The test story's ``individual_repeats`` as float32 (R, T, V)."""
    return _read(Path(path), "individual_repeats", columns)


def n_voxels(path: str | os.PathLike) -> int:
    """Number of voxels (columns) of a response file, without reading it."""
    with h5py.File(path, "r") as handle:
        return int(handle["data"].shape[1])
