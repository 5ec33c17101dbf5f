"""Semantic-phonetic preference: lexical resources, phone distances, word segments and d per layer."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from braintune.preference import analysis as P


def test_phone_distance_is_edits_over_source_length():
    d = P.phone_distance_matrix([("D", "IH", "V", "AY", "N")], [("D", "IH", "V", "AY", "D"), ("G", "AA", "D")])
    assert d[0, 0] == pytest.approx(1 / 5)
    assert d[0, 1] == pytest.approx(5 / 5)


def test_lexical_resources_offline():
    pron = P.cmu_pronunciations()
    assert pron["divine"] == ("D", "IH", "V", "AY", "N")
    syn = P.load_synonyms("wordnet")
    assert "fast" in syn["quick"] and "big" in syn["large"]


def test_word_set_rules():
    pron = {"divine": ("D", "IH", "V", "AY", "N"), "divide": ("D", "IH", "V", "AY", "D"),
            "god": ("G", "AA", "D"), "define": ("D", "IH", "F", "AY", "N"), "diving": ("D", "AY", "V", "IH", "NG"),
            "cat": ("K", "AE", "T")}
    syn = {"divine": {"god", "divide"}, "god": {"divine"}}
    ws = P.build_word_set(pron, pron, syn, n_words=10)
    rows = ws[ws.target == "divine"]
    assert set(rows.loc[rows.relation == "synonym", "neighbour"]) == {"god"}  # divide: too close to be a synonym
    assert set(rows.loc[rows.relation == "homophone", "neighbour"]) == {"define"}  # divide is a synonym here
    assert (rows.loc[rows.relation == "homophone", "phone_distance"] <= 0.4).all()
    assert "cat" not in set(ws.target)


def test_synonym_file(tmp_path):
    path = tmp_path / "syn.tsv"
    path.write_text("# comment\nbig\tlarge\n")
    assert P.load_synonyms(str(path))["large"] == {"big"}
    path.write_text("big\n")
    with pytest.raises(ValueError, match="word<TAB>synonym"):
        P.read_synonym_file(path)


def test_find_word_segments(tmp_path):
    from praatio import textgrid

    for k in range(3):
        stem = tmp_path / f"spk{k}" / f"utt{k}"
        stem.parent.mkdir()
        sf.write(str(stem) + ".wav", np.zeros(16000, np.float32), 16000)
        grid = textgrid.Textgrid()
        grid.addTier(textgrid.IntervalTier("words", [(0.1, 0.4, "I"), (0.4, 0.8, "divine")], 0, 1.0))
        grid.save(str(stem) + ".TextGrid", format="short_textgrid", includeBlankSpaces=True)
    seg = P.find_word_segments(tmp_path, ["divine", "god"], max_instances=2)
    assert list(seg.word) == ["divine", "divine"]
    assert seg.start_s.iloc[0] == pytest.approx(0.4) and seg.end_s.iloc[0] == pytest.approx(0.8)
    assert P.corpus_vocabulary(tmp_path) == {"i", "divine"}
    with pytest.raises(ValueError, match="no tier 'wrd'"):
        P.find_word_segments(tmp_path, ["divine"], 2, word_tier="wrd")



def test_word_segment_paths_follow_the_configured_corpus_directory(tmp_path, monkeypatch):
    """A corpus configured relative to the workspace gives relative occurrence paths (relocatable)."""
    from praatio import textgrid

    stem = tmp_path / "corpus" / "spk0" / "utt0"
    stem.parent.mkdir(parents=True)
    sf.write(str(stem) + ".wav", np.zeros(16000, np.float32), 16000)
    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier("words", [(0.4, 0.8, "divine")], 0, 1.0))
    grid.save(str(stem) + ".TextGrid", format="short_textgrid", includeBlankSpaces=True)
    monkeypatch.chdir(tmp_path)
    seg = P.find_word_segments("corpus", ["divine"], max_instances=2)
    assert list(seg.path) == ["corpus/spk0/utt0.wav"]


def _word_set():
    return pd.DataFrame(
        [("w0", "s0", "synonym", 1.0), ("w0", "h0", "homophone", 0.2),
         ("w1", "s1", "synonym", 1.0), ("w1", "h1", "homophone", 0.2)],
        columns=["target", "neighbour", "relation", "phone_distance"])


def test_d_on_constructed_embeddings():
    rng = np.random.default_rng(0)
    words = ["h0", "h1", "s0", "s1", "w0", "w1", "x0", "x1"]
    base = {w: rng.standard_normal(32) for w in words}
    emb = np.zeros((2, len(words), 32))
    for i, w in enumerate(words):
        emb[:, i] = base[w]
    # layer 0 "phonetic": homophones are near copies of their target; layer 1 "semantic": synonyms are
    for t in ("0", "1"):
        emb[0, words.index("h" + t)] = base["w" + t] + 0.1 * rng.standard_normal(32)
        emb[1, words.index("s" + t)] = base["w" + t] + 0.1 * rng.standard_normal(32)
    res = P.preference_per_layer(emb.astype(np.float32), words, _word_set(), n_random=3)
    assert res.d[0] > 0.5 and res.d[1] < -0.5
    assert res.phonetic[0] < res.random[0] and res.semantic[1] < res.random[1]
    assert (res.n_targets == 2).all()
    # d is exactly the mean of (semantic - phonetic) cosine distances
    cos = lambda a, b: 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    expect = np.mean([cos(emb[0, words.index("w" + t)], emb[0, words.index("s" + t)])
                      - cos(emb[0, words.index("w" + t)], emb[0, words.index("h" + t)]) for t in "01"])
    assert res.d[0] == pytest.approx(expect, rel=1e-5)


def test_word_means_average_occurrences():
    emb = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    means, order = P.word_means(emb, ["b", "a", "b", "a"])
    assert order == ["a", "b"]
    assert np.allclose(means[0, 0], emb[0, [1, 3]].mean(0)) and np.allclose(means[0, 1], emb[0, [0, 2]].mean(0))


def test_no_usable_target_is_an_error():
    with pytest.raises(ValueError, match="both a synonym and a near-homophone"):
        P.preference_per_layer(np.zeros((1, 2, 3), np.float32), ["w0", "s0"], _word_set())


def test_a_missing_aligned_corpus_is_named_with_what_to_obtain(tmp_path):
    from braintune.preference.run import corpus_problem

    problem = corpus_problem(tmp_path / "librispeech_aligned")
    assert "preference.corpus.path" in problem and "librispeech_aligned" in problem and "TextGrid" in problem
    (tmp_path / "empty").mkdir()
    assert "preference.corpus.path" in corpus_problem(tmp_path / "empty")
    (tmp_path / "aligned" / "speaker").mkdir(parents=True)
    (tmp_path / "aligned" / "speaker" / "utt.TextGrid").touch()
    assert corpus_problem(tmp_path / "aligned") is None
