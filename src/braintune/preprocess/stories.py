"""Preprocessing of ds003020 (real or generated): which stories each subject has, the per-story
consistency check of audio, TextGrid and TR grid, and the audio cache.

* :func:`available_stories` is what every stage uses to list a subject's stories of one split. A story
  missing for a subject (UTS04 has no ``life``) follows ``data.missing_story``: ``skip`` drops it
  with a logged warning, ``error`` fails naming the subject and story. The held-out test story can
  never be skipped. What exists is known *before* anything is downloaded or generated, so the DAG is
  the same on every invocation: for OpenNeuro from the download manifest (the dataset's git tree) when
  it has been fetched, else from ``data.download.known_missing``; for the demo from ``data.demo.missing_stories``
  (the stories whose response files the generator leaves out, :mod:`braintune.data.demo_settings`).
* :func:`check_story_timing` compares the three lengths of a story (audio seconds, TextGrid end,
  respdict TR count through :class:`braintune.preprocess.timing.TRGrid`) and fails naming the story and the three
  numbers when they disagree.
* :func:`preprocess_audio` reads, downmixes and resamples every story once (soxr, via
  :func:`braintune.preprocess.audio.load_wav`) and caches float32 mono ``.npy`` files.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from braintune import config as btconfig
from braintune.preprocess.audio import duration_s, load_wav
from braintune.data import layout
from braintune.preprocess.responses import read_respdict
from braintune.preprocess.timing import TRGrid, grid_timing
from braintune.preprocess.transcripts import read_textgrid
from braintune.utils import atomic_output

log = logging.getLogger(__name__)

#: Story splits of the config that :func:`available_stories` understands (``all``: every story).
SPLITS = ("braintuning_train", "braintuning_val", "alignment_train", "lowlevel_train", "multi_train", "multi_val", "test",
          "all")

_warned: set[tuple[str, str]] = set()


class MissingStoryError(ValueError):
    """A story the config needs does not exist for a subject (and may not be skipped)."""


# --- which stories exist ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _manifest_paths(path: str, mtime_ns: int) -> frozenset[str]:
    """Paths of a manifest, cached per (file, modification time): input functions call this per job."""
    from braintune.data.manifest import read_manifest

    return frozenset(read_manifest(path))


def declared_missing(config: dict) -> dict[str, set[str]] | None:
    """``{subject: {stories}}`` absent from the dataset, as far as known at DAG-construction time.

    OpenNeuro: the fetched manifest is the truth (a response file not in the dataset's git tree does
    not exist); before it is fetched, ``data.download.known_missing``. Demo: ``data.demo.missing_stories``
    (what the generator leaves out on purpose).
    """
    subjects = list(config["data"]["subjects"])
    if config["data"]["source"] == "openneuro":
        download = config["data"]["download"]
        manifest = download["manifest"]
        if Path(manifest).exists():
            present = _manifest_paths(str(Path(manifest).resolve()), Path(manifest).stat().st_mtime_ns)
            return {
                s: {st for st in btconfig.all_stories(config) if layout.response_path(s, st) not in present}
                for s in subjects
            }
        known = download["known_missing"]
    else:
        known = config["data"]["demo"]["missing_stories"]
    return {s: set(known.get(s, [])) for s in subjects}


def split_stories(config: dict, split: str) -> list[str]:
    """Stories of one split of the config, in config order."""
    if split not in SPLITS:
        raise ValueError(f"unknown story split '{split}' (expected one of {SPLITS})")
    if split == "all":
        return btconfig.all_stories(config)
    if split == "test":
        return [config["stories"]["test"]]
    if split == "lowlevel_train":
        return btconfig.lowlevel_train_stories(config)
    if split in ("multi_train", "multi_val"):  # the multi-participant brain-tuning (braintuning.multi)
        return btconfig.multi_stories(config, split.removeprefix("multi_"))
    return list(config["stories"][split])


def available_stories(config: dict, subject: str, split: str) -> list[str]:
    """The stories of ``split`` that ``subject`` has, following ``data.missing_story``.

    Raises:
        MissingStoryError: naming subject and story when a story is missing and the rule is
            ``error``, when the test story is missing, or when nothing of the split is left.
    """
    if subject not in config["data"]["subjects"]:
        raise ValueError(f"subject {subject} is not in data.subjects {config['data']['subjects']}")
    wanted = split_stories(config, split)
    missing = (declared_missing(config) or {}).get(subject, set())
    test = config["stories"]["test"]
    rule = config["data"]["missing_story"]
    out = []
    for story in wanted:
        if story not in missing:
            out.append(story)
            continue
        where = f"data.missing_story={rule}: subject {subject} has no story '{story}' ({layout.response_path(subject, story)})"
        if story == test:
            raise MissingStoryError(f"{where}; it is the test story (stories.test) and cannot be skipped")
        if rule == "error":
            raise MissingStoryError(where)
        if (subject, story) not in _warned:
            _warned.add((subject, story))
            log.warning("%s; skipped", where)
    if wanted and not out:
        raise MissingStoryError(f"subject {subject} has none of the stories of stories.{split}: {wanted}")
    return out


def subject_stories(config: dict, subject: str) -> list[str]:
    """Every story any stage needs for ``subject`` (missing ones handled as in available_stories)."""
    return available_stories(config, subject, "all")


# --- the three lengths of a story --------------------------------------------------------------


@dataclass(frozen=True)
class StoryTiming:
    """Lengths of one story. ``grid_end_s`` is when the last TR of the grid ends (audio time)."""

    story: str
    audio_s: float
    textgrid_end_s: float
    n_respdict: int
    n_trs: int
    n_rows: int
    grid_end_s: float


def grid_end_s(grid: TRGrid) -> float:
    """End of the last TR of the grid, in seconds after audio onset."""
    return float(grid.tr_times[-1] + grid.tr_s / 2.0)


def check_story_timing(
    story: str,
    audio_s: float,
    textgrid_end_s: float,
    grid: TRGrid,
    grid_tolerance_trs: float,
    textgrid_tolerance_s: float,
) -> StoryTiming:
    """Check that audio length, TextGrid end and TR count describe the same story.

    The audio must end within ``grid_tolerance_trs`` TRs of the end of the TR grid
    (``n_trs * tr_s - sound_start_s``; in ds003020 the audio covers TRs 5 ... respdict-6, i.e.
    ``2 respdict - 20`` s on the dataset's 2.0 s grid), and the TextGrid must end within
    ``textgrid_tolerance_s`` of the audio.

    Raises:
        ValueError: naming the story and the three numbers.
    """
    end = grid_end_s(grid)
    timing = StoryTiming(story, float(audio_s), float(textgrid_end_s), grid.n_respdict, grid.n_trs, grid.n_rows, end)
    problems = []
    if abs(audio_s - end) > grid_tolerance_trs * grid.tr_s:
        problems.append(
            f"audio and TR grid differ by {audio_s - end:+.2f} s (> {grid_tolerance_trs} TRs = "
            f"{grid_tolerance_trs * grid.tr_s:.2f} s)"
        )
    if abs(textgrid_end_s - audio_s) > textgrid_tolerance_s:
        problems.append(
            f"TextGrid and audio differ by {textgrid_end_s - audio_s:+.2f} s (> {textgrid_tolerance_s} s)"
        )
    if problems:
        raise ValueError(
            f"story '{story}': audio {audio_s:.2f} s, TextGrid end {textgrid_end_s:.2f} s, "
            f"respdict {grid.n_respdict} TRs (grid of {grid.n_trs} TRs x {grid.tr_s} s ending at {end:.2f} s "
            f"after audio onset): " + "; ".join(problems)
        )
    return timing


# --- the audio job ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioSettings:
    """Settings of the audio job: the cache's sample rate, the TR grid and the consistency tolerances."""

    sample_rate: int
    grid_tolerance_trs: float
    textgrid_tolerance_s: float
    timing: dict

    @classmethod
    def from_config(cls, preprocess: dict, timing: dict) -> "AudioSettings":
        """From the ``preprocess`` and ``timing`` sections (only the TR-grid keys of ``timing``)."""
        return cls(
            sample_rate=int(preprocess["sample_rate"]),
            grid_tolerance_trs=float(preprocess["grid_tolerance_trs"]),
            textgrid_tolerance_s=float(preprocess["textgrid_tolerance_s"]),
            timing=grid_timing(timing),
        )

    def params(self) -> dict:
        return asdict(self)


def preprocess_audio(
    settings: AudioSettings,
    wavs: dict[str, str | os.PathLike],
    textgrids: dict[str, str | os.PathLike],
    respdict_path: str | os.PathLike,
    outputs: dict[str, str | os.PathLike],
    table: str | os.PathLike | None = None,
) -> list[StoryTiming]:
    """Cache every story's audio (``{story: wav}``) as float32 mono ``.npy`` (``{story: output}``) at
    ``settings.sample_rate`` after checking it against its TextGrid and respdict TR count.

    Each story is checked (:func:`check_story_timing`) before its ``.npy`` is written (atomically);
    ``table`` receives one TSV row of lengths per story.
    """
    if set(wavs) != set(outputs) or set(textgrids) != set(outputs):
        raise ValueError(f"stories of wavs {sorted(wavs)}, TextGrids {sorted(textgrids)} and outputs {sorted(outputs)} differ")
    respdict = read_respdict(respdict_path)
    rate = settings.sample_rate
    rows = []
    for story, out in outputs.items():
        if story not in respdict:
            raise KeyError(f"{respdict_path}: no entry for story '{story}'")
        audio = load_wav(wavs[story], sample_rate=rate)
        transcript = read_textgrid(textgrids[story])
        grid = TRGrid.from_config(respdict[story], settings.timing)
        row = check_story_timing(
            story,
            duration_s(audio, rate),
            transcript.end_s,
            grid,
            settings.grid_tolerance_trs,
            settings.textgrid_tolerance_s,
        )
        with atomic_output(out) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, audio.astype(np.float32, copy=False))
        log.info(
            "%s: %.2f s audio -> %s (%d samples at %d Hz); TextGrid end %.2f s; %d TRs, %d response rows",
            story, row.audio_s, out, audio.shape[0], rate, row.textgrid_end_s, row.n_trs, row.n_rows,
        )
        rows.append(row)
    if table is not None:
        with atomic_output(table) as tmp:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0]).keys()) if rows else ["story"], delimiter="\t")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in asdict(row).items()})
    return rows
