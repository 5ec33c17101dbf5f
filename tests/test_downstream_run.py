"""The downstream rules' job functions end to end on a tiny TIMIT-layout fixture with a tiny model:
index -> features (from a save_pretrained checkpoint) -> probes -> CTC ASR -> collect -> figures,
and the preference table and its figure from constructed word embeddings."""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from braintune import config as btconfig
from braintune.downstream import embed, run
from braintune.downstream.tables import read_means
from braintune.figures import downstream as figdownstream
from braintune.figures import preference as figpreference
from braintune.preference import run as prefrun
from braintune.preference.tables import read_means as read_preference_means

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def _family():
    cfg = btconfig.load_config(REPO / "config" / "config.yaml")
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


def _embed(settings, index, checkpoint, out, batch_size=8, segments=None):
    run.embed_variant(settings, index, segments, checkpoint, out, {"family": "wav2vec2", "variant": "v", "owner": "o"},
                      batch_size)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from braintune.features import models

    tmp = tmp_path_factory.mktemp("downstream")
    _timit(tmp / "timit")
    family, ds = _family()
    ds = {**ds, "tasks": ["phonemes", "sentence_type", "mfcc", "fbank", "asr"],
          "datasets": {**ds["datasets"], "timit": {"path": str(tmp / "timit")}},
          "probe": {**ds["probe"], "epochs": {"default": 30}},
          "asr": {**ds["asr"], "steps": 2, "max_test_utterances": 2}}
    index = {"timit": str(tmp / "index" / "timit.tsv")}
    run.build_index(run.IndexSettings.from_config(ds, 0), index, tmp / "index" / "timit_targets.h5", tmp / "baselines.tsv")
    ckpt = tmp / "ckpt"
    models.build_model(family).save_pretrained(ckpt)
    embed_settings = run.EmbedSettings.from_config(ds, family, "cpu", 0)
    for variant, checkpoint in (("pretrained", None), ("braintuned", str(ckpt))):
        _embed(embed_settings, index, checkpoint, tmp / f"{variant}.h5")
    run.probe_family(run.ProbeSettings.from_config(ds, 0), "wav2vec2",
                     [(v, "UTS01", str(tmp / f"{v}.h5")) for v in ("pretrained", "braintuned")],
                     index, str(tmp / "index" / "timit_targets.h5"), tmp / "probes.tsv")
    run.asr_variant(run.AsrSettings.from_config(ds, family, "cpu", 0), index["timit"], None, tmp / "asr.tsv",
                    tmp / "asr.json", {"family": "wav2vec2", "variant": "pretrained", "owner": "shared"})
    figures = btconfig.load_config(REPO / "config" / "config.yaml")["figures"]
    return tmp, {"seed": 0, "downstream": ds, "figures": figures, "models": {"wav2vec2": family}}


def test_index_targets_and_baselines(pipeline):
    tmp, _ = pipeline
    index = pd.read_csv(tmp / "index" / "timit.tsv", sep="\t")
    assert len(index) == 18 and set(index.split) == {"train", "test"}
    with h5py.File(tmp / "index" / "timit_targets.h5") as h5:
        assert h5["mfcc"].shape == (18, 40) and h5["fbank"].shape == (18, 80)
    base = pd.read_csv(tmp / "baselines.tsv", sep="\t")
    st = base[(base.task == "sentence_type") & (base.metric == "f1_micro")].value.iloc[0]
    assert st == pytest.approx(1 / 3)  # three equally frequent sentence types


def test_index_paths_are_relative_to_the_configured_corpus_directory(pipeline, tmp_path, monkeypatch):
    tmp, config = pipeline
    monkeypatch.chdir(tmp)  # the workspace; the corpus configured relative to it
    ds = {**config["downstream"], "tasks": ["sentence_type"], "datasets": {"timit": {"path": "timit"}}}
    run.build_index(run.IndexSettings.from_config(ds, 0), {"timit": tmp_path / "timit.tsv"}, tmp_path / "t.h5",
                    tmp_path / "b.tsv")
    paths = pd.read_csv(tmp_path / "timit.tsv", sep="\t").path
    assert all(p.startswith("timit/") for p in paths)
    assert len(run.read_index(tmp_path / "timit.tsv")) == len(paths)
    monkeypatch.chdir(tmp_path)  # a workspace without the corpus: the reader names the index file
    with pytest.raises(FileNotFoundError, match="timit.tsv: column 'path' lists 18 missing audio files"):
        run.read_index(tmp_path / "timit.tsv")


def test_max_items_takes_a_seeded_subset_per_split(pipeline, tmp_path):
    tmp, config = pipeline
    settings = run.IndexSettings.from_config({**config["downstream"], "tasks": ["sentence_type"], "max_items": 4}, 0)
    run.build_index(settings, {"timit": tmp_path / "timit.tsv"}, tmp_path / "t.h5", tmp_path / "b.tsv")
    sub = pd.read_csv(tmp_path / "timit.tsv", sep="\t")
    full = pd.read_csv(tmp / "index" / "timit.tsv", sep="\t")
    assert sub.split.value_counts().to_dict() == {"train": 4, "test": 4}
    assert set(sub.utt_id) <= set(full.utt_id)
    run.build_index(settings, {"timit": tmp_path / "again.tsv"}, tmp_path / "t2.h5", tmp_path / "b2.tsv")
    assert pd.read_csv(tmp_path / "again.tsv", sep="\t").equals(sub)


def test_settings_hold_only_result_changing_keys(pipeline):
    _, config = pipeline
    ds = config["downstream"]
    family = config["models"]["wav2vec2"]
    embed_settings = run.EmbedSettings.from_config(ds, family, "cpu", 0)
    assert embed_settings == run.EmbedSettings.from_config({**ds, "embed_batch_size": 1}, family, "cpu", 0)
    assert embed_settings == run.EmbedSettings.from_config(ds, {**family, "variants": ["pretrained"]}, "cpu", 0)
    asr = run.AsrSettings.from_config(ds, family, "cpu", 0)
    assert asr == run.AsrSettings.from_config({**ds, "asr": {**ds["asr"], "variants": None, "architectures": []}},
                                              family, "cpu", 0)
    index = run.IndexSettings.from_config(ds, 0)
    manifest = {**ds["datasets"]["timit"], "download": {"url": "elsewhere"}}
    assert index == run.IndexSettings.from_config({**ds, "datasets": {**ds["datasets"], "timit": manifest}}, 0)


def test_embedding_batch_size_does_not_change_the_features(pipeline, tmp_path):
    """downstream.embed_batch_size is speed-only (not a param of downstream_embed): batching items of equal
    length changes the features only by float32 rounding, as a different number of BLAS threads does."""
    tmp, config = pipeline
    settings = run.EmbedSettings.from_config(config["downstream"], config["models"]["wav2vec2"], "cpu", 0)
    index = {"timit": str(tmp / "index" / "timit.tsv")}
    _embed(settings, index, None, tmp_path / "b1.h5", batch_size=1)
    _embed(settings, index, None, tmp_path / "b64.h5", batch_size=64)
    _, one, _ = embed.read_embeddings(tmp_path / "b1.h5", "timit")
    _, many, _ = embed.read_embeddings(tmp_path / "b64.h5", "timit")
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)


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
    settings = run.CollectSettings.from_config(config["downstream"], ["s"] * 7)
    run.collect(settings, [str(tmp / "probes.tsv")], [str(tmp / "asr.tsv")], str(tmp / "baselines.tsv"),
                tmp_path / "scores.tsv", tmp_path / "summary.tsv", tmp_path / "means.tsv")
    summary = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert set(summary.variant) == {"pretrained", "braintuned"} and (summary.n_parameters > 0).all()
    means = read_means(tmp_path / "means.tsv")
    # one row per family x variant x task, with the task's plotted metric
    assert dict(zip(means.task, means.metric)) == {"asr": "one_minus_wer", "mfcc": "r2", "fbank": "r2",
                                                    "phonemes": "f1_macro", "sentence_type": "f1_macro"}
    tuned = means[(means.variant == "braintuned") & (means.task == "sentence_type")].iloc[0]
    pre = means[(means.variant == "pretrained") & (means.task == "sentence_type")].iloc[0]
    layer_mean = summary[(summary.variant == "braintuned") & (summary.task == "sentence_type")
                         & (summary.metric == "f1_macro")].layer_mean.iloc[0]
    assert tuned["mean"] == pytest.approx(layer_mean) and tuned.n == 1
    assert tuned.gain == pytest.approx(tuned["mean"] - pre["mean"]) and tuned.gain_se == 0
    assert tuned.train_stories == 7 and pd.isna(pre.train_stories)
    baselines = pd.read_csv(tmp / "baselines.tsv", sep="\t")
    assert tuned.baseline == baselines[(baselines.task == "sentence_type") & (baselines.metric == "f1_macro")].value.iloc[0]
    assert means[means.task.isin(["asr", "mfcc"])].baseline.isna().all()
    out = {n: {e: tmp_path / f"{n}.{e}" for e in ("pdf", "png")} for n in figdownstream.FIGURES}
    fig_settings = figdownstream.DownstreamFigureSettings.from_config(config["figures"]["downstream"], ["wav2vec2"])
    figdownstream.downstream_figures(means, fig_settings, out)
    assert all(p.stat().st_size > 1000 for paths in out.values() for p in paths.values())


def test_unknown_comparison_family_is_an_error(pipeline, tmp_path):
    tmp, config = pipeline
    means = pd.DataFrame([{"family": "wav2vec2", "variant": "pretrained", "task": "asr", "metric": "one_minus_wer",
                           "mean": 0.5, "se": np.nan, "n": 1, "baseline": np.nan, "gain": 0.0, "gain_se": 0.0,
                           "n_parameters": 10, "train_stories": np.nan}])
    section = {**config["figures"]["downstream"], "comparison_family": "nosuchfamily"}
    settings = figdownstream.DownstreamFigureSettings.from_config(section, ["wav2vec2"])
    with pytest.raises(ValueError, match="comparison_family 'nosuchfamily'.*wav2vec2"):
        figdownstream.downstream_figures(means, settings, {})


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
    settings = prefrun.PreferenceSettings.from_config({"n_random": 3}, 0)
    prefrun.preference_table(settings, paths, str(tmp_path / "ws.tsv"), tmp_path / "pref.tsv", tmp_path / "means.tsv")
    table = pd.read_csv(tmp_path / "pref.tsv", sep="\t")
    assert len(table) == 6 and set(table.layer) == {3, 5} and (table.n_targets == 2).all()
    assert np.allclose(table.d, table.semantic - table.phonetic, atol=1e-6)
    means = read_preference_means(tmp_path / "means.tsv")
    tuned = table[table.variant == "braintuned"]
    row = means[(means.variant == "braintuned") & (means.layer == 3)].iloc[0]
    d = tuned[tuned.layer == 3].d
    assert row.n == 2 and row["mean"] == pytest.approx(d.mean()) and row.se == pytest.approx(d.std(ddof=1) / np.sqrt(2))
    figpreference.fig8(means, tmp_path / "fig8.pdf", tmp_path / "fig8.png")
    assert (tmp_path / "fig8.png").stat().st_size > 1000


def test_pooled_features_batching_matches_single_items():
    import torch

    family, _ = _family()
    from braintune.features import models

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
