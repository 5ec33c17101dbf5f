"""Low-level regression targets of appendix D.1: MFCC and FBANK of each TIMIT utterance.

Target definition (the paper says only "predict the MFCC coefficients / the filter banks" from the
layer representation, scored by R^2): the probe input is the utterance's mean-pooled layer vector,
so the target is the utterance's **time-averaged** coefficient vector:

- FBANK: log mel filter-bank energies, ``n_mels`` bands (HTK mel scale, 25 ms Hann windows every
  10 ms, 512-point FFT, power spectrum, natural log with floor 1e-10), averaged over frames -> ``(n_mels,)``.
- MFCC: the first ``n_mfcc`` orthonormal DCT-II coefficients of the log mel energies of each frame
  (computed with ``mfcc_mels`` bands), averaged over frames -> ``(n_mfcc,)``. The reference's helper
  regressed 40 coefficients x 398 frames with a Pearson metric; frame-level targets cannot be read
  from a mean-pooled vector, hence the time average. R^2 is averaged uniformly over coefficients.

Spectrograms come from ``transformers.audio_utils`` (the feature code behind the HF extractors).
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int, win_s: float = 0.025, hop_s: float = 0.010,
            n_fft: int = 512) -> np.ndarray:
    """``(n_mels, frames)`` natural-log mel power spectrogram."""
    win = int(round(win_s * sample_rate))
    hop = int(round(hop_s * sample_rate))
    if len(audio) < win:
        audio = np.pad(audio, (0, win - len(audio)))
    filters = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=20.0,
                              max_frequency=sample_rate / 2, sampling_rate=sample_rate, mel_scale="htk")
    return spectrogram(np.asarray(audio, np.float32), window_function(win, "hann"), frame_length=win,
                       hop_length=hop, fft_length=n_fft, power=2.0, center=False, mel_filters=filters,
                       mel_floor=1e-10, log_mel="log").astype(np.float32)


def utterance_targets(audio: np.ndarray, sample_rate: int, fbank_mels: int, mfcc_mels: int,
                      n_mfcc: int) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged FBANK ``(fbank_mels,)`` and MFCC ``(n_mfcc,)`` of one utterance."""
    fbank = log_mel(audio, sample_rate, fbank_mels).mean(axis=1)
    mel = fbank if mfcc_mels == fbank_mels else log_mel(audio, sample_rate, mfcc_mels).mean(axis=1)
    # the DCT is linear, so the time average of per-frame MFCCs is the DCT of the averaged log mels
    mfcc = dct(mel, type=2, norm="ortho")[:n_mfcc]
    return fbank.astype(np.float32), mfcc.astype(np.float32)
