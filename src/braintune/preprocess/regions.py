"""Regions of interest per subject, as boolean voxel masks in response-column order (docs/decisions.md 9).

Sources (``preprocess.regions.source``):

``glasser`` (the paper, appendix A.1)
    The HCP-MMP1 annotation on fsaverage (``{lh,rh}.HCP-MMP1.annot``, downloaded from a configured URL)
    is carried to the subject's surface through FreeSurfer's spherical registration: every vertex of the
    subject's ``surf/{hemi}.sphere.reg`` (ds003020 >= 3.1.0 ships them) takes the label of the nearest
    fsaverage sphere vertex (KD-tree on unit vectors; no FreeSurfer binaries). Vertices then go to voxels
    through the subject's pycortex transform (``UTS0X_auto``): pycortex's vertex-to-voxel mapper gives
    each (vertex, voxel) a weight, and each voxel takes the parcel with the largest summed weight. The
    voxels are the cortical mask's voxels in mask order, i.e. the response columns.
``pycortex``
    The fallback: the subject's pycortex overlay regions (``cortex.utils.get_roi_masks``).
``demo``
    The generated miniature's planted regions, read from its ground truth.

Every source yields the same datasets in ``regions.h5``: the groups (``late_language``,
``primary_auditory``, ``early_auditory``) and the areas (Glasser: AG, LTC, IFG, MFG, A1, ...).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from braintune.utils import atomic_output, open_h5, portable_path

log = logging.getLogger(__name__)

HEMIS = ("lh", "rh")
REQUIRED_REGIONS = ("late_language", "primary_auditory", "early_auditory")
_GLASSER_NAME = re.compile(r"^(?:[LR]_)?(.+?)(?:_ROI)?$")


# --- where pycortex looks ----------------------------------------------------------------------


def pycortex_target(config: dict, subject: str) -> tuple[str, str, str]:
    """``(filestore directory, pycortex subject, transform name)`` to draw ``subject``'s voxels.

    Real data: a writable copy of ``derivative/pycortex-db`` (``preprocess.pycortex_filestore``),
    subject ``UTS0X``, transform ``UTS0X_auto``. Demo: the writable copy of pycortex's sample subject
    ``S1`` the generator made (``data.demo.pycortex_filestore``), transform ``fullhead``. pycortex writes
    caches into the subject's folder, hence the writable copies.
    """
    if config["data"]["source"] == "demo":
        from braintune.data import demo_cortex

        return str(config["data"]["demo"]["pycortex_filestore"]), demo_cortex.SUBJECT, demo_cortex.XFM
    return str(config["preprocess"]["pycortex_filestore"]), subject, f"{subject}_auto"


def use_pycortex(filestore: str | os.PathLike):
    """Import pycortex with its database pointed at ``filestore``; returns the ``cortex`` module."""
    import cortex

    filestore = str(Path(filestore).resolve())
    if str(Path(cortex.db.filestore).resolve()) != filestore:
        cortex.db.filestore = filestore
        cortex.db._subjects = None
    return cortex


# --- Glasser labels: annotation -> subject vertices -> voxels ------------------------------------


def glasser_area(name: str) -> str:
    """``'L_A1_ROI' -> 'A1'`` (HCP-MMP1 annotation names carry hemisphere and suffix)."""
    match = _GLASSER_NAME.match(name.strip())
    return match.group(1) if match else name


def read_annotation(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """``(labels (n_vertices,) int, names)`` of a FreeSurfer ``.annot``; -1 = unlabelled; names
    normalised with :func:`glasser_area`."""
    import nibabel.freesurfer as fs

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: annotation missing")
    try:
        labels, _ctab, names = fs.read_annot(str(path))
    except Exception as err:  # nibabel raises ValueError / struct.error on malformed files
        raise ValueError(f"{path}: not a FreeSurfer annotation ({err})") from err
    return np.asarray(labels, dtype=np.int64), [glasser_area(n.decode() if isinstance(n, bytes) else n) for n in names]


def read_sphere(path: str | os.PathLike) -> np.ndarray:
    """Vertex coordinates (n, 3) of a sphere surface: FreeSurfer geometry (``sphere.reg``) or GIFTI."""
    import nibabel as nib
    import nibabel.freesurfer as fs

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: sphere surface missing")
    if path.name.endswith(".gii"):
        return np.asarray(nib.load(str(path)).agg_data("pointset"), dtype=np.float64)
    coords, _faces = fs.read_geometry(str(path))
    return np.asarray(coords, dtype=np.float64)


def transfer_labels(source_sphere: np.ndarray, source_labels: np.ndarray, target_sphere: np.ndarray) -> np.ndarray:
    """Label of the nearest source vertex for every target vertex, on the unit sphere.

    Both spheres are in the same registered space (fsaverage's ``sphere`` and the subject's
    ``sphere.reg``); radii may differ (FreeSurfer uses 100 mm), so coordinates are normalised.
    """
    if source_sphere.shape[0] != source_labels.shape[0]:
        raise ValueError(f"{source_sphere.shape[0]} source vertices but {source_labels.shape[0]} labels")

    def unit(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    _, nearest = cKDTree(unit(source_sphere)).query(unit(target_sphere), k=1)
    return np.asarray(source_labels)[nearest]


def label_weights(vertex_to_voxel: list[sparse.spmatrix], vertex_labels: list[np.ndarray], n_labels: int) -> sparse.csc_matrix:
    """Summed mapper weight of every (label, volume voxel): ``sum_h onehot_h @ M_h`` (label -1 left out).

    Args:
        vertex_to_voxel: per hemisphere a sparse (n_vertices, n_volume_voxels) weight matrix
            (pycortex's ``mapper.masks``).
        vertex_labels: per hemisphere the label index of each vertex (-1 = unlabelled).
        n_labels: number of label indices.
    """
    weights = None
    for matrix, labels in zip(vertex_to_voxel, vertex_labels):
        matrix = sparse.csr_matrix(matrix, dtype=np.float64)
        labels = np.asarray(labels)
        if matrix.shape[0] != labels.shape[0]:
            raise ValueError(f"mapper has {matrix.shape[0]} vertices but the labels have {labels.shape[0]}")
        keep = labels >= 0
        onehot = sparse.csr_matrix(
            (np.ones(int(keep.sum())), (labels[keep], np.flatnonzero(keep))), shape=(n_labels, labels.shape[0])
        )
        part = onehot @ matrix  # (n_labels, n_volume_voxels)
        weights = part if weights is None else weights + part
    return sparse.csc_matrix(weights)


def voxel_labels(vertex_to_voxel: list[sparse.spmatrix], vertex_labels: list[np.ndarray], n_labels: int) -> np.ndarray:
    """Parcel of every volume voxel: the label with the largest summed mapper weight (:func:`label_weights`);
    -1 for none."""
    weights = label_weights(vertex_to_voxel, vertex_labels, n_labels)
    out = np.full(weights.shape[1], -1, dtype=np.int64)
    total = np.asarray(weights.sum(axis=0)).ravel()
    has = total > 0
    out[has] = np.asarray(weights[:, has].argmax(axis=0)).ravel()
    return out


def region_masks(area_of_voxel: np.ndarray, areas: dict[str, list[str]], groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Boolean masks: each area (a list of parcel names) and each group (a list of area names).

    ``area_of_voxel`` holds each voxel's parcel name ('' for none). A group member that is not an area
    is taken as a parcel name (e.g. ``A1``).
    """
    names = np.asarray(area_of_voxel)
    out = {area: np.isin(names, parcels) for area, parcels in areas.items()}
    for group, members in groups.items():
        mask = np.zeros(names.shape[0], dtype=bool)
        for member in members:
            mask |= out[member] if member in out else names == member
        out[group] = mask
    return out


def glasser_parcels(
    annot: dict[str, str | os.PathLike],
    fsaverage_sphere: dict[str, str | os.PathLike],
    subject_sphere: dict[str, str | os.PathLike],
) -> tuple[list[np.ndarray], list[str]]:
    """Glasser label index of every subject vertex per hemisphere, and the shared label names."""
    names: list[str] = []
    index: dict[str, int] = {}
    out = []
    for hemi in HEMIS:
        labels, hemi_names = read_annotation(annot[hemi])
        source = read_sphere(fsaverage_sphere[hemi])
        if source.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{annot[hemi]} labels {labels.shape[0]} vertices but the fsaverage sphere "
                f"{fsaverage_sphere[hemi]} has {source.shape[0]} (use the fsaverage of the annotation)"
            )
        global_ids = np.array([index.setdefault(n, len(index)) for n in hemi_names], dtype=np.int64)
        shared = np.where(labels >= 0, global_ids[np.clip(labels, 0, None)], -1)
        out.append(transfer_labels(source, shared, read_sphere(subject_sphere[hemi])))
    names = [n for n, _ in sorted(index.items(), key=lambda kv: kv[1])]
    return out, names


def glasser_voxel_areas(cortex, psubject: str, xfm: str, mask_name: str, parcels: list[np.ndarray], names: list[str], mapper_type: str) -> np.ndarray:
    """Parcel name ('' for none) of every voxel of the subject's cortical mask, in mask order."""
    mapper = cortex.get_mapper(psubject, xfm, mapper_type)
    for hemi, (matrix, labels) in enumerate(zip(mapper.masks, parcels)):
        if matrix.shape[0] != labels.shape[0]:
            raise ValueError(
                f"pycortex subject {psubject} has {matrix.shape[0]} vertices on {HEMIS[hemi]} but its "
                f"FreeSurfer sphere.reg has {labels.shape[0]}: surfaces of different subjects?"
            )
    label = voxel_labels(mapper.masks, parcels, len(names))
    mask = np.asarray(cortex.db.get_mask(psubject, xfm, mask_name), dtype=bool).ravel()
    table = np.asarray(names + [""], dtype=object)
    return table[label[mask]]


def pycortex_roi_masks(cortex, psubject: str, xfm: str, mask_name: str, rois: dict[str, list[str]], mapper_type: str) -> dict[str, np.ndarray]:
    """The fallback: the subject's pycortex overlay regions (``overlays.svg``, layer ``rois``) as voxel
    masks in cortical-mask order. A voxel belongs to a region when the region's vertices carry at least
    half of its vertex-to-voxel weight (the same mapper and rule as the Glasser path)."""
    mapper = cortex.get_mapper(psubject, xfm, mapper_type)
    overlay = cortex.db.get_overlay(psubject)
    offsets = np.cumsum([0] + [m.shape[0] for m in mapper.masks])
    mask = np.asarray(cortex.db.get_mask(psubject, xfm, mask_name), dtype=bool).ravel()
    total = sum(np.asarray(m.sum(axis=0)).ravel() for m in mapper.masks)
    out = {}
    for region, members in rois.items():
        inside = np.zeros(offsets[-1], dtype=np.float64)
        for roi in members:
            try:
                inside[np.asarray(overlay.rois.get_mask(roi), dtype=np.int64)] = 1.0
            except (AttributeError, KeyError, ValueError) as err:
                raise ValueError(f"preprocess.regions.pycortex_rois.{region}: {psubject}'s overlays.svg has no ROI '{roi}'") from err
        weight = sum(sparse.csr_matrix(m).T @ inside[offsets[h]:offsets[h + 1]] for h, m in enumerate(mapper.masks))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[region] = ((weight / total) >= 0.5)[mask] & (total[mask] > 0)
    return out


def demo_region_masks(ground_truth: str | os.PathLike, subject: str, demo_map: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Regions of the generated miniature: unions of its planted regions (``demo_map``)."""
    ground_truth = Path(ground_truth)
    with h5py.File(ground_truth, "r") as handle:
        if subject not in handle or "regions" not in handle[subject]:
            raise KeyError(f"{ground_truth}: no group '{subject}/regions'")
        planted = {k: np.asarray(v[...], dtype=bool) for k, v in handle[subject]["regions"].items()}
    out = {}
    for region, members in demo_map.items():
        unknown = [m for m in members if m not in planted]
        if unknown:
            raise KeyError(f"preprocess.regions.demo_map.{region}: {unknown} not planted in {ground_truth} (has {sorted(planted)})")
        mask = np.zeros(next(iter(planted.values())).shape[0], dtype=bool)
        for m in members:
            mask |= planted[m]
        out[region] = mask
    return out


# --- outputs ------------------------------------------------------------------------------------


def write_regions(path: str | os.PathLike, masks: dict[str, np.ndarray], n_voxels: int, attrs: dict) -> None:
    """``regions.h5``: one bool (V,) dataset per region; the three required ones must be present."""
    missing = [r for r in REQUIRED_REGIONS if r not in masks]
    if missing:
        raise ValueError(f"regions {missing} are required (config preprocess.regions); got {sorted(masks)}")
    for name, mask in masks.items():
        if mask.shape != (n_voxels,):
            raise ValueError(f"region {name}: {mask.shape[0]} voxels, but the responses have {n_voxels}")
        if not mask.any():
            log.warning("region %s is empty", name)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            for name, mask in masks.items():
                handle.create_dataset(name, data=np.asarray(mask, dtype=bool))
            handle.attrs.update({k: (str(v) if not isinstance(v, (int, float, str)) else v) for k, v in attrs.items()})


def read_regions(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Boolean voxel masks of ``regions.h5`` (every top-level dataset, or only ``names``)."""
    path = Path(path)
    with open_h5(path) as handle:
        available = [k for k in handle.keys() if isinstance(handle[k], h5py.Dataset)]
        wanted = list(names) if names else available
        missing = [n for n in wanted if n not in available]
        if missing:
            raise KeyError(f"{path}: no region(s) {missing} (found {available})")
        return {name: handle[name][...].astype(bool) for name in wanted}


def write_region_table(path: str | os.PathLike, masks: dict[str, np.ndarray], area_of_voxel: np.ndarray | None = None) -> None:
    """Voxel-to-region TSV: one row per voxel in a region (``voxel``, ``parcel``, ``regions``)."""
    names = sorted(masks)
    stacked = np.stack([masks[n] for n in names], axis=1) if names else np.zeros((0, 0), bool)
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["voxel", "parcel", "regions"])
            for v in np.flatnonzero(stacked.any(axis=1)):
                parcel = "" if area_of_voxel is None else str(area_of_voxel[v])
                writer.writerow([int(v), parcel, ",".join(n for n, m in zip(names, stacked[v]) if m)])


#: The keys of ``preprocess.regions`` each source reads (a job's params are exactly these).
SOURCE_KEYS = {
    "demo": ("source", "demo_map"),
    "pycortex": ("source", "mask", "mapper", "pycortex_rois"),
    "glasser": ("source", "mask", "mapper", "areas", "groups"),
}


@dataclass(frozen=True)
class RegionSettings:
    """The ``preprocess.regions`` settings of the configured source (the others' keys are left out)."""

    source: str
    mask: str | None = None
    mapper: str | None = None
    areas: dict | None = None
    groups: dict | None = None
    pycortex_rois: dict | None = None
    demo_map: dict | None = None

    @classmethod
    def from_config(cls, regions: dict) -> "RegionSettings":
        source = regions["source"]
        if source not in SOURCE_KEYS:
            raise ValueError(f"preprocess.regions.source: unknown source {source!r}; expected one of {sorted(SOURCE_KEYS)}")
        return cls(**{k: regions[k] for k in SOURCE_KEYS[source]})

    def params(self) -> dict:
        """Plain values for a rule's ``params``: the keys the source reads."""
        return {k: getattr(self, k) for k in SOURCE_KEYS[self.source]}


def subject_regions(
    settings: RegionSettings,
    subject: str,
    n_voxels: int,
    ground_truth: str | os.PathLike | None = None,
    pycortex_subject_dir: str | os.PathLike | None = None,
    annot: dict | None = None,
    fsaverage_sphere: dict | None = None,
    subject_sphere: dict | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict]:
    """Region masks of one subject from the configured source; returns (masks, parcel per voxel, attrs).

    ``demo`` reads ``ground_truth``; ``pycortex`` and ``glasser`` read the subject's writable pycortex
    database ``pycortex_subject_dir`` (``<filestore>/<subject>``, transform ``<subject>_auto``), and
    ``glasser`` the annotation and spheres (``{hemi: path}``).
    """
    source = settings.source
    attrs = {"source": source, "subject": subject}
    parcels = None
    if source == "demo":
        masks = demo_region_masks(ground_truth, subject, settings.demo_map)
        attrs["ground_truth"] = portable_path(ground_truth)
    else:
        subject_dir = Path(pycortex_subject_dir)
        psubject, xfm = subject_dir.name, f"{subject_dir.name}_auto"
        cortex = use_pycortex(subject_dir.parent)
        attrs.update(pycortex_subject=psubject, xfm=xfm, mask=settings.mask)
        if source == "glasser":
            vertex_parcels, names = glasser_parcels(annot, fsaverage_sphere, subject_sphere)
            parcels = glasser_voxel_areas(cortex, psubject, xfm, settings.mask, vertex_parcels, names, settings.mapper)
            masks = region_masks(parcels, settings.areas, settings.groups)
            attrs.update(annotation=portable_path(annot["lh"]), mapper=settings.mapper)
        else:
            masks = pycortex_roi_masks(cortex, psubject, xfm, settings.mask, settings.pycortex_rois, settings.mapper)
    for name, mask in masks.items():
        if mask.shape[0] != n_voxels:
            raise ValueError(
                f"regions ({source}) for {subject}: region {name} has {mask.shape[0]} voxels but the responses "
                f"have {n_voxels} columns (preprocess.regions.mask={settings.mask!r} wrong?)"
            )
    return masks, parcels, attrs


def regions_job(
    settings: RegionSettings,
    subject: str,
    test_responses: str | os.PathLike,
    h5_path: str | os.PathLike,
    table_path: str | os.PathLike,
    **inputs,
) -> None:
    """The regions job of one subject: masks in the column order of ``test_responses`` ->
    ``regions.h5`` and the voxel table (``inputs``: see :func:`subject_regions`)."""
    from braintune.preprocess.responses import n_voxels

    n = n_voxels(test_responses)
    masks, parcels, attrs = subject_regions(settings, subject, n, **inputs)
    write_regions(h5_path, masks, n, attrs)
    write_region_table(table_path, masks, parcels)
