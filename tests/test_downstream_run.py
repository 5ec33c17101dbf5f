"""The downstream rules' functions end to end on a tiny TIMIT-layout fixture with a tiny model:
index -> features (from a save_pretrained checkpoint) -> probes -> CTC ASR -> collect -> figures,
and the preference table from constructed word embeddings."""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from braintune.downstream import embed, figures, run

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def _family():
    cfg = yaml.safe_load(open(REPO / "config" / "config.yaml"))
    return cfg["models"]["wav2vec2"], cfg["downstream"]


def _timit(root: Path):
    rng = np.random.default_rng(0)
    phones = {"SA1": "h# sh iy hh ae d h#", "SX5": "h# k ae t s ae t h#", "SI7": "h# d ao g r ah n h#"}
    for split, speakers in (("TRAIN", ("FAA0", "MBB0", "FCC0", "MDD0")), ("TEST", ("FEE0", "MFF0"))):
        for spk in speakers:
            d = root / split / "DR1" / spk
            d.mkdir(parents=True)
            for k, (sent, phn) in enumerate(phones.items()):
                n = 4000 + 800 * k
                t = np.arange(n) / SR
                audio = 0.2 * np.sin(2 * np.pi * (150 + 100 * k) * t) + 0.01 * rng.standard_normal(n)
                sf.write(d / f"{sent}.WAV", audio.astype(np.float32), SR, format="NIST", subtype="PCM_16")
                labels = phn.split()
                b = np.linspace(0, n, len(labels) + 1).astype(int)
                (d / f"{sent}.PHN").write_text("".join(f"{b[i]} {b[i + 1]} {p}\n" for i, p in enumerate(labels)))
                (d / f"{sent}.TXT").write_text(f"0 {n} {['she had', 'cat sat', 'dog ran'][k]}\n")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from braintune import models

    tmp = tmp_path_factory.mktemp("downstream")
    _timit(tmp / "timit")
    family, ds = _family()
    ds = {**ds, "tasks": ["phonemes", "sentence_type", "mfcc", "fbank", "asr"],
          "datasets": {**ds["datasets"], "timit": {"path": str(tmp / "timit")}},
          "probe": {**ds["probe"], "epochs": {"default": 30}},
          "asr": {**ds["asr"], "steps": 2, "max_test_utterances": 2}}
    config = {"seed": 0, "downstream": ds, "models": {"wav2vec2": family}}
    run.build_index(config, tmp / "index", tmp / "index" / "timit_targets.h5", tmp / "baselines.tsv")
    ckpt = tmp / "ckpt"
    models.build_model(family).save_pretrained(ckpt)
    index = {"timit": str(tmp / "index" / "timit.tsv")}
    for variant, checkpoint in (("pretrained", None), ("braintuned", str(ckpt))):
        run.embed_variant(config, "wav2vec2", variant, "UTS01", checkpoint, index, None, tmp / f"{variant}.h5")
    run.probe_family(config, "wav2vec2", [(v, "UTS01", str(tmp / f"{v}.h5")) for v in ("pretrained", "braintuned")],
                     index, str(tmp / "index" / "timit_targets.h5"), tmp / "probes.tsv")
    run.asr_variant(config, "wav2vec2", "pretrained", "shared", None, index["timit"], tmp / "asr.tsv", tmp / "asr.json")
    return tmp, config


def test_index_targets_and_baselines(pipeline):
    tmp, _ = pipeline
    index = pd.read_csv(tmp / "index" / "timit.tsv", sep="\t")
    assert len(index) == 18 and set(index.split) == {"train", "test"}
    with h5py.File(tmp / "index" / "timit_targets.h5") as h5:
        assert h5["mfcc"].shape == (18, 40) and h5["fbank"].shape == (18, 80)
    base = pd.read_csv(tmp / "baselines.tsv", sep="\t")
    st = base[(base.task == "sentence_type") & (base.metric == "f1_micro")].value.iloc[0]
    assert st == pytest.approx(1 / 3)  # three equally frequent sentence types


def test_max_items_takes_a_seeded_subset_per_split(pipeline, tmp_path):
    tmp, config = pipeline
    ds = {**config["downstream"], "tasks": ["sentence_type"], "max_items": 4}
    run.build_index({**config, "downstream": ds}, tmp_path, tmp_path / "t.h5", tmp_path / "b.tsv")
    sub = pd.read_csv(tmp_path / "timit.tsv", sep="\t")
    full = pd.read_csv(tmp / "index" / "timit.tsv", sep="\t")
    assert sub.split.value_counts().to_dict() == {"train": 4, "test": 4}
    assert set(sub.utt_id) <= set(full.utt_id)
    run.build_index({**config, "downstream": ds}, tmp_path / "again", tmp_path / "t2.h5", tmp_path / "b2.tsv")
    assert pd.read_csv(tmp_path / "again" / "timit.tsv", sep="\t").equals(sub)


def test_features_from_checkpoint_equal_pretrained(pipeline):
    tmp, config = pipeline
    ids_a, a, layers = embed.read_embeddings(tmp / "pretrained.h5", "timit")
    ids_b, b, _ = embed.read_embeddings(tmp / "braintuned.h5", "timit")
    assert ids_a == ids_b and layers == config["models"]["wav2vec2"]["layers"]
    assert a.shape[:2] == (len(layers), 18) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # saved == built: same network


def test_probe_table(pipeline):
    tmp, config = pipeline
    table = pd.read_csv(tmp / "probes.tsv", sep="\t")
    assert set(table.variant) == {"pretrained", "braintuned"} and set(table.owner) == {"UTS01"}
    df = table[table.variant == "pretrained"]
    layers = config["models"]["wav2vec2"]["layers"]
    assert set(df.task) == {"phonemes", "sentence_type", "mfcc", "fbank"}
    assert len(df[(df.task == "phonemes") & (df.metric == "f1_macro")]) == len(layers)
    assert df[df.metric.str.startswith("f1")].value.between(0, 1).all()
    # sentence types differ in pitch and length here: a linear probe separates them
    st = df[(df.task == "sentence_type") & (df.metric == "f1_macro")].value
    assert st.max() > 0.9


def test_asr_and_collect_and_figures(pipeline, tmp_path):
    tmp, config = pipeline
    asr = pd.read_csv(tmp / "asr.tsv", sep="\t")
    acc, wer = (asr.loc[asr.metric == m, "value"].iloc[0] for m in ("one_minus_wer", "wer"))
    assert acc == pytest.approx(1 - wer)
    run.collect([str(tmp / "probes.tsv")], [str(tmp / "asr.tsv")],
                tmp_path / "scores.tsv", tmp_path / "summary.tsv")
    summary = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert set(summary.variant) == {"pretrained", "braintuned"} and (summary.n_parameters > 0).all()
    out = {f"{n}_{e}": tmp_path / f"{n}.{e}" for n in ("fig4", "fig9", "fig10", "fig11", "fig12") for e in ("pdf", "png")}
    figures.downstream_figures(summary, pd.read_csv(tmp / "baselines.tsv", sep="\t"), config["downstream"]["figures"],
                               ["wav2vec2"], 7, out)
    assert all(p.stat().st_size > 1000 for p in out.values())


def test_preference_table_and_fig8(tmp_path):
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "d", "e", "f"]
    ws = pd.DataFrame([("a", "b", "synonym", 1.0), ("a", "c", "homophone", 0.2),
                       ("d", "e", "synonym", 1.0), ("d", "f", "homophone", 0.2)],
                      columns=["target", "neighbour", "relation", "phone_distance"])
    ws.to_csv(tmp_path / "ws.tsv", sep="\t", index=False)
    paths = {}
    for variant, owner in (("pretrained", "shared"), ("braintuned", "UTS01"), ("braintuned", "UTS02")):
        feats = rng.standard_normal((2, 12, 8)).astype(np.float32)
        path = tmp_path / f"{variant}_{owner}.h5"
        embed.write_embeddings(path, {run.WORDS: (words * 2, feats)}, [3, 5], {"n_parameters": 1})
        paths[("wav2vec2", variant, owner)] = str(path)
    config = {"seed": 0, "preference": {"n_random": 3}}
    run.preference_table(config, paths, str(tmp_path / "ws.tsv"), str(tmp_path / "pref.tsv"))
    table = pd.read_csv(tmp_path / "pref.tsv", sep="\t")
    assert len(table) == 6 and set(table.layer) == {3, 5} and (table.n_targets == 2).all()
    assert np.allclose(table.d, table.semantic - table.phonetic, atol=1e-6)
    figures.fig8(table, tmp_path / "fig8.pdf", tmp_path / "fig8.png")
    assert (tmp_path / "fig8.png").stat().st_size > 1000


def test_pooled_features_batching_matches_single_items():
    import torch

    family, _ = _family()
    from braintune import models

    model = models.build_model(family)
    forward, n_valid = embed.model_forward(model, [1, 2])
    rng = np.random.default_rng(0)
    audios = [rng.standard_normal(3200).astype(np.float32) for _ in range(3)] + [rng.standard_normal(4000).astype(np.float32)]
    batched = embed.pooled_features(forward, audios, [1, 2], n_valid, batch_size=8)
    single = embed.pooled_features(forward, audios, [1, 2], n_valid, batch_size=1)
    assert batched.shape == (2, 4, model.config.hidden_size)
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-5)
    with torch.inference_mode():
        direct = models.encoder_forward(model, audios[3][None], [2])[0].mean(dim=1)[0].numpy()
    np.testing.assert_allclose(single[1, 3], direct, rtol=1e-5, atol=1e-6)


def test_slice_segments_reads_each_file_once_and_keeps_order():
    audio = {"a": np.arange(16000, dtype=np.float32), "b": -np.arange(16000, dtype=np.float32)}
    calls = []

    def load(path):
        calls.append(path)
        return audio[path]

    seg = pd.DataFrame({"word": ["x", "y", "z"], "path": ["a", "b", "a"], "start_s": [0.0, 0.5, 0.1],
                        "end_s": [0.1, 0.6, 0.1001]})
    clips = embed.slice_segments(seg, SR, load)
    assert sorted(calls) == ["a", "b"]
    assert clips[0][0] == 0 and len(clips[0]) == 1600 and clips[1][0] == -8000
    assert len(clips[2]) == 400 and clips[2][0] == 1600  # padded to the 25-ms receptive field
