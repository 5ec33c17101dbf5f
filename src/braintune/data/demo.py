"""The generated miniature of ds003020: same paths, file formats and dtypes, synthetic content.

:func:`generate` (= :func:`generate_stimuli` then :func:`generate_responses`, the two Snakemake jobs)
writes, under the dataset root (the ds003020 layout, :mod:`braintune.data.layout`)::

    stimuli/{story}.wav                                  44.1 kHz, 2 channels, int16
    derivative/TextGrids/{story}.TextGrid                Praat; tier 0 phones (ARPAbet + stress), tier 1 words
    derivative/respdict.json                             {story: n_TRs}
    derivative/preprocessed_data/{subject}/{story}.hf5   data float64 (respdict-20, V);
                                                         test story also individual_repeats (R, respdict-20, V)

the ground truth and the stories' metadata (``stimuli.json``); layouts in docs/artifacts.md. The
responses are computed from the WAVs and TextGrids as written.

Everything is a deterministic function of the settings (:mod:`braintune.data.demo_settings`): each
story depends only on its name, on whether it is the test story and on ``data.demo.seed``, each subject only
on its name and the seed. ``data.demo.missing_stories`` leaves a subject's listed response files out (as
ds003020 lacks UTS04's ``life``).

Stimuli
    Story text is generated from templates over a vocabulary of 160 content words in 8 semantic
    groups (:mod:`braintune.data.demo_text`), one topic mixture per paragraph. espeak-ng speaks
    it (:mod:`braintune.data.synth`) with a voice, rate and pitch drawn per story; words and phones
    are espeak's own timings. The audio starts after a short silence and is padded so that it covers
    the story's TR grid exactly (docs/protocol.md 2.1: the audio spans ``(respdict - 5) * tr_s - sound_start_s``
    seconds; ``respdict`` is the smallest count whose grid covers the speech). Pauses become ``sp``
    (or ``br`` for some long ones) in both tiers, as in the real TextGrids.

Generative model of the responses (per subject s, voxel v, story, TR row t)
    1. Drivers on a 0.1 s grid from -``sound_start_s`` to the end of the audio:
       - auditory: log power of the audio in ``n_bands`` log-spaced bands between 100 Hz and 8 kHz;
       - semantic: each content word's ``semantic_dim``-d vector (its group's prototype plus
         ``within_group_sd`` noise) as a boxcar over the word's interval; function words 0.
    2. Each driver is convolved with the SPM canonical haemodynamic response (double gamma:
       gamma(6) - gamma(16)/6, 1 s dispersion), sampled at the centres of the response rows
       (:class:`braintune.preprocess.timing.TRGrid`), and z-scored within the story.
    3. Planted regions (from S1's overlays, :mod:`braintune.data.demo_cortex`), dilated per subject by
       ``region_dilation_voxels``: ``auditory`` (AC), ``language_temporal`` (superior temporal sulcus),
       ``language_frontal`` (Broca, sPMv); the language regions exclude the auditory one.
       Membership m_r(v) = exp(-d_r(v)^2 / (2 halo^2)) with d_r the distance in voxels to region r
       (1 inside, 0 beyond 3 halo).
    4. Weights: w_aud(v) = (m_aud + 0.15) * |N(0, 1)| per band, w_sem(v) = (m_lang + 0.15) * g(v)
       per semantic dimension, with m_lang = max(m_temporal, m_frontal) and g = sqrt(rho) G_shared +
       sqrt(1 - rho) G_subject (rho = ``shared_weight_fraction``): N(0, 1) draws, G_shared the same for
       every subject (it depends only on the seed), so two subjects' g correlate by rho. Every subject is
       in S1's voxels: the shared part is what one model of several subjects can learn (rho = 0: none,
       and no G_shared is drawn). Signal z_v = X_aud w_aud + X_sem w_sem, normalised to unit variance
       within each story.
    5. True noise ceiling c_v: background c = ``nc_background_max`` * u1 (0 for the
       ``zero_nc_fraction`` of background voxels with the lowest u2), regions
       c = lo + (hi - lo) * u3 over ``nc_region`` = [lo, hi]; c_v = max(c_bg, m_aud c_reg, m_lang c_reg).
       u1, u2, u3 are spatially smooth uniform fields (Gaussian-smoothed noise, sigma 2 voxels).
    6. Signal power SP_v from c_v and the repeat count N (docs/protocol.md 1.3, Schoppe et al.):
       c = 1 / sqrt(1 + (1/SP - 1) / N)  <=>  SP = 1 / (1 + N (1/c^2 - 1)).
       One presentation: y = sqrt(SP) z + sqrt(1 - SP) e, e ~ N(0, 1) i.i.d., then z-scored over
       time (ds003020's preprocessed runs are z-scored). Training stories are one presentation; the
       test story has N presentations with independent noise (``individual_repeats``) and
       ``data`` = their mean. The stored true ceiling is c_v, the cc_max these responses imply.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage, signal, stats

from braintune.preprocess.timing import RESPDICT_PAD, TRGrid
from braintune.utils import atomic_output, stable_hash

from . import demo_cortex, demo_text, layout
from .demo_settings import ResponseSettings, StimulusSettings, response_files, stimulus_files
from .synth import SAMPLE_RATE, Utterance, synthesize_many

log = logging.getLogger(__name__)

WAV_RATE = 44100
PEAK = 10 ** (-1 / 20)  # -1 dBFS: the WAVs' largest sample
FINE_DT = 0.1
REGIONS = ("auditory", "language_temporal", "language_frontal")
_BACKGROUND_WEIGHT = 0.15


# --- stories -----------------------------------------------------------------------------------


def _story_rng(seed: int, story: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, zlib.crc32(story.encode())])


def _subject_rng(seed: int, subject: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, zlib.crc32(subject.encode())])


def _shared_rng(seed: int, stream: int) -> np.random.Generator:
    """A stream common to every subject (depends only on the seed)."""
    return np.random.default_rng([seed, stream])


@dataclass
class Story:
    name: str
    text: str
    voice: str
    rate: int
    pitch: int
    lead_in_s: float
    utterance: Utterance
    n_respdict: int
    duration_s: float  # of the padded audio

    @property
    def words(self) -> list[tuple[float, float, str]]:
        return [(s + self.lead_in_s, e + self.lead_in_s, w) for s, e, w in self.utterance.words]

    @property
    def phones(self) -> list[tuple[float, float, str]]:
        return [(s + self.lead_in_s, e + self.lead_in_s, p) for s, e, p in self.utterance.phones]


def make_story(name: str, settings: StimulusSettings) -> Story:
    """Text, voice and speech of one story, and its TR count (deterministic in name and seed)."""
    timing = settings.timing
    rng = _story_rng(settings.seed, name, 1)
    is_test = name == settings.test_story
    lo, hi = settings.story_duration_s
    target = float(settings.test_story_duration_s) if is_test else float(rng.uniform(lo, hi))
    voice = str(settings.voices[int(rng.integers(len(settings.voices)))])
    rate = int(rng.integers(settings.rate_wpm[0], settings.rate_wpm[1] + 1))
    pitch = int(rng.integers(settings.pitch[0], settings.pitch[1] + 1))
    lead_in = float(rng.uniform(*settings.lead_in_s))
    # espeak speaks ~1.2x the nominal rate on these short words (pauses included); one correction
    # pass brings the speech within 5% of the target. The same text seed gives the same opening.
    text_seed = int(rng.integers(2**32))
    n_words = max(8, int(round(target * rate / 60.0 * 1.2)))
    for _ in range(2):
        text = demo_text.story_text(np.random.default_rng(text_seed), n_words, settings.topic_concentration,
                                    settings.sentences_per_topic)
        (utt,) = synthesize_many([dict(text=text, voice=voice, rate=rate, pitch=pitch)])
        if abs(utt.duration - target) <= 0.05 * target:
            break
        n_words = max(8, int(round(n_words * target / max(utt.duration, 1.0))))
    speech_end = lead_in + utt.duration
    tr, start = float(timing["tr_s"]), float(timing["sound_start_s"])
    # smallest respdict whose grid ((respdict - 5) TRs from -sound_start) covers the speech
    n_respdict = int(np.ceil((speech_end + start) / tr - 1e-9)) + RESPDICT_PAD
    duration = (n_respdict - RESPDICT_PAD) * tr - start
    grid = TRGrid.from_config(n_respdict, timing)
    if grid.n_rows < 1:
        raise ValueError(
            f"demo story '{name}': {utt.duration:.1f} s of speech give {grid.n_rows} response rows; "
            f"raise data.demo.story_duration_s / data.demo.test_story_duration_s"
        )
    return Story(name, text, voice, rate, pitch, lead_in, utt, n_respdict, duration)


def story_audio(story: Story, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The padded story audio (float32 mono) at ``rate`` (espeak's 22.05 kHz or resampled)."""
    n = int(round(story.duration_s * SAMPLE_RATE))
    out = np.zeros(n, dtype=np.float32)
    start = int(round(story.lead_in_s * SAMPLE_RATE))
    speech = story.utterance.audio[: n - start]
    out[start : start + len(speech)] = speech
    if rate == SAMPLE_RATE:
        return out
    import soxr

    resampled = soxr.resample(out, SAMPLE_RATE, rate, quality="HQ").astype(np.float32)
    return resampled[: int(round(story.duration_s * rate))]


def write_wav(story: Story, path: Path) -> None:
    import soundfile

    x = story_audio(story, WAV_RATE)
    peak = float(np.abs(x).max())
    if peak > PEAK:  # espeak speaks near full scale and resampling overshoots: no clipping
        x = x * (PEAK / peak)
    pcm = np.round(x * 32767.0).astype(np.int16)
    with atomic_output(path) as tmp:
        soundfile.write(tmp, np.stack([pcm, pcm], axis=1), WAV_RATE, subtype="PCM_16", format="WAV")


def _with_pauses(intervals, end_s, labels_for_gap) -> list[tuple[float, float, str]]:
    """Contiguous tier from ``intervals``: gaps over 0.1 ms become labelled pauses, shorter ones are
    absorbed by the next interval; times rounded to microseconds."""
    out, cursor = [], 0.0
    for s, e, lab in intervals:
        if s - cursor > 1e-4:
            out.append((cursor, s, labels_for_gap(cursor, s)))
            cursor = s
        out.append((cursor, e, lab))
        cursor = e
    if end_s - cursor > 1e-4:
        out.append((cursor, end_s, labels_for_gap(cursor, end_s)))
    return [(round(s, 6), round(e, 6), lab) for s, e, lab in out if round(e, 6) > round(s, 6)]


def write_textgrid(story: Story, path: Path, breath_min_pause_s: float, seed: int) -> None:
    """Praat TextGrid: tier 0 ``phone`` (ARPAbet with stress), tier 1 ``word``; pauses ``sp``/``br``."""
    from praatio import textgrid

    rng = _story_rng(seed, story.name, 3)
    gap_labels: dict[float, str] = {}

    def word_gap(s: float, e: float) -> str:
        label = "br" if (e - s >= breath_min_pause_s and 0.0 < s and rng.random() < 0.5) else "sp"
        gap_labels[round(s, 4)] = label
        return label

    words = _with_pauses(story.words, story.duration_s, word_gap)
    phones = _with_pauses(story.phones, story.duration_s, lambda s, e: gap_labels.get(round(s, 4), "sp"))
    end = round(story.duration_s, 6)
    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier("phone", phones, 0.0, end))
    grid.addTier(textgrid.IntervalTier("word", words, 0.0, end))
    with atomic_output(path) as tmp:
        grid.save(str(tmp), format="long_textgrid", includeBlankSpaces=True, reportingMode="error")


# --- stimulus drivers --------------------------------------------------------------------------


def spm_hrf(dt: float, length_s: float = 32.0) -> np.ndarray:
    """SPM canonical haemodynamic response sampled every ``dt`` s, normalised to sum 1."""
    t = np.arange(0.0, length_s, dt)
    h = stats.gamma.pdf(t, 6.0) - stats.gamma.pdf(t, 16.0) / 6.0
    return h / h.sum()


def fine_times(duration_s: float, timing: dict) -> np.ndarray:
    """Centres of the 0.1 s driver bins from -sound_start_s to the end of the audio (s from onset)."""
    start = -float(timing["sound_start_s"])
    n = int(np.ceil((duration_s - start) / FINE_DT))
    return start + (np.arange(n) + 0.5) * FINE_DT


def auditory_drivers(audio: np.ndarray, rate: int, n_bands: int, times: np.ndarray) -> np.ndarray:
    """(len(times), n_bands) log band power (100 Hz-8 kHz, log-spaced bands) of mono ``audio`` in
    0.1 s bins, relative to each band's floor; the floor before the audio starts."""
    hop = int(round(rate * 0.01))
    nperseg = int(2 ** np.ceil(np.log2(rate * 0.023)))
    freqs, frame_t, spec = signal.stft(audio, rate, nperseg=nperseg, noverlap=nperseg - hop, boundary=None, padded=False)
    power = np.abs(spec) ** 2
    edges = np.geomspace(100.0, 8000.0, n_bands + 1)
    bands = np.stack([power[(freqs >= lo) & (freqs < hi)].mean(axis=0) for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    floor = 1e-6 * bands.mean(axis=0, keepdims=True) + 1e-12
    logp = np.log10(bands + floor)
    out = np.zeros((len(times), n_bands))
    idx = np.floor(frame_t / FINE_DT).astype(int) + int(round(-times[0] / FINE_DT - 0.5))
    ok = (idx >= 0) & (idx < len(times))
    counts = np.bincount(idx[ok], minlength=len(times)).astype(float)
    for b in range(n_bands):
        sums = np.bincount(idx[ok], weights=logp[ok, b], minlength=len(times))
        out[:, b] = np.where(counts > 0, sums / np.maximum(counts, 1), logp[:, b].min())
    out[times < 0] = logp.min(axis=0)
    return out - logp.min(axis=0)


def semantic_drivers(words, word_vectors: dict[str, np.ndarray], dim: int, times: np.ndarray) -> np.ndarray:
    """(len(times), dim): each content word's vector as a boxcar over its interval; ``words`` are
    (start, end, label) triples or :class:`braintune.preprocess.transcripts.Interval`."""
    out = np.zeros((len(times), dim))
    for word in words:
        s, e, w = (word.start, word.end, word.label) if hasattr(word, "label") else word
        vec = word_vectors.get(w)
        if vec is None:
            continue
        a = int(np.clip(np.floor((s - times[0]) / FINE_DT + 0.5), 0, len(times)))
        b = int(np.clip(np.ceil((e - times[0]) / FINE_DT + 0.5), a + 1, len(times)))
        out[a:b] += vec
    return out


def tr_drivers(fine: np.ndarray, times: np.ndarray, grid: TRGrid, hrf: np.ndarray) -> np.ndarray:
    """HRF-convolve fine-grid drivers, sample them at the response rows, z-score within the story."""
    conv = signal.fftconvolve(fine, hrf[:, None], mode="full", axes=0)[: len(times)]
    rows = np.stack([np.interp(grid.row_times, times, conv[:, j]) for j in range(conv.shape[1])], axis=1)
    rows -= rows.mean(axis=0)
    return rows / np.maximum(rows.std(axis=0, ddof=1), 1e-12)


# --- voxel model -------------------------------------------------------------------------------


def cc_max_from_signal_power(sp: np.ndarray, n_repeats: int) -> np.ndarray:
    """cc_max = 1 / sqrt(1 + (1/N)(TP/SP - 1)) with TP = 1 (docs/protocol.md 1.3); 0 where SP = 0."""
    sp = np.asarray(sp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = 1.0 / np.sqrt(1.0 + (1.0 / sp - 1.0) / n_repeats)
    return np.where(sp > 0, out, 0.0)


def signal_power_from_cc_max(c: np.ndarray, n_repeats: int) -> np.ndarray:
    """Inverse of :func:`cc_max_from_signal_power`."""
    c = np.asarray(c, dtype=np.float64)
    with np.errstate(divide="ignore"):
        sp = 1.0 / (1.0 + n_repeats * (1.0 / c**2 - 1.0))
    return np.where(c > 0, sp, 0.0)


def _smooth_uniform(rng: np.random.Generator, space: demo_cortex.VoxelSpace, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(space.shape), sigma=sigma, mode="nearest")
    values = space.from_volume(field)
    values = (values - values.mean()) / (values.std() + 1e-12)
    return stats.norm.cdf(values)


@dataclass
class SubjectModel:
    regions: dict[str, np.ndarray]  # bool (V,)
    membership: dict[str, np.ndarray]  # float (V,)
    w_auditory: np.ndarray  # (n_bands, V)
    w_semantic: np.ndarray  # (dim, V)
    nc: np.ndarray  # (V,) true cc_max
    signal_power: np.ndarray  # (V,)


def _clip_region(name: str, vol: np.ndarray, mask_vol: np.ndarray, region_vol_of: dict[str, np.ndarray]) -> np.ndarray:
    """A planted region's volume restricted to the voxel mask; a language region also excludes the auditory
    one (``region_vol_of['auditory']``): language regions are distinct from auditory cortex (as LTC from A1).
    A new array: ``vol`` (the shared undilated volume when a subject draws no dilation) is left as it is, so
    that a subject's regions never depend on the subjects generated before it."""
    vol = vol & mask_vol
    if name != "auditory":
        vol &= ~region_vol_of["auditory"]
    return vol


def planted_regions(ground_truth: str | Path, pycortex_filestore: str | Path, names=REGIONS) -> dict[str, np.ndarray]:
    """The planted regions ``names`` before any subject's dilation, as boolean ``(V,)`` masks in the demo's
    voxel order: subject independent (every subject's responses are in these voxels), the identity common
    space's mask (:mod:`braintune.commonspace`). Read from the miniature's ground truth (its voxels and region
    settings) and S1's overlays in ``pycortex_filestore``; restricted as :func:`subject_model` restricts them."""
    with h5py.File(ground_truth, "r") as handle:
        try:
            regions = json.loads(handle.attrs["settings"])["regions"]
            volume_index = handle["voxels/volume_index"][...]
            ijk = handle["voxels/ijk"][...]
            shape = tuple(int(s) for s in handle["voxels"].attrs["volume_shape"])
            mask_name = str(handle.attrs["voxel_mask"])
        except KeyError as err:
            raise KeyError(f"{ground_truth}: not a demo ground truth ({err})") from err
    unknown = [n for n in names if n not in REGIONS]
    if unknown:
        raise ValueError(f"planted regions {unknown} do not exist (the miniature plants {list(REGIONS)})")
    space = demo_cortex.VoxelSpace(mask_name, shape, volume_index, ijk)
    cortex = demo_cortex.use_filestore(pycortex_filestore)
    volumes = demo_cortex.cached_region_volumes(cortex, regions, shape)
    mask_vol = space.to_volume(np.ones(space.n_voxels, bool), False)
    clipped: dict[str, np.ndarray] = {}
    for name in REGIONS:  # in generator order: the auditory region first (the others exclude it)
        clipped[name] = _clip_region(name, np.array(volumes[name], dtype=bool), mask_vol, clipped)
    return {name: space.from_volume(clipped[name]) for name in names}


def subject_model(subject: str, settings: ResponseSettings, space, region_vols: dict[str, np.ndarray]) -> SubjectModel:
    rng = _subject_rng(settings.seed, subject, 4)
    mask_vol = space.to_volume(np.ones(space.n_voxels, bool), False)
    lo_d, hi_d = settings.region_dilation_voxels
    regions, membership, region_vol_of = {}, {}, {}
    for name in REGIONS:
        r = int(rng.integers(lo_d, hi_d + 1))
        vol = region_vols[name]
        if r > 0:
            vol = ndimage.binary_dilation(vol, iterations=r)
        vol = _clip_region(name, vol, mask_vol, region_vol_of)
        region_vol_of[name] = vol
        regions[name] = space.from_volume(vol)
        dist = ndimage.distance_transform_edt(~vol)
        d = space.from_volume(dist)
        halo = settings.halo_voxels
        membership[name] = np.where(d <= 3.0 * halo, np.exp(-(d**2) / (2.0 * halo**2)), 0.0)
    m_aud = membership["auditory"]
    m_lang = np.maximum(membership["language_temporal"], membership["language_frontal"])
    V = space.n_voxels
    w_aud = (m_aud + _BACKGROUND_WEIGHT) * np.abs(rng.standard_normal((settings.n_bands, V)))
    g_sem = rng.standard_normal((settings.semantic_dim, V))
    rho = settings.shared_weight_fraction
    if rho > 0:  # its own stream: the subject stream's draws, hence every other array, stay as they are
        g_shared = _shared_rng(settings.seed, 6).standard_normal(g_sem.shape)
        g_sem = np.sqrt(rho) * g_shared + np.sqrt(1.0 - rho) * g_sem
    w_sem = (m_lang + _BACKGROUND_WEIGHT) * g_sem
    u1, u2, u3 = (_smooth_uniform(rng, space, 2.0) for _ in range(3))
    c_bg = settings.nc_background_max * u1
    c_bg[u2 < settings.zero_nc_fraction] = 0.0
    lo, hi = settings.nc_region
    c_reg = lo + (hi - lo) * u3
    nc = np.maximum.reduce([c_bg, m_aud * c_reg, m_lang * c_reg])
    sp = signal_power_from_cc_max(nc, settings.n_repeats)
    return SubjectModel(regions, membership, w_aud, w_sem, nc, sp)


def present(rng: np.random.Generator, z: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """One presentation: sqrt(SP) z + sqrt(1 - SP) noise, z-scored over time (rows)."""
    y = np.sqrt(sp) * z + np.sqrt(1.0 - sp) * rng.standard_normal(z.shape)
    y -= y.mean(axis=0)
    y /= y.std(axis=0, ddof=1)
    return y


def _write_hf5(path: Path, datasets: dict[str, np.ndarray], compression: str, quantum: float) -> None:
    with atomic_output(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        for name, arr in datasets.items():
            arr = np.asarray(arr, dtype=np.float64)
            kwargs = {}
            if compression == "gzip":
                if quantum > 0:
                    arr = np.round(arr / quantum) * quantum
                chunks = (*arr.shape[:-2], min(arr.shape[-2], 64), min(arr.shape[-1], 4096))
                kwargs = dict(compression="gzip", compression_opts=1, shuffle=True, chunks=chunks)
            f.create_dataset(name, data=arr, track_times=False, **kwargs)


# --- the generator -----------------------------------------------------------------------------


def generate_stimuli(settings: StimulusSettings, root: str | Path, metadata_path: str | Path) -> dict:
    """Write the stimuli, TextGrids and respdict.json under ``root``; return (and write to
    ``metadata_path``) the stories' metadata."""
    t0 = time.perf_counter()
    root = Path(root)
    respdict, story_meta = {}, {}
    for name in settings.stories:
        story = make_story(name, settings)
        write_wav(story, root / layout.stimulus_path(name))
        write_textgrid(story, root / layout.textgrid_path(name), settings.breath_min_pause_s, settings.seed)
        respdict[name] = story.n_respdict
        story_meta[name] = dict(voice=story.voice, rate_wpm=story.rate, pitch=story.pitch,
                                lead_in_s=story.lead_in_s, duration_s=story.duration_s,
                                n_words=len(story.words), n_respdict=story.n_respdict, text=story.text)
        log.info("story %s: %s, %d wpm, %.1f s audio, %d words, respdict %d, %d rows", name, story.voice,
                 story.rate, story.duration_s, len(story.words), story.n_respdict,
                 TRGrid.from_config(story.n_respdict, settings.timing).n_rows)
    with atomic_output(root / layout.RESPDICT) as tmp:
        tmp.write_text(json.dumps(respdict, indent=1) + "\n")
    with atomic_output(metadata_path) as tmp:
        tmp.write_text(json.dumps(story_meta, indent=1, sort_keys=True) + "\n")
    log.info("stimuli of %d stories written (%.1f s)", len(respdict), time.perf_counter() - t0)
    return story_meta


def story_drivers(root: Path, story: str, n_respdict: int, settings: ResponseSettings, word_vectors: dict, hrf: np.ndarray):
    """Auditory and semantic drivers of one story on its response rows, read back from the written
    WAV and TextGrid (so the responses depend on the stimuli exactly as stored)."""
    import soundfile

    from braintune.preprocess.transcripts import read_textgrid

    root = Path(root)
    grid = TRGrid.from_config(n_respdict, settings.timing)
    stereo, rate = soundfile.read(root / layout.stimulus_path(story), dtype="float32", always_2d=True)
    audio = stereo.mean(axis=1)
    words = read_textgrid(root / layout.textgrid_path(story)).words
    times = fine_times(len(audio) / rate, settings.timing)
    aud = tr_drivers(auditory_drivers(audio, rate, settings.n_bands, times), times, grid, hrf)
    sem = tr_drivers(semantic_drivers(words, word_vectors, settings.semantic_dim, times), times, grid, hrf)
    return aud, sem


def generate_responses(
    settings: ResponseSettings,
    root: str | Path,
    ground_truth_path: str | Path,
    metadata_path: str | Path,
    pycortex_filestore: str | Path,
) -> dict:
    """Write every subject's responses under ``root`` (from the stimuli already there; none for the
    stories ``settings.missing_stories`` lists) and the ground truth. ``pycortex_filestore`` receives a
    writable copy of pycortex's sample subject S1 (its voxels are the demo's voxels)."""
    from braintune.preprocess.responses import read_respdict

    t0 = time.perf_counter()
    root = Path(root)
    stories, test = settings.stories, settings.test_story
    respdict = read_respdict(root / layout.RESPDICT)
    missing = [s for s in stories if s not in respdict]
    if missing:
        raise ValueError(f"{root / layout.RESPDICT}: no TR count for stories {missing}")

    cortex = demo_cortex.use_filestore(pycortex_filestore)
    space = demo_cortex.voxel_space(cortex, settings.voxel_mask)
    region_vols = demo_cortex.cached_region_volumes(cortex, settings.regions, space.shape)
    keep = np.arange(0, space.n_voxels, int(settings.voxel_stride))
    space = demo_cortex.VoxelSpace(space.mask_name, space.shape, space.volume_index[keep], space.ijk[keep])
    log.info("voxel space: S1 %s mask %s, stride %d: %d voxels (%.1f s)", demo_cortex.XFM, settings.voxel_mask,
             settings.voxel_stride, space.n_voxels, time.perf_counter() - t0)

    vocab = demo_text.vocabulary()
    prototypes, vectors = demo_text.semantic_vectors(settings.seed, settings.semantic_dim, settings.within_group_sd)
    word_vectors = {w: vectors[i] for i, (w, _) in enumerate(vocab)}
    hrf = spm_hrf(FINE_DT)
    drivers = {name: story_drivers(root, name, respdict[name], settings, word_vectors, hrf) for name in stories}

    models = {}
    n_rep = int(settings.n_repeats)
    for subject in settings.subjects:
        model = subject_model(subject, settings, space, region_vols)
        models[subject] = model
        for name in stories:
            if not settings.has(subject, name):
                log.info("subject %s: no responses to %s (data.demo.missing_stories)", subject, name)
                continue
            aud, sem = drivers[name]
            z = aud @ model.w_auditory + sem @ model.w_semantic
            z = (z - z.mean(axis=0)) / (z.std(axis=0, ddof=1) + 1e-12)
            rng = np.random.default_rng([settings.seed, 5, zlib.crc32(subject.encode()), zlib.crc32(name.encode())])
            path = root / layout.response_path(subject, name)
            if name == test:
                reps = np.stack([present(rng, z, model.signal_power) for _ in range(n_rep)])
                _write_hf5(path, {"data": reps.mean(axis=0), "individual_repeats": reps}, settings.hdf5_compression, settings.quantum)
            else:
                _write_hf5(path, {"data": present(rng, z, model.signal_power)}, settings.hdf5_compression, settings.quantum)
        log.info("subject %s written (%.1f s)", subject, time.perf_counter() - t0)

    story_meta = json.loads(Path(metadata_path).read_text())
    write_ground_truth(ground_truth_path, settings, space, models, {s: respdict[s] for s in stories}, story_meta,
                       vocab, prototypes, vectors)
    log.info("responses of %d subjects x %d stories, %d voxels (%.1f s)", len(settings.subjects), len(stories),
             space.n_voxels, time.perf_counter() - t0)
    return dict(n_voxels=space.n_voxels, seconds=round(time.perf_counter() - t0, 2))


def generate(
    stimuli: StimulusSettings,
    responses: ResponseSettings,
    root: str | Path,
    ground_truth_path: str | Path,
    pycortex_filestore: str | Path,
) -> dict:
    """Write the whole miniature under ``root``, its ground truth and the stories' metadata
    (``stimuli.json`` next to the ground truth): :func:`generate_stimuli` then
    :func:`generate_responses`. Returns a summary."""
    t0 = time.perf_counter()
    root = Path(root)
    metadata_path = Path(ground_truth_path).with_name("stimuli.json")
    generate_stimuli(stimuli, root, metadata_path)
    summary = generate_responses(responses, root, ground_truth_path, metadata_path, pycortex_filestore)
    files = [p for paths in stimulus_files(stimuli).values() for p in paths] + response_files(responses)
    summary["bytes"] = sum((root / p).stat().st_size for p in files)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    log.info("demo dataset: %d stories, %d subjects, %d voxels, %.1f MB, %.1f s", len(stimuli.stories),
             len(responses.subjects), summary["n_voxels"], summary["bytes"] / 1e6, summary["seconds"])
    return summary


def write_ground_truth(path, settings: ResponseSettings, space, models, respdict, story_meta, vocab, prototypes, vectors) -> None:
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["description"] = "Ground truth of the generated ds003020 miniature (braintune.data.demo)"
        f.attrs["pycortex_subject"] = demo_cortex.SUBJECT
        f.attrs["pycortex_xfm"] = demo_cortex.XFM
        f.attrs["voxel_mask"] = settings.voxel_mask
        f.attrs["voxel_stride"] = int(settings.voxel_stride)
        f.attrs["n_repeats"] = int(settings.n_repeats)
        f.attrs["shared_weight_fraction"] = float(settings.shared_weight_fraction)
        f.attrs["test_story"] = settings.test_story
        f.attrs["settings"] = json.dumps(settings.params(), sort_keys=True)
        f.attrs["config_hash"] = stable_hash(settings.params())
        f.attrs["respdict"] = json.dumps(respdict, sort_keys=True)
        vox = f.create_group("voxels")
        vox.create_dataset("volume_index", data=space.volume_index.astype(np.int64))
        vox.create_dataset("ijk", data=space.ijk.astype(np.int16))
        vox.attrs["volume_shape"] = space.shape
        sem = f.create_group("semantic")
        sem.create_dataset("words", data=np.array([w for w, _ in vocab], dtype="S"))
        sem.create_dataset("groups", data=np.array([g for _, g in vocab], dtype="S"))
        sem.create_dataset("group_names", data=np.array(list(demo_text.WORD_GROUPS), dtype="S"))
        sem.create_dataset("prototypes", data=prototypes.astype(np.float32))
        sem.create_dataset("vectors", data=vectors.astype(np.float32))
        st = f.create_group("stories")
        for name, meta in story_meta.items():
            g = st.create_group(name)
            for k, v in meta.items():
                g.attrs[k] = v
        for subject, m in models.items():
            g = f.create_group(subject)
            g.create_dataset("nc", data=m.nc.astype(np.float32))
            g.create_dataset("signal_power", data=m.signal_power.astype(np.float32))
            g.create_dataset("weights_auditory", data=m.w_auditory.astype(np.float32))
            g.create_dataset("weights_semantic", data=m.w_semantic.astype(np.float32))
            r = g.create_group("regions")
            for name, mask in m.regions.items():
                r.create_dataset(name, data=mask)
            r.create_dataset("language", data=m.regions["language_temporal"] | m.regions["language_frontal"])
            mem = g.create_group("membership")
            for name, values in m.membership.items():
                mem.create_dataset(name, data=values.astype(np.float32))
