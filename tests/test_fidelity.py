"""Numerical fidelity to the reference's float64 code on identical inputs: the ridge alpha selection
(scores in float64 although the data and weights are float32) and the design matrices (Lanczos,
trims, z-scores and delays in float64, stored float32)."""

import json

import numpy as np
import pytest

from braintune.alignment.ridge import (
    RidgeBatches,
    RidgeSettings,
    bootstrap_chunk_splits,
    fit_ridge_cv,
    get_score,
    huth_alphas,
    selection_scores,
    to_himalaya_alphas,
    use_backend,
)
from braintune.features import design, lanczos, windows
from braintune.preprocess.timing import TRGrid

ALPHAS = huth_alphas(1, 4, 15)


def _noise_data(n=600, p=40, v=1000, seed=0):
    """Pure-noise voxels: every alpha scores about the same, the argmax is decided by small differences."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n, v))
    return (X - X.mean(0)) / X.std(0), (Y - Y.mean(0)) / Y.std(0)


def _reference_alphas(X, Y, splits, alphas):
    """The reference's bootstrap_ridge selection in float64: per split, the closed-form ridge of every
    alpha from the train rows' SVD, the score sign(R2) sqrt|R2| with R2 = 1 - var(y - y_hat) /
    ((1 + var(y)) / 2) on the held-out rows, averaged over the splits, argmax per voxel."""
    scores = np.zeros((len(alphas), Y.shape[1]))
    for train, held in splits:
        U, s, Vt = np.linalg.svd(X[train], full_matrices=False)
        UtY = U.T @ Y[train]
        for i, a in enumerate(alphas):
            pred = X[held] @ (Vt.T @ ((s / (s**2 + a**2))[:, None] * UtY))
            r2 = 1 - (Y[held] - pred).var(0) / ((1 + Y[held].var(0)) / 2)
            scores[i] += np.nan_to_num(np.sign(r2) * np.sqrt(np.abs(r2))) / len(splits)
    return alphas[scores.argmax(0)]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_fit_selects_the_reference_alphas_on_noise_voxels(backend):
    """float32 scores chose the reference's alpha on ~94% of noise voxels; float64 scores on all."""
    if backend == "torch":
        pytest.importorskip("torch")
    X, Y = _noise_data()
    splits = bootstrap_chunk_splits(len(X), n_boots=10, seed=0)
    settings = RidgeSettings(alphas=ALPHAS, alpha_convention="huth", score="reference", backend=backend)
    fit = fit_ridge_cv(X, Y, splits, settings)
    use_backend("numpy")
    assert fit.coef.dtype == np.float32
    agree = np.isclose(fit.alphas, _reference_alphas(X, Y, splits, ALPHAS), rtol=1e-6)
    assert agree.mean() >= 0.995, f"{agree.mean():.4f} of the noise voxels select the reference's alpha"


@pytest.mark.parametrize("score", ["r2", "correlation"])
def test_float32_fit_selects_the_float64_alphas_with_himalaya_scores(score):
    """The r2 and correlation scores are computed in float64 too: a float32 fit selects the alpha of a
    float64 fit wherever the float64 scores of the two best alphas differ by more than the float32
    predictions can resolve (1e-7; the correlation of noise voxels converges as alpha grows, and the
    last two alphas of the grid can differ by only ~1e-9: 98-99% of these noise voxels agree)."""
    X, Y = _noise_data(v=500, seed=1)
    splits = bootstrap_chunk_splits(len(X), n_boots=10, seed=2)
    penalties = to_himalaya_alphas(ALPHAS)
    f32, f64 = (
        fit_ridge_cv(X, Y, splits, RidgeSettings(ALPHAS, "huth", score, "numpy", dtype=dtype))
        for dtype in ("float32", "float64")
    )
    top_two = np.sort(selection_scores(X, Y, splits, penalties, get_score(score), RidgeBatches()), axis=0)[-2:]
    resolved = top_two[1] - top_two[0] > 1e-7
    np.testing.assert_array_equal(f32.alphas[resolved], f64.alphas[resolved])
    # r2 scores are not scale-invariant: its near-ties still resolve (all 500 voxels agree here)
    assert np.mean(f32.alphas == f64.alphas) >= (0.995 if score == "r2" else 0.95)
    np.testing.assert_allclose(f32.cv_scores, f64.cv_scores, rtol=0, atol=1e-6)


TIMING = {"tr_s": 2.0, "sound_start_s": 10.0, "trim_start": 10, "trim_end": 5, "test_trim": 5}


def _reference_chain(times, values, grid, delays, test_trim=0):
    """The float64 chain: normalised Lanczos to the TR grid, trim, z-score, delay (one story)."""
    weights = lanczos.lanczos_matrix(grid.tr_times, times, cutoff_hz=1 / grid.tr_s, window=3, normalize=True)
    rows = (weights @ values.astype(np.float64))[grid.row_slice][test_trim:]
    z = (rows - rows.mean(0)) / rows.std(0)
    return np.concatenate([np.vstack([np.zeros((d, z.shape[1])), z[: len(z) - d]]) for d in delays], axis=1)


def test_design_matrices_equal_a_float64_chain_on_large_mean_columns(tmp_path):
    """Whisper-like columns whose mean is ~300 times their sd: z-scoring float32 Lanczos output is off
    by ~1e-5 there; the float64 chain stored as float32 agrees with the reference's to 1e-6."""
    respdict = {"a": 120, "b": 110, "t": 100}
    delays = [1, 2, 3, 4]
    rng = np.random.default_rng(0)
    paths, inputs = {}, {}
    for story, n_trs in respdict.items():
        times = np.arange(0.5, (n_trs - 10) * 2 + TIMING["sound_start_s"], 0.5)
        # slow (< 0.1 Hz) unit-sd signals around means of 100-500, as the large-activation units
        freqs, phases = rng.uniform(0.005, 0.1, (5, 64)), rng.uniform(0, 2 * np.pi, (5, 64))
        slow = np.sin(2 * np.pi * freqs[None] * times[:, None, None] + phases[None]).sum(1) / np.sqrt(2.5)
        values = (rng.uniform(100, 500, 64) + slow).astype(np.float32)
        inputs[story] = times, values
        paths[story] = tmp_path / f"{story}.h5"
        windows.write_features(paths[story], times, {1: values}, {"story": story})
    (tmp_path / "respdict.json").write_text(json.dumps(respdict))
    settings = design.DesignSettings.from_config(
        {"delays": delays, "lanczos_window": 3, "lanczos_cutoff_mult": 1.0}, TIMING, ["a", "b"], "t")
    out = tmp_path / "layer_1.h5"
    design.run_model_design_job(settings, paths, {1: out}, tmp_path / "respdict.json")
    stored = design.read_design(out)

    grids = {s: TRGrid.from_config(n, TIMING) for s, n in respdict.items()}
    train = np.concatenate([_reference_chain(*inputs[s], grids[s], delays) for s in ("a", "b")])
    test = _reference_chain(*inputs["t"], grids["t"], delays, TIMING["test_trim"])
    assert stored.X_train.dtype == np.float32
    assert np.abs(stored.X_train - train).max() <= 1e-6
    assert np.abs(stored.X_test - test).max() <= 1e-6

    # the old chain (Lanczos output rounded to float32 before z-scoring) misses this bound
    times, values = inputs["a"]
    on_grid = design.to_tr_grid(times, values, grids["a"])
    rounded = design.zscore(design.story_segment(on_grid.astype(np.float32), grids["a"]))
    assert np.abs(rounded - design.zscore(design.story_segment(on_grid, grids["a"]))).max() > 1e-6
