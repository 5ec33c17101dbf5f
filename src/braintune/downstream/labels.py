"""Label sets of the downstream tasks and the TIMIT 61 -> 39 phone folding.

- TIMIT phones: the 61 labels of the corpus' ``.PHN`` files are folded to the 39 classes of
  Lee & Hon (1989) exactly as the authors' ``eval_phonemes.py`` does (docs/protocol.md §6): closures,
  pauses, epenthetic silence, ``h#``/``#h`` and the glottal stop ``q`` all become the silence class
  ``h#``; ``ao->aa``, ``ix->ih``, ``ax``/``ax-h->ah``, ``ux->uw``, ``el->l``, ``em->m``,
  ``en``/``nx->n``, ``eng->ng``, ``zh->sh``, ``hv->hh``, ``axr->er``; ``dx`` is kept. The 39 classes,
  ordered as the reference's ``vocab.json`` (indices 1..39), are :data:`TIMIT_39`.
- Speech Commands v0.02: the 35 words in the reference's ``label2idx.json`` order.
- CREMA-D: the six emotion codes of the file names.
- TIMIT sentence types: SA (dialect), SI (diverse), SX (compact) -> 0, 1, 2 (reference order).
- :class:`LabelMap` builds ONE class index from the union of every split's labels. The reference's
  SLURP loader built one map per split from a Python ``set`` (train and test indices disagree);
  every task here goes through :meth:`LabelMap.from_splits` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

#: The 61 phone labels of TIMIT's ``.PHN`` files.
TIMIT_61 = (
    "aa", "ae", "ah", "ao", "aw", "ax", "ax-h", "axr", "ay", "b", "bcl", "ch", "d", "dcl", "dh",
    "dx", "eh", "el", "em", "en", "eng", "epi", "er", "ey", "f", "g", "gcl", "h#", "hh", "hv", "ih",
    "ix", "iy", "jh", "k", "kcl", "l", "m", "n", "ng", "nx", "ow", "oy", "p", "pau", "pcl", "q", "r",
    "s", "sh", "t", "tcl", "th", "uh", "uw", "ux", "v", "w", "y", "z", "zh",
)

#: Folding of the 61 TIMIT labels onto 39 classes (labels not listed map to themselves).
FOLD_61_TO_39: dict[str, str] = {
    **{c: "h#" for c in ("bcl", "dcl", "gcl", "kcl", "pcl", "tcl", "pau", "epi", "h#", "#h", "q")},
    "ao": "aa", "ix": "ih", "ax": "ah", "ax-h": "ah", "ux": "uw", "el": "l", "em": "m", "en": "n",
    "nx": "n", "eng": "ng", "zh": "sh", "hv": "hh", "axr": "er",
}

#: The 39 folded classes, in the order of the reference's ``vocab.json`` (its indices 1..39).
TIMIT_39 = (
    "aa", "ae", "ah", "aw", "ay", "b", "ch", "d", "dh", "dx", "eh", "er", "ey", "f", "g", "h#", "hh",
    "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh",
    "uw", "v", "w", "y", "z",
)

#: Speech Commands v0.02 words, in the reference's ``label2idx.json`` order.
SPEECH_COMMANDS_35 = (
    "right", "eight", "cat", "tree", "backward", "learn", "bed", "happy", "go", "dog", "no", "wow",
    "follow", "nine", "left", "stop", "three", "sheila", "one", "bird", "zero", "seven", "up",
    "visual", "marvin", "two", "house", "down", "six", "yes", "on", "five", "forward", "off", "four",
)

#: CREMA-D emotion codes (third ``_`` field of a file name) and their names.
CREMA_D_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
CREMA_D_EMOTION_NAMES = dict(zip(CREMA_D_EMOTIONS, ("anger", "disgust", "fear", "happy", "neutral", "sad")))

#: TIMIT sentence types (the prefix of a sentence id: SA1, SI1027, SX37).
SENTENCE_TYPES = ("SA", "SI", "SX")


def fold_phone(label: str) -> str:
    """Fold one TIMIT-61 label to its 39-class label.

    Raises:
        ValueError: for a label outside the 61 (e.g. a typo in a ``.PHN`` file).
    """
    key = label.strip().lower()
    if key not in FOLD_61_TO_39 and key not in TIMIT_61:
        raise ValueError(f"unknown TIMIT phone label {label!r} (expected one of the 61 TIMIT labels)")
    return FOLD_61_TO_39.get(key, key)


def arpabet_to_timit(phone: str) -> str:
    """A CMU ARPAbet phone (stress digits allowed, any case) as a TIMIT-61 label.

    The 39 CMU phones are a subset of TIMIT's 61 labels once lower-cased; used to write the demo's
    TIMIT-layout stand-in from synthesised ARPAbet phones.
    """
    label = phone.strip().rstrip("012").lower()
    if label not in TIMIT_61:
        raise ValueError(f"ARPAbet phone {phone!r} has no TIMIT label")
    return label


def multi_hot(phone_sets: Iterable[Iterable[str]], classes: Sequence[str] = TIMIT_39) -> np.ndarray:
    """(N, C) float32 indicator of which classes occur in each item (multi-label targets)."""
    index = {c: i for i, c in enumerate(classes)}
    rows = list(phone_sets)
    out = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for i, phones in enumerate(rows):
        for p in phones:
            if p not in index:
                raise ValueError(f"label {p!r} of item {i} is not one of the {len(classes)} classes")
            out[i, index[p]] = 1.0
    return out


def sentence_type(sentence_id: str) -> str:
    """``SA``/``SI``/``SX`` of a TIMIT sentence id such as ``SX37`` or ``si1027``."""
    prefix = sentence_id[:2].upper()
    if prefix not in SENTENCE_TYPES:
        raise ValueError(f"TIMIT sentence id {sentence_id!r} does not start with SA, SI or SX")
    return prefix


@dataclass(frozen=True)
class LabelMap:
    """One class index shared by every split of a task."""

    classes: tuple[str, ...]

    @classmethod
    def from_splits(cls, splits: Mapping[str, Iterable[str]] | Iterable[Iterable[str]],
                    order: Sequence[str] | None = None) -> "LabelMap":
        """Build the map from the union of the labels of all splits.

        Args:
            splits: labels per split (a mapping or a sequence of iterables).
            order: a canonical class order (e.g. :data:`SPEECH_COMMANDS_35`); labels outside it are an
                error. Without it, classes are sorted.
        """
        groups = splits.values() if isinstance(splits, Mapping) else splits
        seen: set[str] = set()
        for labels in groups:
            seen.update(str(x) for x in labels)
        if order is not None:
            extra = sorted(seen - set(order))
            if extra:
                raise ValueError(f"labels {extra} are not among the task's classes {list(order)}")
            return cls(tuple(order))
        return cls(tuple(sorted(seen)))

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, labels: Iterable[str]) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        try:
            return np.array([index[str(x)] for x in labels], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"label {err.args[0]!r} is not in the label map {list(self.classes)}") from None

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self.classes[int(i)] for i in indices]
