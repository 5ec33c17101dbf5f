"""Causal sliding-window features of a speech model (docs/decisions.md 6).

Window ``w`` (``w = 0, 1, ...``) ends at ``(w + 1) * chunk_s`` seconds and starts
``context_s + chunk_s`` seconds earlier, clipped at the story onset: the first windows grow
from the story start until they reach full length; windows end only while the story lasts
(a final fraction of a chunk is dropped). The feature of a window is the model's output frame
at :func:`braintune.features.models.last_valid_frame` of the window: the last frame for wav2vec2/HuBERT,
and for Whisper the last frame that still sees audio (the input is right-padded to the encoder
length). Its time stamp is the window end. Every requested layer comes from one forward pass.

Windows of equal length are batched together (for Whisper every window has the padded encoder
length, so all windows batch together); each window is normalised on its own, so a batch gives
the same features as one window at a time (tested). The forward runs under ``torch.no_grad``,
with bf16 autocast and SDPA attention on CUDA.

Feature files: ``{story}.h5`` with ``times`` float64 (W,) (window ends, seconds from audio
onset) and ``layer_{i}`` float32 (W, H), attrs describing windows and model. A job covers all
stories of one (family, variant, owner) and is resumable: finished stories are kept under
``.partial/`` next to the outputs (hard links) keyed by a fingerprint of everything that
determines them, and reused by a rerun that would compute the same thing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np
import torch
from tqdm import tqdm

from braintune.features import models
from braintune.features.store import write_features
from braintune.utils import file_md5, stable_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """Sample bounds of the causal windows of one story."""

    starts: np.ndarray  # int64 (W,)
    ends: np.ndarray  # int64 (W,), exclusive
    sample_rate: int

    @property
    def times(self) -> np.ndarray:
        """Window ends, seconds (the time stamp of each feature row)."""
        return self.ends / float(self.sample_rate)

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def __len__(self) -> int:
        return len(self.ends)


def _samples(seconds: float, sample_rate: int, key: str) -> int:
    n = seconds * sample_rate
    if abs(n - round(n)) > 1e-6:
        raise ValueError(f"features.{key}={seconds} s is not a whole number of samples at {sample_rate} Hz")
    return int(round(n))


def causal_windows(n_samples: int, context_s: float, chunk_s: float, sample_rate: int = models.SAMPLE_RATE) -> Windows:
    """Windows of ``context_s + chunk_s`` ending every ``chunk_s`` (clipped at the story onset)."""
    chunk = _samples(chunk_s, sample_rate, "chunk_s")
    context = _samples(context_s, sample_rate, "context_s")
    if chunk <= 0:
        raise ValueError(f"features.chunk_s must be positive, got {chunk_s}")
    ends = chunk * np.arange(1, n_samples // chunk + 1, dtype=np.int64)
    starts = np.maximum(ends - chunk - context, 0)
    return Windows(starts=starts, ends=ends, sample_rate=sample_rate)


def _batches(model, windows: Windows, batch_size: int) -> list[np.ndarray]:
    """Index batches: windows of equal length together (Whisper: all windows are padded alike)."""
    if models.architecture_of_model(model) == "whisper":
        keys = np.zeros(len(windows), dtype=np.int64)
    else:
        keys = windows.lengths
    batches = []
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        batches.extend(idx[i : i + batch_size] for i in range(0, len(idx), batch_size))
    return batches


@torch.no_grad()
def extract_window_features(
    model: torch.nn.Module,
    audio: np.ndarray,
    layers: Sequence[int],
    context_s: float,
    chunk_s: float,
    batch_size: int = 16,
    progress: bool = False,
    desc: str | None = None,
    select: slice | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Features of every causal window of one story.

    ``select`` restricts the computation to a slice of the windows (benchmarks, spot checks).
    Returns ``times`` (W,) float64 and ``{layer: (W, H) float32}``.
    """
    windows = causal_windows(len(audio), context_s, chunk_s)
    if select is not None:
        windows = Windows(windows.starts[select], windows.ends[select], windows.sample_rate)
    if len(windows) == 0:
        raise ValueError(f"story of {len(audio)} samples is shorter than one chunk ({chunk_s} s)")
    layers = [int(layer) for layer in layers]
    width = models.hidden_size(model)
    bar = tqdm(total=len(windows), desc=desc, unit="win", disable=not progress, file=sys.stderr, mininterval=5)
    device = next(model.parameters()).device
    # the selected frames stay on the device until the story is done: no per-batch copy back that would make
    # the host wait for every forward (a story's features are a few hundred MB at most)
    out = {layer: torch.empty((len(windows), width), dtype=torch.float32, device=device) for layer in layers}
    # the story goes to the device once; windows are gathered there (no host-side batch copies)
    signal = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(device)
    signal = torch.cat([signal, signal.new_zeros(1)])  # index len(audio) = a zero for padding
    # every batch's window bounds and output frames go to the device once, in batch order: a batch is then a
    # slice of them, and no host-to-device copy inside the loop makes the host wait for the previous forward
    batches = _batches(model, windows, batch_size)
    order = np.concatenate(batches)
    lengths = windows.lengths[order]
    frame_of = {int(n): models.last_valid_frame(model, int(n)) for n in np.unique(lengths)}
    last_frames = np.array([frame_of[int(n)] for n in lengths], dtype=np.int64)
    bounds = torch.as_tensor(np.stack([order, windows.starts[order], windows.ends[order], last_frames]), device=device)
    lo = 0
    for idx in batches:
        where, starts, ends, frames = bounds[:, lo : lo + len(idx)]
        lo += len(idx)
        offsets = torch.arange(int(windows.lengths[idx].max()), device=device)
        positions = starts[:, None] + offsets
        batch = signal[torch.where(positions < ends[:, None], positions, len(audio))]  # right-padded with zeros
        hidden = models.encoder_forward(model, batch, layers=layers)
        rows = torch.arange(len(idx), device=device)
        for layer, h in zip(layers, hidden):
            out[layer][where] = h[rows, frames].float()
        bar.update(len(idx))
    bar.close()
    return windows.times, {layer: feats.cpu().numpy() for layer, feats in out.items()}


@dataclass(frozen=True)
class WindowSettings:
    """The ``features`` keys that change a checkpoint's features: the causal window's context and chunk
    (``features.batch_size`` changes speed only and is passed to the job separately)."""

    context_s: float
    chunk_s: float

    @classmethod
    def from_config(cls, features: dict) -> "WindowSettings":
        # values as configured: the fingerprint stored with the features hashes them as given
        return cls(context_s=features["context_s"], chunk_s=features["chunk_s"])

    def params(self) -> dict:
        return asdict(self)


def job_fingerprint(family_cfg: dict, settings: WindowSettings, checkpoint_dir: str | os.PathLike | None) -> str:
    """Hash of everything that determines a job's features except the story audio."""
    weights = Path(checkpoint_dir) / "model.safetensors" if checkpoint_dir else None
    return stable_hash(
        {
            "family": {k: v for k, v in family_cfg.items() if k != "variants"},
            "context_s": settings.context_s,
            "chunk_s": settings.chunk_s,
            "checkpoint_md5": file_md5(weights) if weights and weights.exists() else None,
        }
    )


def run_feature_job(
    family_cfg: dict,
    settings: WindowSettings,
    audio_paths: Mapping[str, str | os.PathLike],
    out_paths: Mapping[str, str | os.PathLike],
    checkpoint_dir: str | os.PathLike | None,
    device: str,
    batch_size: int,
    attrs: Mapping | None = None,
    compile_frontend: bool | str = "auto",
) -> dict[str, str]:
    """Features of every story of one (family, variant, owner); resumable per story.

    Args:
        family_cfg: the family's ``models.<family>`` entry.
        checkpoint_dir: ``save_pretrained`` directory of a fine-tuned variant (a braintuning
            ``model/``), or None for the family's pretrained model.
        batch_size: windows per forward pass (speed and memory only).
        compile_frontend: ``features.compile_frontend`` (:func:`braintune.features.models.compile_frontend`;
            speed only).
    Returns ``{story: 'computed' | 'resumed'}``.
    """
    from braintune.preprocess.audio import load_audio

    fingerprint = job_fingerprint(family_cfg, settings, checkpoint_dir)
    model = None
    status: dict[str, str] = {}
    partial_dirs = set()
    for story, out_path in out_paths.items():
        out_path = Path(out_path)
        partial = out_path.parent / ".partial" / f"{story}.{fingerprint}.h5"
        partial_dirs.add(partial.parent)
        audio_md5 = file_md5(audio_paths[story])
        if partial.exists() and _attr(partial, "audio_md5") == audio_md5:
            status[story] = "resumed"
        else:
            if model is None:
                torch.backends.cudnn.benchmark = True  # fixed window shapes: let cuDNN pick its conv kernels
                model = models.prepare_model(family_cfg, checkpoint_dir, models.resolve_device(device))
                if next(model.parameters()).is_cuda:
                    models.use_matmul_positional_conv(model)
                compiled = models.compile_frontend(model, compile_frontend)
                log.info("model on %s: %s%s", device, type(model).__name__, " (front end compiled)" if compiled else "")
            audio = load_audio(audio_paths[story], mmap=False)
            times, feats = extract_window_features(
                model, audio, family_cfg["layers"], settings.context_s, settings.chunk_s,
                batch_size, progress=True, desc=story,
            )
            story_attrs = {
                **(attrs or {}),
                "story": story,
                "context_s": float(settings.context_s),
                "chunk_s": float(settings.chunk_s),
                "sample_rate": models.SAMPLE_RATE,
                "n_samples": int(len(audio)),
                "time_reference": "window end, seconds from audio onset",
                "layers": np.asarray(family_cfg["layers"], dtype=np.int64),
                "fingerprint": fingerprint,
                "audio_md5": audio_md5,
            }
            write_features(partial, times, feats, story_attrs)
            status[story] = "computed"
            log.info("%s: %d windows x %d layers", story, len(times), len(feats))
        out_path.unlink(missing_ok=True)
        try:
            os.link(partial, out_path)
        except OSError:  # a filesystem without hard links
            shutil.copy2(partial, out_path)
    for directory in partial_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    return status


def _attr(path: Path, key: str):
    try:
        with h5py.File(path, "r") as h5:
            return h5.attrs.get(key)
    except OSError:
        return None
