"""braintune.features: causal windows, Lanczos resampling, trims, z-scores and delays."""

import json

import h5py
import numpy as np
import pytest
import torch

from braintune.features import models
from braintune.features import design, lanczos, windows
from braintune.features.store import read_features
from braintune.preprocess.timing import TRGrid

TIMING = {"tr_s": 2.0, "sound_start_s": 10.0, "trim_start": 10, "trim_end": 5, "test_trim": 40}
SMALL = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, conv_dim=[16, 16, 16],
             conv_kernel=[10, 8, 8], conv_stride=[5, 8, 8], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
FAMILIES = {
    "wav2vec2": dict(architecture="wav2vec2", checkpoint=None, init_seed=3, init=SMALL, layers=[0, 1, 2], variants=["pretrained"]),
    "whisper": dict(architecture="whisper", checkpoint=None, init_seed=5, layers=[1, 2], variants=["pretrained"],
                    init=dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, max_source_positions=250)),
}


# --- windows -----------------------------------------------------------------------------------


def test_causal_windows_grow_then_slide():
    w = windows.causal_windows(n_samples=16000 * 3 + 100, context_s=1.0, chunk_s=0.5)
    np.testing.assert_array_equal(w.ends, 8000 * np.arange(1, 7))  # the final 100 samples are not a whole chunk
    np.testing.assert_array_equal(w.starts, [0, 0, 0, 8000, 16000, 24000])
    np.testing.assert_allclose(w.times, [0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    np.testing.assert_array_equal(w.lengths, [8000, 16000, 24000, 24000, 24000, 24000])


def test_paper_windows_are_16_1_s_every_0_1_s():
    w = windows.causal_windows(n_samples=16000 * 60, context_s=16.0, chunk_s=0.1)
    assert len(w) == 600
    assert w.lengths.max() == int(16.1 * 16000) and w.lengths[160] == int(16.1 * 16000) and w.lengths[159] == 16 * 16000
    with pytest.raises(ValueError, match="chunk_s"):
        windows.causal_windows(16000, context_s=1.0, chunk_s=1 / 3)


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_batched_equals_one_window_at_a_time(family):
    model = models.prepare_model(FAMILIES[family])
    audio = np.random.default_rng(1).standard_normal(int(16000 * 4.3)).astype(np.float32) * 0.1
    times_b, batched = windows.extract_window_features(model, audio, FAMILIES[family]["layers"], 1.5, 0.25, batch_size=5)
    times_1, single = windows.extract_window_features(model, audio, FAMILIES[family]["layers"], 1.5, 0.25, batch_size=1)
    np.testing.assert_array_equal(times_b, times_1)
    for layer in FAMILIES[family]["layers"]:
        np.testing.assert_allclose(batched[layer], single[layer], rtol=1e-4, atol=1e-5)


def test_window_feature_is_the_last_valid_frame_of_a_direct_forward():
    model = models.prepare_model(FAMILIES["whisper"])
    audio = np.random.default_rng(2).standard_normal(16000 * 3).astype(np.float32) * 0.1
    times, feats = windows.extract_window_features(model, audio, [2], 1.0, 0.5, batch_size=3)
    w = windows.causal_windows(len(audio), 1.0, 0.5)
    k = 4  # a full-length window: [1.0 s, 2.5 s)
    with torch.no_grad():
        hidden = models.encoder_forward(model, audio[w.starts[k] : w.ends[k]], layers=[2])[0]
    frame = models.last_valid_frame(model, int(w.lengths[k]))
    assert frame == 75  # 1.5 s = 150 mel frames -> conv2 output 75
    np.testing.assert_allclose(feats[2][k], hidden[0, frame].numpy(), rtol=1e-5, atol=1e-6)
    assert times[k] == 2.5
    # a causal feature does not change when later audio changes
    later = audio.copy()
    later[int(2.5 * 16000) :] = 0
    _, feats2 = windows.extract_window_features(model, later, [2], 1.0, 0.5, batch_size=3)
    np.testing.assert_allclose(feats2[2][: k + 1], feats[2][: k + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(feats2[2][k + 1 :], feats[2][k + 1 :])


def test_feature_job_writes_and_resumes(tmp_path, monkeypatch):
    fam = FAMILIES["wav2vec2"]
    cfg = windows.WindowSettings(context_s=1.0, chunk_s=0.5)

    def job(settings, batch_size=4, **kwargs):
        return windows.run_feature_job(fam, settings, audio_paths, out_paths, None, "cpu", batch_size, **kwargs)

    audio_paths, out_paths = {}, {}
    for i, story in enumerate(["a", "b"]):
        audio_paths[story] = tmp_path / f"{story}.npy"
        np.save(audio_paths[story], np.random.default_rng(i).standard_normal(16000 * (2 + i)).astype(np.float32))
        out_paths[story] = tmp_path / "out" / f"{story}.h5"
    status = job(cfg, attrs={"variant": "pretrained"})
    assert status == {"a": "computed", "b": "computed"}
    times, layers = read_features(out_paths["b"])
    assert times.shape == (6,) and sorted(layers) == [0, 1, 2] and layers[1].shape == (6, 16) and layers[1].dtype == np.float32
    with h5py.File(out_paths["a"]) as h5:
        assert h5.attrs["variant"] == "pretrained" and h5.attrs["chunk_s"] == 0.5
    assert not (tmp_path / "out" / ".partial").exists()

    # a job that dies after story a leaves a resumable a
    calls = []
    real = windows.extract_window_features

    def dying(model, audio, *args, **kwargs):
        calls.append(len(audio))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(model, audio, *args, **kwargs)

    monkeypatch.setattr(windows, "extract_window_features", dying)
    for path in out_paths.values():
        path.unlink()
    with pytest.raises(RuntimeError, match="killed"):
        job(cfg)
    monkeypatch.setattr(windows, "extract_window_features", real)
    assert job(cfg) == {"a": "resumed", "b": "computed"}
    np.testing.assert_array_equal(read_features(out_paths["b"])[1][1], layers[1])
    # other window parameters change the fingerprint: nothing is reused
    with pytest.raises(RuntimeError, match="killed"):
        monkeypatch.setattr(windows, "extract_window_features", dying)
        calls.clear()
        job(cfg)
    monkeypatch.setattr(windows, "extract_window_features", real)
    status = job(windows.WindowSettings(context_s=1.0, chunk_s=0.25))
    assert status == {"a": "computed", "b": "computed"}
    with pytest.raises(KeyError, match="layer_7"):
        read_features(out_paths["a"], [7])


# --- Lanczos ---------------------------------------------------------------------------------


def test_lanczos_kernel_shape():
    u = np.array([0.0, 1.0, 2.0, 3.0, 3.5, -1.0, 0.5])
    k = lanczos.lanczos_kernel(u, window=3)
    np.testing.assert_allclose(k[:5], [1, 0, 0, 0, 0], atol=1e-12)
    assert k[5] == pytest.approx(0) and k[6] == pytest.approx(3 * np.sin(np.pi / 2) * np.sin(np.pi / 6) / (np.pi**2 / 4))


def test_lanczos_unit_dc_gain_after_normalisation():
    old = np.arange(0, 100, 0.1)
    new = np.arange(10, 90, 2.0)
    w = lanczos.lanczos_matrix(new, old, cutoff_hz=0.5, normalize=True)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    const = lanczos.lanczos_resample(np.full((len(old), 3), 7.0), old, new, cutoff_hz=0.5)
    np.testing.assert_allclose(const, 7.0, rtol=1e-6)
    raw = lanczos.lanczos_matrix(new, old, cutoff_hz=0.5, normalize=False)
    assert raw.sum(axis=1).mean() == pytest.approx(20.0, rel=0.05)  # the reference's ~20x at 0.1 s sampling
    # far outside the samples: no weight, a zero row rather than a division by zero
    far = lanczos.lanczos_matrix(np.array([500.0]), old, cutoff_hz=0.5)
    assert not far.any()


def test_lanczos_passes_slow_sine_and_suppresses_fast_one():
    tr = 2.0
    old = np.arange(0, 400, 0.1)
    new = np.arange(20, 380, tr)
    slow = np.sin(2 * np.pi * 0.05 * old)[:, None]  # 0.05 Hz, well below the 0.25 Hz Nyquist of the TR grid
    fast = np.sin(2 * np.pi * 1.3 * old)[:, None]  # 1.3 Hz, far above the cutoff
    out_slow = lanczos.lanczos_resample(slow, old, new, cutoff_hz=1 / tr)[:, 0]
    out_fast = lanczos.lanczos_resample(fast, old, new, cutoff_hz=1 / tr)[:, 0]
    truth = np.sin(2 * np.pi * 0.05 * new)
    assert np.corrcoef(out_slow, truth)[0, 1] > 0.999
    assert np.abs(out_slow - truth).max() < 0.1
    assert np.abs(out_fast).max() < 0.02


def test_to_tr_grid_uses_the_grid_times():
    grid = TRGrid.from_config(60, TIMING)
    times = np.arange(0.5, 90, 0.5)
    values = np.stack([np.ones_like(times), times], axis=1)
    out = design.to_tr_grid(times, values, grid)
    assert out.shape == (grid.n_trs, 2)
    inside = (grid.tr_times > 8) & (grid.tr_times < 80)
    np.testing.assert_allclose(out[inside, 0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[inside, 1], grid.tr_times[inside], atol=1e-3)  # a ramp is reproduced


# --- trims, z-scores, delays -----------------------------------------------------------------


def test_make_delayed_against_hand_built():
    x = np.array([[1, 10], [2, 20], [3, 30], [4, 40]], dtype=np.float32)
    out = design.make_delayed(x, [1, 2])
    expected = np.array([[0, 0, 0, 0], [1, 10, 0, 0], [2, 20, 1, 10], [3, 30, 2, 20]], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(design.make_delayed(x, [0, -1])[:, 2:], [[2, 20], [3, 30], [4, 40], [0, 0]])
    np.testing.assert_array_equal(design.make_delayed(x, [5]), np.zeros((4, 2)))


def test_zscore_leaves_constant_columns():
    x = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, 1.0]])
    z = design.zscore(x)
    np.testing.assert_allclose(z[:, 0], [-1, 1])
    np.testing.assert_array_equal(z[:, 1], [0, 0])
    assert np.isfinite(z).all() and z.dtype == np.float64


def test_build_design_trims_zscores_and_delays_within_story():
    grids = {"s1": TRGrid.from_config(50, TIMING), "s2": TRGrid.from_config(45, TIMING), "t": TRGrid.from_config(80, TIMING)}
    rng = np.random.default_rng(0)
    feats = {s: rng.standard_normal((g.n_trs, 3)).astype(np.float32) + 5 for s, g in grids.items()}
    d = design.build_design(feats, grids, ["s1", "s2"], "t", [1, 2, 3, 4], test_trim=40)
    n1, n2 = 50 - 20, 45 - 20
    assert d["X_train"].shape == (n1 + n2, 12) and d["X_test"].shape == (80 - 20 - 40, 12)
    np.testing.assert_array_equal(d["train_story"], [0] * n1 + [1] * n2)
    z1 = feats["s1"][10:-5]
    z1 = (z1 - z1.mean(0)) / z1.std(0)
    np.testing.assert_allclose(d["zscored"]["s1"], z1, atol=1e-5)
    # delay 1 of the second story starts with zeros, not with the end of the first (no leak)
    np.testing.assert_array_equal(d["X_train"][n1, :], 0)
    np.testing.assert_allclose(d["X_train"][n1 + 1, :3], d["zscored"]["s2"][0], atol=1e-6)
    np.testing.assert_allclose(d["X_train"][n1 + 4, 9:], d["zscored"]["s2"][0], atol=1e-6)
    zt = feats["t"][50:-5]
    np.testing.assert_allclose(d["test_zscored"], (zt - zt.mean(0)) / zt.std(0), atol=1e-5)
    np.testing.assert_allclose(d["X_test"][4, 3:6], d["test_zscored"][2], atol=1e-6)
    with pytest.raises(KeyError, match="missing|no features"):
        design.build_design({"s1": feats["s1"]}, grids, ["s1", "s2"], "t", [1], 40)
    with pytest.raises(ValueError, match="rows"):
        design.story_segment(feats["s1"][:-1], grids["s1"])


def test_model_design_job_roundtrip(tmp_path):
    timing = {**TIMING, "test_trim": 5}
    respdict = {"a": 40, "b": 42, "t": 45}
    paths = {}
    for i, story in enumerate(respdict):
        n_s = (respdict[story] - 10) * 2
        times = np.arange(0.5, n_s, 0.5)
        feats = {layer: np.random.default_rng(i + layer).standard_normal((len(times), 4)).astype(np.float32) for layer in (1, 3)}
        paths[story] = tmp_path / f"{story}.h5"
        windows.write_features(paths[story], times, feats, {"story": story})
    outs = {1: tmp_path / "d" / "layer_1.h5", 3: tmp_path / "d" / "layer_3.h5"}
    (tmp_path / "respdict.json").write_text(json.dumps(respdict))
    settings = design.DesignSettings.from_config({"delays": [1, 2], "lanczos_window": 3, "lanczos_cutoff_mult": 1.0},
                                                 timing, ["a", "b"], "t")
    design.run_model_design_job(settings, paths, outs, tmp_path / "respdict.json", attrs={"family": "x"})
    d = design.read_design(outs[3])
    assert d.X_train.shape == (20 + 22, 8) and d.X_test.shape == (25 - 5, 8)
    assert d.train_stories == ["a", "b"] and d.test_story == "t"
    assert list(d.attrs["delays"]) == [1, 2] and d.attrs["layer"] == 3 and d.attrs["family"] == "x"
    zscored, delays = design.read_zscored(outs[3], ["a", "b"], "t")
    assert delays == [1, 2] and set(zscored) == {"a", "b", "t"} and zscored["t"].shape == (25 - 5, 4)
    np.testing.assert_allclose(zscored["a"].mean(0), 0, atol=1e-5)
    (tmp_path / "short.json").write_text(json.dumps({"a": 40}))
    with pytest.raises(KeyError, match=r"short.json: no TR count"):
        design.run_model_design_job(settings, paths, outs, tmp_path / "short.json")


def test_batch_size_changes_no_feature(tmp_path):
    """features.batch_size changes speed only (it is no param of the rule): two batch sizes give the
    same features up to float32 rounding (the matrix kernels block differently; about 1e-5 relative)."""
    fam = FAMILIES["wav2vec2"]
    settings = windows.WindowSettings(context_s=1.0, chunk_s=0.5)
    audio = {"a": tmp_path / "a.npy"}
    np.save(audio["a"], np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32))
    results = []
    for batch_size in (1, 64):
        out = {"a": tmp_path / f"b{batch_size}" / "a.h5"}
        windows.run_feature_job(fam, settings, audio, out, None, "cpu", batch_size)
        results.append(read_features(out["a"]))
    (t1, f1), (t2, f2) = results
    np.testing.assert_array_equal(t1, t2)
    for layer in f1:
        np.testing.assert_allclose(f1[layer], f2[layer], rtol=2e-5, atol=1e-6)
