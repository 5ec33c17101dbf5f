"""Shared figure style and grouped bar plots (braintune.figures.style / bars)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from braintune.figures import bars, style  # noqa: E402

FAMILIES = ["wav2vec2", "hubert", "whisper"]
VARIANTS = ["pretrained", "bigslm", "braintuned"]
SUBJECTS = ["UTS01", "UTS02", "UTS03", "UTS05"]


def table(seed=0, layers=(1, 2)):
    rng = np.random.default_rng(seed)
    rows = [dict(family=f, variant=v, subject=s, layer=l, B=float(rng.normal(0.3, 0.1)))
            for f in FAMILIES for v in VARIANTS for s in SUBJECTS for l in layers]
    return pd.DataFrame(rows)


def test_summarise_standard_error_across_participants():
    t = table()
    out = bars.summarise(t, "B")
    assert len(out) == len(FAMILIES) * len(VARIANTS)
    sel = t[(t.family == "hubert") & (t.variant == "bigslm")]
    per_subject = sel.groupby("subject")["B"].mean().to_numpy()  # layers averaged first
    row = out[(out.family == "hubert") & (out.variant == "bigslm")].iloc[0]
    assert row["n"] == len(SUBJECTS)
    assert row["mean"] == pytest.approx(per_subject.mean())
    assert row["se"] == pytest.approx(per_subject.std(ddof=1) / np.sqrt(len(SUBJECTS)))


def test_summarise_single_participant_has_no_error_and_drops_nan():
    t = pd.DataFrame(dict(family=["a", "a", "a"], variant=["v", "v", "w"], subject=["s1", "s1", "s1"],
                          B=[1.0, np.nan, 2.0]))
    out = bars.summarise(t, "B").set_index("variant")
    assert out.loc["v", "mean"] == 1.0 and out.loc["v", "n"] == 1 and np.isnan(out.loc["v", "se"])
    with pytest.raises(KeyError, match="R"):
        bars.summarise(t, "R")


def test_grouped_bars_patches_errorbars_and_asterisks():
    summary = bars.summarise(table(), "B")
    fig, ax = plt.subplots()
    marks = {("wav2vec2", "braintuned"): 0.01, ("hubert", "braintuned"): 0.2, ("whisper", "braintuned"): np.nan}
    plot = bars.grouped_bars(ax, summary, FAMILIES, VARIANTS, marks=marks,
                             brackets=[("whisper", "pretrained", "braintuned", 0.049),
                                       ("hubert", "pretrained", "braintuned", 0.051)])
    assert len(plot.bars) == 9 and len(ax.patches) == 9
    assert set(plot.marks) == {("wav2vec2", "braintuned")}
    assert set(plot.bracket_marks) == {("whisper", "pretrained", "braintuned")}
    stars = [t for t in ax.texts if t.get_text() == "*"]
    assert len(stars) == 2
    # the asterisk sits above its bar's error bar
    patch = plot.bars[("wav2vec2", "braintuned")]
    row = summary[(summary.family == "wav2vec2") & (summary.variant == "braintuned")].iloc[0]
    x, y = plot.marks[("wav2vec2", "braintuned")].get_position()
    assert x == pytest.approx(patch.get_x() + patch.get_width() / 2)
    assert y > row["mean"] + row["se"]
    # bar heights are the means, error bars the standard errors, colours the shared palette
    for (family, variant), patch in plot.bars.items():
        r = summary[(summary.family == family) & (summary.variant == variant)].iloc[0]
        assert patch.get_height() == pytest.approx(r["mean"])
        assert matplotlib.colors.to_hex(patch.get_facecolor()) == style.variant_color(variant)
        segs = plot.errorbars[(family, variant)].lines[2][0].get_segments()[0]
        assert segs[1][1] - segs[0][1] == pytest.approx(2 * r["se"], rel=1e-5)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["Wav2vec2.0", "HuBERT", "Whisper"]
    plt.close(fig)


def test_grouped_bars_missing_pair_leaves_gap_and_negative_marks_go_below():
    summary = pd.DataFrame(dict(family=["a", "a", "b"], variant=["pretrained", "braintuned", "pretrained"],
                                mean=[-2.0, -1.0, 3.0], se=[0.5, 0.1, np.nan]))
    fig, ax = plt.subplots()
    plot = bars.grouped_bars(ax, summary, ["a", "b"], ["pretrained", "braintuned"], marks={("a", "pretrained"): 0.001})
    assert len(plot.bars) == 3 and ("b", "braintuned") not in plot.bars
    assert ("b", "pretrained") not in plot.errorbars  # NaN standard error: no error bar
    _, y = plot.marks[("a", "pretrained")].get_position()
    assert y < -2.5
    plt.close(fig)


def test_style_palette_order_and_asterisk(tmp_path):
    assert len(set(style.VARIANT_COLORS.values())) == len(style.VARIANT_COLORS)
    assert style.variant_color("braintuned_n3") != style.variant_color("braintuned_n12")
    assert style.variant_color("something_new") == style.variant_color("something_new")
    assert style.order_variants(["braintuned", "braintuned_n12", "bigslm", "pretrained", "braintuned_n3"]) == [
        "pretrained", "bigslm", "braintuned", "braintuned_n3", "braintuned_n12"]
    assert style.order_families(["whisper", "x", "wav2vec2"]) == ["wav2vec2", "whisper", "x"]
    assert style.asterisk(0.049) == "*" and style.asterisk(0.05) == "" and style.asterisk(float("nan")) == ""
    assert style.asterisk(0.01, alpha=0.001) == "" and style.asterisk(None) == ""
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    written = style.save_figure(fig, [tmp_path / "f.pdf", tmp_path / "f.png"])
    assert all(p.stat().st_size > 1000 for p in written)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob(".*"))
