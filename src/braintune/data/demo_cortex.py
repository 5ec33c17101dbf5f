"""The voxel space of the generated miniature: pycortex's sample subject S1, transform ``fullhead``.

The demo's voxels are the voxels of S1's ``thin`` (default) or ``thick`` cortical mask, in the
mask's own order, so a demo response row is directly a pycortex ``Volume`` of S1 (pycortex picks
the mask from the number of columns) and flatmaps of demo results are real flatmaps.

Planted regions come from S1's ``overlays.svg``: region vertices (``rois`` layer: AC, Broca, sPMv;
``sulci`` layer: StS) are mapped to voxels with pycortex's nearest-vertex mapper.

pycortex writes masks and mapper caches into its filestore; :func:`use_filestore` points it at a
writable copy of S1 (made once from the filestore that ships with pycortex).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)

SUBJECT = "S1"
XFM = "fullhead"
#: Bump when :func:`region_volumes` changes, so cached region volumes are recomputed.
_CACHE_VERSION = 2


def use_filestore(filestore: str | Path | None):
    """Import pycortex and point its database at ``filestore`` (a writable copy of S1 is made
    there from pycortex's own filestore when missing). Returns the ``cortex`` module."""
    import cortex

    if filestore is None:
        return cortex
    filestore = Path(filestore).resolve()
    target = filestore / SUBJECT
    if not (target / "overlays.svg").exists():
        from cortex.database import default_filestore

        source = Path(default_filestore) / SUBJECT
        if not source.exists():
            raise FileNotFoundError(f"pycortex filestore {default_filestore} has no sample subject {SUBJECT}")
        tmp = filestore / f".{SUBJECT}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("cache"))
        tmp.replace(target)
        log.info("copied pycortex subject %s to %s", SUBJECT, target)
    if Path(cortex.db.filestore).resolve() != filestore:
        cortex.db.filestore = str(filestore)
        cortex.db._subjects = None
    return cortex


@dataclass(frozen=True)
class VoxelSpace:
    """Voxels of S1 ``fullhead``.

    Attributes:
        mask_name: ``thin`` or ``thick``.
        shape: volume shape (z, y, x).
        volume_index: flat index into the volume of every demo voxel (V,), in mask order.
        ijk: (V, 3) voxel coordinates (z, y, x).
    """

    mask_name: str
    shape: tuple[int, int, int]
    volume_index: np.ndarray
    ijk: np.ndarray

    @property
    def n_voxels(self) -> int:
        return len(self.volume_index)

    def to_volume(self, values: np.ndarray, fill=0) -> np.ndarray:
        out = np.full(int(np.prod(self.shape)), fill, dtype=np.asarray(values).dtype)
        out[self.volume_index] = values
        return out.reshape(self.shape)

    def from_volume(self, volume: np.ndarray) -> np.ndarray:
        return np.asarray(volume).reshape(-1)[self.volume_index]


def voxel_space(cortex, mask_name: str) -> VoxelSpace:
    mask = np.asarray(cortex.db.get_mask(SUBJECT, XFM, mask_name), dtype=bool)
    flat = np.flatnonzero(mask.ravel())
    ijk = np.stack(np.unravel_index(flat, mask.shape), axis=1)
    return VoxelSpace(mask_name=mask_name, shape=tuple(int(s) for s in mask.shape), volume_index=flat, ijk=ijk)


def region_volumes(cortex, rois: dict[str, list[str]], shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Boolean volumes of each planted region: the voxels pycortex's nearest-vertex mapper assigns
    to the vertices of the region's overlay shapes (``layer:name``, e.g. ``rois:AC``, ``sulci:StS``;
    sulci, lines of vertices, are widened by one voxel)."""
    mapper = cortex.get_mapper(SUBJECT, XFM, "nearest")
    offsets = np.cumsum([0] + [m.shape[0] for m in mapper.masks])
    overlay = cortex.db.get_overlay(SUBJECT)
    out = {}
    for region, shapes in rois.items():
        volume = np.zeros(int(np.prod(shape)), dtype=bool)
        for spec in shapes:
            layer, name = spec.split(":", 1) if ":" in spec else ("rois", spec)
            try:
                verts = np.asarray(getattr(overlay, layer).get_mask(name), dtype=np.int64)
            except (AttributeError, KeyError) as err:
                raise ValueError(f"data.demo.regions.{region}: S1's overlays.svg has no shape '{spec}'") from err
            part = np.zeros_like(volume)
            for hemi, matrix in enumerate(mapper.masks):
                local = verts[(verts >= offsets[hemi]) & (verts < offsets[hemi + 1])] - offsets[hemi]
                if len(local):
                    part[np.unique(matrix[local].indices)] = True
            if layer == "sulci":  # a sulcus is a line of vertices: widen it to a band of voxels
                part = ndimage.binary_dilation(part.reshape(shape), iterations=1).reshape(-1)
            volume |= part
        if not volume.any():
            raise ValueError(f"data.demo.regions.{region}: shapes {shapes} map to no voxel of S1 {XFM}")
        out[region] = volume.reshape(shape)
    return out


def cached_region_volumes(cortex, rois: dict[str, list[str]], shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """:func:`region_volumes`, cached in the filestore's ``S1/cache`` (reading the overlay takes seconds)."""
    import hashlib
    import json

    key = hashlib.sha256(json.dumps([_CACHE_VERSION, rois, list(shape)], sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cortex.db.filestore) / SUBJECT / "cache" / f"braintune_demo_regions_{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {name: data[name].astype(bool) for name in rois}
    volumes = region_volumes(cortex, rois, shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.npz")
    np.savez_compressed(tmp, **volumes)
    tmp.replace(path)
    return volumes
