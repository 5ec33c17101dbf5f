"""pycortex flatmaps (braintune.figures.flatmaps) and the figures stage's jobs on synthetic inputs.

The flatmaps are drawn on pycortex's sample subject S1 (fullhead, thin mask) from the writable
filestore copy every test session shares (conftest.TEST_FILESTORE): only the first session on a
machine pays pycortex's flatmap cache (about 20-40 s); later ones take about a second per map.
"""

import dataclasses

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import TEST_FILESTORE  # noqa: E402

from braintune.data import demo_cortex  # noqa: E402
from braintune.figures import flatmaps, jobs  # noqa: E402

HEIGHT = 256  # small flatmaps: fast cache and render


@pytest.fixture(scope="module")
def s1():
    cortex = demo_cortex.use_filestore(TEST_FILESTORE)
    mask = np.asarray(cortex.db.get_mask("S1", "fullhead", "thin"), dtype=bool)
    return cortex, flatmaps.Target(str(TEST_FILESTORE), "S1", "fullhead"), mask


def data_pixels(ax):
    """Finite pixels of the data layer pycortex drew (the curvature layer is separate)."""
    (image,) = [im for im in ax.images if im.get_label() == "data"]
    return int(np.isfinite(np.ma.filled(np.ma.asarray(image.get_array()).astype(float), np.nan)).sum())


def test_volume_data_matches_masks_and_strides(s1):
    cortex, target, mask = s1
    n = int(mask.sum())
    v = np.arange(n, dtype=np.float32)
    assert flatmaps.volume_data(cortex, v, target) is not None and flatmaps.volume_data(cortex, v, target).shape == (n,)
    strided = flatmaps.Target(target.filestore, "S1", "fullhead", voxel_stride=3)
    k = len(range(0, n, 3))
    vol = flatmaps.volume_data(cortex, np.ones(k, np.float32), strided)
    assert vol.shape == mask.shape
    assert np.isfinite(vol).sum() == k and np.all(mask[np.isfinite(vol)])
    with pytest.raises(ValueError, match="S1 transform fullhead"):
        flatmaps.volume_data(cortex, np.ones(n - 1, np.float32), target)


def test_symmetric_limit():
    a = np.array([np.nan, -3.0, 1.0, 2.0])
    assert flatmaps.symmetric_limit([a], 100) == 3.0
    assert flatmaps.symmetric_limit([a, np.array([-10.0])], 100) == 10.0
    assert flatmaps.symmetric_limit([np.array([np.nan])]) == 1.0
    assert flatmaps.symmetric_limit([np.zeros(3)]) == 1.0


def test_flatmap_colours_exactly_the_masked_in_voxels(s1):
    cortex, target, mask = s1
    n = int(mask.sum())
    counts = {}
    for frac in (0.0, 0.25, 1.0):
        values = np.full(n, np.nan, dtype=np.float32)
        values[: int(n * frac)] = np.linspace(-1, 1, int(n * frac))
        fig, ax = plt.subplots()
        flatmaps.draw_flatmap(ax, values, target, vmin=-1, vmax=1, cmap="RdBu_r", height=HEIGHT, with_rois=False)
        counts[frac] = data_pixels(ax)
        plt.close(fig)
    assert counts[0.0] == 0
    assert 0 < counts[0.25] < counts[1.0]


def test_difference_figure_panels_and_centred_colourbar(s1, tmp_path):
    cortex, target, mask = s1
    n = int(mask.sum())
    rng = np.random.default_rng(0)
    panels = [flatmaps.Panel(f"P{i}", rng.normal(0.1 * i, 1, n).astype(np.float32), target) for i in range(3)]
    fig = flatmaps.difference_figure(panels, colorbar_label="Δr", percentile=99, ncols=2, height=HEIGHT,
                                     with_rois=False)
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["P0", "P1", "P2"]
    (bar,) = [ax for ax in fig.axes if ax.get_xlabel() == "Δr"]
    lo, hi = bar.get_xlim()
    assert lo == pytest.approx(-hi) and hi > 0
    out = tmp_path / "diff.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000
    plt.close(fig)


def write_alignment(path, rho, nc_norm):
    with h5py.File(path, "w") as f:
        f["layer_mean/rho"] = rho.astype(np.float32)
        f["layer_mean/nc_norm"] = nc_norm.astype(np.float32)


def write_lowlevel(path, drop):
    with h5py.File(path, "w") as f:
        f["layer_mean/drop"] = drop.astype(np.float32)


def test_make_flatmap_figures_end_to_end(s1, tmp_path):
    from braintune.statistics import run_voxel_differences

    cortex, target, mask = s1
    n = int(mask.sum())
    rng = np.random.default_rng(1)
    differences, noise_ceilings, targets = {}, {}, {}
    for s in ("UTS01", "UTS02"):
        nc = rng.uniform(0, 0.9, n).astype(np.float32)
        noise_ceilings[s] = str(tmp_path / f"{s}_nc.h5")
        with h5py.File(noise_ceilings[s], "w") as f:
            f["nc"] = nc
            f["mask"] = nc > 0.4
        for v, shift in (("pretrained", 0.0), ("braintuned", 0.05)):
            rho = rng.normal(shift, 0.1, n)
            write_alignment(tmp_path / f"{s}_{v}_a.h5", rho, rho / np.maximum(nc, 1e-3))
            write_lowlevel(tmp_path / f"{s}_{v}_l.h5", rng.normal(-shift, 0.1, n))
        differences[s] = str(tmp_path / f"{s}_differences.h5")
        written = run_voxel_differences(
            {v: tmp_path / f"{s}_{v}_a.h5" for v in ("pretrained", "braintuned")},
            {v: tmp_path / f"{s}_{v}_l.h5" for v in ("pretrained", "braintuned")},
            "braintuned", differences[s], {"family": "wav2vec2", "subject": s})
        assert written == ["alignment/rho/pretrained", "alignment/nc_norm/pretrained", "lowlevel/drop/pretrained"]
        with h5py.File(differences[s]) as d, h5py.File(tmp_path / f"{s}_braintuned_a.h5") as a, \
                h5py.File(tmp_path / f"{s}_pretrained_a.h5") as b:
            assert np.array_equal(d["alignment/rho/pretrained"][...], a["layer_mean/rho"][...] - b["layer_mean/rho"][...])
        targets[s] = [target.filestore, "S1", "fullhead", 1]
    settings = jobs.FlatmapSettings(
        flatmap_family="wav2vec2", baseline_variant="pretrained", representative_subject="UTS02",
        flatmap_subjects=None, nc_subjects=["UTS01"], alignment_map="rho", flatmap_voxels="nc_mask",
        flatmap_percentile=99, flatmap_height=HEIGHT, dpi=60, nc_threshold=0.4)
    names = ("fig2c", "fig13", "fig15")
    outputs = {k: {e: str(tmp_path / f"{k}.{e}") for e in ("pdf", "png")} for k in names}
    timings = jobs.make_flatmap_figures(differences, noise_ceilings, targets, outputs, settings)
    assert set(timings) == set(names)
    for k in names:
        for e in ("pdf", "png"):
            assert (tmp_path / f"{k}.{e}").stat().st_size > 5000
    with pytest.raises(KeyError, match="UTS05"):
        jobs.make_flatmap_figures(differences, noise_ceilings, targets, outputs,
                                  dataclasses.replace(settings, representative_subject="UTS05"))
    with pytest.raises(KeyError, match="no dataset 'alignment/rho/random'"):
        jobs.make_flatmap_figures(differences, noise_ceilings, targets, {"fig2c": outputs["fig2c"]},
                                  dataclasses.replace(settings, baseline_variant="random"))


def test_make_bar_figures_from_tsv(tmp_path):
    from test_figures_paper import per_subject_tables, wilcoxon_from

    from braintune.statistics import FULL_PRECISION, summary_table, write_tsv

    align, low = per_subject_tables()
    tables = {}
    for name, table in (("alignment_summary", summary_table(align, "B")), ("lowlevel_summary", summary_table(low, "R")),
                        ("wilcoxon_alignment", wilcoxon_from(align, "B")), ("wilcoxon_lowlevel", wilcoxon_from(low, "R"))):
        tables[name] = tmp_path / f"{name}.tsv"
        write_tsv(table, tables[name], None if name in FULL_PRECISION else "%.6g")
    config = {"models": {f: {} for f in ("wav2vec2", "hubert", "whisper", "hubert_large")},
              "figures": {"scale": {"base_family": "hubert", "large_family": "hubert_large", "region": "late_language"}}}
    names = jobs.bar_figure_names(config)
    assert names[-1] == "fig5" and "fig2a" in names
    del config["models"]["hubert_large"]
    assert "fig5" not in jobs.bar_figure_names(config)
    figures = dict(families=["wav2vec2", "hubert", "whisper"], variants=["pretrained", "bigslm", "braintuned"],
                   variants_random=["pretrained", "bigslm", "random", "braintuned"],
                   regions=["late_language", "primary_auditory"], reference_variant="braintuned",
                   baseline_variant="pretrained", significance_level="participants", p_column="p",
                   scale=config["figures"]["scale"], dpi=80, flatmap_height=HEIGHT)
    settings = jobs.BarSettings.from_config(figures)  # takes only the keys the bar figures use
    outputs = {k: {e: str(tmp_path / f"{k}.{e}") for e in ("pdf", "png")} for k in names}
    made = jobs.make_bar_figures(tables, outputs, settings)
    assert set(made) == set(names)
    assert len(made["fig2a"].panels) == 1 and len(made["fig6"].panels) == 2
    assert len(made["fig6"].panels[0].bars) == 12
    for k in names:
        assert (tmp_path / f"{k}.png").stat().st_size > 5000
    # the bars are the summary table's numbers, to the last bit
    summary = pd.read_csv(tables["alignment_summary"], sep="\t").query("region == 'late_language' and feature == 'all'")
    for (family, variant), patch in made["fig2a"].panels[0].bars.items():
        assert patch.get_height() == summary.query(f"family == '{family}' and variant == '{variant}'")["mean"].item()
    with pytest.raises(KeyError, match="missing key"):
        jobs.BarSettings.from_config({k: v for k, v in figures.items() if k != "dpi"})
    broken = pd.read_csv(tables["alignment_summary"], sep="\t").drop(columns="se")
    broken.to_csv(tables["alignment_summary"], sep="\t", index=False)
    with pytest.raises(KeyError, match="alignment_summary.tsv: missing column"):
        jobs.make_bar_figures(tables, outputs, settings)
