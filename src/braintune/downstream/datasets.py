"""Readers of the downstream corpora in their standard on-disk layouts.

Every reader returns a tidy :class:`pandas.DataFrame`, one row per utterance, with the columns of
:data:`INDEX_COLUMNS`:

``utt_id``   unique id inside the corpus (relative path without extension)
``split``    ``train`` / ``valid`` / ``test`` (the dataset's standard, speaker-disjoint split)
``speaker``  speaker / actor id (empty for SLURP, whose jsonl has none; its splits are official)
``path``     audio path: the corpus directory as configured joined with the file's path inside it
             (relative to the workspace when the corpus is configured relative to it)
``label``    the task's class label (TIMIT: sentence type; Commands: word; CREMA-D: emotion code;
             SLURP: action)
``text``     orthographic transcript when the corpus has one (TIMIT, SLURP), else ``""``
``phones``   TIMIT only: the utterance's folded 39-class phone sequence, space separated

Layouts (the same readers run on the generated demo stand-ins, written in these layouts):

- **TIMIT**, LDC original (``TIMIT/TRAIN/DR1/FCJF0/SA1.WAV`` NIST SPHERE, ``.PHN``, ``.WRD``, ``.TXT``;
  either case) or the Kaggle copy (``data/TRAIN/DR1/FCJF0/SA1.WAV.wav`` RIFF next to the SPHERE file).
  Splits: the standard ``TRAIN`` (462 speakers) / ``TEST`` (168 speakers) directories.
- **Speech Commands v0.02**: ``{word}/{speaker}_nohash_{n}.wav`` with ``validation_list.txt`` and
  ``testing_list.txt``; ``_background_noise_`` is skipped.
- **CREMA-D**: ``AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav``. The corpus has no official split:
  actors are split (speaker-disjoint) by a seeded permutation, ``test_fraction`` of them to test.
- **SLURP**: ``dataset/slurp/{train,devel,test}.jsonl`` and ``audio/slurp_real/*.flac``; the first
  recording of every item is used (as the reference), label = ``action``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from braintune.downstream.labels import (
    CREMA_D_EMOTIONS,
    SPEECH_COMMANDS_35,
    fold_phone,
    sentence_type,
)

log = logging.getLogger("braintune.downstream.datasets")

INDEX_COLUMNS = ("utt_id", "split", "speaker", "path", "label", "text", "phones")
CORPORA = ("timit", "speech_commands", "crema_d", "slurp")


class DatasetMissingError(FileNotFoundError):
    """A configured dataset path does not hold the expected layout; the message says how to fix it."""


def _frame(rows: list[dict], source: Path, corpus: str) -> pd.DataFrame:
    if not rows:
        raise DatasetMissingError(f"{source}: no {corpus} utterances found in the expected layout")
    df = pd.DataFrame(rows)
    for col in INDEX_COLUMNS:
        if col not in df:
            df[col] = ""
    df = df[list(INDEX_COLUMNS)].sort_values(["split", "utt_id"], kind="stable").reset_index(drop=True)
    dup = df["utt_id"][df["utt_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate {corpus} utterance ids, e.g. {dup.iloc[0]!r}")
    return df


def _child(parent: Path, name: str) -> Path | None:
    """``parent/name`` matched case-insensitively (TIMIT ships upper- and lower-case copies)."""
    direct = parent / name
    if direct.exists():
        return direct
    if parent.is_dir():
        for entry in parent.iterdir():
            if entry.name.lower() == name.lower():
                return entry
    return None


# --- TIMIT ------------------------------------------------------------------------------------


TIMIT_HINT = (
    "TIMIT (LDC93S1) is licensed by the LDC and cannot be downloaded by the pipeline: obtain it, then "
    "set downstream.datasets.timit.path to the directory holding TRAIN/ and TEST/ (LDC layout) or "
    "data/TRAIN, data/TEST (Kaggle copy) in the config file (or a copy of it passed with --configfile); "
    "config/README.md, section 'Running on the real data', explains each corpus path"
)


def find_timit_root(path: str | os.PathLike) -> Path:
    """The directory that holds TIMIT's ``TRAIN`` and ``TEST`` folders under ``path``."""
    path = Path(path)
    for candidate in (path, path / "data", path / "TIMIT", path / "timit", path / "data" / "TIMIT"):
        if _child(candidate, "TRAIN") is not None and _child(candidate, "TEST") is not None:
            return candidate
    raise DatasetMissingError(f"{path}: no TIMIT TRAIN/ and TEST/ directories found. {TIMIT_HINT}")


def _timit_audio(stem: Path) -> Path:
    """Audio of a TIMIT sentence: the Kaggle RIFF copy (``SA1.WAV.wav``) if present, else the SPHERE file."""
    for suffix in (".WAV.wav", ".wav.wav", ".WAV", ".wav"):
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    raise DatasetMissingError(f"{stem}: no audio (.WAV / .WAV.wav) next to the .PHN file")


def read_phn(path: str | os.PathLike) -> list[tuple[int, int, str]]:
    """A TIMIT ``.PHN``/``.WRD`` file: ``(start_sample, end_sample, label)`` per line."""
    out = []
    with open(path) as handle:
        for lineno, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise ValueError(f"{path}:{lineno}: expected 'start end label', got {line.strip()!r}")
            out.append((int(parts[0]), int(parts[1]), parts[2]))
    return out


def read_timit(path: str | os.PathLike) -> pd.DataFrame:
    """Index a TIMIT copy (LDC or Kaggle layout): every sentence of TRAIN and TEST."""
    root = find_timit_root(path)
    rows = []
    for split_dir_name, split in (("TRAIN", "train"), ("TEST", "test")):
        split_dir = _child(root, split_dir_name)
        for phn in sorted(split_dir.glob("*/*/*")):
            if phn.suffix.lower() != ".phn":
                continue
            stem = phn.with_suffix("")
            speaker = phn.parent.name.upper()
            sentence = stem.name.upper()
            txt = next((p for p in (stem.with_suffix(".TXT"), stem.with_suffix(".txt")) if p.exists()), None)
            text = ""
            if txt is not None:
                parts = txt.read_text().split(maxsplit=2)
                text = parts[2].strip() if len(parts) == 3 else ""
            phones = [fold_phone(label) for _, _, label in read_phn(phn)]
            rows.append(
                {
                    "utt_id": f"{split_dir_name}/{phn.parent.parent.name.upper()}/{speaker}/{sentence}",
                    "split": split,
                    "speaker": speaker,
                    "path": str(_timit_audio(stem)),
                    "label": sentence_type(sentence),
                    "text": text,
                    "phones": " ".join(phones),
                }
            )
    df = _frame(rows, root, "TIMIT")
    shared = set(df.loc[df.split == "train", "speaker"]) & set(df.loc[df.split == "test", "speaker"])
    if shared:
        raise ValueError(f"{root}: TIMIT speakers in both TRAIN and TEST: {sorted(shared)[:5]}")
    return df


# --- Speech Commands --------------------------------------------------------------------------


def read_speech_commands(path: str | os.PathLike, words=SPEECH_COMMANDS_35) -> pd.DataFrame:
    """Index Speech Commands v0.02 (``{word}/{speaker}_nohash_{n}.wav`` + the two split lists)."""
    root = Path(path)
    lists = {}
    for name, split in (("validation_list.txt", "valid"), ("testing_list.txt", "test")):
        list_path = root / name
        if not list_path.exists():
            raise DatasetMissingError(
                f"{list_path}: missing; downstream.datasets.speech_commands.path must point at the extracted "
                "speech_commands_v0.02 archive (the download rule writes it)"
            )
        for line in list_path.read_text().split():
            lists[line.strip()] = split
    rows = []
    for word in words:
        word_dir = root / word
        if not word_dir.is_dir():
            raise DatasetMissingError(f"{word_dir}: missing word directory of Speech Commands")
        for wav in sorted(word_dir.glob("*.wav")):
            rel = f"{word}/{wav.name}"
            rows.append(
                {
                    "utt_id": rel[:-4],
                    "split": lists.get(rel, "train"),
                    "speaker": wav.name.split("_nohash_")[0],
                    "path": str(wav),
                    "label": word,
                }
            )
    return _frame(rows, root, "Speech Commands")


# --- CREMA-D ----------------------------------------------------------------------------------


def crema_d_actor_split(actors, test_fraction: float, seed: int) -> dict[str, str]:
    """Speaker-disjoint split of CREMA-D actors: a seeded permutation, ``test_fraction`` to test."""
    actors = sorted(set(actors))
    n_test = max(1, int(round(test_fraction * len(actors))))
    if n_test >= len(actors):
        raise ValueError(f"CREMA-D split: {len(actors)} actors cannot give {n_test} test actors and a train set")
    order = np.random.default_rng(seed).permutation(len(actors))
    test = {actors[i] for i in order[:n_test]}
    return {a: ("test" if a in test else "train") for a in actors}


def read_crema_d(path: str | os.PathLike, test_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Index CREMA-D (``AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav``)."""
    root = Path(path)
    audio_dir = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    wavs = sorted(audio_dir.glob("*.wav"))
    if not wavs:
        raise DatasetMissingError(
            f"{audio_dir}: no CREMA-D wav files; downstream.datasets.crema_d.path must hold AudioWAV/ "
            "(the download rule writes it)"
        )
    parsed = []
    for wav in wavs:
        parts = wav.stem.split("_")
        if len(parts) != 4 or parts[2] not in CREMA_D_EMOTIONS:
            raise ValueError(f"{wav}: expected ACTOR_SENTENCE_EMOTION_LEVEL.wav with EMOTION in {CREMA_D_EMOTIONS}")
        parsed.append((wav, parts))
    split_of = crema_d_actor_split([p[0] for _, p in parsed], test_fraction, seed)
    rows = [
        {"utt_id": wav.stem, "split": split_of[p[0]], "speaker": p[0], "path": str(wav),
         "label": p[2], "text": p[1]}
        for wav, p in parsed
    ]
    return _frame(rows, root, "CREMA-D")


# --- SLURP ------------------------------------------------------------------------------------

SLURP_SPLITS = {"train": "train", "devel": "valid", "test": "test"}


def read_slurp(path: str | os.PathLike, label_key: str = "action", audio_subdir: str = "audio/slurp_real",
               recording: str = "first") -> pd.DataFrame:
    """Index SLURP's official splits (``dataset/slurp/{train,devel,test}.jsonl``)."""
    root = Path(path)
    text_dir = root / "dataset" / "slurp"
    audio_dir = root / audio_subdir
    rows = []
    for name, split in SLURP_SPLITS.items():
        jsonl = text_dir / f"{name}.jsonl"
        if not jsonl.exists():
            raise DatasetMissingError(f"{jsonl}: missing; downstream.datasets.slurp.path must hold dataset/slurp/*.jsonl")
        with open(jsonl) as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                item = json.loads(line)
                if label_key not in item or not item.get("recordings"):
                    raise ValueError(f"{jsonl}:{lineno}: item without '{label_key}' or 'recordings'")
                recs = item["recordings"] if recording == "all" else item["recordings"][:1]
                for rec in recs:
                    audio = audio_dir / rec["file"]
                    rows.append(
                        {
                            "utt_id": f"{name}/{item['slurp_id']}/{Path(rec['file']).stem}",
                            "split": split,
                            "path": str(audio),
                            "label": str(item[label_key]),
                            "text": item.get("sentence", ""),
                        }
                    )
    df = _frame(rows, root, "SLURP")
    missing = [p for p in df["path"] if not os.path.exists(p)]
    if missing:
        raise DatasetMissingError(f"{audio_dir}: {len(missing)} SLURP recordings missing, e.g. {missing[0]}")
    return df


READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "timit": read_timit,
    "speech_commands": read_speech_commands,
    "crema_d": read_crema_d,
    "slurp": read_slurp,
}


def read_corpus(name: str, cfg: dict, seed: int = 0) -> pd.DataFrame:
    """Read corpus ``name`` from its config entry (``downstream.datasets.<name>``)."""
    path = cfg["path"]
    if not path:
        hint = TIMIT_HINT if name == "timit" else f"set downstream.datasets.{name}.path"
        raise DatasetMissingError(f"downstream.datasets.{name}.path is not set. {hint}")
    if not Path(path).exists():
        hint = TIMIT_HINT if name == "timit" else "run the download rule or fix the path"
        raise DatasetMissingError(f"downstream.datasets.{name}.path = {path}: does not exist. {hint}")
    if name == "crema_d":
        return read_crema_d(path, cfg["test_fraction"], seed)
    if name == "slurp":
        return read_slurp(path, cfg["label"], cfg["audio_subdir"])
    return READERS[name](path)


def load_utterance(path: str, sample_rate: int, max_s: float | None = None) -> np.ndarray:
    """Audio of one utterance as float32 mono at ``sample_rate`` (truncated to ``max_s`` seconds)."""
    from braintune.preprocess.audio import load_wav

    audio = load_wav(path, sample_rate)
    if max_s:
        audio = audio[: int(round(max_s * sample_rate))]
    return audio
