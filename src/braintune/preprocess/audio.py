"""Stimulus audio: read a ds003020 WAV (44.1 kHz stereo int16), downmix, resample to 16 kHz.

Resampling uses soxr (high quality, deterministic). The cached form of a story is a float32
mono ``.npy`` at ``preprocess.sample_rate`` (``results/preprocess/audio/{story}.npy``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


def load_wav(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Read ``path``, average its channels and resample to ``sample_rate``; float32 in [-1, 1].

    Raises:
        FileNotFoundError: naming the file when it does not exist (e.g. a git-annex link whose
            content was never fetched).
        ValueError: naming the file when it is empty or not audio.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: audio file missing (a git-annex link without content?)")
    try:
        audio, native_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot read as audio ({err})") from err
    if audio.shape[0] == 0:
        raise ValueError(f"{path}: audio file has no samples")
    mono = audio.mean(axis=1, dtype=np.float32)
    if native_rate != sample_rate:
        mono = soxr.resample(mono, native_rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_audio(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load a cached float32 mono story (``.npy``), memory-mapped by default."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cached audio missing (run the preprocess stage)")
    audio = np.load(path, mmap_mode="r" if mmap else None)
    if audio.ndim != 1 or audio.dtype != np.float32:
        raise ValueError(f"{path}: expected a 1-D float32 array, got {audio.dtype} {audio.shape}")
    return audio


def duration_s(audio: np.ndarray, sample_rate: int) -> float:
    """Length of ``audio`` in seconds."""
    return audio.shape[0] / float(sample_rate)
