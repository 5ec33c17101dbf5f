"""pycortex flatmaps of per-voxel results (paper Figs. 2c, 3c, 13, 14, 15), rendered headless.

The voxel vectors of this project are in the order of a pycortex cortical mask of the subject's
transform (ds003020: ``UTS0X_auto``; demo: S1 ``fullhead`` thin/thick mask, optionally every k-th
voxel), so a vector becomes a ``cortex.Volume`` directly. pycortex writes caches into the
subject's folder: the database is pointed at the writable copy from
:func:`braintune.regions.pycortex_target` before anything is drawn. Region outlines (the subject's
``overlays.svg`` ROIs) are drawn only when Inkscape is installed (pycortex rasterises them with it).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from braintune.figures import style  # noqa: E402

log = logging.getLogger(__name__)


def inkscape_available() -> bool:
    """pycortex needs the ``inkscape`` program to draw region outlines."""
    return shutil.which("inkscape") is not None


def use_filestore(filestore: str):
    """pycortex with its database at ``filestore`` (see :func:`braintune.regions.use_pycortex`)."""
    from braintune.regions import use_pycortex

    return use_pycortex(filestore)


@dataclass(frozen=True)
class Target:
    """Where a subject's voxels are drawn: pycortex filestore, subject and transform."""

    filestore: str
    subject: str
    xfm: str
    voxel_stride: int = 1


def volume_data(cortex, values: np.ndarray, target: Target) -> np.ndarray:
    """``values`` (V,) as data pycortex can draw: the vector itself when it matches a cortical mask
    of the transform, or (``voxel_stride`` > 1: every k-th voxel of a mask) a full volume with NaN
    elsewhere. Raises ValueError naming the subject/transform when no mask fits."""
    values = np.asarray(values, dtype=np.float32).ravel()
    sizes = {}
    for name in ("thin", "thick"):
        try:
            mask = np.asarray(cortex.db.get_mask(target.subject, target.xfm, name), dtype=bool)
        except Exception as err:  # a missing mask file: try the next one
            log.debug("no %s mask for %s/%s: %s", name, target.subject, target.xfm, err)
            continue
        n = int(mask.sum())
        sizes[name] = n
        if target.voxel_stride == 1 and n == values.size:
            return values
        index = np.flatnonzero(mask.ravel())[:: target.voxel_stride]
        if index.size == values.size:
            volume = np.full(mask.size, np.nan, dtype=np.float32)
            volume[index] = values
            return volume.reshape(mask.shape)
    raise ValueError(
        f"{values.size} voxel values do not match any cortical mask of pycortex subject {target.subject} "
        f"transform {target.xfm} (mask sizes {sizes}, voxel stride {target.voxel_stride})")


def symmetric_limit(arrays: Sequence[np.ndarray], percentile: float = 99.0) -> float:
    """Limit ``v`` of a diverging colour scale [-v, v] centred on zero: the ``percentile`` of |x|
    over every finite value of ``arrays`` (one shared scale across panels)."""
    values = np.concatenate([np.abs(np.asarray(a, dtype=np.float64).ravel()) for a in arrays])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    v = float(np.percentile(values, percentile))
    return v if v > 0 else float(values.max()) or 1.0


def draw_flatmap(ax, values: np.ndarray, target: Target, *, vmin: float, vmax: float, cmap: str,
                 with_rois: bool | None = None, height: int = 1024, title: str | None = None):
    """Draw one flatmap of ``values`` (NaN: not shown, curvature visible) into ``ax``."""
    cortex = use_filestore(target.filestore)
    if with_rois is None:
        with_rois = inkscape_available()
    volume = cortex.Volume(volume_data(cortex, values, target), target.subject, target.xfm, vmin=vmin, vmax=vmax,
                           cmap=cmap)
    cortex.quickflat.make_figure(volume, fig=ax, height=height, with_rois=with_rois, with_labels=False,
                                 with_sulci=False, with_curvature=True, with_colorbar=False, nanmean=True)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


@dataclass
class Panel:
    """One flatmap of a figure: its title and values, drawn on ``target``."""

    title: str
    values: np.ndarray
    target: Target


def flatmap_figure(panels: Sequence[Panel], *, cmap: str, vmin: float, vmax: float, colorbar_label: str,
                   ncols: int = 2, panel_width: float = 5.0, suptitle: str | None = None,
                   with_rois: bool | None = None, height: int = 1024, extend: str = "neither"):
    """A grid of flatmaps sharing one colour scale and one labelled colour bar."""
    if not panels:
        raise ValueError("flatmap_figure: no panels")
    ncols = max(1, min(ncols, len(panels)))
    nrows = int(np.ceil(len(panels) / ncols))
    # S1/UTS flatmaps are about twice as wide as high
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols, panel_width * 0.55 * nrows + 0.6),
                             squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        draw_flatmap(ax, panel.values, panel.target, vmin=vmin, vmax=vmax, cmap=cmap, with_rois=with_rois,
                     height=height, title=panel.title)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(vmin, vmax), cmap=cmap)
    bar = fig.colorbar(mappable, ax=axes.ravel().tolist(), orientation="horizontal", fraction=0.05 / nrows,
                       pad=0.02, aspect=40, shrink=0.5, extend=extend)
    bar.set_label(colorbar_label)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def difference_figure(panels: Sequence[Panel], *, colorbar_label: str, percentile: float = 99.0, **kwargs):
    """Flatmaps of differences on a diverging colour map centred on zero (shared symmetric scale)."""
    v = symmetric_limit([p.values for p in panels], percentile)
    return flatmap_figure(panels, cmap=style.DIVERGING_CMAP, vmin=-v, vmax=v, colorbar_label=colorbar_label,
                          extend="both", **kwargs)
