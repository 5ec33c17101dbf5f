"""Wilcoxon signed-rank wrapper, Holm correction and the tidy statistics tables."""

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from braintune.statistics import (
    Comparison,
    StatisticsSettings,
    VoxelSource,
    alignment_per_subject,
    comparisons,
    holm,
    lowlevel_per_subject,
    paired_wilcoxon,
    participant_tests,
    summarise,
    voxel_tests,
    wilcoxon_table,
)

SECTION = {  # the statistics section of the paper protocol
    "reference_variant": "braintuned",
    "cross_family": [{"reference_family": "hubert", "reference_variant": "braintuned", "family": "hubert_large",
                      "variant": "pretrained"}],
    "alpha": 0.05,
    "alternative": "two-sided",
    "voxel_level": True,
}


def test_holm_hand_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert np.allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    out = holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1]) and np.allclose(out[[0, 2]], [0.02, 0.02])  # NaN is not a test
    assert holm([]).shape == (0,)


def test_wilcoxon_wrapper_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.3, 0.1, 40)
    b = a - rng.normal(0.05, 0.05, 40)
    res = paired_wilcoxon(a, b)
    ref = stats.wilcoxon(a, b)
    assert res.p == pytest.approx(ref.pvalue) and res.statistic == pytest.approx(ref.statistic)
    assert res.n == 40 and res.mean_reference == pytest.approx(a.mean()) and res.mean_other == pytest.approx(b.mean())
    assert paired_wilcoxon(a, b, "greater").p == pytest.approx(stats.wilcoxon(a, b, alternative="greater").pvalue)
    # 8 participants, all better: the exact two-sided p is 2/256
    assert paired_wilcoxon(np.arange(8) + 1.0, np.zeros(8)).p == pytest.approx(2 / 256)
    # NaN pairs dropped
    a2, b2 = a.copy(), b.copy()
    a2[3] = np.nan
    res2 = paired_wilcoxon(a2, b2)
    assert res2.n == 39 and res2.p == pytest.approx(stats.wilcoxon(np.delete(a, 3), np.delete(b, 3)).pvalue)
    # no difference at all: no test
    assert np.isnan(paired_wilcoxon([1.0, 2.0], [1.0, 2.0]).p)
    with pytest.raises(ValueError, match="shape"):
        paired_wilcoxon([1.0], [1.0, 2.0])


def test_comparisons_reference_against_each_variant_and_cross_family():
    available = [("w", "pretrained"), ("w", "braintuned"), ("w", "random"), ("h", "pretrained"),
                 ("h", "braintuned"), ("hl", "pretrained"), ("x", "pretrained")]
    cross = [dict(reference_family="h", reference_variant="braintuned", family="hl", variant="pretrained"),
             dict(reference_family="h", reference_variant="braintuned", family="zz", variant="pretrained")]
    settings = StatisticsSettings.from_config({**SECTION, "cross_family": cross})
    comps = comparisons(available, "braintuned", settings.cross_family)
    assert comps == [
        Comparison("w", "braintuned", "w", "pretrained"),
        Comparison("w", "braintuned", "w", "random"),
        Comparison("h", "braintuned", "h", "pretrained"),
        Comparison("h", "braintuned", "hl", "pretrained"),
    ]


def test_unknown_names_fail_and_name_the_key():
    """A misspelt reference variant must not silently drop every within-family test."""
    with pytest.raises(ValueError, match="statistics.reference_variant 'nosuchvariant'.*braintuned"):
        comparisons([("w", "pretrained"), ("w", "braintuned")], "nosuchvariant")
    with pytest.raises(KeyError, match=r"statistics.cross_family\[0\].*'variant'"):
        StatisticsSettings.from_config({**SECTION, "cross_family": [{"reference_family": "h", "reference_variant": "b",
                                                                     "family": "hl"}]})
    with pytest.raises(ValueError, match="statistics.alternative"):
        StatisticsSettings.from_config({**SECTION, "alternative": "both"})


def test_unreadable_inputs_name_the_file(tmp_path):
    from braintune.statistics import read_tables, read_voxels

    empty, garbage = tmp_path / "empty.tsv", tmp_path / "garbage.h5"
    empty.write_text("")
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)  # an HDF5 signature, then nothing
    with pytest.raises(ValueError, match="empty.tsv: cannot read"):
        read_tables([empty], ["B"])
    with pytest.raises(OSError, match="garbage.h5: cannot read as HDF5"):
        read_voxels(garbage, "layer_mean/rho")
    ok = tmp_path / "ok.tsv"
    pd.DataFrame({"A": [1]}).to_csv(ok, sep="\t", index=False)
    with pytest.raises(KeyError, match="ok.tsv: missing column"):
        read_tables([ok], ["B"])


def test_summarise_standard_error_across_participants():
    t = pd.DataFrame({"family": "w", "variant": ["a"] * 6 + ["b"] * 3, "subject": ["S1", "S1", "S2", "S2", "S3", "S3",
                                                                             "S1", "S2", "S3"],
                      "B": [0.1, 0.3, 0.4, 0.4, 0.6, 0.8, 0.5, np.nan, 0.7]})
    out = summarise(t, "B").set_index("variant")
    # a: per-participant means 0.2, 0.4, 0.7 (layers averaged first); b: NaN dropped
    assert out.loc["a", "mean"] == pytest.approx(np.mean([0.2, 0.4, 0.7]))
    assert out.loc["a", "se"] == pytest.approx(np.std([0.2, 0.4, 0.7], ddof=1) / np.sqrt(3))
    assert out.loc["a", "n"] == 3 and out.loc["b", "n"] == 2
    single = summarise(t[t.subject == "S1"], "B").set_index("variant")
    assert single.loc["a", "n"] == 1 and np.isnan(single.loc["a", "se"])
    with pytest.raises(KeyError, match="R"):
        summarise(t, "R")


def _alignment_rows():
    rows = []
    rng = np.random.default_rng(0)
    for subject_i, subject in enumerate(["UTS01", "UTS02", "UTS03", "UTS04", "UTS05", "UTS06"]):
        for variant, shift in (("pretrained", 0.0), ("braintuned", 0.1), ("random", -0.2)):
            for layer in (1, 2):
                for region in ("late_language", "primary_auditory"):
                    b = 0.4 + 0.02 * subject_i + (shift if region == "late_language" else 0) + 0.01 * layer
                    rows.append(dict(family="w", variant=variant, subject=subject, region=region, layer=layer,
                                     n_voxels=10, rho_mean=b / 2,
                                     B=b + (0.001 * rng.standard_normal() if region == "late_language" else 0),
                                     config_hash="c"))
    return pd.DataFrame(rows)


def test_participant_level_tests_and_holm_groups():
    table = _alignment_rows()
    per_subject = alignment_per_subject(table)
    assert len(per_subject) == 6 * 3 * 2
    one = per_subject.query("subject == 'UTS01' and variant == 'braintuned' and region == 'late_language'")
    expected = table.query("subject == 'UTS01' and variant == 'braintuned' and region == 'late_language'")["B"].mean()
    assert one["B"].item() == pytest.approx(expected)
    comps = comparisons(per_subject[["family", "variant"]].itertuples(index=False, name=None), "braintuned")
    out = wilcoxon_table(participant_tests(per_subject, "B", comps, "two-sided"), alpha=0.05, config_hash="k")
    assert len(out) == 2 * 2  # 2 regions x 2 comparisons
    lang = out.query("region == 'late_language'").set_index("variant")
    # 6 participants all higher: exact two-sided p = 2/64
    assert lang.loc["pretrained", "p"] == pytest.approx(2 / 64)
    assert lang.loc["pretrained", "p_holm"] == pytest.approx(min(1, 2 * 2 / 64))
    # raw p = 0.031 is significant; Holm over the region's 2 comparisons gives 0.0625, not significant
    assert bool(lang.loc["pretrained", "significant"]) and not bool(lang.loc["pretrained", "significant_holm"])
    assert lang.loc["pretrained", "subject"] == "all" and lang.loc["pretrained", "level"] == "participants"
    aud = out.query("region == 'primary_auditory'")
    assert aud["p"].isna().all() and not aud["significant"].any()  # identical values: no test
    assert (out["config_hash"] == "k").all()


def test_lowlevel_per_subject_means():
    rows = []
    for feature, r in (("powspec", 10.0), ("diphone", 30.0)):
        for layer in (1, 2):
            rows.append(dict(family="w", variant="pretrained", subject="UTS01", region="a", layer=layer,
                             feature=feature, n_voxels=5, B_o=0.5, B_r=0.5 * (1 - r / 100), R=r + layer))
    out = lowlevel_per_subject(pd.DataFrame(rows)).set_index("feature")
    assert out.loc["powspec", "R"] == pytest.approx(11.5)
    assert out.loc["all", "R"] == pytest.approx((11 + 12 + 31 + 32) / 4)


def test_voxel_level_tests_read_layer_means(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    nc = np.linspace(0.1, 0.9, n).astype(np.float32)
    with h5py.File(tmp_path / "nc.h5", "w") as h:
        h["nc"], h["mask"] = nc, nc > 0.4
    with h5py.File(tmp_path / "regions.h5", "w") as h:
        h["late_language"] = np.arange(n) < 40
    base = rng.normal(0.4, 0.1, n)
    sources = []
    for variant, value in (("pretrained", base), ("braintuned", base + 0.05 + 0.01 * rng.standard_normal(n))):
        path = tmp_path / f"{variant}.h5"
        with h5py.File(path, "w") as h:
            h["layer_mean/nc_norm"] = value.astype(np.float32)
        sources.append(VoxelSource("w", variant, "UTS01", str(path), str(tmp_path / "nc.h5"),
                                   str(tmp_path / "regions.h5")))
    comps = [Comparison("w", "braintuned", "w", "pretrained")]
    rows = voxel_tests(sources, {"all": "layer_mean/nc_norm"}, comps, "two-sided")
    out = wilcoxon_table(rows, 0.05, "k").set_index("region")
    select = (np.arange(n) < 40) & (nc > 0.4)
    b = sources[1].path
    with h5py.File(b) as h:
        tuned = h["layer_mean/nc_norm"][...]
    expected = stats.wilcoxon(tuned[select].astype(np.float64), base.astype(np.float32)[select].astype(np.float64))
    assert out.loc["late_language", "n"] == select.sum()
    assert out.loc["late_language", "p"] == pytest.approx(expected.pvalue)
    assert out.loc["all", "n"] == (nc > 0.4).sum()
    assert (out["level"] == "voxels").all() and (out["subject"] == "UTS01").all()
    # one comparison per (level, region, feature, subject) Holm family: nothing to correct
    assert np.allclose(out["p_holm"], out["p"])


def test_empty_table_has_the_columns():
    out = wilcoxon_table([], 0.05, "k")
    assert {"p", "p_holm", "significant", "config_hash", "level", "family", "variant"} <= set(out.columns)


def test_run_statistics_writes_every_table(tmp_path):
    from braintune.statistics import run_statistics

    rng = np.random.default_rng(3)
    n_vox = 50
    subjects = ["UTS01", "UTS02", "UTS03", "UTS04", "UTS05"]
    align_sources, align_tables, low_sources, low_tables = [], [], [], []
    for subject in subjects:
        nc = rng.uniform(0.2, 0.9, n_vox).astype(np.float32)
        nc_path, reg_path = tmp_path / f"{subject}_nc.h5", tmp_path / f"{subject}_regions.h5"
        with h5py.File(nc_path, "w") as h:
            h["nc"], h["mask"] = nc, nc > 0.4
        with h5py.File(reg_path, "w") as h:
            h["late_language"] = np.arange(n_vox) < 30
        for variant, shift in (("pretrained", 0.0), ("braintuned", 0.1)):
            labels = dict(family="w", variant=variant, subject=subject, owner="x", config_hash="c")
            values = rng.normal(0.3 + shift, 0.05, n_vox).astype(np.float32)
            path = tmp_path / f"{variant}_{subject}.h5"
            with h5py.File(path, "w") as h:
                h["layer_mean/nc_norm"] = values
            tsv = tmp_path / f"{variant}_{subject}.tsv"
            pd.DataFrame([dict(labels, region=r, layer=layer, n_voxels=10, B=values.mean() + 0.01 * layer, rho_mean=0.1)
                          for r in ("late_language", "all") for layer in (1, 2)]).to_csv(tsv, sep="\t", index=False)
            align_sources.append(VoxelSource("w", variant, subject, str(path), str(nc_path), str(reg_path)))
            align_tables.append(str(tsv))
            low_path = tmp_path / f"low_{variant}_{subject}.h5"
            with h5py.File(low_path, "w") as h:
                h["layer_mean/drop"] = rng.normal(0.1 - shift, 0.02, n_vox).astype(np.float32)
                h["powspec/layer_mean/drop"] = rng.normal(0.1 - shift, 0.02, n_vox).astype(np.float32)
            low_tsv = tmp_path / f"low_{variant}_{subject}.tsv"
            pd.DataFrame([dict(labels, region=r, layer=2, feature="powspec", n_voxels=10, B_o=0.3, B_r=0.2,
                               R=40 - 100 * shift + rng.normal()) for r in ("late_language", "all")]
                         ).to_csv(low_tsv, sep="\t", index=False)
            low_sources.append(VoxelSource("w", variant, subject, str(low_path), str(nc_path), str(reg_path)))
            low_tables.append(str(low_tsv))
    names = ["alignment", "alignment_subject", "alignment_summary", "wilcoxon_alignment", "lowlevel",
             "lowlevel_subject", "lowlevel_summary", "wilcoxon_lowlevel"]
    outputs = {n: str(tmp_path / "stats" / f"{n}.tsv") for n in names}
    tables = run_statistics(align_sources, align_tables, low_sources, low_tables, ["powspec"], outputs,
                            StatisticsSettings.from_config(SECTION), config_hash="h")
    for n in names:
        assert (tmp_path / "stats" / f"{n}.tsv").exists()
    assert len(pd.read_csv(outputs["alignment"], sep="\t")) == 5 * 2 * 2 * 2
    wa = pd.read_csv(outputs["wilcoxon_alignment"], sep="\t")
    part = wa.query("level == 'participants' and region == 'late_language'").iloc[0]
    subj = tables["alignment_subject"].query("region == 'late_language'").pivot(index="subject", columns="variant",
                                                                                 values="B")
    assert part["p"] == pytest.approx(stats.wilcoxon(subj["braintuned"], subj["pretrained"]).pvalue)
    assert part["p"] == pytest.approx(2 / 32)  # all five participants higher
    assert (wa.query("level == 'voxels'")["subject"].isin(subjects)).all()
    assert len(wa.query("level == 'voxels'")) == 5 * 2  # subjects x regions (late_language, all)
    assert wa.query("level == 'voxels' and region == 'late_language'")["significant"].all()
    wl = pd.read_csv(outputs["wilcoxon_lowlevel"], sep="\t")
    assert set(wl["feature"]) == {"all", "powspec"}
    assert (wl.query("level == 'voxels'")["median_difference"] < 0).all()  # brain-tuned drops less
    assert (wl["config_hash"] == "h").all()
    assert set(pd.read_csv(outputs["lowlevel_subject"], sep="\t")["feature"]) == {"powspec", "all"}
    # the bars of the figures: mean +- SE across participants, read back to the last bit
    summary = pd.read_csv(outputs["alignment_summary"], sep="\t")
    assert list(summary.columns) == ["family", "variant", "region", "feature", "mean", "n", "se"]
    per = tables["alignment_subject"].query("region == 'late_language' and variant == 'braintuned'")["B"]
    row = summary.query("region == 'late_language' and variant == 'braintuned'").iloc[0]
    assert row["mean"] == pytest.approx(per.mean(), rel=1e-12) and row["n"] == 5
    assert row["se"] == pytest.approx(per.std(ddof=1) / np.sqrt(5), rel=1e-12)
    pd.testing.assert_frame_equal(summary, tables["alignment_summary"], check_exact=True)
    assert set(pd.read_csv(outputs["lowlevel_summary"], sep="\t")["feature"]) == {"powspec", "all"}


# --- data-efficiency curve tables -------------------------------------------------------------


def _curve_rows(variant, subject, values, layers=(1, 2)):
    """Curve TSV rows (run_curve's columns) of one variant and subject: ``values`` {n_stories: B}, the same B
    in every layer but for +-0.01 (the layer mean is ``values``)."""
    return pd.DataFrame([
        {"family": "wav2vec2", "variant": variant, "subject": subject, "owner": "x", "config_hash": "h",
         "n_stories": k, "n_rows": 30 * k, "region": "late_language", "layer": layer, "n_voxels": 5,
         "B": b + (0.01 if layer == layers[0] else -0.01), "rho_mean": b / 2, "minutes": 30 * k * 2.0 / 60}
        for k, b in values.items() for layer in layers
    ])


def test_curve_tables_average_layers_split_seen_and_new_and_reduce_folds(tmp_path):
    from braintune.statistics import curve_group, run_curve_tables

    paths = []
    curves = {
        ("pretrained", "UTS01"): {3: 0.1, 5: 0.2, 7: 0.3}, ("pretrained", "UTS02"): {3: 0.1, 5: 0.2, 7: 0.3},
        ("pretrained", "UTS03"): {3: 0.1, 5: 0.2, 7: 0.4},
        ("multibraintuned", "UTS01"): {3: 0.2, 5: 0.4, 7: 0.5}, ("multibraintuned", "UTS02"): {3: 0.2, 5: 0.4, 7: 0.5},
        ("multibraintuned", "UTS03"): {3: 0.1, 5: 0.25, 7: 0.45},
        ("braintuned_UTS01", "UTS02"): {3: 0.1, 5: 0.2, 7: 0.2}, ("braintuned_UTS01", "UTS03"): {3: 0.1, 5: 0.2, 7: 0.3},
    }
    for i, ((variant, subject), values) in enumerate(curves.items()):
        paths.append(tmp_path / f"{i}.tsv")
        _curve_rows(variant, subject, values).to_csv(paths[-1], sep="\t", index=False)
    names = ("curve", "curve_summary", "curve_tests", "curve_folds")
    outputs = {name: tmp_path / f"{name}.tsv" for name in names}
    tables = run_curve_tables(paths, "pretrained", ["UTS01", "UTS02"], outputs)
    assert all(outputs[name].exists() for name in names)
    per_subject = tables["curve"].set_index(["variant", "subject", "n_stories"])
    assert per_subject.loc[("multibraintuned", "UTS03", 5), "B"] == pytest.approx(0.25)  # the mean over layers
    assert per_subject.loc[("multibraintuned", "UTS03", 5), "group"] == "new"
    assert per_subject.loc[("multibraintuned", "UTS01", 5), "group"] == "seen"
    assert per_subject.loc[("pretrained", "UTS01", 5), "group"] == "none"
    assert curve_group("braintuned", "UTS03", ["UTS01"]) == "own"
    summary = tables["curve_summary"].set_index(["variant", "group", "n_stories"])
    assert summary.loc[("multibraintuned", "seen", 3), "mean"] == pytest.approx(0.2)
    assert summary.loc[("multibraintuned", "all", 7), "n"] == 3
    assert np.isnan(summary.loc[("multibraintuned", "new", 7), "se"])  # one participant: no standard error
    tests = tables["curve_tests"]
    assert per_subject.loc[("braintuned_UTS01", "UTS03", 5), "group"] == "other"
    assert list(tests["size"]) == [3, 5, 7] * 2 and set(tests["variant"]) == {"multibraintuned", "braintuned_UTS01"}
    # the donor's model on the other participants: tested against their own pretrained curves only
    assert set(tests[tests["variant"] == "braintuned_UTS01"]["n"]) == {2}
    donor = tables["curve_folds"].set_index(["variant", "group"]).loc[("braintuned_UTS01", "other")]
    assert donor["subjects"] == "UTS02,UTS03" and np.isnan(donor["fold"])  # 0.25 never reaches the pretrained 0.35
    folds = tables["curve_folds"].query("variant == 'multibraintuned'").set_index("group")
    # seen: pretrained full-data B 0.3 is reached between 3 (0.2) and 5 stories (0.4): 4 stories = 4 minutes
    assert folds.loc["seen", "minutes_needed"] == pytest.approx(4.0)
    assert folds.loc["seen", "fold"] == pytest.approx(7.0 / 4.0) and not folds.loc["seen", "lower_bound"]
    # new: UTS03's own pretrained full-data B (0.4) is reached between 5 (0.25) and 7 stories (0.45)
    assert folds.loc["new", "reference_full_B"] == pytest.approx(0.4)
    assert folds.loc["new", "minutes_needed"] == pytest.approx(5.0 + 2.0 * 0.15 / 0.2)
    with pytest.raises(ValueError, match="no braintuned curve of wav2vec2"):
        run_curve_tables(paths, "braintuned", ["UTS01"], outputs)


def test_curve_figure_draws_the_summary(tmp_path):
    from braintune.figures.curve import curve_figure, make_curve_figure

    summary = pd.DataFrame([
        {"family": "wav2vec2", "variant": v, "group": g, "region": "late_language", "n_stories": k, "mean": 0.1 * k,
         "se": 0.01, "n": 2, "minutes": 1.0 * k}
        for v, groups in (("pretrained", ["none", "all"]), ("multibraintuned", ["seen", "new", "all"]),
                          ("braintuned_UTS01", ["other", "all"]))
        for g in groups for k in (3, 5)
    ])
    fig = curve_figure(summary, "late_language")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["Pretrained", "Multi-brain-tuned, seen participants", "Multi-brain-tuned, new participants",
                      "Brain-tuned on UTS01, other participants"]
    with pytest.raises(ValueError, match="no curve rows of region 'IFG'"):
        curve_figure(summary, "IFG")
    summary.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    make_curve_figure(tmp_path / "s.tsv", "late_language", [tmp_path / "c.pdf", tmp_path / "c.png"])
    assert (tmp_path / "c.pdf").stat().st_size > 0 and (tmp_path / "c.png").stat().st_size > 0
