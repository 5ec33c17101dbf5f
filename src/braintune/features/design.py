"""Design matrices of the encoding models: TR-grid features -> trimmed, z-scored, delayed.

Row bookkeeping goes through :class:`braintune.preprocess.timing.TRGrid` only. For one story:

1. features on every TR of the grid (model features: Lanczos-resampled from window times,
   :func:`to_tr_grid`; low-level features are computed on the grid directly);
2. trimmed to the response rows, ``grid.row_slice`` (``[trim_start : n_trs - trim_end]``,
   ``[10:-5]``); the test story additionally drops its first ``test_trim`` rows (features
   ``[50:-5]`` against responses ``[40:]``; docs/decisions.md 6);
3. z-scored per story and column on that segment (population sd; zero-variance columns are only
   centred, NaN set to 0), as the reference; steps 1-4 run in float64 and only the stored matrices
   are float32 (rounding the Lanczos output to float32 first would cost up to ~1e-5 after
   z-scoring on columns whose mean is hundreds of times their sd);
4. FIR-delayed by :func:`make_delayed` **within the story** (zero-padded at its start), then the
   stories are stacked. The reference delays the stacked multi-story matrix, so the first
   ``max(delays)`` rows of each story see the end of the previous story (docs/protocol.md 2); here they
   see zeros, as the test story always did.

HDF5 layout (one file per feature set; docs/artifacts.md): ``X_train`` float32
(N_train, F * len(delays)), ``X_test`` float32 (N_test, F * len(delays)), ``train_story`` int16
(N_train,) indexing attr ``train_stories``, group ``zscored`` with one (rows, F) float32 dataset
per story (response rows, undelayed), ``test_zscored`` (N_test, F) (the test segment, z-scored on
itself, undelayed), attrs ``train_stories``, ``test_story``, ``delays``, ``test_trim``.
Delayed columns are ordered delay-major: ``[X(t - d_1), X(t - d_2), ...]``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np

from braintune.features.lanczos import lanczos_resample
from braintune.features.store import read_features
from braintune.preprocess.responses import read_respdict
from braintune.preprocess.timing import TRGrid
from braintune.utils import ParamsRoundTrip, atomic_output, open_h5

log = logging.getLogger(__name__)


def to_tr_grid(times: np.ndarray, values: np.ndarray, grid: TRGrid, cutoff_mult: float = 1.0, window: int = 3) -> np.ndarray:
    """Lanczos-resample window features (W, F) at ``times`` to every TR of ``grid`` (n_trs, F)."""
    return lanczos_resample(values, times, grid.tr_times, cutoff_hz=cutoff_mult / grid.tr_s, window=window, normalize=True)


def zscore(x: np.ndarray) -> np.ndarray:
    """Column z-score (population sd); zero-variance columns are centred only; NaN -> 0; float64."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    sd = x.std(axis=0, keepdims=True)
    out = np.divide(centred, sd, out=centred.copy(), where=sd > 0)
    return np.nan_to_num(out)


def make_delayed(x: np.ndarray, delays: Sequence[int]) -> np.ndarray:
    """FIR copies of ``x`` (T, F): column block ``i`` holds ``x[t - delays[i]]``, zero outside
    ``0..T-1``. Negative delays shift forward. Apply it to ONE story at a time."""
    x = np.asarray(x)
    n_rows, n_cols = x.shape
    out = np.zeros((n_rows, n_cols * len(delays)), dtype=x.dtype)
    for i, d in enumerate(int(d) for d in delays):
        block = out[:, i * n_cols : (i + 1) * n_cols]
        if d >= 0:
            if d < n_rows:
                block[d:] = x[: n_rows - d]
        elif -d < n_rows:
            block[:d] = x[-d:]
    return out


def story_segment(grid_values: np.ndarray, grid: TRGrid, test_trim: int = 0) -> np.ndarray:
    """Rows of the response segment (plus ``test_trim`` more at the start) of grid features."""
    if grid_values.shape[0] != grid.n_trs:
        raise ValueError(f"features have {grid_values.shape[0]} rows, the TR grid {grid.n_trs}")
    rows = grid_values[grid.row_slice]
    if test_trim:
        if test_trim >= rows.shape[0]:
            raise ValueError(f"timing.test_trim={test_trim} leaves no rows of a {rows.shape[0]}-row story")
        rows = rows[test_trim:]
    return rows


def build_design(
    grid_features: Mapping[str, np.ndarray],
    grids: Mapping[str, TRGrid],
    train_stories: Sequence[str],
    test_story: str,
    delays: Sequence[int],
    test_trim: int,
) -> dict:
    """All arrays of a design file from per-story TR-grid features (dict story -> (n_trs, F)); float64
    (the trims, z-scores and delays run on the Lanczos output in float64; :func:`write_design` stores float32)."""
    missing = [s for s in (*train_stories, test_story) if s not in grid_features]
    if missing:
        raise KeyError(f"design: no features for stories {missing}")
    zscored = {s: zscore(story_segment(x, grids[s])) for s, x in grid_features.items()}
    train_blocks = [make_delayed(zscored[s], delays) for s in train_stories]
    test_z = zscore(story_segment(grid_features[test_story], grids[test_story], test_trim))
    return {
        "X_train": np.concatenate(train_blocks, axis=0),
        "X_test": make_delayed(test_z, delays),
        "train_story": np.concatenate([np.full(len(b), i, dtype=np.int16) for i, b in enumerate(train_blocks)]),
        "zscored": zscored,
        "test_zscored": test_z,
    }


def write_design(path: str | os.PathLike, design: dict, attrs: Mapping, feature_names: Sequence[str] | None = None) -> None:
    """Write :func:`build_design`'s arrays atomically, the matrices as float32."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        for key in ("X_train", "X_test", "test_zscored"):
            h5.create_dataset(key, data=design[key].astype(np.float32))
        h5.create_dataset("train_story", data=design["train_story"])
        group = h5.create_group("zscored")
        for story, values in design["zscored"].items():
            group.create_dataset(story, data=values.astype(np.float32))
        if feature_names is not None:
            h5.create_dataset("feature_names", data=np.asarray(list(feature_names), dtype=object), dtype=h5py.string_dtype())
        for key, value in attrs.items():
            h5.attrs[key] = value


@dataclass
class Design:
    """One design file's delayed matrices (docs/artifacts.md)."""

    X_train: np.ndarray  # (n_train, F) float32, delayed
    X_test: np.ndarray  # (n_test, F) float32, delayed, test rows after test_trim
    train_story: np.ndarray  # (n_train,) int, index into train_stories
    train_stories: list[str]
    test_story: str
    attrs: dict = field(default_factory=dict)
    feature_names: list[str] | None = None  # descriptor designs only


def _decode(value) -> object:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value]
    return value


def read_design(path: str | os.PathLike) -> Design:
    """``X_train``, ``X_test``, ``train_story``, the attrs and (descriptors) the feature names of a design file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: design matrix missing")
    with open_h5(path) as handle:
        for key in ("X_train", "X_test", "train_story"):
            if key not in handle:
                raise KeyError(f"{path}: no dataset '{key}' (found {sorted(handle.keys())})")
        attrs = {k: _decode(v) for k, v in handle.attrs.items()}
        for key in ("train_stories", "test_story"):
            if key not in attrs:
                raise KeyError(f"{path}: no attribute '{key}' (found {sorted(attrs)})")
        design = Design(
            X_train=handle["X_train"][...].astype(np.float32),
            X_test=handle["X_test"][...].astype(np.float32),
            train_story=handle["train_story"][...].astype(np.int64),
            train_stories=list(attrs["train_stories"]),
            test_story=str(attrs["test_story"]),
            attrs=attrs,
            feature_names=_decode(handle["feature_names"][()]) if "feature_names" in handle else None,
        )
    if design.X_train.shape[0] != design.train_story.shape[0]:
        raise ValueError(
            f"{path}: X_train has {design.X_train.shape[0]} rows but train_story {design.train_story.shape[0]}"
        )
    if design.X_train.shape[1] != design.X_test.shape[1]:
        raise ValueError(f"{path}: X_train and X_test differ in features: {design.X_train.shape} {design.X_test.shape}")
    return design


def read_zscored(path: str | os.PathLike, stories: Sequence[str], test_story: str) -> tuple[dict[str, np.ndarray], list[int]]:
    """The undelayed, per-story z-scored matrices of a design file and its FIR delays: ``zscored/{story}``
    for the train ``stories`` and ``test_zscored`` (the scored test segment, z-scored on itself) under
    ``test_story``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: design file missing")
    with open_h5(path) as handle:
        for key in ("zscored", "test_zscored"):
            if key not in handle:
                raise KeyError(f"{path}: no '{key}' (found {sorted(handle.keys())})")
        if "delays" not in handle.attrs:
            raise KeyError(f"{path}: no attribute 'delays'")
        group = handle["zscored"]
        missing = [s for s in stories if s not in group]
        if missing:
            raise KeyError(f"{path}: zscored/ lacks stories {missing} (found {sorted(group.keys())})")
        out = {s: group[s][...].astype(np.float32) for s in stories}
        out[test_story] = handle["test_zscored"][...].astype(np.float32)
        return out, [int(d) for d in np.atleast_1d(handle.attrs["delays"])]


def grids_for(stories: Sequence[str], respdict: Mapping[str, int], timing: dict, where: str = "respdict.json") -> dict[str, TRGrid]:
    """TR grid of each story; a clear error for a story missing from respdict."""
    missing = [s for s in stories if s not in respdict]
    if missing:
        raise KeyError(f"{where}: no TR count for stories {missing}")
    return {s: TRGrid.from_config(respdict[s], timing) for s in stories}


@dataclass(frozen=True)
class DesignSettings(ParamsRoundTrip):
    """What a design matrix depends on: the timing (TR grid and ``test_trim``), the Lanczos filter
    (model features only; descriptors are already on the TR grid), the FIR delays, and which stories
    are train stories and which one is the test story."""

    timing: dict
    delays: tuple[int, ...]
    train_stories: tuple[str, ...]
    test_story: str
    lanczos_window: int | None = None
    lanczos_cutoff_mult: float | None = None

    @classmethod
    def from_config(cls, features: dict, timing: dict, train_stories: Sequence[str], test_story: str,
                    lanczos: bool = True) -> "DesignSettings":
        """From the ``features`` and ``timing`` sections; ``lanczos=False`` for the descriptors."""
        return cls(
            timing={k: timing[k] for k in ("tr_s", "sound_start_s", "trim_start", "trim_end", "test_trim")},
            delays=tuple(int(d) for d in features["delays"]),
            train_stories=tuple(train_stories),
            test_story=str(test_story),
            lanczos_window=int(features["lanczos_window"]) if lanczos else None,
            lanczos_cutoff_mult=features["lanczos_cutoff_mult"] if lanczos else None,
        )



def run_model_design_job(
    settings: DesignSettings,
    feature_paths: Mapping[str, str | os.PathLike],
    out_paths: Mapping[int, str | os.PathLike],
    respdict_path: str | os.PathLike,
    attrs: Mapping | None = None,
) -> None:
    """Design matrices of every layer (``{layer: output}``) of one checkpoint from its per-story
    feature files (``{story: path}``)."""
    timing = settings.timing
    grids = grids_for(list(feature_paths), read_respdict(respdict_path), timing, where=str(respdict_path))
    on_grid: dict[int, dict[str, np.ndarray]] = {int(layer): {} for layer in out_paths}
    for story, path in feature_paths.items():
        times, layers = read_features(path, list(out_paths))
        for layer, values in layers.items():
            on_grid[layer][story] = to_tr_grid(times, values, grids[story], settings.lanczos_cutoff_mult, settings.lanczos_window)
    for layer, out_path in out_paths.items():
        design = build_design(on_grid[int(layer)], grids, settings.train_stories, settings.test_story, settings.delays,
                              int(timing["test_trim"]))
        layer_attrs = {
            **(attrs or {}),
            **_common_attrs(settings),
            "layer": int(layer),
            "lanczos_window": int(settings.lanczos_window),
            "lanczos_cutoff_hz": float(settings.lanczos_cutoff_mult) / float(timing["tr_s"]),
        }
        write_design(out_path, design, layer_attrs)
        log.info("layer %s: X_train %s, X_test %s", layer, design["X_train"].shape, design["X_test"].shape)


def run_descriptor_design_job(
    settings: DesignSettings,
    feature_paths: Mapping[str, str | os.PathLike],
    out_paths: Mapping[str, str | os.PathLike],
    respdict_path: str | os.PathLike,
) -> None:
    """Design matrices of the speech descriptors (``{name: output}``; already on the TR grid) from the
    per-story descriptor files (``{story: path}``)."""
    from braintune.features.descriptors import read_descriptor

    timing = settings.timing
    grids = grids_for(list(feature_paths), read_respdict(respdict_path), timing, where=str(respdict_path))
    values: dict[str, dict[str, np.ndarray]] = {name: {} for name in out_paths}
    names: dict[str, list[str]] = {}
    for story, path in feature_paths.items():
        for name in out_paths:
            values[name][story], names[name] = read_descriptor(path, name)
    for name, out_path in out_paths.items():
        design = build_design(values[name], grids, settings.train_stories, settings.test_story, settings.delays,
                              int(timing["test_trim"]))
        attrs = {**_common_attrs(settings), "feature": name}
        write_design(out_path, design, attrs, feature_names=names[name])
        log.info("%s: X_train %s, X_test %s", name, design["X_train"].shape, design["X_test"].shape)


def _common_attrs(settings: DesignSettings) -> dict:
    timing = settings.timing
    return {
        "train_stories": list(settings.train_stories),
        "test_story": settings.test_story,
        "delays": np.asarray(settings.delays, dtype=np.int64),
        "test_trim": int(timing["test_trim"]),
        "trim_start": int(timing["trim_start"]),
        "trim_end": int(timing["trim_end"]),
        "tr_s": float(timing["tr_s"]),
        "delay_scope": "within story (zero-padded at each story start)",
    }
