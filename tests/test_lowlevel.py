"""Low-level impact: the residualising ridge, R, and residual alignment on planted data."""

import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from braintune.alignment.encoding import run_alignment
from braintune.lowlevel.impact import (
    LowlevelSettings,
    fit_residualiser,
    lowlevel_impact,
    residual_lambdas,
    run_lowlevel,
)
from test_alignment_encoding import (
    DELAYS,
    TEST,
    TEST_TRIM,
    TRAIN,
    alignment_settings,
    delayed,
    responses_of,
    write_design_file,
    write_subject,
    zscore,
)


def test_lambda_grid():
    grid = residual_lambdas(-6, 9, 16)
    assert grid.shape == (16,) and grid[0] == pytest.approx(1e-6) and grid[-1] == pytest.approx(1e9)


def test_residualiser_is_the_closed_form_with_plain_lambda():
    rng = np.random.default_rng(0)
    L = rng.standard_normal((120, 5))
    F = rng.standard_normal((120, 4))
    res = fit_residualiser(L, F, np.array([7.0]), n_folds=10)
    expected = np.linalg.solve(L.T @ L + 7.0 * np.eye(5), L.T @ F)  # lambda, not lambda^2
    assert np.allclose(res.weights, expected)
    assert np.allclose(res.residual(L, F), F - L @ expected, atol=1e-6)


def test_residualiser_picks_one_lambda_per_output_like_a_brute_force_loop():
    rng = np.random.default_rng(1)
    n = 200
    L = rng.standard_normal((n, 6))
    F = np.column_stack([
        L @ rng.standard_normal(6),  # exactly linear: the smallest lambda wins
        0.05 * (L @ rng.standard_normal(6)) + rng.standard_normal(n),  # mostly noise: large lambda
        L[:, 0] + 0.5 * rng.standard_normal(n),
    ])
    lambdas = residual_lambdas(-6, 9, 16)
    res = fit_residualiser(L, F, lambdas, n_folds=10)
    cost = np.zeros((len(lambdas), F.shape[1]))
    for train, val in KFold(10).split(L):
        for k, lam in enumerate(lambdas):
            W = np.linalg.solve(L[train].T @ L[train] + lam * np.eye(6), L[train].T @ F[train])
            r2 = 1 - ((F[val] - L[val] @ W) ** 2).mean(0) / F[val].var(0)
            cost[k] += 1 - r2
    assert np.allclose(res.cv_cost, cost, rtol=1e-6, atol=1e-9)
    assert np.allclose(res.lambdas, lambdas[cost.argmin(0)])
    assert res.lambdas[0] < 1 and res.lambdas[1] > 10
    for j in range(3):
        W = np.linalg.solve(L.T @ L + res.lambdas[j] * np.eye(6), L.T @ F[:, j])
        assert np.allclose(res.weights[:, j], W, atol=1e-8)


def test_impact_by_hand():
    assert lowlevel_impact(0.5, 0.2) == pytest.approx(60.0)
    assert lowlevel_impact(0.4, 0.5) == pytest.approx(-25.0)
    assert lowlevel_impact(-0.2, -0.1) == pytest.approx(50.0)
    assert np.isnan(lowlevel_impact(0.0, 0.1))
    assert np.isnan(lowlevel_impact(np.nan, 0.1))


def make_lowlevel_world(tmp_path, seed=0, lengths=(160, 150, 170, 140), n_test=120):
    """Model features = [low-level part (a linear map of the low-level feature), semantic part];
    'auditory' voxels follow the low-level part, 'language' voxels the semantic part."""
    rng = np.random.default_rng(seed)
    stories = dict(zip(TRAIN, lengths)) | {TEST: n_test}
    low = {s: zscore(rng.standard_normal((n, 4))).astype(np.float32) for s, n in stories.items()}
    sem = {s: zscore(rng.standard_normal((n, 3))).astype(np.float32) for s, n in stories.items()}
    A = rng.standard_normal((4, 3))
    model = {s: zscore(np.column_stack([low[s] @ A, sem[s]])).astype(np.float32) for s in stories}
    n_aud, n_lang = 16, 16
    Wa = rng.standard_normal((len(DELAYS) * 3, n_aud))
    Wl = rng.standard_normal((len(DELAYS) * 3, n_lang))
    signals = {}
    for s in stories:
        d = delayed(model[s], DELAYS).reshape(len(model[s]), len(DELAYS), 6)
        aud = d[:, :, :3].reshape(len(d), -1) @ Wa
        lang = d[:, :, 3:].reshape(len(d), -1) @ Wl
        signals[s] = np.column_stack([aud / aud.std(0), lang / lang.std(0)])
    regions = {"primary_auditory": np.arange(32) < n_aud, "late_language": np.arange(32) >= n_aud}
    root, nc_path, regions_path, nc = write_subject(tmp_path, "UTS02", signals, regions, rng, noise_sd=1.2)

    def scored_segment(per_story):
        return per_story | {TEST: zscore(per_story[TEST][TEST_TRIM:]).astype(np.float32)}

    design = write_design_file(tmp_path / "design" / "layer_3.h5", model)
    with h5py.File(design, "a") as h:  # the test segment is z-scored on itself (features stage)
        del h["test_zscored"], h["X_test"]
        h["test_zscored"] = scored_segment(model)[TEST]
        h["X_test"] = delayed(h["test_zscored"][...], DELAYS)
    lowfile = write_design_file(tmp_path / "design" / "lowlevel_articulation.h5", low)
    with h5py.File(lowfile, "a") as h:
        del h["test_zscored"]
        h["test_zscored"] = scored_segment(low)[TEST]
    return dict(root=root, nc=nc_path, regions=regions_path, design={3: design},
                lowlevel={"articulation": lowfile}, regions_masks=regions, nc_values=nc)


@pytest.mark.parametrize("reuse", [True, False])
def test_removing_the_low_level_feature_removes_auditory_not_language_alignment(tmp_path, reuse):
    w = make_lowlevel_world(tmp_path)
    labels = {"family": "toy", "variant": "pretrained", "subject": "UTS02", "config_hash": "h"}
    align = alignment_settings()
    responses = responses_of(w["root"], "UTS02")
    alignment = None
    if reuse:
        alignment = tmp_path / "align.h5"
        run_alignment(w["design"], responses, w["nc"], w["regions"], align, alignment, tmp_path / "align.tsv", labels)
    out_h5, out_tsv = tmp_path / "low.h5", tmp_path / "low.tsv"
    settings = LowlevelSettings.from_config({"lambdas": {"log10_min": -6, "log10_max": 9, "n": 16}, "n_folds": 10},
                                            align, TRAIN, TEST)
    assert np.array_equal(settings.lambdas, residual_lambdas(-6, 9, 16))
    table = run_lowlevel(
        w["design"], w["lowlevel"], responses, w["nc"], w["regions"], settings, out_h5, out_tsv, labels,
        alignment_path=alignment,
    )
    rows = table.set_index("region")
    aud, lang = rows.loc["primary_auditory"], rows.loc["late_language"]
    assert aud["B_o"] > 0.5 and lang["B_o"] > 0.5
    assert aud["R"] > 70  # the auditory alignment was all low-level
    assert abs(lang["R"]) < 15  # the language alignment survives the removal
    assert aud["R"] == pytest.approx(100 * (aud["B_o"] - aud["B_r"]) / aud["B_o"])
    written = pd.read_csv(out_tsv, sep="\t")
    assert set(written.columns) >= {"family", "variant", "subject", "region", "layer", "feature", "n_voxels",
                                    "B_o", "B_r", "R", "config_hash"}
    assert set(written["feature"]) == {"articulation"} and set(written["layer"]) == {3}
    with h5py.File(out_h5) as h:
        assert h.attrs["original_from"] == ("alignment" if reuse else "refit")
        drop = h["articulation/layer_3/drop"][...]
        assert np.allclose(drop, h["original/layer_3/nc_norm"][...] - h["articulation/layer_3/nc_norm"][...],
                           equal_nan=True)
        assert np.nanmean(drop[w["regions_masks"]["primary_auditory"]]) > 0.5
        assert np.allclose(h["layer_mean/drop"][...], h["articulation/layer_mean/drop"][...], equal_nan=True)
        assert h["articulation/lambda"].shape == (6,)
