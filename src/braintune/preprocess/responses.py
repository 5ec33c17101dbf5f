"""Preprocessed fMRI responses of ds003020 (``derivative/preprocessed_data/{subject}/{story}.hf5``) and
the TR counts (``derivative/respdict.json``): the readers, which fail naming the file.

Files store float64; we read float32 (half the memory; the ridge runs in float32). NaNs are counted,
logged and set to zero, as the reference does with ``nan_to_num``. Files are read one story at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np

from braintune.data import layout

log = logging.getLogger(__name__)


def response_path(root: str | os.PathLike, subject: str, story: str) -> Path:
    """A subject's response file to one story under the dataset root (:func:`braintune.data.layout.response_path`)."""
    return Path(root) / layout.response_path(subject, story)


def respdict_path(root: str | os.PathLike) -> Path:
    return Path(root) / layout.RESPDICT


def read_respdict(path: str | os.PathLike) -> dict[str, int]:
    """``{story: n_TRs}`` from a ``respdict.json`` file.

    Raises:
        FileNotFoundError, ValueError: naming the file (and the story) when it is missing, not JSON,
            not an object, or a count is not a positive integer (booleans and floats are rejected).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: respdict.json missing")
    try:
        respdict = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); expected an object of story -> integer TR count") from err
    if not isinstance(respdict, dict):
        raise ValueError(f"{path}: expected a JSON object of story -> integer TR count, got {type(respdict).__name__}")
    for story, count in respdict.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{path}: key '{story}': TR count {count!r} is not a positive integer")
    return respdict


def load_respdict(root: str | os.PathLike) -> dict[str, int]:
    """``{story: n_TRs}`` from ``derivative/respdict.json`` under the dataset root (:func:`read_respdict`)."""
    return read_respdict(respdict_path(root))


@contextlib.contextmanager
def _dataset(path: str | os.PathLike, name: str, hint: str = ""):
    """Dataset ``name`` of a response file, open for reading. Errors name the file: missing (a git-annex
    link without content?), not readable HDF5 (truncated or garbage), or no such dataset."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: response file missing (a git-annex link without content?)")
    try:
        with h5py.File(path, "r") as handle:
            if name not in handle:
                raise KeyError(f"{path}: no dataset '{name}'{hint} (found {sorted(handle.keys())})")
            yield handle[name]
    except OSError as err:
        raise OSError(f"{path}: unreadable or truncated HDF5 file ({err})") from err


def _read(path: Path, dataset: str, columns: np.ndarray | slice | None = None) -> np.ndarray:
    with _dataset(path, dataset) as data:
        if columns is None:
            out = data[...].astype(np.float32)
        else:
            # a slice reads one hyperslab (fast); an index array reads those columns
            index = columns if isinstance(columns, slice) else np.asarray(columns)
            out = data[..., index].astype(np.float32)
    if np.isinf(out).any():
        raise ValueError(f"{path}: dataset '{dataset}' holds {int(np.isinf(out).sum())} infinite values; expected finite responses")
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


def _shape(path: str | os.PathLike, name: str, axes: str, hint: str = "") -> tuple[int, ...]:
    """Shape of dataset ``name`` of a response file, without reading it; ``axes`` names the expected
    axes, e.g. ``"rows, voxels"``. Errors name the file: missing, not readable HDF5 (truncated or
    garbage), no such dataset, or another number of axes."""
    with _dataset(path, name, hint) as data:
        shape = data.shape
    if len(shape) != len(axes.split(",")):
        raise ValueError(f"{path}: dataset '{name}' has shape {shape}; expected ({axes})")
    return tuple(int(n) for n in shape)


def n_voxels(path: str | os.PathLike) -> int:
    """Number of voxels (columns) of a response file's ``data``, without reading it.

    Raises:
        OSError, KeyError, ValueError: naming the file when it is not readable HDF5, has no ``data``
            dataset, or ``data`` is not a 2-d (rows, voxels) array.
    """
    return _shape(path, "data", "rows, voxels")[1]


def repeats_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """(R, T, V) of a test-story hf5's ``individual_repeats``, failing with the file's name."""
    return _shape(path, "individual_repeats", "R, T, V", " (the test story must hold its repeats)")
