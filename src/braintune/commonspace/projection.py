"""Per-participant projections of native voxels to the shared space (package docstring: the methods).

**The projection.** A participant has ``V`` native voxels (the response columns: the cortical mask's
voxels in mask order) and the shared space ``K`` outputs. ``P`` is a sparse ``(V, K)`` float32 matrix
and the participant's targets are ``responses @ P``, ``(T, K)`` (:func:`project`). Both methods first
build non-negative weights ``W[k, v]`` (how much native voxel ``v`` counts for output ``k``) and then
normalise every output (:func:`weighted_mean_projection`)::

    P[v, k] = W[k, v] / sum_v' W[k, v']

so every column of ``P`` that is not all zero sums to 1: each output is a weighted mean of voxels (a
constant response stays that constant, z-scored voxels stay on their scale). An output that no voxel
reaches (``sum_v W[k, v] = 0``) keeps an all-zero column and ``coverage[k] = False``: its target is 0
on every row and carries no information. The output set is never shrunk per participant (every
participant has the same ``K`` outputs in the same order, those of the shared space); a trainer leaves
a participant's uncovered outputs out of that participant's loss.

``identity``: ``W[k, v] = 1`` when ``v`` is the k-th voxel of the shared mask (outputs in ascending voxel
order), so ``P`` is a selection matrix and every output is covered.

``fsaverage``: per hemisphere, pycortex's vertex-to-voxel mapper gives ``M[i, u] >= 0``, the weight of
participant surface vertex ``i`` for volume voxel ``u`` (``mapper.masks``, as
:func:`braintune.preprocess.regions.voxel_labels` reads it). Every participant vertex goes to ``n(i)``,
the nearest fsaverage sphere vertex on the unit sphere (the participant's ``sphere.reg`` against
fsaverage's sphere, :func:`braintune.preprocess.regions.transfer_labels`). Then::

    W[k, u] = sum of M[i, u] over the vertices i of output k's hemisphere with n(i) = output k's vertex

over the cortical mask's voxels ``u`` only (renumbered in mask order: the response columns). Weight
that falls on voxels outside the mask is left out, since those voxels are no response column; the
mean is over the mask's voxels. A voxel seen by several outputs' vertices counts in each, in
proportion to its mapper weights. fsaverage vertices that no participant vertex is nearest to (the
fsaverage mesh is denser than most subjects' surfaces) or whose vertices map to no masked voxel are
uncovered.

**Artifacts** (HDF5, written atomically; readers check them and name the file in every error):

* the shared space (:func:`write_space` / :func:`read_space`): datasets ``hemisphere`` (``lh``/``rh``;
  ``''`` for ``identity``), ``index`` (fsaverage vertex id within its hemisphere, or the voxel id: the
  column in the shared voxel order) and ``parcel`` (Glasser parcel name, or the region name given to
  :func:`identity_space`, ``''`` for none), one entry per output; attributes ``method``,
  ``n_outputs``, the source sizes (``size_voxels``, or ``size_lh`` / ``size_rh``: fsaverage vertices per
  hemisphere), ``fingerprint`` and ``provenance`` (JSON);
* one projection per participant (:func:`write_projection` / :func:`read_projection`): ``P`` in CSR form
  (datasets ``data`` float32, ``indices``, ``indptr``; attribute ``shape``), dataset ``coverage``
  (bool, K), attributes ``method``, ``space_fingerprint`` (the shared space it was made for),
  ``n_covered`` and ``provenance`` (JSON).

No artifact stores an absolute path: path values of a provenance are stored with
:func:`braintune.utils.portable_path`, and an absolute path given as a string is refused.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from scipy import sparse

from braintune.preprocess import regions
from braintune.preprocess.regions import (
    HEMIS,
    label_weights,
    read_annotation,
    read_sphere,
    transfer_labels,
)
from braintune.utils import atomic_output, open_h5, portable_path, stable_hash

log = logging.getLogger(__name__)

METHODS = ("identity", "fsaverage")
#: Source sizes a space of each method records: the voxels of the shared voxel space, or the
#: fsaverage vertices per hemisphere.
SIZE_KEYS = {"identity": ("voxels",), "fsaverage": HEMIS}
#: Tolerance of the column sums of a stored projection (float32 weights summing to 1).
SUM_TOLERANCE = 1e-4


# --- the shared space -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SharedSpace:
    """The ``K`` outputs shared by every participant (one entry per output in each array)."""

    method: str
    hemisphere: np.ndarray  # (K,) str: 'lh' / 'rh' (fsaverage), '' (identity)
    index: np.ndarray  # (K,) int64: fsaverage vertex id within its hemisphere, or voxel id
    parcel: np.ndarray  # (K,) str: parcel (or region) name, '' for none
    sizes: dict[str, int]  # identity: {'voxels': V}; fsaverage: {'lh': n, 'rh': n} vertices
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"common space: method must be one of {METHODS}, got {self.method!r}")
        n = len(self.index)
        if len(self.hemisphere) != n or len(self.parcel) != n:
            raise ValueError(
                f"common space: {n} indices but {len(self.hemisphere)} hemispheres and {len(self.parcel)} parcels"
            )
        if sorted(self.sizes) != sorted(SIZE_KEYS[self.method]):
            raise ValueError(f"common space ({self.method}): sizes must have keys {SIZE_KEYS[self.method]}, got {sorted(self.sizes)}")

    @property
    def n_outputs(self) -> int:
        return len(self.index)

    def fingerprint(self) -> str:
        """Hash of what defines the outputs (method, hemispheres, indices, source sizes): a projection
        records it, so that one made for another space is refused."""
        return stable_hash([self.method, [str(h) for h in self.hemisphere], [int(i) for i in self.index],
                            {k: int(v) for k, v in sorted(self.sizes.items())}], length=16)


def _selection(voxels, n_voxels: int) -> np.ndarray:
    """Sorted voxel ids of a boolean (n_voxels,) mask or an index list."""
    values = np.asarray(voxels)
    if values.dtype == bool:
        if values.shape != (n_voxels,):
            raise ValueError(f"common space (identity): boolean mask of shape {values.shape}, expected ({n_voxels},)")
        return np.flatnonzero(values).astype(np.int64)
    if values.ndim != 1 or (values.size and not np.issubdtype(values.dtype, np.integer)):
        raise ValueError(f"common space (identity): voxels must be a boolean mask or a list of voxel ids, got {values.dtype} {values.shape}")
    ids = values.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n_voxels):
        raise ValueError(f"common space (identity): voxel ids must lie in [0, {n_voxels}), got {ids.min()}..{ids.max()}")
    if np.unique(ids).size != ids.size:
        raise ValueError("common space (identity): repeated voxel ids")
    return np.sort(ids)


def identity_space(
    voxels,
    n_voxels: int,
    region_masks: Mapping[str, np.ndarray] | None = None,
    provenance: Mapping | None = None,
) -> SharedSpace:
    """Shared space of data already in one voxel space: the voxels of a subject-independent mask.

    ``voxels``: a boolean ``(n_voxels,)`` mask or a list of voxel ids (outputs in ascending voxel order);
    ``region_masks``: optional named boolean masks that label the outputs (``parcel``: the first region,
    in the given order, holding the voxel; ``''`` for none), e.g. the demo's undilated planted regions
    whose union is ``voxels``.
    """
    ids = _selection(voxels, int(n_voxels))
    if ids.size == 0:
        raise ValueError("common space (identity): the mask selects no voxel")
    parcel = np.full(ids.size, "", dtype=object)
    for name, mask in (region_masks or {}).items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n_voxels,):
            raise ValueError(f"common space (identity): region {name!r} has shape {mask.shape}, expected ({n_voxels},)")
        parcel[(parcel == "") & mask[ids]] = name
    return SharedSpace("identity", np.full(ids.size, "", dtype=object), ids, parcel, {"voxels": int(n_voxels)},
                       dict(provenance or {}))


def fsaverage_space(annot: Mapping[str, str | os.PathLike], parcels: Sequence[str], provenance: Mapping | None = None) -> SharedSpace:
    """Shared space of the fsaverage vertices (both hemispheres) inside the Glasser ``parcels``.

    ``annot``: ``{hemi: path}`` of the HCP-MMP1 annotation on fsaverage; ``parcels``: parcel names as
    :func:`~braintune.preprocess.regions.read_annotation` gives them (``44``, ``STSda``, ...). Outputs:
    the ``lh`` vertices in ascending id, then the ``rh`` ones. Each parcel must exist in both
    hemispheres' annotation.
    """
    parcels = [str(p) for p in parcels]
    if not parcels:
        raise ValueError("common space (fsaverage): no parcels given")
    if len(set(parcels)) != len(parcels):
        raise ValueError(f"common space (fsaverage): repeated parcels in {parcels}")
    hemis, index, names, sizes = [], [], [], {}
    for hemi in HEMIS:
        labels, hemi_names = read_annotation(annot[hemi])
        missing = [p for p in parcels if p not in hemi_names]
        if missing:
            raise ValueError(f"{annot[hemi]}: no parcel(s) {missing} in the annotation (it has {len(hemi_names)} names)")
        parcel_of_vertex = np.asarray(hemi_names + [""], dtype=object)[labels]  # label -1 -> ''
        inside = np.flatnonzero(np.isin(parcel_of_vertex, parcels))
        empty = sorted(set(parcels) - set(parcel_of_vertex[inside]))
        if empty:
            log.warning("%s: parcel(s) %s label no vertex", annot[hemi], empty)
        hemis.append(np.full(inside.size, hemi, dtype=object))
        index.append(inside.astype(np.int64))
        names.append(parcel_of_vertex[inside])
        sizes[hemi] = int(labels.shape[0])
    index = np.concatenate(index)
    if index.size == 0:
        raise ValueError(f"common space (fsaverage): parcels {parcels} label no vertex of {annot['lh']} or {annot['rh']}")
    prov = {"annotation": {hemi: Path(annot[hemi]) for hemi in HEMIS}, "parcels": parcels, **(provenance or {})}
    return SharedSpace("fsaverage", np.concatenate(hemis), index, np.concatenate(names), sizes, prov)


# --- projections ----------------------------------------------------------------------------


def weighted_mean_projection(weights: sparse.spmatrix) -> tuple[sparse.csr_matrix, np.ndarray]:
    """``(P (V, K) float32 CSR, coverage (K,) bool)`` from non-negative weights ``W`` (K, V): every
    output normalised to a weighted mean, ``P[v, k] = W[k, v] / sum_v' W[k, v']``; outputs with no
    weight keep an all-zero column and ``coverage`` False (see the module docstring)."""
    W = sparse.csr_matrix(weights, dtype=np.float64)
    if W.nnz and W.data.min() < 0:
        raise ValueError("common space: projection weights must be non-negative")
    total = np.asarray(W.sum(axis=1)).ravel()
    coverage = total > 0
    scale = np.zeros_like(total)
    scale[coverage] = 1.0 / total[coverage]
    P = sparse.csr_matrix((sparse.diags(scale) @ W).T, dtype=np.float32)
    P.eliminate_zeros()
    P.sort_indices()
    return P, coverage


def _require(space: SharedSpace, method: str) -> None:
    if space.method != method:
        raise ValueError(f"the {method} projection needs the {method} shared space, got the {space.method} one")


def identity_projection(space: SharedSpace, n_voxels: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Selection matrix ``(n_voxels, K)`` of an ``identity`` space (every output covered)."""
    _require(space, "identity")
    if int(n_voxels) != space.sizes["voxels"]:
        raise ValueError(
            f"the participant has {n_voxels} voxels but the identity shared space was defined on {space.sizes['voxels']}: "
            "are its responses in the shared voxel space?"
        )
    k = space.n_outputs
    weights = sparse.csr_matrix((np.ones(k), (np.arange(k), space.index)), shape=(k, int(n_voxels)))
    return weighted_mean_projection(weights)


def fsaverage_projection(
    space: SharedSpace,
    vertex_to_voxel: Sequence[sparse.spmatrix],
    cortical_mask: np.ndarray,
    fsaverage_sphere: Mapping[str, str | os.PathLike],
    subject_sphere: Mapping[str, str | os.PathLike],
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Projection ``(V, K)`` of one participant to an ``fsaverage`` space, and its coverage.

    ``vertex_to_voxel``: per hemisphere (lh, rh) the participant's sparse ``(n_vertices, n_volume_voxels)``
    mapper weights (pycortex ``mapper.masks``); ``cortical_mask``: the flat ``(n_volume_voxels,)`` mask
    whose voxels, in order, are the response columns; ``fsaverage_sphere`` / ``subject_sphere``:
    ``{hemi: path}`` of fsaverage's sphere (the annotation's mesh) and the participant's ``sphere.reg``.
    """
    _require(space, "fsaverage")
    cortical_mask = np.asarray(cortical_mask, dtype=bool).ravel()
    if len(vertex_to_voxel) != len(HEMIS):
        raise ValueError(f"vertex_to_voxel: one mapper matrix per hemisphere {HEMIS} expected, got {len(vertex_to_voxel)}")
    labels = []
    for hemi, matrix in zip(HEMIS, vertex_to_voxel, strict=True):
        fsavg = read_sphere(fsaverage_sphere[hemi])
        if fsavg.shape[0] != space.sizes[hemi]:
            raise ValueError(
                f"{fsaverage_sphere[hemi]}: {fsavg.shape[0]} vertices, but the shared space was built on an annotation "
                f"of {space.sizes[hemi]} {hemi} vertices (use the fsaverage mesh of the annotation)"
            )
        subject = read_sphere(subject_sphere[hemi])
        if matrix.shape[0] != subject.shape[0]:
            raise ValueError(
                f"{subject_sphere[hemi]}: {subject.shape[0]} vertices but the participant's pycortex mapper has "
                f"{matrix.shape[0]} on {hemi}: surfaces of different subjects?"
            )
        if matrix.shape[1] != cortical_mask.shape[0]:
            raise ValueError(f"mapper ({hemi}) has {matrix.shape[1]} volume voxels but the cortical mask {cortical_mask.shape[0]}")
        nearest = transfer_labels(fsavg, np.arange(fsavg.shape[0]), subject)  # fsaverage vertex of each vertex
        rows = np.flatnonzero(space.hemisphere == hemi)
        output_of_vertex = np.full(fsavg.shape[0], -1, dtype=np.int64)
        output_of_vertex[space.index[rows]] = rows
        labels.append(output_of_vertex[nearest])
    weights = label_weights(vertex_to_voxel, labels, space.n_outputs)[:, cortical_mask]
    P, coverage = weighted_mean_projection(weights)
    log.info("fsaverage projection: %d voxels -> %d outputs, %d reached by no voxel",
             P.shape[0], space.n_outputs, int((~coverage).sum()))
    return P, coverage


def subject_projection(
    space: SharedSpace,
    pycortex_subject_dir: str | os.PathLike,
    mask_name: str,
    mapper_type: str,
    fsaverage_sphere: Mapping[str, str | os.PathLike],
    subject_sphere: Mapping[str, str | os.PathLike],
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """:func:`fsaverage_projection` of a participant's pycortex database ``pycortex_subject_dir``
    (``<filestore>/<subject>``, transform ``<subject>_auto``, cortical mask ``mask_name``, mapper
    ``mapper_type``: the keys ``preprocess.regions.mask`` / ``mapper`` the regions stage reads)."""
    subject_dir = Path(pycortex_subject_dir)
    psubject, xfm = subject_dir.name, f"{subject_dir.name}_auto"
    cortex = regions.use_pycortex(subject_dir.parent)
    mapper = cortex.get_mapper(psubject, xfm, mapper_type)
    mask = np.asarray(cortex.db.get_mask(psubject, xfm, mask_name), dtype=bool).ravel()
    return fsaverage_projection(space, mapper.masks, mask, fsaverage_sphere, subject_sphere)


def project(responses, P: sparse.spmatrix, chunk_rows: int | None = None) -> np.ndarray:
    """``responses (T, V) @ P (V, K)`` as float32 ``(T, K)``, products in float64.

    ``responses``: any array that slices by rows (numpy, an h5py dataset). Rows are read ``chunk_rows``
    at a time (None: about 2**26 values per chunk, 256 MB of float32), and only the voxels some output
    reads enter the product.
    """
    P = sparse.csr_matrix(P, dtype=np.float64)
    if len(responses.shape) != 2 or responses.shape[1] != P.shape[0]:
        raise ValueError(f"project: responses of shape {tuple(responses.shape)} but the projection has {P.shape[0]} voxels")
    if chunk_rows is None:
        chunk_rows = max(1, 2**26 // max(P.shape[0], 1))
    if chunk_rows < 1:
        raise ValueError(f"project: chunk_rows must be >= 1, got {chunk_rows}")
    used = np.flatnonzero(np.diff(P.indptr))  # voxels with a weight in some output
    P_used = P[used]
    n = responses.shape[0]
    out = np.empty((n, P.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk_rows):
        block = np.asarray(responses[start : start + chunk_rows])
        out[start : start + chunk_rows] = block[:, used].astype(np.float64) @ P_used
    return out


# --- artifacts ------------------------------------------------------------------------------


def _portable(value, key: str):
    """``value`` with every path made portable; absolute path strings refused (artifacts hold none)."""
    if isinstance(value, os.PathLike):
        return portable_path(value)
    if isinstance(value, str):
        if os.path.isabs(value):
            raise ValueError(f"provenance {key}: absolute path {value!r}; pass it as a Path (stored relative to the workspace)")
        return value
    if isinstance(value, Mapping):
        return {str(k): _portable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"provenance {key}: {type(value).__name__} is not storable (str, number, path, list or mapping)")


def _provenance_json(provenance: Mapping | None) -> str:
    return json.dumps(_portable(dict(provenance or {}), "provenance"), sort_keys=True)


def _read_json(path, handle, key: str) -> dict:
    try:
        return json.loads(handle.attrs[key])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: attribute '{key}' missing or not JSON ({err})") from err


def _strings(values) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def write_space(path: str | os.PathLike, space: SharedSpace) -> None:
    """The shared space as HDF5 (layout: module docstring), atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        text = h5py.string_dtype()
        handle.create_dataset("hemisphere", data=_strings(space.hemisphere), dtype=text)
        handle.create_dataset("index", data=np.asarray(space.index, dtype=np.int64))
        handle.create_dataset("parcel", data=_strings(space.parcel), dtype=text)
        handle.attrs["method"] = space.method
        handle.attrs["n_outputs"] = space.n_outputs
        for key, size in space.sizes.items():
            handle.attrs[f"size_{key}"] = int(size)
        handle.attrs["fingerprint"] = space.fingerprint()
        handle.attrs["provenance"] = _provenance_json(space.provenance)


def _dataset(path, handle, name: str) -> h5py.Dataset:
    if name not in handle or not isinstance(handle[name], h5py.Dataset):
        raise KeyError(f"{path}: no dataset '{name}' (found {sorted(handle.keys())})")
    return handle[name]


def _attr(path, handle, name: str):
    if name not in handle.attrs:
        raise KeyError(f"{path}: no attribute '{name}' (found {sorted(handle.attrs)})")
    value = handle.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def _text(path, handle, name: str) -> np.ndarray:
    dataset = _dataset(path, handle, name)
    if h5py.check_string_dtype(dataset.dtype) is None:
        raise ValueError(f"{path}: dataset '{name}' holds {dataset.dtype}, expected strings")
    return dataset.asstr()[...].astype(object)


def read_space(path: str | os.PathLike) -> SharedSpace:
    """A shared space written by :func:`write_space`; a missing, truncated or inconsistent file raises an
    error naming it."""
    with open_h5(path) as handle:
        method = str(_attr(path, handle, "method"))
        if method not in METHODS:
            raise ValueError(f"{path}: method {method!r}, expected one of {METHODS}")
        hemisphere = _text(path, handle, "hemisphere")
        index = _dataset(path, handle, "index")[...]
        parcel = _text(path, handle, "parcel")
        n_outputs = int(_attr(path, handle, "n_outputs"))
        sizes = {key: int(_attr(path, handle, f"size_{key}")) for key in SIZE_KEYS[method]}
        fingerprint = str(_attr(path, handle, "fingerprint"))
        provenance = _read_json(path, handle, "provenance")
    if not np.issubdtype(index.dtype, np.integer) or index.ndim != 1:
        raise ValueError(f"{path}: 'index' must be a 1-d integer dataset, got {index.dtype} {index.shape}")
    if not len(hemisphere) == len(index) == len(parcel) == n_outputs:
        raise ValueError(
            f"{path}: n_outputs {n_outputs} but {len(hemisphere)} hemispheres, {len(index)} indices, {len(parcel)} parcels"
        )
    space = SharedSpace(method, hemisphere, index.astype(np.int64), parcel, sizes, provenance)
    if space.fingerprint() != fingerprint:
        raise ValueError(f"{path}: the outputs do not match the stored fingerprint (file edited or damaged)")
    return space


@dataclass(frozen=True, eq=False)
class Projection:
    """One participant's projection as read back: ``P`` (V, K) float32 CSR and ``coverage`` (K,)."""

    P: sparse.csr_matrix
    coverage: np.ndarray
    method: str
    space_fingerprint: str
    provenance: dict


def _check_projection(P: sparse.csr_matrix, coverage: np.ndarray, where: str) -> None:
    """Every covered output's column sums to 1, every uncovered one is all zero."""
    sums = np.asarray(P.sum(axis=0), dtype=np.float64).ravel()
    if coverage.shape != (P.shape[1],):
        raise ValueError(f"{where}: coverage of shape {coverage.shape}, expected ({P.shape[1]},)")
    if P.nnz and P.data.min() < 0:
        raise ValueError(f"{where}: negative projection weights")
    bad = np.flatnonzero(np.where(coverage, np.abs(sums - 1.0) > SUM_TOLERANCE, sums != 0))
    if bad.size:
        raise ValueError(
            f"{where}: {bad.size} output column(s) (first {bad[:5].tolist()}) neither sum to 1 (covered) nor are all zero "
            "(uncovered): not a weighted-mean projection"
        )


def write_projection(
    path: str | os.PathLike,
    P: sparse.spmatrix,
    coverage: np.ndarray,
    provenance: Mapping | None,
    *,
    space: SharedSpace,
) -> None:
    """One participant's projection (layout: module docstring), atomically; ``space``: the shared space
    it maps to (its fingerprint and method are stored; ``P`` must have its ``K`` columns)."""
    P = sparse.csr_matrix(P, dtype=np.float32)
    P.sort_indices()
    coverage = np.asarray(coverage, dtype=bool)
    if P.shape[1] != space.n_outputs:
        raise ValueError(f"{path}: the projection has {P.shape[1]} outputs but the shared space {space.n_outputs}")
    _check_projection(P, coverage, str(path))
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("data", data=P.data)
        handle.create_dataset("indices", data=P.indices.astype(np.int64))
        handle.create_dataset("indptr", data=P.indptr.astype(np.int64))
        handle.create_dataset("coverage", data=coverage)
        handle.attrs["shape"] = np.asarray(P.shape, dtype=np.int64)
        handle.attrs["method"] = space.method
        handle.attrs["space_fingerprint"] = space.fingerprint()
        handle.attrs["n_covered"] = int(coverage.sum())
        handle.attrs["provenance"] = _provenance_json(provenance)


def read_projection(path: str | os.PathLike, space: SharedSpace | None = None) -> Projection:
    """A projection written by :func:`write_projection`, checked (float32 weights, a valid CSR matrix,
    weighted-mean columns, coverage) and, given ``space``, checked to be made for that space."""
    with open_h5(path) as handle:
        data = _dataset(path, handle, "data")[...]
        indices = _dataset(path, handle, "indices")[...]
        indptr = _dataset(path, handle, "indptr")[...]
        coverage = _dataset(path, handle, "coverage")[...]
        shape = tuple(int(s) for s in np.asarray(_attr(path, handle, "shape")).ravel())
        method = str(_attr(path, handle, "method"))
        fingerprint = str(_attr(path, handle, "space_fingerprint"))
        provenance = _read_json(path, handle, "provenance")
    if data.dtype != np.float32:
        raise ValueError(f"{path}: projection weights are {data.dtype}, expected float32")
    if coverage.dtype != bool:
        raise ValueError(f"{path}: 'coverage' is {coverage.dtype}, expected bool")
    if len(shape) != 2:
        raise ValueError(f"{path}: attribute 'shape' {shape} is not (voxels, outputs)")
    try:
        P = sparse.csr_matrix((data, indices, indptr), shape=shape)
        P.check_format(full_check=True)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a valid CSR matrix of shape {shape} ({err})") from err
    _check_projection(P, coverage, str(path))
    if space is not None:
        if method != space.method or fingerprint != space.fingerprint():
            raise ValueError(
                f"{path}: made for a {method} shared space with fingerprint {fingerprint}, not for the given "
                f"{space.method} space {space.fingerprint()} (rebuild the projections after changing the space)"
            )
        if P.shape[1] != space.n_outputs:
            raise ValueError(f"{path}: {P.shape[1]} outputs but the shared space has {space.n_outputs}")
    return Projection(P, coverage, method, fingerprint, provenance)
