"""Voxelwise ridge of the alignment stage: alpha convention, chunk splits, the reference score."""

import numpy as np
import pytest

from braintune.alignment.ridge import (
    RidgeBatches,
    RidgeSettings,
    bootstrap_chunk_splits,
    fit_ridge_cv,
    from_himalaya_alphas,
    get_score,
    huth_alphas,
    reference_score,
    resolve_backend,
    to_himalaya_alphas,
    use_backend,
)


def ridge_settings(**overrides) -> RidgeSettings:
    """The paper's ridge settings (the schema's defaults), with ``overrides``."""
    settings = dict(alphas=huth_alphas(1, 4, 15), alpha_convention="huth", score="reference", backend="numpy")
    return RidgeSettings(**{**settings, **overrides})


def _data(n=400, p=30, v=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, v)) * (rng.random(v) < 0.5)
    Y = X @ W * 0.3 + rng.standard_normal((n, v))
    return X, (Y - Y.mean(0)) / Y.std(0)


def _closed_form(X, y, alpha_huth):
    """(X'X + a^2 I)^-1 X'y: the reference's penalty."""
    return np.linalg.solve(X.T @ X + alpha_huth**2 * np.eye(X.shape[1]), X.T @ y)


def _reference_bootstrap(X, Y, splits, alphas):
    """The reference's bootstrap_ridge selection, written out (float64, per-alpha SVD solution)."""
    scores = np.zeros((len(splits), len(alphas), Y.shape[1]))
    for b, (train, held) in enumerate(splits):
        U, s, Vt = np.linalg.svd(X[train], full_matrices=False)
        UR = U.T @ Y[train]
        for i, a in enumerate(alphas):
            pred = X[held] @ (Vt.T @ ((s / (s**2 + a**2))[:, None] * UR))
            r2 = 1 - (Y[held] - pred).var(0) / ((1 + Y[held].var(0)) / 2)
            scores[b, i] = np.nan_to_num(np.sign(r2) * np.sqrt(np.abs(r2)))
    return alphas[scores.mean(0).argmax(0)]


def test_alpha_grid_and_convention():
    grid = huth_alphas(1, 4, 15)
    assert grid.shape == (15,) and grid[0] == pytest.approx(10) and grid[-1] == pytest.approx(1e4)
    assert np.allclose(to_himalaya_alphas(grid), grid**2)
    assert np.allclose(from_himalaya_alphas(to_himalaya_alphas(grid)), grid)
    assert np.allclose(to_himalaya_alphas(grid, "himalaya"), grid)
    with pytest.raises(ValueError, match="convention"):
        to_himalaya_alphas(grid, "sklearn")


@pytest.mark.parametrize("convention", ["huth", "himalaya"])
def test_single_alpha_fit_equals_closed_form(convention):
    X, Y = _data()
    splits = bootstrap_chunk_splits(len(X), seed=0)
    alpha = 50.0
    settings = ridge_settings(alphas=np.array([alpha]), alpha_convention=convention, dtype="float64")
    fit = fit_ridge_cv(X, Y, splits, settings, RidgeBatches(n_targets=7))
    penalty = alpha if convention == "huth" else np.sqrt(alpha)
    expected = _closed_form(X, Y, penalty)
    assert np.allclose(fit.alphas, alpha)
    assert np.allclose(fit.coef, expected, atol=1e-8)
    # the two conventions really differ: alpha 50 means a penalty of 2500 in the Huth convention
    other = _closed_form(X, Y, np.sqrt(alpha) if convention == "huth" else alpha)
    assert not np.allclose(fit.coef, other, atol=1e-4)


def test_cv_selection_matches_reference_bootstrap_and_refit():
    X, Y = _data(seed=1)
    splits = bootstrap_chunk_splits(len(X), seed=3)
    alphas = huth_alphas(1, 4, 15)
    fit = fit_ridge_cv(X, Y, splits, ridge_settings(alphas=alphas, dtype="float64"), RidgeBatches(n_targets=16))
    expected = _reference_bootstrap(X, Y, splits, alphas)
    assert np.allclose(fit.alphas, expected)
    assert len(np.unique(fit.alphas)) > 1  # the grid is really searched per voxel
    for v in (0, 17, 59):
        assert np.allclose(fit.coef[:, v], _closed_form(X, Y[:, v], fit.alphas[v]), atol=1e-8)


def test_float32_batches_agree_with_float64():
    X, Y = _data(seed=2)
    splits = bootstrap_chunk_splits(len(X), seed=0)
    f64 = fit_ridge_cv(X, Y, splits, ridge_settings(dtype="float64"))
    f32 = fit_ridge_cv(X, Y, splits, ridge_settings(), RidgeBatches(n_targets=9, n_alphas=4))
    assert f32.coef.dtype == np.float32
    assert np.mean(np.isclose(f32.alphas, f64.alphas, rtol=1e-3)) > 0.9
    pred64, pred32 = f64.predict(X), f32.predict(X)
    same = np.isclose(f32.alphas, f64.alphas, rtol=1e-3)
    assert np.allclose(pred32[:, same], pred64[:, same], atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_sizes_do_not_change_the_fit(dtype):
    """alignment.n_targets_batch, n_alphas_batch and n_targets_batch_refit bound memory only: the
    chosen alphas are the same, the weights and scores equal up to BLAS rounding (a voxel batch
    changes the blocking of the matrix products); a batch at least as large as the voxels and any
    alpha batch change nothing."""
    X, Y = _data(seed=5)
    splits = bootstrap_chunk_splits(len(X), seed=1)
    settings = ridge_settings(dtype=dtype)
    one = fit_ridge_cv(X, Y, splits, settings)
    tol = 1e-6 if dtype == "float32" else 1e-14
    for batches in (RidgeBatches(n_targets=7), RidgeBatches(n_targets=13, n_alphas=4, n_targets_refit=5)):
        other = fit_ridge_cv(X, Y, splits, settings, batches)
        assert np.array_equal(one.alphas, other.alphas)
        assert np.allclose(one.cv_scores, other.cv_scores, rtol=0, atol=tol)
        assert np.allclose(one.coef, other.coef, rtol=0, atol=tol)
    for batches in (RidgeBatches(n_targets=Y.shape[1]), RidgeBatches(n_alphas=4)):
        other = fit_ridge_cv(X, Y, splits, settings, batches)
        for key in ("alphas", "cv_scores", "coef"):
            assert np.array_equal(getattr(one, key), getattr(other, key)), key


def test_auto_voxel_batch_fits_half_the_free_card_memory_and_is_fixed_on_cpu():
    """n_targets_batch: auto. On torch_cuda the batch is the largest whose selection buffers fit in half the
    card's free memory; elsewhere a fixed 5000, so that a CPU fit never depends on the machine's free memory."""
    from braintune.alignment import ridge

    auto = RidgeBatches(n_targets="auto", n_alphas=None, n_targets_refit=None)
    assert auto.resolve("numpy", 6000, 3072, 1500, 15, 4).n_targets == ridge.AUTO_CPU_TARGETS
    assert auto.resolve("torch", 6000, 3072, 1500, 15, 4).n_targets == ridge.AUTO_CPU_TARGETS
    assert RidgeBatches(n_targets=7).resolve("torch_cuda", 6000, 3072, 1500, 15, 4) == RidgeBatches(n_targets=7)
    per_voxel = ridge.selection_bytes_per_voxel(6000, 3072, 1500, 15, 4)
    assert per_voxel == 4 * (6000 + 3072 + 15 * 1500) + 24 * 1500  # train y, U'y, predictions; float64 copies
    free = 80 * 2**30
    chosen = auto.resolve("torch_cuda", 6000, 3072, 1500, 15, 4, free_bytes=free).n_targets
    assert chosen * per_voxel <= 0.5 * free < (chosen + 1) * per_voxel
    # an alpha batch shrinks the predictions' buffer, so more voxels fit
    fewer_alphas = RidgeBatches(n_targets="auto", n_alphas=3).resolve("torch_cuda", 6000, 3072, 1500, 15, 4, free_bytes=free)
    assert fewer_alphas.n_targets > chosen and fewer_alphas.n_alphas == 3
    # the fit with auto equals the fit with the batch it resolves to (numpy: 5000 >= the voxels: one batch)
    X, Y = _data(seed=5)
    splits = bootstrap_chunk_splits(len(X), seed=1)
    one, other = fit_ridge_cv(X, Y, splits, ridge_settings()), fit_ridge_cv(X, Y, splits, ridge_settings(), auto)
    for key in ("alphas", "cv_scores", "coef"):
        assert np.array_equal(getattr(one, key), getattr(other, key)), key


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    X, Y = _data(seed=4, v=20)
    splits = bootstrap_chunk_splits(len(X), seed=0)
    fits = {b: fit_ridge_cv(X, Y, splits, ridge_settings(backend=b, dtype="float64"))
            for b in ("numpy", "torch")}
    use_backend("numpy")
    assert np.allclose(fits["numpy"].alphas, fits["torch"].alphas)
    assert np.allclose(fits["numpy"].coef, fits["torch"].coef, atol=1e-8)


def test_splits_are_seeded_chunks_of_the_right_size():
    n = 1013
    splits = bootstrap_chunk_splits(n, n_boots=3, chunk_len=20, held_out_fraction=0.25, seed=7)
    assert len(splits) == 3
    n_chunks = int(0.25 * n / 20)
    for train, held in splits:
        assert len(held) == n_chunks * 20
        assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(n))
        starts = held[::20]
        assert np.all(starts % 20 == 0)  # whole chunks on the 20-row grid
        assert np.array_equal(held, (starts[:, None] + np.arange(20)).ravel())
        assert held.max() < (n // 20) * 20  # the partial last chunk is never held out
    # bootstraps differ; the same seed reproduces, another seed does not
    assert not np.array_equal(splits[0][1], splits[1][1])
    again = bootstrap_chunk_splits(n, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    assert not np.array_equal(bootstrap_chunk_splits(n, seed=8)[0][1], splits[0][1])


def test_story_scoped_chunks_never_straddle_stories():
    lengths = [95, 130, 77, 101]
    index = np.repeat(np.arange(4), lengths)
    bounds = np.cumsum([0] + lengths)
    for train, held in bootstrap_chunk_splits(len(index), seed=1, story_index=index, chunk_scope="story",
                                              chunk_len=10):
        for start in held[::10]:
            assert index[start] == index[start + 9]
            assert (start - bounds[index[start]]) % 10 == 0
    with pytest.raises(ValueError, match="story_index"):
        bootstrap_chunk_splits(len(index), chunk_scope="story")
    with pytest.raises(ValueError, match="contiguous"):
        bootstrap_chunk_splits(6, chunk_len=1, story_index=np.array([0, 1, 0, 1, 0, 1]), chunk_scope="story")
    with pytest.raises(ValueError, match="chunks"):
        bootstrap_chunk_splits(50, chunk_len=20)


def test_reference_score_by_hand():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((50, 3))
    pred = 0.5 * y + 0.3 * rng.standard_normal((50, 3))
    resvar = np.var(y - pred, axis=0)
    r2 = 1 - resvar / ((1 + np.var(y, axis=0)) / 2)
    expected = np.sign(r2) * np.sqrt(np.abs(r2))
    assert np.allclose(reference_score(y, pred), expected)
    # a bad prediction gives a negative score: sign(R2) sqrt(|R2|)
    bad = reference_score(y, -3 * y)
    assert np.all(bad < 0)
    assert np.allclose(bad, -np.sqrt(np.abs(1 - np.var(4 * y, 0) / ((1 + np.var(y, 0)) / 2))))
    # stacked predictions (alphas, n, targets), as himalaya passes them
    stacked = np.stack([pred, -3 * y])
    assert np.allclose(reference_score(y, stacked), np.stack([expected, bad]))
    # an offset does not change var(resid): the score uses the variance, not the MSE
    assert np.allclose(reference_score(y, pred + 5.0), expected)
    # NaN -> 0
    pred_nan = pred.copy()
    pred_nan[:, 1] = np.nan
    out = reference_score(y, pred_nan)
    assert out[1] == 0 and np.isclose(out[0], expected[0])


def test_score_and_backend_keys():
    assert get_score("reference") is reference_score
    assert get_score("r2").__name__ == "r2_score"
    with pytest.raises(ValueError, match="alignment.score"):
        get_score("mse")
    assert resolve_backend("auto", "cpu") == "numpy"
    assert resolve_backend("torch", None) == "torch"
    with pytest.raises(ValueError, match="alignment.backend"):
        resolve_backend("cupy", None)
    with pytest.raises(ValueError, match="compute.device"):
        resolve_backend("auto", None)
