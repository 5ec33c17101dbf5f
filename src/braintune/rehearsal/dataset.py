"""The rehearsal's ds003020: the demo's generated miniature, exported the way OpenNeuro publishes the
real dataset, plus a synthetic Glasser atlas, for the loopback server to serve.

:func:`build_dataset` writes under the served folder ``www``::

    openneuro/ds003020/                the S3-style export (data.download.base_url): the real tree's paths
        dataset_description.json, README
        stimuli/{story}.wav, derivative/TextGrids/{story}.TextGrid, derivative/respdict.json
        derivative/preprocessed_data/{subject}/{story}.hf5
        derivative/pycortex-db/{subject}/          pycortex's sample subject S1, renamed (see below)
        derivative/freesurfer_subjdir/{subject}/surf/{lh,rh}.sphere.reg
        sub-UTS01/anat/sub-UTS01_T1w.nii.gz        a file no configuration needs (as the real tree has)
    git/ds003020.git                   the git-annex repository (data.download.repository), bare, tagged
                                       data.download.tag, prepared for git's dumb HTTP protocol
    atlas/HCP-MMP1/{lh,rh}.HCP-MMP1.annot
    atlas/tpl-fsaverage/tpl-fsaverage_hemi-{L,R}_den-164k_sphere.surf.gii

and returns the ``data.download`` overrides that point a configuration at them.

Content
    Stimuli, transcripts and responses are the demo generator's (:func:`braintune.data.demo.generate_stimuli`
    and :func:`~braintune.data.demo.generate_responses` with the settings the workflow derives from the
    configuration's ``data.demo``, ``timing``, stories and subjects). Their voxels are voxels of pycortex's
    sample subject S1 (transform ``fullhead``), so every participant's pycortex database is a copy of S1
    renamed to the participant, with the transform renamed ``{subject}_auto`` (the real data's name, see
    :func:`braintune.preprocess.regions.pycortex_target`). The copy holds one cortical mask, named
    ``preprocess.regions.mask`` (the mask whose voxel order the real-data code assumes for the response
    columns), whose voxels are exactly the response columns: S1's ``data.demo.voxel_mask`` mask, every
    ``data.demo.voxel_stride``-th voxel. With ``data.demo.voxel_mask`` equal to ``preprocess.regions.mask``
    and stride 1 it is the mask pycortex itself computes. pycortex's caches are left out (regenerated).

    The FreeSurfer ``sphere.reg`` of a hemisphere is S1's inflated surface, centred and projected onto a
    sphere of radius 100 mm: the same vertices (and count) as the pycortex surfaces, as the Glasser
    transfer requires. The fsaverage spheres are 163,842 near-uniform points (the real den-164k vertex
    count) with their convex-hull triangles. The annotation labels every needed Glasser parcel
    (``preprocess.regions.areas`` and ``groups``): each parcel is placed inside the planted region
    (``data.demo.regions``) that ``preprocess.regions.demo_map`` relates it to (A1 and the belt areas on
    S1's auditory cortex, the language areas on the superior temporal sulcus and Broca/sPMv), so that the
    Glasser regions of the rehearsal overlap the regions the responses were generated with. The fsaverage
    common space's parcels (``commonspace.parcels``) are labelled too when the config builds it; those no
    region relates to a planted one, and a few other HCP-MMP1 names, share the rest of the cortex by sector.

    In the repository, files larger than 1 kB are git-annex MD5E symlinks (``../../.git/annex/objects/
    Xx/Yy/MD5E-s<size>--<md5><ext>/MD5E-...``, git-annex's key and mixed-case hash directories), smaller
    ones plain blobs, as OpenNeuro's repositories hold them (:func:`annex_repository`).

Reruns
    Everything is built in a staging folder under ``workdir`` and moved into ``www`` at the end; a stamp
    (``workdir/ds003020/stamp.json``) holds a hash of what the fixture depends on (the settings above,
    the tag, the code of the generator and of this module, pycortex's version, ``www``), and a call whose
    hash matches (and whose outputs exist) writes nothing. A rebuild removes the stamp first and writes it
    last, so that an interrupted one is redone by the next call. The bytes are a deterministic function of the
    configuration (and of the installed generator, pycortex and git): commits have fixed dates. The
    generator's by-products stay in ``workdir/ds003020``: the ground truth (``ground_truth.h5``), the
    stories' metadata and the writable copy of S1 the generator reads (``pycortex-db``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from braintune import config as btconfig
from braintune.data import demo, demo_cortex, layout
from braintune.data.demo_settings import ResponseSettings, StimulusSettings
from braintune.preprocess.regions import HEMIS, transfer_labels
from braintune.utils import atomic_output, file_md5, stable_hash

log = logging.getLogger(__name__)

#: Served paths, relative to ``www``.
EXPORT = "openneuro/ds003020"
REPOSITORY = "git/ds003020.git"
ATLAS = "atlas"
#: Files larger than this many bytes are git-annex symlinks in the repository, the others git blobs.
ANNEX_THRESHOLD = 1024
FSAVERAGE_VERTICES = 163_842  # the den-164k fsaverage sphere's vertex count
SPHERE_RADIUS_MM = 100.0  # FreeSurfer's sphere radius
COMMIT_DATE = "1700000000 +0000"  # fixed, so that the repository's objects are the same on every rebuild
SULCUS_RINGS = 6  # mesh neighbours (~1 mm apart) a planted sulcus is widened by on each side
UNKNOWN_LABEL = "???"  # HCP-MMP1's label of unassigned vertices
#: HCP-MMP1 areas given to the cortex outside the planted regions (with every needed parcel no region hosts).
BACKGROUND_AREAS = ("V1", "4", "3b", "7PC", "FEF", "MT", "V4", "10d")
NEVER_NEEDED = "sub-UTS01/anat/sub-UTS01_T1w.nii.gz"
_SPHERE_STAMP = "created by braintune.rehearsal"  # nibabel's default stamp holds the user and the time


# --- the served paths and the configuration overrides ---------------------------------------------


def atlas_annot_path(hemi: str) -> str:
    """Served path (under ``www``) of a hemisphere's HCP-MMP1 annotation."""
    return f"{ATLAS}/HCP-MMP1/{hemi}.HCP-MMP1.annot"


def atlas_sphere_path(hemi: str) -> str:
    """Served path of a hemisphere's fsaverage sphere (templateflow's file name)."""
    return f"{ATLAS}/tpl-fsaverage/tpl-fsaverage_hemi-{'L' if hemi == 'lh' else 'R'}_den-164k_sphere.surf.gii"


def atlas_local_names(hemi: str) -> tuple[str, str]:
    """The file names the data_atlas rule saves a hemisphere's annotation and sphere under (the keys of
    ``data.download.atlas.md5``; workflow/rules/functions/data.smk, data_atlas_annot_path and
    data_atlas_sphere_path)."""
    return f"{hemi}.HCP-MMP1.annot", f"{hemi}.fsaverage.sphere.surf.gii"


def dataset_overrides(url: str, atlas_md5: dict[str, str], missing: dict[str, list[str]]) -> dict:
    """The ``data.download`` settings that point a configuration at the served fixture."""
    base = url.rstrip("/")
    return {"data": {"download": {
        "base_url": f"{base}/{EXPORT}",
        "repository": f"{base}/{REPOSITORY}",
        "known_missing": {subject: list(stories) for subject, stories in missing.items()},
        "atlas": {
            "annot_url": {hemi: f"{base}/{atlas_annot_path(hemi)}" for hemi in HEMIS},
            "fsaverage_sphere_url": {hemi: f"{base}/{atlas_sphere_path(hemi)}" for hemi in HEMIS},
            "md5": dict(sorted(atlas_md5.items())),
        },
    }}}


def generator_settings(config: dict) -> tuple[StimulusSettings, ResponseSettings]:
    """The demo generator's settings of ``config``, as the workflow builds them
    (workflow/rules/functions/data.smk: every story of the config, the test story, the subjects)."""
    stories, test = btconfig.all_stories(config), config["stories"]["test"]
    demo_cfg, timing = config["data"]["demo"], config["timing"]
    return (StimulusSettings.from_config(demo_cfg, timing, stories, test),
            ResponseSettings.from_config(demo_cfg, timing, stories, test, config["data"]["subjects"]))


# --- the whole fixture ----------------------------------------------------------------------------


def build_dataset(config: dict, www: str | os.PathLike, url: str, workdir: str | os.PathLike) -> dict:
    """Build (or keep) the served ds003020 fixture of ``config`` under ``www``; return the overrides.

    Args:
        config: a validated configuration of the rehearsal (``data.subjects``, the stories, ``timing``,
            ``data.demo`` for the generator, ``preprocess.regions`` for the atlas and the mask name,
            ``data.download.tag``).
        www: the folder the loopback server serves.
        url: the server's base URL (``http://127.0.0.1:<port>``); only the returned overrides use it.
        workdir: a folder for the staging area, the stamp and the generator's by-products
            (``workdir/ds003020``).

    Returns:
        ``{"data": {"download": {...}}}``: ``base_url``, ``repository``, ``known_missing`` (the
        responses the miniature lacks, ``data.demo.missing_stories``) and ``atlas`` (URLs and the MD5 of
        each atlas file under the name the data_atlas rule gives it).
    """
    www = Path(www)
    work = Path(workdir) / "ds003020"
    stimuli, responses = generator_settings(config)
    regions_cfg = config["preprocess"]["regions"]
    tag = str(config["data"]["download"]["tag"])
    fingerprint = stable_hash({
        "code": _code_digest(),
        "stimuli": stimuli.params(),
        "responses": responses.params(),
        "regions": {k: regions_cfg[k] for k in ("mask", "areas", "groups", "demo_map")},
        "commonspace_parcels": commonspace_parcels(config),
        "tag": tag,
        "pycortex": metadata.version("pycortex"),
        "www": str(www.resolve()),
    }, length=16)
    stamp = work / "stamp.json"
    outputs = [www / EXPORT, www / REPOSITORY, www / ATLAS]
    previous = json.loads(stamp.read_text()) if stamp.exists() else {}
    if previous.get("fingerprint") == fingerprint and all(p.exists() for p in outputs):
        log.info("ds003020 fixture %s is up to date (%s)", www / EXPORT, fingerprint)
        return dataset_overrides(url, previous["atlas_md5"], responses.missing_stories)

    t0 = time.perf_counter()
    _check_mask_setting(responses, regions_cfg["mask"])
    stamp.unlink(missing_ok=True)  # www is about to change: no stamp until it is complete again
    stage = work / "staging"
    shutil.rmtree(stage, ignore_errors=True)
    export = stage / EXPORT
    metadata_path, filestore = work / "stimuli.json", work / "pycortex-db"
    demo.generate_stimuli(stimuli, export, metadata_path)
    demo.generate_responses(responses, export, work / "ground_truth.h5", metadata_path, filestore)
    columns = response_columns(work / "ground_truth.h5")
    cortex = demo_cortex.use_filestore(filestore)
    spheres = {hemi: subject_sphere(cortex, hemi) for hemi in HEMIS}
    vertex_labels, names = design_vertex_labels(cortex, spheres, config["data"]["demo"]["regions"], regions_cfg,
                                                commonspace_parcels(config))
    for subject in config["data"]["subjects"]:
        export_pycortex_subject(export / layout.pycortex_db_path(subject), subject, columns, regions_cfg["mask"])
        for hemi in HEMIS:
            write_sphere_reg(export / layout.sphere_reg_path(subject, hemi), *spheres[hemi])
    write_dataset_files(export, config["data"]["subjects"])
    atlas_md5 = write_atlas(stage, spheres, vertex_labels, names)
    annex_repository(export, stage / REPOSITORY, tag)
    for rel in (EXPORT, REPOSITORY, ATLAS):
        _install(stage / rel, www / rel)
    shutil.rmtree(stage)
    with atomic_output(stamp) as tmp:
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "atlas_md5": atlas_md5}, indent=1, sort_keys=True) + "\n")
    log.info("ds003020 fixture built under %s in %.1f s (%s)", www, time.perf_counter() - t0, fingerprint)
    return dataset_overrides(url, atlas_md5, responses.missing_stories)


def _code_digest() -> str:
    """SHA-256 of the code the fixture's bytes come from (the generator's modules and this one), so that
    a change of it rebuilds the fixture."""
    import inspect

    from braintune.data import demo_settings, demo_text, synth

    digest = hashlib.sha256()
    for module in (demo, demo_cortex, demo_settings, demo_text, synth, layout):
        digest.update(Path(inspect.getfile(module)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _install(source: Path, dest: Path) -> None:
    """Move the staged ``source`` to ``dest``, replacing what is there (a folder rename when both lie on
    one filesystem)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    shutil.move(str(source), str(dest))
    shutil.rmtree(old, ignore_errors=True)


def _check_mask_setting(responses: ResponseSettings, mask_name: str) -> None:
    """Warn when the participants' mask cannot be pycortex's own mask of that name (see the module)."""
    if responses.voxel_mask != mask_name or responses.voxel_stride != 1:
        log.warning("the responses hold S1's %s mask, every %d-th voxel, and the real-data code reads the mask "
                    "preprocess.regions.mask=%s: the participants' mask_%s.nii.gz holds the response voxels, not "
                    "pycortex's own %s mask (set data.demo.voxel_mask and preprocess.regions.mask alike, "
                    "data.demo.voxel_stride 1, for that)", responses.voxel_mask, responses.voxel_stride, mask_name,
                    mask_name, mask_name)


# --- pycortex databases and FreeSurfer spheres ------------------------------------------------------


def response_columns(ground_truth: str | os.PathLike) -> np.ndarray:
    """Boolean S1 volume (z, y, x) of the response columns, from the generator's ground truth."""
    import h5py

    with h5py.File(ground_truth, "r") as handle:
        index = handle["voxels/volume_index"][...]
        shape = tuple(int(s) for s in handle["voxels"].attrs["volume_shape"])
    if not np.all(np.diff(index) > 0):
        raise ValueError(f"{ground_truth}: voxels/volume_index is not increasing; the columns are in no mask order")
    volume = np.zeros(int(np.prod(shape)), dtype=bool)
    volume[index] = True
    return volume.reshape(shape)


def export_pycortex_subject(dest: Path, subject: str, columns: np.ndarray, mask_name: str) -> None:
    """``dest`` = pycortex's S1 renamed ``subject`` with its one transform ``fullhead`` renamed
    ``{subject}_auto`` and one cortical mask ``mask_name`` holding the ``columns`` voxels (pycortex's
    ``transforms/<xfm>/mask_<name>.nii.gz``, which it reads instead of computing the mask).

    Copied from the filestore that ships with pycortex, without its caches (``cache/``), views and other
    transforms."""
    import nibabel as nib
    from cortex.database import default_filestore

    source = Path(default_filestore) / demo_cortex.SUBJECT
    transforms = source / "transforms"

    def skipped(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == transforms:
            return [n for n in names if n != demo_cortex.XFM]
        return [n for n in names if n in ("cache", "views") or (n.startswith("mask_") and n.endswith(".nii.gz"))]

    shutil.copytree(source, dest, ignore=skipped)
    transform = dest / "transforms" / f"{subject}_auto"
    os.replace(dest / "transforms" / demo_cortex.XFM, transform)
    # as cortex.db.save_mask writes it (uint8, x-y-z order, the reference's affine), without pointing
    # pycortex's global database at the staging folder
    reference = nib.load(str(transform / "reference.nii.gz"))
    if reference.shape[:3] != columns.shape[::-1]:
        raise ValueError(f"{transform}: reference volume {reference.shape[:3]} is not the responses' {columns.shape[::-1]}")
    nib.Nifti1Image(columns.astype(np.uint8).T, reference.affine).to_filename(str(transform / f"mask_{mask_name}.nii.gz"))


def subject_sphere(cortex, hemi: str) -> tuple[np.ndarray, np.ndarray]:
    """``(coords, faces)`` of a synthetic FreeSurfer ``sphere.reg`` of S1: its inflated surface, centred
    and projected onto a sphere of radius 100 mm (every vertex of the pycortex surfaces, in order)."""
    points, faces = cortex.db.get_surf(demo_cortex.SUBJECT, "inflated", hemi)
    centred = np.asarray(points, dtype=np.float64) - np.mean(points, axis=0)
    return SPHERE_RADIUS_MM * _unit(centred), np.asarray(faces, dtype=np.int32)


def write_sphere_reg(path: Path, coords: np.ndarray, faces: np.ndarray) -> None:
    """A FreeSurfer triangle surface (``nibabel.freesurfer.write_geometry``), with a fixed stamp."""
    import nibabel.freesurfer as fs

    path.parent.mkdir(parents=True, exist_ok=True)
    fs.write_geometry(str(path), coords.astype(np.float32), faces, create_stamp=_SPHERE_STAMP)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- the Glasser atlas ------------------------------------------------------------------------------


def needed_parcels(regions_cfg: dict, extra: Sequence[str] = ()) -> list[str]:
    """Every HCP-MMP1 parcel ``preprocess.regions`` names: the areas' parcels, then the groups' members
    that are no area (parcels named directly), in config order; then those of ``extra`` not named yet
    (the common space's, :func:`commonspace_parcels`)."""
    areas, groups = regions_cfg["areas"], regions_cfg["groups"]
    out: list[str] = []
    for name in [p for parcels in areas.values() for p in parcels] + [
            m for members in groups.values() for m in members if m not in areas] + list(extra):
        if name not in out:
            out.append(name)
    return out


def commonspace_parcels(config: dict) -> list[str]:
    """The parcels of the fsaverage common space (``commonspace.parcels``) when the config builds one (a family
    lists ``multibraintuned`` and ``commonspace.method`` is fsaverage); else none."""
    wanted = btconfig.multi_families(config) and config["commonspace"]["method"] == "fsaverage"
    return list(config["commonspace"]["parcels"]) if wanted else []


def parcel_homes(regions_cfg: dict, planted: list[str], extra: Sequence[str] = ()) -> dict[str, str | None]:
    """The planted region (``data.demo.regions``) each needed parcel (``extra``: see :func:`needed_parcels`)
    is placed in, or None; ordered
    from the most specific placement to the least (the order :func:`design_vertex_labels` fills a
    region in: the first parcel gets its centre).

    A parcel goes where ``preprocess.regions.demo_map`` sends the most specific name it belongs to: its
    areas first, then its groups from the smallest; of several planted regions, the first. With the
    defaults: A1 (via primary_auditory) and the belt areas -> auditory; the LTC parcels (via LTC), then
    the AG and MFG ones (via late_language) -> language_temporal; the IFG parcels -> language_frontal.
    """
    areas, groups, demo_map = regions_cfg["areas"], regions_cfg["groups"], regions_cfg["demo_map"]

    def group_parcels(group: str) -> set[str]:
        return {p for m in groups[group] for p in areas.get(m, [m])}

    placed = []
    needed = needed_parcels(regions_cfg, extra)
    for order, parcel in enumerate(needed):
        owners = [(0, a) for a, parcels in areas.items() if parcel in parcels]
        owners += sorted((len(group_parcels(g)), g) for g in groups if parcel in group_parcels(g))
        found = [(rank, r) for rank, name in owners for r in demo_map.get(name, []) if r in planted]
        rank, home = found[0] if found else (len(needed), None)
        placed.append((rank, order, parcel, home))
    return {parcel: home for _, _, parcel, home in sorted(placed)}


def planted_vertices(cortex, shapes: list[str], surfaces: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Per hemisphere (``surfaces``: its S1 ``(coords, faces)``, lh then rh, as pycortex numbers the
    vertices), the S1 vertices of a planted region's overlay shapes (``layer:name``, as
    ``data.demo.regions`` names them, :func:`braintune.data.demo_cortex.region_volumes`). A sulcus, a
    line of vertices, is widened to a band :data:`SULCUS_RINGS` mesh neighbours wide on each side (the
    generator widens it by a voxel and dilates every region by up to two)."""
    from scipy import sparse

    overlay = cortex.db.get_overlay(demo_cortex.SUBJECT)
    counts = [len(coords) for coords, _ in surfaces]
    offsets = np.cumsum([0] + counts)
    masks = [np.zeros(n, dtype=bool) for n in counts]
    for spec in shapes:
        layer, name = spec.split(":", 1) if ":" in spec else ("rois", spec)
        verts = np.asarray(getattr(overlay, layer).get_mask(name), dtype=np.int64)
        for h, (mask, (_, tri)) in enumerate(zip(masks, surfaces)):
            part = np.zeros(counts[h], dtype=bool)
            part[verts[(verts >= offsets[h]) & (verts < offsets[h + 1])] - offsets[h]] = True
            if layer == "sulci":
                edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
                adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(counts[h],) * 2).tocsr()
                adjacency = adjacency + adjacency.T
                for _ in range(SULCUS_RINGS):
                    part |= np.asarray(adjacency @ part.astype(np.float64)).ravel() > 0
            mask |= part
    return [np.flatnonzero(mask) for mask in masks]


def split_region(points: np.ndarray, k: int) -> list[np.ndarray]:
    """``k`` parts of a patch of unit vectors (indices into ``points``): the half nearest the patch's
    centre first, then ``k - 1`` equal sectors of the rest around the centre (k = 1: the whole patch)."""
    if k == 1:
        return [np.arange(len(points))]
    centre = _unit(points.mean(axis=0, keepdims=True))[0]
    order = np.argsort(-(points @ centre), kind="stable")
    core, ring = order[: len(order) // 2], order[len(order) // 2:]
    helper = np.eye(3)[int(np.argmin(np.abs(centre)))]
    e1 = _unit(np.cross(centre, helper)[None])[0]
    e2 = np.cross(centre, e1)
    angle = np.arctan2(points[ring] @ e2, points[ring] @ e1)
    return [core] + list(np.array_split(ring[np.argsort(angle, kind="stable")], k - 1))


def design_vertex_labels(cortex, spheres: dict, planted_regions: dict[str, list[str]], regions_cfg: dict,
                         extra: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], list[str]]:
    """Glasser parcel (index into the returned names) of every S1 vertex per hemisphere.

    Each planted region's vertices are split among the parcels :func:`parcel_homes` places there
    (:func:`split_region`; a vertex of several regions stays with the first); every other vertex takes
    one of the remaining names (needed parcels with no region, then :data:`BACKGROUND_AREAS`, then
    ``???``) by sectors of the angle around the left-right axis.

    Raises:
        ValueError: naming the region whose vertices are fewer than the parcels placed there.
    """
    homes = parcel_homes(regions_cfg, list(planted_regions), extra)
    names = [UNKNOWN_LABEL] + list(homes) + [a for a in BACKGROUND_AREAS if a not in homes]
    index = {n: i for i, n in enumerate(names)}
    surfaces = [spheres[hemi] for hemi in HEMIS]
    region_verts = {r: planted_vertices(cortex, shapes, surfaces) for r, shapes in planted_regions.items()}
    rest = [n for n in names[1:] if homes.get(n) is None] + [UNKNOWN_LABEL]
    out = {}
    for h, hemi in enumerate(HEMIS):
        unit = _unit(spheres[hemi][0])
        labels = np.full(len(unit), -1, dtype=np.int64)
        for region, verts in region_verts.items():
            parcels = [p for p, home in homes.items() if home == region]
            if not parcels:
                continue
            free = verts[h][labels[verts[h]] < 0]
            if len(free) < len(parcels):
                raise ValueError(f"data.demo.regions.{region}: {len(free)} free vertices on {hemi} for the "
                                 f"{len(parcels)} Glasser parcels placed there ({parcels})")
            for parcel, part in zip(parcels, split_region(unit[free], len(parcels))):
                labels[free[part]] = index[parcel]
        others = np.flatnonzero(labels < 0)
        angle = np.arctan2(unit[others, 2], unit[others, 1])
        for name, part in zip(rest, np.array_split(others[np.argsort(angle, kind="stable")], len(rest))):
            labels[part] = index[name]
        out[hemi] = labels
    return out, names


def fsaverage_sphere(n: int = FSAVERAGE_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """``(coords, faces)``: ``n`` near-uniform points on a 100 mm sphere (Fibonacci lattice) and the
    outward-oriented triangles of their convex hull."""
    from scipy.spatial import ConvexHull

    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + np.sqrt(5.0)) * i
    coords = SPHERE_RADIUS_MM * np.column_stack([r * np.cos(phi), r * np.sin(phi), z])
    faces = ConvexHull(coords).simplices.astype(np.int32)
    a, b, c = (coords[faces[:, j]] for j in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    faces[inward] = faces[inward][:, ::-1]
    return coords, faces


def _colour_table(n: int) -> np.ndarray:
    """Distinct RGBA colours for ``n`` <= 256 labels (the annotation tells labels apart by colour; the red
    channel alone is distinct); the 5th column is filled by nibabel."""
    if n > 256:
        raise ValueError(f"{n} annotation labels: at most 256 get distinct colours")
    i = np.arange(n)
    return np.column_stack([(7 * i + 13) % 256, (29 * i + 101) % 256, (53 * i + 37) % 256, np.zeros(n), np.zeros(n)]).astype(np.int32)


def write_atlas(stage: Path, spheres: dict, vertex_labels: dict[str, np.ndarray], names: list[str]) -> dict[str, str]:
    """The fsaverage spheres (GIFTI) and HCP-MMP1 annotations under ``stage``; returns their MD5s keyed
    by the file names the data_atlas rule saves them under (:func:`atlas_local_names`).

    Every fsaverage vertex takes the label of the nearest S1 vertex (on the unit sphere), so that the
    real transfer (fsaverage -> sphere.reg, :func:`braintune.preprocess.regions.transfer_labels`)
    gives back the designed labels up to the lattice's resolution. Names carry HCP-MMP1's hemisphere
    prefix and ``_ROI`` suffix (``L_A1_ROI``)."""
    import nibabel as nib
    import nibabel.freesurfer as fs

    coords, faces = fsaverage_sphere()
    md5 = {}
    for hemi in HEMIS:
        labels = transfer_labels(spheres[hemi][0], vertex_labels[hemi], coords)
        lost = [names[i] for i in sorted(set(np.unique(vertex_labels[hemi])) - set(np.unique(labels)))]
        if lost:
            raise ValueError(f"{hemi}: parcels {lost} cover too few S1 vertices to reach an fsaverage vertex")
        prefix = "L" if hemi == "lh" else "R"
        hemi_names = [n if n == UNKNOWN_LABEL else f"{prefix}_{n}_ROI" for n in names]
        annot, sphere = stage / atlas_annot_path(hemi), stage / atlas_sphere_path(hemi)
        annot.parent.mkdir(parents=True, exist_ok=True)
        sphere.parent.mkdir(parents=True, exist_ok=True)
        fs.write_annot(str(annot), labels, _colour_table(len(names)), [n.encode() for n in hemi_names], fill_ctab=True)
        gifti = nib.gifti.GiftiImage(darrays=[
            nib.gifti.GiftiDataArray(coords.astype(np.float32), intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32"),
            nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"),
        ])
        nib.save(gifti, str(sphere))
        annot_name, sphere_name = atlas_local_names(hemi)
        md5[annot_name], md5[sphere_name] = file_md5(annot), file_md5(sphere)
    return md5


# --- the rest of the tree ----------------------------------------------------------------------------


def write_dataset_files(export: Path, subjects: list[str]) -> None:
    """``dataset_description.json`` and ``README`` (small: git blobs), and a T1w volume no configuration
    needs (annexed), as the real tree has such files."""
    import nibabel as nib

    description = {"Name": "ds003020 rehearsal miniature (braintune)", "BIDSVersion": "1.6.0", "DatasetType": "raw",
                   "License": "CC0", "GeneratedBy": [{"Name": "braintune.rehearsal.dataset"}]}
    (export / "dataset_description.json").write_text(json.dumps(description, indent=1) + "\n")
    (export / "README").write_text(
        "A generated miniature of ds003020 in the real dataset's layout, for braintune's rehearsal.\n"
        f"Participants: {', '.join(subjects)}. Responses, stimuli and transcripts are synthetic; every\n"
        "participant's pycortex database and FreeSurfer spheres are pycortex's sample subject S1.\n")
    volume = np.random.default_rng(0).integers(0, 255, size=(16, 16, 16), dtype=np.uint8)
    path = export / NEVER_NEEDED
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(path))


# --- the git-annex repository ------------------------------------------------------------------------


def annex_extension(name: str) -> str:
    """The extension an MD5E key keeps: git-annex's default (at most two extensions of at most four
    alphanumeric characters, from the end: ``x.nii.gz`` -> ``.nii.gz``, ``x.TextGrid`` -> none)."""
    parts = name.split(".")[1:]
    kept: list[str] = []
    for ext in reversed(parts):
        if len(kept) == 2 or not (0 < len(ext) <= 4 and ext.isascii() and ext.isalnum()):
            break
        kept.insert(0, ext)
    return "".join(f".{e}" for e in kept)


def annex_key(size: int, md5: str, name: str) -> str:
    """git-annex's MD5E key of a file: ``MD5E-s<size>--<md5><ext>``."""
    return f"MD5E-s{size}--{md5}{annex_extension(name)}"


def annex_hash_dir(key: str) -> str:
    """git-annex's mixed-case hash directories of a key (``hashdirmixed``: ``Xx/Yy``): four characters
    from the MD5 of the key, read as little-endian 32-bit words, five bits per character."""
    chars = "0123456789zqjxkmvwgpfZQJXKMVWGPF"
    words = np.frombuffer(hashlib.md5(key.encode()).digest(), dtype="<u4")
    out = ""
    for w in (int(x) for x in words):
        cs = [chars[(w >> (6 * i)) & 31] for i in range(8)]
        out += "".join(cs[i + 1] + cs[i] for i in range(0, 8, 2))[:6]
    return f"{out[:2]}/{out[2:4]}"


def annex_symlink_target(path: str, key: str) -> str:
    """The symlink git-annex commits for a file at ``path`` (relative to the repository root)."""
    depth = "../" * path.count("/")
    return f"{depth}.git/annex/objects/{annex_hash_dir(key)}/{key}/{key}"


def _git(args: list[str], cwd: Path | None = None, input: bytes | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")


def annex_repository(export: str | os.PathLike, repo_dir: str | os.PathLike, tag: str,
                     threshold: int = ANNEX_THRESHOLD) -> Path:
    """A bare git repository of the tree ``export`` like OpenNeuro's, at ``repo_dir``; returns it.

    One commit on ``main`` (fixed author and dates, so the same tree gives the same objects) tagged
    ``tag``: files larger than ``threshold`` bytes are git-annex MD5E symlinks (:func:`annex_symlink_target`;
    the content is not in the repository), the others plain blobs. Written with ``git fast-import`` next
    to ``repo_dir`` and moved into place, then prepared for git's dumb HTTP protocol
    (``git update-server-info``).
    """
    export, repo_dir = Path(export), Path(repo_dir)
    files = sorted(p for p in export.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:
        raise ValueError(f"{export}: no files to commit")
    stream = [b"commit refs/heads/main\n", b"mark :1\n"]
    who = f"braintune <rehearsal@example.org> {COMMIT_DATE}\n".encode()
    message = f"ds003020 miniature {tag}\n".encode()
    stream += [b"author " + who, b"committer " + who, b"data %d\n" % len(message), message]
    for path in files:
        rel = path.relative_to(export).as_posix()
        if "\n" in rel or rel.startswith('"'):
            raise ValueError(f"{path}: a path git fast-import cannot take unquoted")
        size = path.stat().st_size
        if size > threshold:
            mode, data = b"120000", annex_symlink_target(rel, annex_key(size, file_md5(path), path.name)).encode()
        else:
            mode, data = b"100644", path.read_bytes()
        stream += [b"M " + mode + b" inline " + rel.encode() + b"\n", b"data %d\n" % len(data), data, b"\n"]
    stream += [b"\n", f"reset refs/tags/{tag}\n".encode(), b"from :1\n", b"\n"]
    partial = repo_dir.with_name(f".{repo_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _git(["init", "--quiet", "--bare", "--initial-branch=main", str(partial)])
    _git(["fast-import", "--quiet"], cwd=partial, input=b"".join(stream))
    _git(["update-server-info"], cwd=partial)
    _install(partial, repo_dir)
    log.info("%s: %d files (%d annexed) at tag %s", repo_dir, len(files),
             sum(p.stat().st_size > threshold for p in files), tag)
    return repo_dir

