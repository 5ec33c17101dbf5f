"""ds003020 TextGrids: word and phone intervals with times (praatio).

Tier 0 holds phones (ARPAbet with stress digits, e.g. ``AH0``), tier 1 words. Non-speech tokens
(silences, breaths, laughs, ...) are dropped as in the dataset's own code; phone identity ignores
stress, so labels are returned upper-case with the stress digit stripped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from praatio import textgrid

#: Tokens that are not speech (the dataset's ``bad_words`` plus empty intervals).
NON_SPEECH = frozenset({"", "sp", "sil", "br", "lg", "ls", "ns", "cg", "sentence_start", "sentence_end", "{sl}", "{br}", "{lg}", "{ls}", "{ns}", "{cg}", "{sp}"})

_STRESS = re.compile(r"[0-2]$")


@dataclass(frozen=True)
class Interval:
    """A labelled time interval in seconds."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Transcript:
    """Words and phones of one story, non-speech removed."""

    words: list[Interval] = field(default_factory=list)
    phones: list[Interval] = field(default_factory=list)
    end_s: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(w.label for w in self.words)


def strip_stress(phone: str) -> str:
    """``'AH0' -> 'AH'``; labels are upper-cased."""
    return _STRESS.sub("", phone.strip().upper())


def is_speech(label: str) -> bool:
    return label.strip().lower() not in NON_SPEECH


def read_textgrid(path: str | os.PathLike, phone_tier: int = 0, word_tier: int = 1) -> Transcript:
    """Read a ds003020 TextGrid into a :class:`Transcript`.

    Raises:
        FileNotFoundError / ValueError naming the file and what was expected.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: TextGrid missing (a git-annex link without content?)")
    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as err:  # praatio raises several types for malformed files
        raise ValueError(f"{path}: not a readable Praat TextGrid ({err})") from err
    names = grid.tierNames
    if len(names) <= max(phone_tier, word_tier):
        raise ValueError(
            f"{path}: expected a phone tier (index {phone_tier}) and a word tier (index {word_tier}), "
            f"found tiers {list(names)}"
        )
    phones = [
        Interval(float(e.start), float(e.end), strip_stress(e.label))
        for e in grid.getTier(names[phone_tier]).entries
        if is_speech(e.label)
    ]
    words = [
        Interval(float(e.start), float(e.end), e.label.strip().lower())
        for e in grid.getTier(names[word_tier]).entries
        if is_speech(e.label)
    ]
    return Transcript(words=words, phones=phones, end_s=float(grid.maxTimestamp))
