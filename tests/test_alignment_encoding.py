"""Encoding models of one checkpoint for one subject: rho, rho/NC, B per region, on planted data."""

import h5py
import numpy as np
import pandas as pd
import pytest

from braintune.alignment.encoding import (
    AlignmentSettings,
    CVSettings,
    load_responses,
    normalised_alignment,
    region_mean,
    region_table,
    run_alignment,
)
from braintune.alignment.ridge import RidgeBatches, huth_alphas
from braintune.features.design import make_delayed as delayed
from braintune.features.design import read_design
from braintune.preprocess.noise_ceiling import cc_max, write_noise_ceiling
from braintune.preprocess.responses import response_path
from test_alignment_ridge import ridge_settings

TRAIN = ["alpha", "beta", "gamma", "delta"]
TEST = "omega"
TEST_TRIM = 10
DELAYS = [1, 2]


def alignment_settings(ridge=None, **overrides) -> AlignmentSettings:
    """The paper's alignment settings on a small alpha grid and short CV chunks, with ``overrides``."""
    settings = dict(
        ridge=ridge or ridge_settings(alphas=huth_alphas(0, 3, 10)),
        cv=CVSettings(n_boots=3, chunk_len=10, held_out_fraction=0.25, chunk_scope="stacked", seed=0),
        test_trim=TEST_TRIM, missing_story="skip", regions=None, voxels="all",
    )
    return AlignmentSettings(**{**settings, **overrides})


def responses_of(root, subject, stories=(*TRAIN, TEST)):
    """story -> response file of the stories that exist (what the workflow's input lists)."""
    paths = {story: response_path(root, subject, story) for story in stories}
    return {story: path for story, path in paths.items() if path.exists()}


def zscore(x):
    return (x - x.mean(0)) / x.std(0)


def write_subject(tmp_path, subject, signals, regions, rng, noise_sd=1.5, n_repeats=6):
    """Responses (signal + noise, z-scored) in the ds003020 layout, the test story with repeats, and
    the preprocess stage's noise_ceiling.h5 (cc_max of the scored rows) and regions.h5."""
    root = tmp_path / "ds"
    for story in TRAIN:
        y = zscore(signals[story] + noise_sd * rng.standard_normal(signals[story].shape))
        path = response_path(root, subject, story)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as h:
            h["data"] = y.astype(np.float64)
    s = signals[TEST]
    repeats = np.stack([zscore(s + noise_sd * rng.standard_normal(s.shape)) for _ in range(n_repeats)])
    with h5py.File(response_path(root, subject, TEST), "w") as h:
        h["data"] = repeats.mean(0)
        h["individual_repeats"] = repeats
    pre = tmp_path / "preprocess"
    pre.mkdir(exist_ok=True)
    nc = write_noise_ceiling(response_path(root, subject, TEST), pre / "noise_ceiling.h5", 0.4, "trimmed", TEST_TRIM)
    np.testing.assert_allclose(nc, cc_max(repeats[:, TEST_TRIM:, :]), rtol=1e-5, atol=1e-6)
    with h5py.File(pre / "regions.h5", "w") as h:
        for name, mask in regions.items():
            h[name] = mask
    return root, pre / "noise_ceiling.h5", pre / "regions.h5", nc


def write_design_file(path, per_story):
    """A design file in the features stage's layout (zscored/, test_zscored, delayed X_train/X_test)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h:
        h["X_train"] = np.concatenate([delayed(per_story[s], DELAYS) for s in TRAIN])
        h["X_test"] = delayed(per_story[TEST][TEST_TRIM:], DELAYS)
        h["train_story"] = np.repeat(np.arange(len(TRAIN)), [len(per_story[s]) for s in TRAIN]).astype(np.int16)
        h.attrs["train_stories"] = TRAIN
        h.attrs["test_story"] = TEST
        h.attrs["delays"] = np.asarray(DELAYS)
        for s in TRAIN + [TEST]:
            h[f"zscored/{s}"] = per_story[s]
        h["test_zscored"] = per_story[TEST][TEST_TRIM:]
    return path


def make_planted(tmp_path, subject="UTS01", n_lang=24, n_noise=24, n_aud=12, seed=0, lengths=(150, 140, 160, 130),
                 n_test=110, layers=(1, 2)):
    """A miniature ds003020 subject whose 'language' voxels follow the layer-2 features."""
    rng = np.random.default_rng(seed)
    p = 6
    stories = dict(zip(TRAIN, lengths)) | {TEST: n_test}
    feats = {s: zscore(rng.standard_normal((n, p))).astype(np.float32) for s, n in stories.items()}
    n_vox = n_lang + n_noise + n_aud
    W = np.zeros((len(DELAYS) * p, n_vox))
    W[:, :n_lang] = rng.standard_normal((len(DELAYS) * p, n_lang))
    W[:, n_lang + n_noise:] = 0.3 * rng.standard_normal((len(DELAYS) * p, n_aud))
    signals = {}
    for story in stories:
        sig = delayed(feats[story], DELAYS) @ W
        sig[:, :n_lang] /= sig[:, :n_lang].std(0)
        signals[story] = sig
    regions = {
        "late_language": np.arange(n_vox) < n_lang,
        "noise": (np.arange(n_vox) >= n_lang) & (np.arange(n_vox) < n_lang + n_noise),
        "primary_auditory": np.arange(n_vox) >= n_lang + n_noise,
    }
    root, nc_path, regions_path, nc = write_subject(tmp_path, subject, signals, regions, rng)
    designs = {}
    for layer in layers:
        # layer 2 carries the stimulus features; layer 1 is unrelated noise features
        per_story = {s: (feats[s] if layer == 2 else zscore(rng.standard_normal(feats[s].shape)).astype(np.float32))
                     for s in stories}
        designs[layer] = write_design_file(tmp_path / "design" / f"layer_{layer}.h5", per_story)
    return dict(root=root, subject=subject, designs=designs, nc=nc_path, regions=regions_path, nc_values=nc,
                region_masks=regions, feats=feats)


def test_normalised_alignment_and_region_mean_by_hand():
    rho = np.array([0.2, 0.4, 0.3, 0.1, 0.5])
    nc = np.array([0.5, 0.8, 0.0, 0.25, 0.9])
    out = normalised_alignment(rho, nc)
    assert np.allclose(out[[0, 1, 3, 4]], [0.4, 0.5, 0.4, 0.5 / 0.9])
    assert np.isnan(out[2])
    region = np.array([True, True, True, False, True])
    mask = nc > 0.4
    b, n = region_mean(out, region, mask)
    assert n == 3 and b == pytest.approx((0.4 + 0.5 + 0.5 / 0.9) / 3)
    b, n = region_mean(out, ~region & mask, mask)
    assert n == 0 and np.isnan(b)
    table = region_table({3: {"nc_norm": out, "rho": rho}}, {"r": region}, mask, extra={"family": "f"})
    row = table.set_index("region").loc["r"]
    assert row["B"] == pytest.approx(b if n else (0.4 + 0.5 + 0.5 / 0.9) / 3)
    assert row["rho_mean"] == pytest.approx((0.2 + 0.4 + 0.5) / 3)
    assert set(table["region"]) == {"r", "all"} and list(table["family"]) == ["f", "f"]


def test_planted_language_voxels_align_and_stay_below_the_ceiling(tmp_path):
    d = make_planted(tmp_path)
    labels = {"family": "toy", "variant": "pretrained", "subject": d["subject"], "config_hash": "abc"}
    out_h5, out_tsv = tmp_path / "out" / "UTS01.h5", tmp_path / "out" / "UTS01.tsv"
    table = run_alignment(
        d["designs"], responses_of(d["root"], d["subject"]), d["nc"], d["regions"], alignment_settings(),
        out_h5, out_tsv, labels,
    )
    lang = d["region_masks"]["late_language"]
    noise = d["region_masks"]["noise"]
    with h5py.File(out_h5) as h:
        assert sorted(h.keys()) == ["layer_1", "layer_2", "layer_mean"]
        rho2, nc2 = h["layer_2/rho"][...], h["layer_2/nc_norm"][...]
        rho1 = h["layer_1/rho"][...]
        assert h["layer_2/alpha"].dtype == np.float32
        assert set(np.unique(h["layer_2/alpha"][...])) <= set(np.float32(huth_alphas(0, 3, 10)))
        assert np.allclose(h["layer_mean/rho"][...], (rho1 + rho2) / 2, atol=1e-6)
        assert list(h.attrs["layers"]) == [1, 2]
        assert h.attrs["n_test"] == 100
    assert rho2[lang].mean() > 0.5
    assert rho2[lang].min() > rho2[noise].max() - 0.05
    assert abs(rho2[noise].mean()) < 0.15
    assert abs(rho1[lang].mean()) < 0.15  # the unrelated layer does not predict
    # normalised alignment of well-predicted voxels approaches, and stays near or below, 1
    assert 0.7 < np.nanmean(nc2[lang]) <= 1.05
    assert np.nanmax(nc2[lang]) < 1.15
    # the TSV: one row per region x layer, B from the NC-masked voxels
    written = pd.read_csv(out_tsv, sep="\t")
    assert len(written) == len(table) == 2 * 4
    row = written.query("layer == 2 and region == 'late_language'").iloc[0]
    mask = d["nc_values"] > 0.4
    assert row["B"] == pytest.approx(np.mean(nc2[lang & mask]), rel=1e-5)
    assert row["n_voxels"] == (lang & mask).sum()
    assert row["config_hash"] == "abc" and row["family"] == "toy"
    b_lang = written.query("layer == 2 and region == 'late_language'")["B"].item()
    b_noise = written.query("layer == 2 and region == 'noise'")["B"].item()
    assert b_lang > b_noise + 0.5 or np.isnan(b_noise)


def test_missing_story_is_skipped_or_fails(tmp_path):
    d = make_planted(tmp_path, layers=(2,))
    response_path(d["root"], d["subject"], "beta").unlink()
    paths = responses_of(d["root"], d["subject"])
    design = read_design(d["designs"][2])
    with pytest.raises(FileNotFoundError, match="beta"):
        load_responses(paths, TRAIN, design.train_story, TEST, TEST_TRIM, "error")
    with pytest.raises(KeyError, match="test story 'omega'"):
        load_responses({s: p for s, p in paths.items() if s != TEST}, TRAIN, design.train_story, TEST, TEST_TRIM,
                       "skip")
    resp = load_responses(paths, TRAIN, design.train_story, TEST, TEST_TRIM, "skip")
    assert resp.stories == ["alpha", "gamma", "delta"]
    assert resp.Y_train.shape[0] == 150 + 160 + 130 == resp.keep_rows.sum()
    assert resp.Y_test.shape[0] == 100 and resp.n_repeats == 6
    stored = load_responses(paths, TRAIN, design.train_story, TEST, TEST_TRIM, "skip", d["nc"])
    np.testing.assert_allclose(stored.Y_test, resp.Y_test, rtol=1e-5, atol=1e-6)
    assert stored.n_repeats == 6 and np.array_equal(stored.Y_train, resp.Y_train)


def test_row_mismatch_names_the_file(tmp_path):
    d = make_planted(tmp_path, layers=(2,))
    path = response_path(d["root"], d["subject"], "gamma")
    with h5py.File(path, "a") as h:
        data = h["data"][...]
        del h["data"]
        h["data"] = data[:-3]
    design = read_design(d["designs"][2])
    with pytest.raises(ValueError, match="gamma.hf5: 157 response rows but the design has 160"):
        load_responses(responses_of(d["root"], d["subject"]), TRAIN, design.train_story, TEST, TEST_TRIM, "skip")


def test_nc_mask_voxels_fit_only_the_voxels_above_threshold(tmp_path):
    d = make_planted(tmp_path, layers=(2,))
    labels = {"family": "toy", "variant": "pretrained", "subject": d["subject"], "config_hash": "abc"}
    args = (d["designs"], responses_of(d["root"], d["subject"]), d["nc"], d["regions"])
    ridge = ridge_settings(alphas=huth_alphas(0, 3, 10), dtype="float64")
    full = run_alignment(*args, alignment_settings(ridge, voxels="all"), tmp_path / "a.h5", tmp_path / "a.tsv", labels)
    masked = run_alignment(*args, alignment_settings(ridge, voxels="nc_mask"), tmp_path / "m.h5", tmp_path / "m.tsv",
                           labels)
    mask = d["nc_values"] > 0.4
    assert 0 < mask.sum() < mask.size
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "m.h5") as m:
        for key in ("rho", "alpha", "nc_norm"):
            assert np.all(np.isnan(m[f"layer_2/{key}"][...][~mask]))
            assert np.allclose(m[f"layer_2/{key}"][...][mask], a[f"layer_2/{key}"][...][mask], atol=1e-5)
        assert m.attrs["voxels"] == "nc_mask"
    # B only ever uses the voxels above the threshold: identical tables
    assert np.allclose(full["B"], masked["B"], atol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match="alignment.voxels"):
        run_alignment(*args, alignment_settings(ridge, voxels="regions"), tmp_path / "x.h5", tmp_path / "x.tsv", labels)


def test_voxel_batches_do_not_change_the_alignment(tmp_path):
    """alignment.n_targets_batch (and the other batch sizes) bound memory only: the job's outputs are
    the same files with or without batches (the chosen alphas identical, the rest up to rounding)."""
    d = make_planted(tmp_path, layers=(2,))
    labels = {"family": "toy", "variant": "pretrained", "subject": d["subject"], "config_hash": "abc"}
    args = (d["designs"], responses_of(d["root"], d["subject"]), d["nc"], d["regions"], alignment_settings())
    one = run_alignment(*args, tmp_path / "a.h5", tmp_path / "a.tsv", labels)
    for i, batches in enumerate((RidgeBatches(n_targets=1000), RidgeBatches(n_targets=7, n_alphas=3,
                                                                             n_targets_refit=5))):
        other = run_alignment(*args, tmp_path / f"b{i}.h5", tmp_path / f"b{i}.tsv", labels, batches)
        with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / f"b{i}.h5") as b:
            assert dict(a.attrs).keys() == dict(b.attrs).keys()
            assert np.array_equal(a["layer_2/alpha"][...], b["layer_2/alpha"][...])
            for key in ("rho", "nc_norm", "cv_score"):
                exact = np.array_equal(a[f"layer_2/{key}"][...], b[f"layer_2/{key}"][...], equal_nan=True)
                assert exact if i == 0 else np.allclose(a[f"layer_2/{key}"][...], b[f"layer_2/{key}"][...],
                                                        rtol=0, atol=1e-6, equal_nan=True), key
        pd.testing.assert_frame_equal(one, other, check_exact=i == 0, atol=1e-6)
