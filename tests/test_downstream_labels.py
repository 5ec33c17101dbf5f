"""Label maps, the TIMIT 61 -> 39 folding, metrics against scikit-learn, probes and CTC decoding."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from braintune.downstream import asr, labels, probes


def test_folding_covers_61_and_yields_39_classes():
    folded = {labels.fold_phone(p) for p in labels.TIMIT_61}
    assert len(labels.TIMIT_61) == 61
    assert folded == set(labels.TIMIT_39)
    assert len(labels.TIMIT_39) == 39


@pytest.mark.parametrize(
    "src,dst",
    [("bcl", "h#"), ("pau", "h#"), ("epi", "h#"), ("q", "h#"), ("h#", "h#"), ("ao", "aa"), ("ix", "ih"),
     ("ax-h", "ah"), ("ux", "uw"), ("el", "l"), ("em", "m"), ("nx", "n"), ("eng", "ng"), ("zh", "sh"),
     ("hv", "hh"), ("axr", "er"), ("dx", "dx"), ("iy", "iy")],
)
def test_folding_matches_reference(src, dst):
    assert labels.fold_phone(src) == dst


def test_unknown_phone_is_an_error():
    with pytest.raises(ValueError, match="unknown TIMIT phone"):
        labels.fold_phone("xx")


def test_reference_vocab_order():
    # vocab.json of the reference: aa=1 ... h#=16 ... z=39 (index 0 '|' dropped)
    assert labels.TIMIT_39.index("aa") == 0 and labels.TIMIT_39.index("h#") == 15 and labels.TIMIT_39[-1] == "z"
    assert labels.SPEECH_COMMANDS_35[0] == "right" and labels.SPEECH_COMMANDS_35[34] == "four"
    assert len(set(labels.SPEECH_COMMANDS_35)) == 35


def test_arpabet_to_timit_and_multi_hot():
    assert labels.arpabet_to_timit("AH0") == "ah" and labels.arpabet_to_timit("ZH") == "zh"
    y = labels.multi_hot([["aa", "z"], ["h#"]])
    assert y.shape == (2, 39) and y[0, 0] == 1 and y[0, 38] == 1 and y[1].sum() == 1
    with pytest.raises(ValueError):
        labels.multi_hot([["ao"]])  # unfolded label


def test_one_label_map_for_every_split():
    # the reference built a map per split from a set: train and test disagreed. One map here.
    lm = labels.LabelMap.from_splits({"train": ["b", "a", "c"], "test": ["c", "d"]})
    assert lm.classes == ("a", "b", "c", "d")
    assert lm.encode(["c"])[0] == 2
    assert lm.decode(lm.encode(["d", "a"])) == ["d", "a"]
    with pytest.raises(ValueError, match="not in the label map"):
        lm.encode(["e"])
    with pytest.raises(ValueError, match="not among the task's classes"):
        labels.LabelMap.from_splits([["cat", "nope"]], order=labels.SPEECH_COMMANDS_35)


def test_sentence_type():
    assert labels.sentence_type("sx37") == "SX" and labels.sentence_type("SI1027") == "SI"
    with pytest.raises(ValueError):
        labels.sentence_type("XY1")


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    yt, yp = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    m = probes.classification_metrics(yt, yp)
    assert m["f1_macro"] == pytest.approx(f1_score(yt, yp, average="macro"))
    assert m["f1_micro"] == pytest.approx(f1_score(yt, yp, average="micro"))
    assert m["accuracy"] == pytest.approx((yt == yp).mean())
    Yt, Yp = rng.integers(0, 2, (50, 7)), rng.integers(0, 2, (50, 7))
    m = probes.classification_metrics(Yt, Yp)
    assert m["f1_micro"] == pytest.approx(f1_score(Yt, Yp, average="micro"))


def test_majority_baseline():
    pred = probes.majority_baseline(np.array([2, 2, 1, 0, 2]), 4, "multiclass")
    assert pred.tolist() == [2, 2, 2, 2]
    pred = probes.majority_baseline(np.array([[1, 0], [1, 1], [1, 0]]), 2, "multilabel")
    assert pred.tolist() == [[1, 0], [1, 0]]


def _toy(seed, n=240, h=16, c=3):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, h)) * 3
    y = rng.integers(0, c, n)
    x = centers[y] + rng.standard_normal((n, h))
    return x.astype(np.float32), y


def test_probes_learn_separable_problem_above_majority():
    x, y = _toy(0)
    noise = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    xs = np.stack([x, noise])  # layer 0 informative, layer 1 noise
    cfg = probes.ProbeConfig(epochs=150, lr=1e-2, seed=0)
    pred = probes.train_classification_probes(xs[:, :160], y[:160], xs[:, 160:], "multiclass", 3, cfg)
    f1 = [f1_score(y[160:], p, average="macro") for p in pred]
    base = f1_score(y[160:], probes.majority_baseline(y[:160], 80, "multiclass"), average="macro")
    assert f1[0] > 0.95 > base + 0.5
    assert f1[1] < 0.6
    # the batched probe equals an independently fitted linear classifier on the separable layer
    ref = LogisticRegression(max_iter=500).fit(x[:160], y[:160]).predict(x[160:])
    assert (pred[0] == ref).mean() > 0.95


def test_batched_layers_equal_separate_probes():
    x, y = _toy(2, n=60, h=8)
    xs = np.stack([x, x[:, ::-1].copy()])
    cfg = probes.ProbeConfig(epochs=20, seed=3)
    joint = probes.train_classification_probes(xs, y, xs, "multiclass", 3, cfg)
    alone = probes.train_classification_probes(xs[:1], y, xs[:1], "multiclass", 3, cfg)
    assert np.array_equal(joint[0], alone[0])


def test_multilabel_probe():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 10)).astype(np.float32)
    y = (x[:, :4] > 0).astype(np.float32)
    pred = probes.train_classification_probes(x[None, :200], y[:200], x[None, 200:], "multilabel", 4,
                                              probes.ProbeConfig(epochs=200, lr=1e-2))
    assert f1_score(y[200:], pred[0], average="micro") > 0.9


def test_regression_probe_r2():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 12)).astype(np.float32)
    y = x[:, :3] @ rng.standard_normal((3, 5)) + 0.1 * rng.standard_normal((200, 5))
    r2 = probes.train_regression_probes(np.stack([x[:150], rng.standard_normal((150, 12))]), y[:150],
                                        np.stack([x[150:], rng.standard_normal((50, 12))]), y[150:], [0.1, 1, 10])
    assert r2[0] > 0.95 and r2[1] < 0.2


def test_ctc_greedy_decoding_and_wer():
    text = "hi it"
    ids = [asr.VOCAB.index(c) for c in "hh" + "i" + "|" + "i" + "t" + "t"]
    frames = [ids[0], ids[1], 0, ids[2], ids[3], 0, ids[4], ids[5], ids[6], 0]
    logits = np.full((len(frames), len(asr.VOCAB)), -5.0)
    logits[np.arange(len(frames)), frames] = 5.0
    assert asr.greedy_decode(logits) == text
    # a blank between repeats keeps both letters
    logits2 = np.full((3, len(asr.VOCAB)), -5.0)
    logits2[[0, 1, 2], [asr.VOCAB.index("o"), 0, asr.VOCAB.index("o")]] = 5.0
    assert asr.greedy_decode(logits2) == "oo"
    assert asr.word_error_rate(["The cat sat.", "a dog"], ["the cat", "a dog"]) == pytest.approx(1 / 5)
    assert asr.encode_text("It's A b") == [asr.VOCAB.index(c) for c in "it's|a|b"]


def test_ctc_finetuning_learns_a_toy_mapping():
    import torch

    # two "words" whose audio differs in sign: a tiny conv encoder must learn to tell them apart
    rng = np.random.default_rng(0)
    audio = {"a": np.abs(rng.standard_normal(800)).astype(np.float32),
             "b": -np.abs(rng.standard_normal(800)).astype(np.float32)}
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 16, 80, stride=80), torch.nn.GELU())

    def forward(m, batch):
        return m(batch[:, None]).transpose(1, 2)

    result = asr.finetune_ctc(model, forward, 16, [audio["a"], audio["b"]] * 4, ["a", "b"] * 4,
                              [audio["a"], audio["b"]], ["a", "b"], steps=150, batch_size=2, lr=1e-2, seed=0)
    assert result["wer"] == 0.0 and result["accuracy"] == 1.0
    assert result["loss_curve"][-1] < result["loss_curve"][0]
