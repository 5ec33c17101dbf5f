"""Shared figure style and grouped bar plots (braintune.figures.style / bars)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from braintune.figures import bars, style  # noqa: E402
from braintune.statistics import summarise  # noqa: E402

FAMILIES = ["wav2vec2", "hubert", "whisper"]
VARIANTS = ["pretrained", "bigslm", "braintuned"]
SUBJECTS = ["UTS01", "UTS02", "UTS03", "UTS05"]


def table(seed=0, layers=(1, 2)):
    rng = np.random.default_rng(seed)
    rows = [dict(family=f, variant=v, subject=s, layer=l, B=float(rng.normal(0.3, 0.1)))
            for f in FAMILIES for v in VARIANTS for s in SUBJECTS for l in layers]
    return pd.DataFrame(rows)


def test_grouped_bars_patches_errorbars_and_asterisks():
    summary = summarise(table(), "B")
    fig, ax = plt.subplots()
    marks = {("wav2vec2", "braintuned"): True, ("hubert", "braintuned"): False, ("whisper", "braintuned"): False}
    plot = bars.grouped_bars(ax, summary, FAMILIES, VARIANTS, marks=marks,
                             brackets=[("whisper", "pretrained", "braintuned", True),
                                       ("hubert", "pretrained", "braintuned", False)])
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
    plot = bars.grouped_bars(ax, summary, ["a", "b"], ["pretrained", "braintuned"], marks={("a", "pretrained"): True})
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
    assert style.asterisk(True) == "*" and style.asterisk(False) == "" and style.asterisk(np.bool_(True)) == "*"
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    written = style.save_figure(fig, [tmp_path / "f.pdf", tmp_path / "f.png"])
    assert all(p.stat().st_size > 1000 for p in written)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob(".*"))
