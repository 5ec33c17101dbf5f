"""Noise ceiling (cc_max, Schoppe et al.; docs/protocol.md 1.3), column Pearson, streaming and the NC file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from braintune.preprocess.noise_ceiling import (
    cc_max,
    load_override,
    nc_row_slice,
    noise_ceiling_from_file,
    pearson_columns,
    read_repeat_mean,
    write_noise_ceiling,
)


def _zscore(x, axis):
    return (x - x.mean(axis=axis, keepdims=True)) / x.std(axis=axis, keepdims=True, ddof=1)


def simulate(sp, n_rep, n_t, seed=0):
    """Repeats with known signal power per voxel: y_r = sqrt(SP) z + sqrt(1 - SP) e_r, z-scored over time."""
    rng = np.random.default_rng(seed)
    z = _zscore(rng.standard_normal((n_t, sp.shape[0])), 0)
    reps = np.sqrt(sp) * z + np.sqrt(1 - sp) * rng.standard_normal((n_rep, n_t, sp.shape[0]))
    return _zscore(reps, 1), z


def true_cc_max(sp, n_rep):
    return 1.0 / np.sqrt(1.0 + (1.0 / sp - 1.0) / n_rep)


def test_cc_max_matches_the_formula_voxel_by_voxel():
    rng = np.random.default_rng(1)
    reps = rng.standard_normal((5, 40, 12)) + rng.standard_normal((1, 40, 12)) * 0.8
    for data_norm in (True, False):
        got = cc_max(reps, data_norm=data_norm)
        for v in range(12):
            y = reps[:, :, v]
            n = y.shape[0]
            tp = 1.0 if data_norm else np.mean([np.var(r, ddof=1) for r in y])
            sp = (n * np.var(y.mean(0), ddof=1) - tp) / (n - 1)
            expected = 1 / np.sqrt(1 + (1 / n) * (tp / sp - 1))
            assert got[v] == pytest.approx(0.0 if np.isnan(expected) else expected, rel=1e-10)


def test_cc_max_recovers_the_true_ceiling_and_bounds_correlation():
    sp = np.array([0.05, 0.2, 0.5, 0.8])
    reps, z = simulate(sp, n_rep=10, n_t=4000)
    est = cc_max(reps)
    np.testing.assert_allclose(est, true_cc_max(sp, 10), atol=0.02)
    # cc_max is the correlation of the true signal with the repeat mean
    np.testing.assert_allclose(pearson_columns(z, reps.mean(0)), est, atol=0.02)
    # fewer repeats -> lower ceiling (UTS04-08 have 5, UTS01-03 10)
    assert np.all(cc_max(reps[:5]) < est + 0.01)


def test_cc_max_no_signal_and_degenerate_voxels_are_zero():
    rng = np.random.default_rng(3)
    reps = _zscore(rng.standard_normal((10, 300, 200)), 1)  # pure noise: SP <= 0 for about half
    nc = cc_max(reps)
    assert np.all(np.isfinite(nc)) and nc.min() >= 0
    assert (nc == 0).mean() > 0.3
    const = np.ones((4, 50, 2))
    assert np.all(cc_max(const) == 0)
    with pytest.raises(ValueError, match="at least 2 repeats"):
        cc_max(reps[:1])


def test_pearson_columns_matches_numpy_and_handles_constants():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((50, 6)), rng.standard_normal((50, 6))
    b[:, 0] = a[:, 0] * 3 + 1
    expected = [np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(6)]
    np.testing.assert_allclose(pearson_columns(a, b), expected, rtol=1e-10)
    assert pearson_columns(a, b)[0] == pytest.approx(1.0)
    b[:, 1] = 2.0
    assert pearson_columns(a, b)[1] == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        pearson_columns(a, b[:-1])


def _test_file(path, reps):
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=reps.mean(0))
        f.create_dataset("individual_repeats", data=reps)


def test_streamed_file_equals_in_memory(tmp_path):
    sp = np.random.default_rng(5).uniform(0.01, 0.9, 103)
    reps, _ = simulate(sp, 6, 80, seed=6)
    _test_file(tmp_path / "t.hf5", reps)
    rows = nc_row_slice(80, "trimmed", 10)
    nc, n_rep = noise_ceiling_from_file(tmp_path / "t.hf5", rows, chunk_voxels=7)
    assert n_rep == 6 and nc.dtype == np.float32
    np.testing.assert_allclose(nc, cc_max(reps[:, 10:, :]), rtol=1e-5)
    all_rows, _ = noise_ceiling_from_file(tmp_path / "t.hf5", nc_row_slice(80, "all", 10), chunk_voxels=1000)
    np.testing.assert_allclose(all_rows, cc_max(reps), rtol=1e-5)
    with pytest.raises(ValueError, match="test_trim=79"):
        nc_row_slice(80, "trimmed", 79)


def test_write_noise_ceiling_and_override(tmp_path):
    sp = np.random.default_rng(7).uniform(0.01, 0.9, 60)
    reps, _ = simulate(sp, 5, 70, seed=8)
    _test_file(tmp_path / "t.hf5", reps)
    out = tmp_path / "nc.h5"
    nc = write_noise_ceiling(tmp_path / "t.hf5", out, threshold=0.4, nc_rows="all", test_trim=5)
    with h5py.File(out) as f:
        assert f["nc"].dtype == np.float32 and f["mask"].dtype == bool
        np.testing.assert_array_equal(f["mask"][...], f["nc"][...] > 0.4)
        assert f.attrs["n_repeats"] == 5 and f.attrs["threshold"] == 0.4 and f.attrs["source"] == "cc_max"
        assert f.attrs["rows"] == "0:70"
    published = np.linspace(0, 0.9, 60)
    np.save(tmp_path / "pub.npy", published)
    write_noise_ceiling(tmp_path / "t.hf5", out, 0.4, "all", 5, override=tmp_path / "pub.npy")
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["nc"][...], published, rtol=1e-6)
        np.testing.assert_allclose(f["nc_computed"][...], nc)
        assert f.attrs["source"].endswith("pub.npy")
    np.save(tmp_path / "bad.npy", published[:-1])
    with pytest.raises(ValueError, match=r"shape \(59,\), expected \(60,\)"):
        load_override(tmp_path / "bad.npy", 60)


def test_truncated_test_file_fails_naming_it(tmp_path):
    reps, _ = simulate(np.full(500, 0.5), 4, 60)
    _test_file(tmp_path / "t.hf5", reps)
    data = (tmp_path / "t.hf5").read_bytes()
    (tmp_path / "cut.hf5").write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="cut.hf5"):
        write_noise_ceiling(tmp_path / "cut.hf5", tmp_path / "nc.h5", 0.4, "all", 5)
    assert not (tmp_path / "nc.h5").exists()


@pytest.fixture(scope="module")
def nc_demo(tmp_path_factory):
    """A generated miniature sized for noise-ceiling checks: one subject, a 240-s test story (about 110
    rows), 10 repeats, every 50th voxel of S1's thin mask."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import generate_demo, tiny_config

    config = tiny_config(tmp_path_factory.mktemp("nc_demo"))
    config["data"]["subjects"] = ["UTS01"]
    config["stories"].update(braintuning_train=["souls"], braintuning_val=["stagefright"], alignment_train=["souls"])
    config["data"]["demo"].update(test_story_duration_s=240, n_repeats=10, story_duration_s=[30, 32])
    generate_demo(config)
    return Path(config["data"]["root"]), config


def test_demo_noise_ceiling_matches_ground_truth(nc_demo, tmp_path):
    """On the generated miniature the computed cc_max recovers the generator's true ceiling: unbiased,
    and as close as ~110 rows of 10 repeats allow (the estimate's own sampling error)."""
    root, config = nc_demo
    test = root / "derivative/preprocessed_data/UTS01/wheretheressmoke.hf5"
    with h5py.File(config["data"]["demo"]["ground_truth"]) as f:
        truth = f["UTS01/nc"][...]
    nc = write_noise_ceiling(test, tmp_path / "nc.h5", 0.4, "all", config["timing"]["test_trim"])
    assert nc.shape == truth.shape
    assert pearson_columns(nc, truth)[0] > 0.65
    assert abs(np.median(nc - truth)) < 0.03
    assert np.mean(np.abs(nc - truth)) < 0.16
    # ... and as well as an ideal i.i.d. simulation with the same true signal power, rows and repeats
    with h5py.File(config["data"]["demo"]["ground_truth"]) as f:
        sp = f["UTS01/signal_power"][...].astype(np.float64)
    n_rep, n_rows = 10, h5py.File(test)["individual_repeats"].shape[1]
    ideal, _ = simulate(np.clip(sp, 1e-6, 1 - 1e-6), n_rep, n_rows, seed=11)
    r_ideal = pearson_columns(cc_max(ideal), truth)[0]
    assert pearson_columns(nc, truth)[0] > r_ideal - 0.08
    # the mask agrees with the true supra-threshold voxels far above chance
    with h5py.File(tmp_path / "nc.h5") as f:
        mask = f["mask"][...]
    agree = (mask == (truth > 0.4)).mean()
    assert agree > 0.8


def test_the_repeat_mean_is_stored_once_and_read_back_checked(tmp_path):
    """noise_ceiling.h5 keeps the repeats' mean of every test row, so the encoding jobs never read the
    repeats; a file that does not match the test story fails naming both."""
    reps, _ = simulate(np.random.default_rng(3).uniform(0.01, 0.9, 50), 4, 30, seed=4)
    _test_file(tmp_path / "t.hf5", reps)
    out = tmp_path / "nc.h5"
    write_noise_ceiling(tmp_path / "t.hf5", out, 0.4, "trimmed", 5, chunk_voxels=7)
    mean, n_rep = read_repeat_mean(out, tmp_path / "t.hf5", first_row=5)
    assert mean.dtype == np.float32 and mean.shape == (25, 50) and n_rep == 4
    np.testing.assert_allclose(mean, reps[:, 5:, :].mean(axis=0), rtol=1e-5, atol=1e-6)
    _test_file(tmp_path / "other.hf5", reps[:3])
    with pytest.raises(ValueError, match=r"nc.h5: repeat_mean .* does not match .*other.hf5"):
        read_repeat_mean(out, tmp_path / "other.hf5")
    with h5py.File(out, "a") as f:
        del f["repeat_mean"]
    with pytest.raises(KeyError, match="rerun the preprocess_noise_ceiling rule"):
        read_repeat_mean(out, tmp_path / "t.hf5")


def test_chunk_voxels_changes_no_result(tmp_path):
    """preprocess.chunk_voxels bounds memory only: the noise-ceiling job writes the same bytes for any
    chunk size (so it is no param of the rule), and the settings leave it out."""
    from braintune.preprocess.noise_ceiling import NoiseCeilingSettings, noise_ceiling_job
    from braintune.utils import file_md5

    reps, _ = simulate(np.random.default_rng(5).uniform(0.01, 0.9, 101), 5, 40, seed=6)
    _test_file(tmp_path / "t.hf5", reps)
    settings = NoiseCeilingSettings.from_config(
        {"nc_threshold": 0.4, "nc_rows": "trimmed", "nc_data_norm": True, "chunk_voxels": 7}, {"test_trim": 5}
    )
    assert "chunk_voxels" not in settings.params()
    digests = set()
    for chunk in (7, 64, 8192):
        out = tmp_path / f"nc_{chunk}.h5"
        noise_ceiling_job(settings, tmp_path / "t.hf5", out, override=None, chunk_voxels=chunk)
        digests.add(file_md5(out))
    assert len(digests) == 1
