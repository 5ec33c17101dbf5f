"""The paper's bar figures (2a/b, 3a/b, 5, 6, 7) from tidy tables with the statistics stage's columns."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from braintune.figures import paper, style  # noqa: E402
from braintune.statistics import (  # noqa: E402
    ALL,
    Comparison,
    WilcoxonResult,
    _add_holm,
    _row,
    paired_wilcoxon,
    summary_table,
    wilcoxon_table,
)

FAMILIES = ["wav2vec2", "hubert", "whisper", "hubert_large"]
VARIANTS = {"wav2vec2": ["pretrained", "braintuned", "random", "bigslm"],
            "hubert": ["pretrained", "braintuned", "random", "bigslm"],
            "whisper": ["pretrained", "braintuned", "random", "bigslm"],
            "hubert_large": ["pretrained", "braintuned"]}
SUBJECTS = [f"UTS0{i}" for i in range(1, 9)]
REGIONS = ["late_language", "primary_auditory", "early_auditory", "all"]
SIG = paper.Significance("braintuned", "pretrained", "participants", "p")
SCALE = paper.ScaleComparison("hubert", "hubert_large", "late_language")


def per_subject_tables(seed=0):
    """alignment_subject.tsv / lowlevel_subject.tsv rows: brain-tuned wav2vec2 clearly above
    pretrained in late language for every participant; whisper indistinguishable."""
    rng = np.random.default_rng(seed)
    align, low = [], []
    for f in FAMILIES:
        for v in VARIANTS[f]:
            for s in SUBJECTS:
                for r in REGIONS:
                    b = 0.3 + rng.normal(0, 0.02)
                    if r == "late_language" and ((v == "braintuned" and f != "whisper")
                                                 or (f, v) == ("hubert_large", "pretrained")):
                        b += 0.1  # brain-tuned base ~ large pretrained (paper Fig. 5)
                    align.append(dict(family=f, variant=v, subject=s, region=r, B=b, n_layers=4, n_voxels=50,
                                      feature=ALL, config_hash="abc"))
                    for feat in ("powspec", "diphone", ALL):
                        R = 40 + rng.normal(0, 3) - (15 if (v == "braintuned" and r == "late_language") else 0)
                        low.append(dict(family=f, variant=v, subject=s, region=r, feature=feat, R=R, B_o=b,
                                        B_r=b * (1 - R / 100), n_layers=1, n_voxels=50, config_hash="abc"))
    return pd.DataFrame(align), pd.DataFrame(low)


def wilcoxon_from(per_subject, value):
    """Participant-level Wilcoxon table built with the statistics stage's own functions."""
    rows = []
    for region in REGIONS:
        block = per_subject[(per_subject.region == region) & (per_subject.get("feature", ALL) == ALL)]
        wide = block.pivot_table(index="subject", columns=["family", "variant"], values=value)
        pairs = [Comparison(f, "braintuned", f, v) for f in FAMILIES for v in VARIANTS[f] if v != "braintuned"]
        pairs.append(Comparison("hubert", "braintuned", "hubert_large", "pretrained"))
        for c in pairs:
            res = paired_wilcoxon(wide[(c.reference_family, c.reference_variant)], wide[(c.family, c.variant)],
                                  "two-sided")
            rows.append(_row("participants", c, region, ALL, ALL, res))
    return wilcoxon_table(rows, 0.05, "abc")


@pytest.fixture(scope="module")
def subject_tables():
    align, low = per_subject_tables()
    return align, low, wilcoxon_from(align, "B"), wilcoxon_from(low, "R")


@pytest.fixture(scope="module")
def tables(subject_tables):
    """The figures' inputs: the summary tables and the Wilcoxon tables of the statistics stage."""
    align, low, wa, wl = subject_tables
    return summary_table(align, "B"), summary_table(low, "R"), wa, wl


def p_of(wil, region, family):
    row = wil.query(f"level == 'participants' and region == '{region}' and reference_family == '{family}' "
                    f"and family == '{family}' and reference_variant == 'braintuned' and variant == 'pretrained'")
    return row["p"].item()


def stars(fig):
    return [t for ax in fig.axes for t in ax.texts if t.get_text() == "*"]


def test_is_significant_reads_the_flags_of_participant_and_voxel_levels(tables):
    _, _, wil, _ = tables
    w2v = (("wav2vec2", "braintuned"), ("wav2vec2", "pretrained"))
    assert paper.is_significant(wil, "late_language", *w2v, SIG) == (p_of(wil, "late_language", "wav2vec2") < 0.05)
    assert paper.is_significant(wil, "late_language", *w2v, SIG)
    assert not paper.is_significant(wil, "nowhere", *w2v, SIG)
    voxel = pd.DataFrame([
        _row("voxels", Comparison("wav2vec2", "braintuned", "wav2vec2", "pretrained"), "late_language", ALL, s,
             WilcoxonResult(50, 1.0, p, 0, 0, 0)) for s, p in (("UTS01", 0.01), ("UTS02", 0.03))])
    voxel = _add_holm(voxel, 0.05)
    voxel["significant_holm"] = voxel["p"] * 2 < 0.05  # as if the Holm family were twice as large
    sig_vox = paper.Significance("braintuned", "pretrained", "voxels", "p")
    assert paper.is_significant(voxel, "late_language", *w2v, sig_vox)  # significant in every participant
    holm = paper.Significance("braintuned", "pretrained", "voxels", "p_holm")
    assert not paper.is_significant(voxel, "late_language", *w2v, holm)  # 0.06 in UTS02
    with pytest.raises(KeyError, match="significant_holm"):
        paper.is_significant(voxel.drop(columns="significant_holm"), "late_language", ("a", "b"), ("a", "c"), holm)
    with pytest.raises(ValueError, match="figures.p_column"):
        paper.Significance.from_config(dict(reference_variant="b", baseline_variant="p",
                                            significance_level="voxels", p_column="q"))


@pytest.mark.parametrize("variants, n_bars", [(["pretrained", "bigslm", "braintuned"], 9),
                                               (["pretrained", "bigslm", "random", "braintuned"], 12)])
def test_region_bars_alignment(tables, subject_tables, tmp_path, variants, n_bars):
    align, _, wil, _ = tables
    out = paper.region_bars(align, wil, ["late_language"], ["wav2vec2", "hubert", "whisper"], variants, SIG,
                            ylabel=paper.ALIGNMENT_LABEL)
    (plot,) = out.panels
    assert len(plot.bars) == n_bars and len(plot.ax.patches) == n_bars
    # asterisks exactly on the brain-tuned bars of the families with p < 0.05 (wav2vec2, hubert)
    expected = {(f, "braintuned") for f in ("wav2vec2", "hubert", "whisper")
                if p_of(wil, "late_language", f) < 0.05}
    assert expected == {("wav2vec2", "braintuned"), ("hubert", "braintuned")}
    assert set(plot.marks) == expected and len(stars(out.figure)) == 2
    # error bars: standard error across the 8 participants
    per_subject = subject_tables[0]
    sel = per_subject[(per_subject.region == "late_language") & (per_subject.family == "hubert")
                      & (per_subject.variant == "bigslm")]
    seg = plot.errorbars[("hubert", "bigslm")].lines[2][0].get_segments()[0]
    assert (seg[1][1] - seg[0][1]) / 2 == pytest.approx(sel.B.std(ddof=1) / np.sqrt(8), rel=1e-5)
    assert "n = 8" in plot.ax.get_title()
    assert plot.ax.get_ylabel() == paper.ALIGNMENT_LABEL
    legend = out.figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [style.variant_label(v) for v in variants]
    paths = style.save_figure(out.figure, [tmp_path / "f.pdf", tmp_path / "f.png"])
    assert all(p.stat().st_size > 5000 for p in paths)


def test_region_bars_two_panels_lowlevel(tables, subject_tables):
    _, low, _, wil = tables
    out = paper.region_bars(low, wil, ["late_language", "primary_auditory"], ["wav2vec2", "hubert", "whisper"],
                            ["pretrained", "bigslm", "random", "braintuned"], SIG, ylabel=paper.LOWLEVEL_LABEL,
                            letters=True)
    assert len(out.panels) == 2
    late, primary = out.panels
    assert late.ax.get_title().startswith("(a) Late language") and primary.ax.get_title().startswith("(b)")
    # every family's brain-tuned R drops in late language, none in primary auditory
    assert set(late.marks) == {(f, "braintuned") for f in ("wav2vec2", "hubert", "whisper")}
    assert not primary.marks
    # R is averaged over the 'all' feature rows only, not the per-feature rows
    per_subject = subject_tables[1]
    sel = per_subject[(per_subject.region == "late_language") & (per_subject.family == "whisper")
                      & (per_subject.variant == "random") & (per_subject.feature == ALL)]
    assert late.bars[("whisper", "random")].get_height() == pytest.approx(sel.R.mean())
    plt.close(out.figure)


def test_region_bars_clear_errors(tables):
    align, _, wil, _ = tables
    with pytest.raises(ValueError, match="region 'nowhere'"):
        paper.region_bars(align, wil, ["nowhere"], ["wav2vec2"], ["pretrained"], SIG, ylabel="B")
    with pytest.raises(ValueError, match="no rows"):
        paper.region_bars(align, wil, ["late_language"], ["nofamily"], ["pretrained"], SIG, ylabel="B")


def test_scale_figure(tables, tmp_path):
    align, low, wa, wl = tables
    out = paper.scale_figure(align, low, wa, wl, SCALE, SIG)
    assert len(out.panels) == 2
    for plot in out.panels:
        assert len(plot.bars) == 3
    a, b = out.panels
    # alignment: brain-tuned base above base pretrained (significant); large pretrained is equal -> not
    assert set(a.bracket_marks) == {("late_language", "hubert/braintuned", "hubert/pretrained")}
    assert set(b.bracket_marks) == {("late_language", "hubert/braintuned", "hubert/pretrained"),
                                    ("late_language", "hubert/braintuned", "hubert_large/pretrained")}
    assert b.bars[("late_language", "hubert_large/pretrained")].get_hatch() == "//"
    style.save_figure(out.figure, [tmp_path / "fig5.png"])
    with pytest.raises(ValueError, match="hubert_large"):
        paper.scale_figure(align[align.family != "hubert_large"], low, wa, wl, SCALE, SIG)


def test_restrict_and_labels():
    v = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    m = np.array([True, False, True])
    assert np.isnan(paper.restrict(v, m, "nc_mask")[1]) and paper.restrict(v, m, "all")[1] == 2.0
    with pytest.raises(ValueError, match="flatmap_voxels"):
        paper.restrict(v, m, "some")
    with pytest.raises(ValueError, match="does not match"):
        paper.restrict(v, m[:2], "nc_mask")
    assert paper.subject_label("UTS02") == "Participant 2" and paper.subject_label("S1") == "S1"
