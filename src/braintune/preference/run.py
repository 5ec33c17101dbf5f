"""What the preference rules run: one job function per rule, each taking its input and output paths and a
frozen settings object built from the ``preference`` config section (docs/artifacts.md, stage preference).
The word occurrences are embedded by the downstream stage (``downstream_embed``, group ``words``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from braintune.downstream.run import WORDS
from braintune.preference import analysis
from braintune.utils import atomic_output

log = logging.getLogger("braintune.preference.run")


CORPUS_HINT = (
    "The semantic-phonetic preference needs a word-aligned speech corpus that the pipeline cannot download: "
    "audio files with a Praat TextGrid of the same stem holding a word tier (preference.corpus.word_tier), "
    "in any folder layout, e.g. LibriSpeech test-clean with Montreal Forced Aligner TextGrids (`mfa align` "
    "output, or a published LibriSpeech alignment). Put it in a folder and set preference.corpus.path to it "
    "(config/README.md, 'Running on the real data')."
)


def corpus_problem(path: str | os.PathLike) -> str | None:
    """Why ``preference.corpus.path`` cannot serve as the aligned corpus, or None (checked when the DAG is
    built, not hours in at ``preference_wordset``)."""
    corpus = Path(path)
    if corpus.is_dir() and next(corpus.rglob("*.TextGrid"), None) is not None:
        return None
    return f"preference.corpus.path = {str(path)!r} is not a folder holding TextGrid files. {CORPUS_HINT}"


@dataclass(frozen=True)
class WordSetSettings:
    """What defines the word set and the occurrences to embed."""

    synonyms: str
    n_words: int
    max_phonetic_distance: float
    max_neighbours: int
    max_instances: int
    corpus: str  #: ``preference.corpus.path``: the aligned corpus (audio + TextGrid of the same stem)
    word_tier: str
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "WordSetSettings":
        return cls(section["synonyms"], section["n_words"], section["max_phonetic_distance"], section["max_neighbours"],
                   section["max_instances"], section["corpus"]["path"], section["corpus"]["word_tier"], seed)


@dataclass(frozen=True)
class PreferenceSettings:
    """What defines d per layer of every model."""

    n_random: int
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "PreferenceSettings":
        return cls(section["n_random"], seed)


# --- rule preference_wordset -----------------------------------------------------------------


def build_word_set(settings: WordSetSettings, out_wordset: str | os.PathLike, out_segments: str | os.PathLike) -> None:
    """Word set (targets, synonyms, near-homophones) and the word occurrences to embed. Occurrence paths
    are the corpus directory as configured joined with the file's path inside it."""
    pron = analysis.cmu_pronunciations()
    synonyms = analysis.load_synonyms(settings.synonyms)
    vocab = analysis.corpus_vocabulary(settings.corpus, settings.word_tier)
    ws = analysis.build_word_set(vocab, pron, synonyms, settings.n_words, settings.max_phonetic_distance,
                                 settings.max_neighbours, settings.seed)
    words = sorted(set(ws.target) | set(ws.neighbour))
    seg = analysis.find_word_segments(settings.corpus, words, settings.max_instances, settings.word_tier, settings.seed)
    ws = ws[ws.target.isin(seg.word) & ws.neighbour.isin(seg.word)]
    log.info("word set: %d targets, %d pairs, %d occurrences", ws.target.nunique(), len(ws), len(seg))
    with atomic_output(out_wordset) as tmp:
        ws.to_csv(tmp, sep="\t", index=False)
    with atomic_output(out_segments) as tmp:
        seg.to_csv(tmp, sep="\t", index=False)


# --- rule preference_d -----------------------------------------------------------------------


def preference_table(settings: PreferenceSettings, embeddings: Mapping[tuple[str, str, str], str], wordset: str,
                     out_path: str | os.PathLike, out_means: str | os.PathLike) -> None:
    """d per layer for every model ``(family, variant, owner) -> embeddings file`` (tidy TSV), and its mean
    and standard error across participants per family x variant x layer (what fig. 8 shows)."""
    from braintune.downstream import embed
    from braintune.statistics import summarise

    ws = pd.read_csv(wordset, sep="\t", keep_default_na=False)
    rows = []
    for (family, variant, owner), path in sorted(embeddings.items()):
        words, feats, layers = embed.read_embeddings(path, WORDS)
        means, order = analysis.word_means(feats, words)
        res = analysis.preference_per_layer(means, order, ws, settings.n_random, settings.seed)
        res.insert(0, "layer", [layers[i] for i in res.pop("layer_index")])
        res.insert(0, "owner", owner)
        res.insert(0, "variant", variant)
        res.insert(0, "family", family)
        rows.append(res)
    table = pd.concat(rows, ignore_index=True)
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_output(out_means) as tmp:
        summarise(table, "d", ("family", "variant", "layer"), unit="owner").to_csv(tmp, sep="\t", index=False)
