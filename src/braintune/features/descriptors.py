"""Speech descriptors (the low-level speech features) of one story at TR resolution (paper A.3; docs/decisions.md 8).

All four are computed on every TR of the story's :class:`~braintune.preprocess.timing.TRGrid` (TR ``k``
covers ``[t_k - TR/2, t_k + TR/2)`` around its centre ``t_k``, seconds from audio onset) and
trimmed later with the model features (:mod:`braintune.features.design`).

* ``powspec``: power spectrum in ``n_bands`` bands of ``band_hz`` from ``fmin_hz`` (448 x 33.5 Hz
  from 25 Hz: 25 Hz - 15.03 kHz), from the audio at its native rate (the ds003020 wav, 44.1 kHz;
  the 16 kHz model input would stop at 8 kHz). A Hann-windowed STFT (``nperseg`` samples, half
  overlap) gives power spectral densities; the frames whose centres fall in a TR are averaged
  (Welch's method per TR) and the density is integrated over each band (partial bins weighted by
  their overlap). The feature is log10(band power + 1e-12). TRs outside the audio are silent.
* ``diphone`` / ``triphone``: presence (0/1) per TR of every phone pair / triple over the
  inventory of the configured stories (:func:`ngram_inventory`), from the TextGrid phone tier
  (non-speech removed, stress dropped). Consecutive phones separated by more than
  ``max_gap_s`` (a pause) do not form an n-gram. A diphone is placed at the boundary between its
  phones, a triphone at the centre of its middle phone.
* ``articulation``: 22 articulatory features per phone from the table ``articulation.tsv`` in this
  package. ``lanczos`` (default): each phone's vector is an event at the phone's centre,
  Lanczos-interpolated to TR times without normalisation (a smoothed rate, the Huth/Deniz
  resampling of phone-level features); ``count``: phones with each feature per TR.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf
from scipy import signal

from braintune.features.lanczos import lanczos_resample
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import Interval
from braintune.utils import ParamsRoundTrip

log = logging.getLogger(__name__)

NAMES = ("powspec", "diphone", "triphone", "articulation")
POWER_FLOOR = 1e-12


# --- power spectrum ------------------------------------------------------------------------


def band_edges(fmin_hz: float, band_hz: float, n_bands: int) -> np.ndarray:
    """(n_bands + 1,) band edges in Hz."""
    return fmin_hz + band_hz * np.arange(n_bands + 1, dtype=np.float64)


def band_matrix(freqs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(n_freqs, n_bands) weights integrating a density sampled at ``freqs`` over each band.

    Bin ``j`` covers ``[f_j - df/2, f_j + df/2)``; its weight in a band is the length (Hz) of the
    overlap, so a row sum is the bin width inside the bands.
    """
    df = freqs[1] - freqs[0]
    lo = freqs[:, None] - df / 2
    hi = freqs[:, None] + df / 2
    overlap = np.minimum(hi, edges[None, 1:]) - np.maximum(lo, edges[None, :-1])
    return np.clip(overlap, 0.0, None)


def power_spectrum(
    audio: np.ndarray, sample_rate: int, grid: TRGrid, fmin_hz: float = 25.0, band_hz: float = 33.5,
    n_bands: int = 448, nperseg: int = 2048,
) -> np.ndarray:
    """log10 band power (n_trs, n_bands) float32 of mono ``audio`` at its native ``sample_rate``."""
    edges = band_edges(fmin_hz, band_hz, n_bands)
    if edges[-1] > sample_rate / 2:
        raise ValueError(
            f"power spectrum up to {edges[-1]:.0f} Hz needs a sample rate above {2 * edges[-1]:.0f} Hz; "
            f"the audio has {sample_rate} Hz (use the ds003020 wav at its native rate)"
        )
    audio = np.asarray(audio, dtype=np.float32)  # float32 STFT: half the time of float64, ample precision for log power
    hop = nperseg // 2
    freqs, frame_times, spec = signal.spectrogram(
        audio, fs=sample_rate, window="hann", nperseg=nperseg, noverlap=nperseg - hop, scaling="density", mode="psd"
    )
    band_power = (spec.T @ band_matrix(freqs, edges).astype(np.float32)).astype(np.float64)  # (frames, n_bands)
    starts = grid.tr_times - grid.tr_s / 2
    tr_index = np.floor((frame_times - starts[0]) / grid.tr_s).astype(np.int64)
    out = np.zeros((grid.n_trs, n_bands), dtype=np.float64)
    counts = np.zeros(grid.n_trs)
    ok = (tr_index >= 0) & (tr_index < grid.n_trs)
    np.add.at(out, tr_index[ok], band_power[ok])
    np.add.at(counts, tr_index[ok], 1)
    out = np.divide(out, counts[:, None], out=out, where=counts[:, None] > 0)
    return np.log10(out + POWER_FLOOR).astype(np.float32)


def read_native_audio(path) -> tuple[np.ndarray, int]:
    """Mono float32 audio of a wav at its native rate."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if audio.shape[0] == 0:
        raise ValueError(f"{path}: audio file has no samples")
    return audio.mean(axis=1), int(rate)


# --- phone n-grams ------------------------------------------------------------------------------


def phone_runs(phones: Sequence[Interval], max_gap_s: float) -> list[list[Interval]]:
    """Split the phone tier into runs of consecutive phones (gaps <= max_gap_s)."""
    runs: list[list[Interval]] = []
    for phone in phones:
        if runs and phone.start - runs[-1][-1].end <= max_gap_s:
            runs[-1].append(phone)
        else:
            runs.append([phone])
    return runs


def phone_ngrams(phones: Sequence[Interval], n: int, max_gap_s: float) -> list[tuple[str, float]]:
    """(label, time) of every n-gram (n = 2: boundary time; n = 3: centre of the middle phone)."""
    out = []
    for run in phone_runs(phones, max_gap_s):
        for i in range(len(run) - n + 1):
            gram = run[i : i + n]
            label = "_".join(p.label for p in gram)
            time = gram[0].end if n == 2 else (gram[1].start + gram[1].end) / 2 if n == 3 else (gram[0].start + gram[-1].end) / 2
            out.append((label, time))
    return out


def ngram_inventory(transcripts: Iterable[Sequence[Interval]], n: int, max_gap_s: float) -> list[str]:
    """Sorted n-grams occurring in any of the phone tiers."""
    labels = set()
    for phones in transcripts:
        labels.update(label for label, _ in phone_ngrams(phones, n, max_gap_s))
    return sorted(labels)


def tr_index_of(times: np.ndarray, grid: TRGrid) -> np.ndarray:
    """TR of each time (TR k covers [t_k - TR/2, t_k + TR/2)); -1 when off the grid."""
    start = grid.tr_times[0] - grid.tr_s / 2
    idx = np.floor((np.asarray(times, dtype=np.float64) - start) / grid.tr_s).astype(np.int64)
    idx[(idx < 0) | (idx >= grid.n_trs)] = -1
    return idx


def ngram_presence(phones: Sequence[Interval], grid: TRGrid, inventory: Sequence[str], n: int, max_gap_s: float) -> np.ndarray:
    """(n_trs, len(inventory)) float32 0/1: which n-grams occur in each TR."""
    column = {label: j for j, label in enumerate(inventory)}
    out = np.zeros((grid.n_trs, len(inventory)), dtype=np.float32)
    grams = phone_ngrams(phones, n, max_gap_s)
    if not grams:
        return out
    rows = tr_index_of(np.array([t for _, t in grams]), grid)
    for (label, _), row in zip(grams, rows):
        if row < 0:
            continue
        if label not in column:
            raise KeyError(f"{n}-phone {label!r} is not in the inventory (built from other stories?)")
        out[row, column[label]] = 1.0
    return out


# --- articulation ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def articulation_table() -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """(feature names, {ARPAbet phone: (22,) float32}) from the package's ``articulation.tsv``."""
    text = resources.files("braintune.features").joinpath("articulation.tsv").read_text()
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    reader = csv.reader(rows, delimiter="\t")
    header = next(reader)
    names = tuple(header[1:])
    table = {row[0]: np.array([float(v) for v in row[1:]], dtype=np.float32) for row in reader}
    return names, table


def articulation(phones: Sequence[Interval], grid: TRGrid, mode: str = "lanczos", cutoff_mult: float = 1.0, window: int = 3) -> np.ndarray:
    """(n_trs, 22) float32 articulatory features per TR."""
    names, table = articulation_table()
    unknown = sorted({p.label for p in phones} - set(table))
    if unknown:
        raise KeyError(f"phones {unknown} are not in articulation.tsv (ARPAbet without stress expected)")
    if not phones:
        return np.zeros((grid.n_trs, len(names)), dtype=np.float32)
    vectors = np.stack([table[p.label] for p in phones])
    centres = np.array([(p.start + p.end) / 2 for p in phones])
    if mode == "lanczos":
        return lanczos_resample(vectors, centres, grid.tr_times, cutoff_mult / grid.tr_s, window, normalize=False).astype(np.float32)
    if mode == "count":
        out = np.zeros((grid.n_trs, len(names)), dtype=np.float32)
        rows = tr_index_of(centres, grid)
        np.add.at(out, rows[rows >= 0], vectors[rows >= 0])
        return out
    raise ValueError(f"features.descriptors.articulation_downsample: {mode!r}; expected lanczos or count")


@dataclass(frozen=True)
class DescriptorSettings(ParamsRoundTrip):
    """The ``features.descriptors`` section, the Lanczos filter of the articulation features and the TR
    grid: everything the descriptors of a story depend on (besides the set of stories, whose phones
    make the di/triphone inventory)."""

    names: tuple[str, ...]
    powspec_fmin_hz: float
    powspec_band_hz: float
    powspec_n_bands: int
    powspec_nperseg: int
    ngram_max_gap_s: float
    articulation_downsample: str
    lanczos_window: int
    lanczos_cutoff_mult: float
    timing: dict

    @classmethod
    def from_config(cls, descriptors: dict, features: dict, timing: dict) -> "DescriptorSettings":
        """From the ``features.descriptors``, ``features`` (Lanczos keys) and ``timing`` sections."""
        from braintune.preprocess.timing import grid_timing

        unknown = [n for n in descriptors["names"] if n not in NAMES]
        if unknown:
            raise ValueError(f"features.descriptors.names: unknown features {unknown}; expected some of {list(NAMES)}")
        return cls(
            names=tuple(descriptors["names"]),
            powspec_fmin_hz=descriptors["powspec_fmin_hz"],
            powspec_band_hz=descriptors["powspec_band_hz"],
            powspec_n_bands=descriptors["powspec_n_bands"],
            powspec_nperseg=descriptors["powspec_nperseg"],
            ngram_max_gap_s=descriptors["ngram_max_gap_s"],
            articulation_downsample=descriptors["articulation_downsample"],
            lanczos_window=features["lanczos_window"],
            lanczos_cutoff_mult=features["lanczos_cutoff_mult"],
            timing=grid_timing(timing),
        )



def story_descriptors(
    audio: np.ndarray, sample_rate: int, phones: Sequence[Interval], grid: TRGrid, settings: DescriptorSettings,
    inventories: dict[str, list[str]],
) -> dict[str, np.ndarray]:
    """Every configured descriptor of one story, ``{name: (n_trs, F)}``."""
    out = {}
    for name in settings.names:
        if name == "powspec":
            out[name] = power_spectrum(audio, sample_rate, grid, settings.powspec_fmin_hz, settings.powspec_band_hz,
                                       settings.powspec_n_bands, settings.powspec_nperseg)
        elif name in ("diphone", "triphone"):
            n = 2 if name == "diphone" else 3
            out[name] = ngram_presence(phones, grid, inventories[name], n, settings.ngram_max_gap_s)
        elif name == "articulation":
            out[name] = articulation(phones, grid, settings.articulation_downsample, settings.lanczos_cutoff_mult,
                                     settings.lanczos_window)
        else:
            raise ValueError(f"features.descriptors.names: unknown feature {name!r}; expected one of {NAMES}")
    return out


def feature_names(name: str, settings: DescriptorSettings, inventories: dict[str, list[str]]) -> list[str]:
    """Column names of a descriptor."""
    if name == "powspec":
        edges = band_edges(settings.powspec_fmin_hz, settings.powspec_band_hz, settings.powspec_n_bands)
        return [f"{lo:.1f}-{hi:.1f}Hz" for lo, hi in zip(edges[:-1], edges[1:])]
    if name in ("diphone", "triphone"):
        return list(inventories[name])
    if name == "articulation":
        return list(articulation_table()[0])
    raise ValueError(f"unknown descriptor {name!r}")


def run_descriptors_job(
    settings: DescriptorSettings,
    wav_paths: dict[str, str],
    textgrid_paths: dict[str, str],
    respdict_path: str,
    out_paths: dict[str, str],
    inventory_path: str,
) -> dict[str, list[str]]:
    """Descriptors of every story (``{story: output}``, one HDF5 each) and the n-gram inventory of those
    stories (JSON)."""
    import json

    import h5py

    from braintune.features.design import grids_for
    from braintune.preprocess.responses import read_respdict
    from braintune.preprocess.transcripts import read_textgrid
    from braintune.utils import atomic_output

    stories = list(out_paths)
    grids = grids_for(stories, read_respdict(respdict_path), settings.timing, where=str(respdict_path))
    phones = {s: read_textgrid(textgrid_paths[s]).phones for s in stories}
    gap = settings.ngram_max_gap_s
    inventories = {
        "diphone": ngram_inventory(phones.values(), 2, gap),
        "triphone": ngram_inventory(phones.values(), 3, gap),
    }
    for story in stories:
        audio, rate = read_native_audio(wav_paths[story])
        feats = story_descriptors(audio, rate, phones[story], grids[story], settings, inventories)
        with atomic_output(out_paths[story]) as tmp, h5py.File(tmp, "w") as h5:
            h5.create_dataset("tr_times", data=grids[story].tr_times)
            for name, values in feats.items():
                h5.create_dataset(name, data=values)
                h5.create_dataset(f"{name}_names", data=feature_names(name, settings, inventories), dtype=h5py.string_dtype())
            h5.attrs["story"] = story
            h5.attrs["audio_sample_rate"] = rate
            h5.attrs["n_phones"] = len(phones[story])
            h5.attrs["tr_s"] = float(settings.timing["tr_s"])
        log.info("%s: %s", story, {k: v.shape for k, v in feats.items()})
    with atomic_output(inventory_path) as tmp:
        tmp.write_text(json.dumps({"stories": stories, "max_gap_s": gap, **inventories}, indent=1))
    return inventories


def read_descriptor(path, name: str) -> tuple[np.ndarray, list[str]]:
    """``(values (n_trs, F), feature names)`` of descriptor ``name`` in a story's descriptor file
    (:func:`run_descriptors_job`)."""
    from braintune.utils import open_h5

    with open_h5(path) as h5:
        if name not in h5:
            raise KeyError(f"{path}: no dataset {name!r} (features.descriptors.names changed?)")
        return h5[name][()], [n.decode() if isinstance(n, bytes) else n for n in h5[f"{name}_names"][()]]
