"""Shared look of every braintune figure: one colour per variant, family/variant/region order and
labels, significance asterisks, and writing a figure as PDF + PNG atomically.

The palette is the project's single source of colour: the alignment/low-level figures (2, 3, 5-7)
and the downstream figures (4, 8-12) import it, so a variant has the same colour everywhere.
Stable API (used by other stages): ``VARIANT_COLORS``, ``VARIANT_LABELS``, ``FAMILY_LABELS``,
``REGION_LABELS``, ``FAMILY_ORDER``, ``VARIANT_ORDER``, :func:`variant_color`,
:func:`variant_label`, :func:`family_label`, :func:`region_label`, :func:`order_families`,
:func:`order_variants`, :func:`asterisk`, :func:`apply_style`, :func:`save_figure`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from braintune.config import variant_donor  # noqa: E402

#: One colour per variant (colour-blind-safe where possible; LM-tuned baselines in blue hues as in
#: the paper's Fig. 10; brain-tuned the one saturated red).
VARIANT_COLORS: dict[str, str] = {
    "pretrained": "#7f7f7f",
    "braintuned": "#d62728",
    "random": "#bcbd22",
    "bigslm": "#ff7f0e",
    "stimulus": "#9ecae1",
    "lmtuned_gpt2": "#4292c6",
    "lmtuned_llama": "#08519c",
    "multibraintuned": "#6a3d9a",
}

VARIANT_LABELS: dict[str, str] = {
    "pretrained": "Pretrained",
    "braintuned": "Brain-tuned",
    "random": "Random brain-tuned",
    "bigslm": "BigSLM-tuned",
    "stimulus": "Stimulus-tuned",
    "lmtuned_gpt2": "GPT2-tuned",
    "lmtuned_llama": "Llama2-tuned",
    "multibraintuned": "Multi-brain-tuned",
}

FAMILY_LABELS: dict[str, str] = {
    "wav2vec2": "Wav2vec2.0",
    "hubert": "HuBERT",
    "whisper": "Whisper",
    "hubert_large": "HuBERT large",
}

REGION_LABELS: dict[str, str] = {
    "late_language": "Late language regions",
    "primary_auditory": "Primary auditory",
    "early_auditory": "Early auditory",
    "all": "Whole cortex",
}

#: Families and variants in the paper's order (unknown names follow, in their given order).
FAMILY_ORDER: tuple[str, ...] = ("wav2vec2", "hubert", "whisper", "hubert_large")
VARIANT_ORDER: tuple[str, ...] = (
    "pretrained", "bigslm", "random", "stimulus", "lmtuned_gpt2", "lmtuned_llama", "braintuned", "multibraintuned",
)

_DATA_SIZE = re.compile(r"^braintuned_n(\d+)$")

#: Diverging colormap of every difference map (centred on zero by the callers) and the sequential
#: one of non-negative maps.
DIVERGING_CMAP = "RdBu_r"
SEQUENTIAL_CMAP = "viridis"


def variant_color(variant: str) -> str:
    """Colour of a variant; data-size variants ``braintuned_n{K}`` are lighter reds (fewer stories,
    lighter), unknown variants get a stable colour from the tab20 cycle."""
    if variant in VARIANT_COLORS:
        return VARIANT_COLORS[variant]
    if variant_donor(variant) is not None:  # another participant's brain-tuned checkpoint: a darker red
        return mcolors.to_hex(tuple(0.6 * c for c in mcolors.to_rgb(VARIANT_COLORS["braintuned"])))
    match = _DATA_SIZE.match(variant)
    if match:
        k = int(match.group(1))
        # 1 story -> 35% towards white ... 24+ stories -> the brain-tuned red itself
        weight = 0.35 + 0.65 * min(k, 24) / 24
        base = mcolors.to_rgb(VARIANT_COLORS["braintuned"])
        return mcolors.to_hex(tuple(1 - weight * (1 - c) for c in base))
    cycle = plt.get_cmap("tab20").colors
    index = sum(map(ord, variant)) % len(cycle)
    return mcolors.to_hex(cycle[index])


def variant_label(variant: str) -> str:
    match = _DATA_SIZE.match(variant)
    if match:
        return f"Brain-tuned ({match.group(1)} stories)"
    donor = variant_donor(variant)
    if donor is not None:
        return f"Brain-tuned on {donor}"
    return VARIANT_LABELS.get(variant, variant)


def family_label(family: str) -> str:
    return FAMILY_LABELS.get(family, family)


def region_label(region: str) -> str:
    return REGION_LABELS.get(region, region.replace("_", " ").capitalize())


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(names, key=lambda n: (rank.get(n, len(order)), names.index(n)))


def order_families(names: Iterable[str]) -> list[str]:
    """``names`` (duplicates dropped) in the paper's family order."""
    return _ordered(names, FAMILY_ORDER)


def order_variants(names: Iterable[str]) -> list[str]:
    """``names`` in the paper's variant order (pretrained first, brain-tuned last; data-size
    variants after brain-tuned by story count)."""
    names = list(dict.fromkeys(names))
    sized = sorted((n for n in names if _DATA_SIZE.match(n)), key=lambda n: int(_DATA_SIZE.match(n).group(1)))
    return _ordered([n for n in names if n not in sized], VARIANT_ORDER) + sized


def asterisk(significant: bool) -> str:
    """``"*"`` for a significant test (the paper's single significance mark), else ``""``."""
    return "*" if significant else ""


STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    # pdf.fonttype stays 3 (matplotlib's default): Type 42 embedding (editable text) costs ~0.6 s per PDF
    "savefig.bbox": "tight",
    "savefig.dpi": 200,
}


def apply_style() -> None:
    """Set the project's matplotlib rcParams (call once per process before plotting)."""
    plt.rcParams.update(STYLE)


def save_figure(fig, paths: Iterable[str | os.PathLike], dpi: int | None = None, close: bool = True) -> list[Path]:
    """Write ``fig`` to every path (format from the suffix: .pdf, .png, .svg), atomically."""
    from braintune.utils import atomic_output

    written = []
    for path in paths:
        path = Path(path)
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=dpi or STYLE["savefig.dpi"])
        written.append(path)
    if close:
        plt.close(fig)
    return written
