"""pycortex flatmaps of per-voxel results (paper Figs. 2c, 3c, 13, 14, 15), rendered headless.

The voxel vectors of this project are in the order of a pycortex cortical mask of the subject's
transform (ds003020: ``UTS0X_auto``; demo: S1 ``fullhead`` thin/thick mask, optionally every k-th
voxel), so a vector becomes a ``cortex.Volume`` directly. pycortex writes caches into the
subject's folder: the database is pointed at the writable copy from
:func:`braintune.preprocess.regions.pycortex_target` before anything is drawn. Region outlines (the subject's
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
import matplotlib.ticker  # noqa: E402,F401  (colour-bar locator)
import numpy as np  # noqa: E402

from braintune.figures import style  # noqa: E402

log = logging.getLogger(__name__)


def inkscape_available() -> bool:
    """pycortex needs the ``inkscape`` program to draw region outlines."""
    return shutil.which("inkscape") is not None


def use_filestore(filestore: str):
    """pycortex with its database at ``filestore`` (see :func:`braintune.preprocess.regions.use_pycortex`)."""
    from braintune.preprocess.regions import use_pycortex

    return use_pycortex(filestore)


@dataclass(frozen=True)
class Target:
    """Where a subject's voxels are drawn: pycortex filestore, subject and transform."""

    filestore: str
    subject: str
    xfm: str
    voxel_stride: int = 1


def existing_masks(cortex, target: Target) -> dict[str, np.ndarray]:
    """The cortical masks saved for the subject's transform (``mask_{name}.nii.gz``), as pycortex
    reads them; none is generated (pycortex would build and write a missing one)."""
    import glob
    import re

    import nibabel

    pattern = cortex.db.get_paths(target.subject)["masks"].format(xfmname=target.xfm, type="*")
    masks = {}
    for path in sorted(glob.glob(pattern)):
        match = re.search(r"mask_(.+)\.nii\.gz$", path)
        if match:
            masks[match.group(1)] = np.asarray(nibabel.load(path).get_fdata()).T != 0
    return masks


def volume_data(cortex, values: np.ndarray, target: Target) -> np.ndarray:
    """``values`` (V,) as data pycortex can draw: the vector itself when it matches a saved cortical
    mask of the transform, or (``voxel_stride`` > 1: every k-th voxel of a mask, the demo option) a
    full volume with NaN elsewhere. Raises ValueError naming the subject/transform when no mask fits."""
    values = np.asarray(values, dtype=np.float32).ravel()
    masks = existing_masks(cortex, target)
    for name, mask in masks.items():
        n = int(mask.sum())
        if target.voxel_stride == 1 and n == values.size:
            return values
        index = np.flatnonzero(mask.ravel())[:: target.voxel_stride]
        if target.voxel_stride > 1 and index.size == values.size:
            volume = np.full(mask.size, np.nan, dtype=np.float32)
            volume[index] = values
            return volume.reshape(mask.shape)
    sizes = {name: int(mask.sum()) for name, mask in masks.items()}
    raise ValueError(
        f"{values.size} voxel values do not match any cortical mask of pycortex subject {target.subject} "
        f"transform {target.xfm} in {target.filestore} (mask sizes {sizes}, voxel stride {target.voxel_stride})")


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


def _layout(nrows: int, ncols: int, panel_width: float, aspect: float, suptitle: bool) -> dict:
    """Figure size (inches) and grid/colour-bar positions (figure fractions) so each panel's box has
    the flatmap's aspect (no empty bands), with room for panel titles, a suptitle and the colour bar."""
    title, bar, top = 0.32, 0.95, (0.4 if suptitle else 0.05)
    panel_h = panel_width / aspect
    height = top + nrows * (panel_h + title) + bar
    width = panel_width * ncols * 1.02
    return dict(
        size=(width, height),
        grid=dict(left=0.01, right=0.99, top=1 - (top + title) / height, bottom=bar / height,
                  hspace=title / panel_h, wspace=0.02 * ncols / max(ncols - 1, 1) if ncols > 1 else 0.0),
        colorbar=[0.2, 0.55 / height, 0.6, 0.11 / height] if ncols == 1 else [0.3, 0.55 / height, 0.4, 0.11 / height],
    )


def flatmap_figure(panels: Sequence[Panel], *, cmap: str, vmin: float, vmax: float, colorbar_label: str,
                   ncols: int = 2, panel_width: float = 5.0, suptitle: str | None = None,
                   with_rois: bool | None = None, height: int = 1024, extend: str = "neither"):
    """A grid of flatmaps sharing one colour scale and one labelled horizontal colour bar."""
    if not panels:
        raise ValueError("flatmap_figure: no panels")
    ncols = max(1, min(ncols, len(panels)))
    nrows = int(np.ceil(len(panels) / ncols))
    aspect = 1.9  # about right for S1 and the UTS subjects; corrected from the first drawn map
    layout = _layout(nrows, ncols, panel_width, aspect, bool(suptitle))
    fig = plt.figure(figsize=layout["size"])
    grid = fig.add_gridspec(nrows, ncols, **layout["grid"])
    axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(len(panels))]
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        draw_flatmap(ax, panel.values, panel.target, vmin=vmin, vmax=vmax, cmap=cmap, with_rois=with_rois,
                     height=height, title=panel.title)
        if i == 0:
            x0, x1, y0, y1 = ax.images[0].get_extent()
            measured = abs(x1 - x0) / max(abs(y1 - y0), 1e-9)
            if abs(measured - aspect) / aspect > 0.01:
                layout = _layout(nrows, ncols, panel_width, measured, bool(suptitle))
                fig.set_size_inches(*layout["size"])
                grid.update(**layout["grid"])
    cax = fig.add_axes(layout["colorbar"])
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(vmin, vmax), cmap=cmap)
    bar = fig.colorbar(mappable, cax=cax, orientation="horizontal", extend=extend)
    bar.locator = matplotlib.ticker.MaxNLocator(5 if ncols == 1 else 7, symmetric=vmin == -vmax)
    bar.update_ticks()
    bar.set_label(colorbar_label)
    if suptitle:
        fig.suptitle(suptitle, y=1 - 0.12 / layout["size"][1], va="top")
    return fig


def difference_figure(panels: Sequence[Panel], *, colorbar_label: str, percentile: float = 99.0, **kwargs):
    """Flatmaps of differences on a diverging colour map centred on zero (shared symmetric scale)."""
    v = symmetric_limit([p.values for p in panels], percentile)
    return flatmap_figure(panels, cmap=style.DIVERGING_CMAP, vmin=-v, vmax=v, colorbar_label=colorbar_label,
                          extend="both", **kwargs)
