"""Regions: Glasser labels carried through a spherical registration and a vertex-to-voxel mapper (on
synthetic surfaces, annotations and mappers the tests make), the pycortex overlay fallback (on
pycortex's sample subject S1), the demo's planted regions, and the regions.h5 / TSV outputs."""

from __future__ import annotations

import copy
import types

import h5py
import nibabel as nib
import nibabel.freesurfer as fs
import numpy as np
import pytest
from scipy import sparse

from braintune.preprocess import regions as R


def _sphere_points(n, seed, radius=1.0):
    x = np.random.default_rng(seed).standard_normal((n, 3))
    return radius * x / np.linalg.norm(x, axis=1, keepdims=True)


def _sector(xyz, n=6):
    """Label by longitude sector: a parcellation of the sphere with known borders."""
    return (((np.arctan2(xyz[:, 1], xyz[:, 0]) + np.pi) / (2 * np.pi) * n).astype(int)) % n


def test_glasser_area_names():
    assert R.glasser_area("L_A1_ROI") == "A1"
    assert R.glasser_area("R_55b_ROI") == "55b"
    assert R.glasser_area("L_44_ROI") == "44"
    assert R.glasser_area("???") == "???"


def test_transfer_labels_nearest_on_unit_sphere():
    src = _sphere_points(20000, 0)
    dst = _sphere_points(3000, 1, radius=100.0)  # FreeSurfer spheres have radius 100
    got = R.transfer_labels(src, _sector(src), dst)
    assert (got == _sector(dst)).mean() > 0.98
    with pytest.raises(ValueError, match="labels"):
        R.transfer_labels(src, _sector(src)[:-1], dst)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # nibabel reading the deliberately broken file
def test_annotation_round_trip(tmp_path):
    labels = np.array([0, 1, 1, 2, -1, 0])
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 255], [0, 255, 0, 0, 65280]])
    fs.write_annot(str(tmp_path / "lh.x.annot"), labels, ctab, [b"???", b"L_A1_ROI", b"L_PFm_ROI"], fill_ctab=True)
    got, names = R.read_annotation(tmp_path / "lh.x.annot")
    assert names == ["???", "A1", "PFm"]
    # colour 0 is FreeSurfer's "unknown": those vertices read back as -1, like unlabelled ones
    assert [names[i] if i >= 0 else None for i in got] == [None, "A1", "A1", "PFm", None, None]
    (tmp_path / "bad.annot").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="bad.annot"):
        R.read_annotation(tmp_path / "bad.annot")


def test_voxel_labels_majority_weight():
    # hemisphere 0: 4 vertices, hemisphere 1: 2 vertices; 5 volume voxels
    lh = sparse.csr_matrix(np.array([[0.7, 0, 0, 0, 0], [0, 0.5, 0, 0, 0], [0.2, 0.5, 0, 0, 0], [0, 0, 1.0, 0, 0]]))
    rh = sparse.csr_matrix(np.array([[0.1, 0, 0, 1.0, 0], [0, 0, 0, 0.5, 0]]))
    labels = [np.array([0, 1, 1, -1]), np.array([1, 2])]
    out = R.voxel_labels([lh, rh], labels, 3)
    # voxel 0: label0 0.7 vs label1 0.3 -> 0; voxel 1: label1 1.0 -> 1; voxel 2: only unlabelled -> -1;
    # voxel 3: label1 1.0 vs label2 0.5 -> 1; voxel 4: nothing -> -1
    np.testing.assert_array_equal(out, [0, 1, -1, 1, -1])
    with pytest.raises(ValueError, match="vertices"):
        R.voxel_labels([lh], [np.array([0, 1])], 3)


def test_region_masks_areas_and_groups():
    parcel = np.array(["A1", "PBelt", "PFm", "44", "", "STSda", "55b", "V1"], dtype=object)
    areas = {"AG": ["PFm", "PGs"], "LTC": ["STSda"], "IFG": ["44", "45"], "MFG": ["55b"], "A1": ["A1"]}
    groups = {"late_language": ["AG", "LTC", "IFG", "MFG"], "primary_auditory": ["A1"],
              "early_auditory": ["A1", "PBelt", "MBelt"]}
    m = R.region_masks(parcel, areas, groups)
    np.testing.assert_array_equal(np.flatnonzero(m["late_language"]), [2, 3, 5, 6])
    np.testing.assert_array_equal(np.flatnonzero(m["primary_auditory"]), [0])
    np.testing.assert_array_equal(np.flatnonzero(m["early_auditory"]), [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(m["IFG"]), [3])


class FakeCortex:
    """The two pycortex calls the Glasser path makes, on a synthetic subject."""

    def __init__(self, masks, cortical_mask):
        self._mapper = types.SimpleNamespace(masks=masks)
        self.db = types.SimpleNamespace(get_mask=lambda subject, xfm, name: cortical_mask)

    def get_mapper(self, subject, xfm, kind):
        return self._mapper


def test_glasser_end_to_end_on_synthetic_subject(tmp_path, monkeypatch):
    """fsaverage annotation (sectors named like HCP-MMP1) -> subject sphere.reg -> voxels."""
    names = {0: "L_A1_ROI", 1: "L_PBelt_ROI", 2: "L_PFm_ROI", 3: "L_44_ROI", 4: "L_V1_ROI", 5: "L_55b_ROI"}
    paths = {"annot": {}, "fsaverage_sphere": {}, "subject_sphere": {}}
    masks, labels_true = [], []
    n_vox = 40
    rng = np.random.default_rng(3)
    for h, hemi in enumerate(R.HEMIS):
        fsavg = _sphere_points(8000, 10 + h)
        lab = _sector(fsavg)
        hemi_names = [n.replace("L_", "R_") if hemi == "rh" else n for n in names.values()]
        ctab = np.column_stack([np.arange(1, 7) * 40, np.zeros(6), np.zeros(6), np.zeros(6), np.arange(1, 7) * 40])
        fs.write_annot(str(tmp_path / f"{hemi}.HCP-MMP1.annot"), lab, ctab.astype(int),
                       [n.encode() for n in hemi_names], fill_ctab=True)
        gii = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(fsavg.astype(np.float32), intent="NIFTI_INTENT_POINTSET")])
        nib.save(gii, str(tmp_path / f"{hemi}.sphere.surf.gii"))
        subj = _sphere_points(500, 20 + h, radius=100.0)
        fs.write_geometry(str(tmp_path / f"{hemi}.sphere.reg"), subj, np.array([[0, 1, 2]]))
        paths["annot"][hemi] = tmp_path / f"{hemi}.HCP-MMP1.annot"
        paths["fsaverage_sphere"][hemi] = tmp_path / f"{hemi}.sphere.surf.gii"
        paths["subject_sphere"][hemi] = tmp_path / f"{hemi}.sphere.reg"
        # each subject vertex maps to one voxel; voxel = its sector * 6 + hemi (unambiguous)
        sect = _sector(subj)
        vox = sect * 6 + h
        masks.append(sparse.csr_matrix((np.ones(500), (np.arange(500), vox)), shape=(500, n_vox)))
        labels_true.append(sect)
    cortical = np.zeros(n_vox, dtype=bool)
    cortical[:36] = True  # voxel order of the responses: the first 36 voxels
    parcels, label_names = R.glasser_parcels(paths["annot"], paths["fsaverage_sphere"], paths["subject_sphere"])
    assert label_names == ["A1", "PBelt", "PFm", "44", "V1", "55b"]  # both hemispheres share indices
    assert all((p == t).mean() > 0.95 for p, t in zip(parcels, labels_true))
    area = R.glasser_voxel_areas(FakeCortex(masks, cortical), "UTSX", "UTSX_auto", "thick", parcels, label_names, "line_nearest")
    assert area.shape == (36,)
    expected = np.array([list(names.values())[v // 6][2:-4] if v % 6 < 2 else "" for v in range(36)], dtype=object)
    assert (area == expected).mean() > 0.95
    cfg = R.region_masks(area, {"AG": ["PFm"], "IFG": ["44"], "MFG": ["55b"]},
                         {"late_language": ["AG", "IFG", "MFG"], "primary_auditory": ["A1"], "early_auditory": ["A1", "PBelt"]})
    assert cfg["late_language"].sum() == 6 and cfg["early_auditory"].sum() == 4
    # the same through the configured entry point (what rule preprocess_regions runs)
    from conftest import REPO as REPO_ROOT

    from braintune.config import load_config

    config = copy.deepcopy(load_config(REPO_ROOT / "config" / "ds003020.yaml"))
    fake = FakeCortex(masks, cortical)
    monkeypatch.setattr(R, "use_pycortex", lambda filestore: fake)
    settings = R.RegionSettings.from_config(config["preprocess"]["regions"])
    assert set(settings.params()) == {"source", "mask", "mapper", "areas", "groups"}  # the glasser keys only
    masks_cfg, area_cfg, attrs = R.subject_regions(settings, "UTS03", 36, pycortex_subject_dir="resources/pycortex-db/UTS03",
                                                   **paths)
    assert attrs["source"] == "glasser" and attrs["xfm"] == "UTS03_auto" and attrs["mask"] == "thick"
    np.testing.assert_array_equal(area_cfg, area)
    np.testing.assert_array_equal(masks_cfg["primary_auditory"], area == "A1")
    np.testing.assert_array_equal(masks_cfg["early_auditory"], np.isin(area, ["A1", "PBelt"]))
    np.testing.assert_array_equal(masks_cfg["late_language"], np.isin(area, ["PFm", "44", "55b"]))
    R.write_region_table(tmp_path / "regions.tsv", masks_cfg, area_cfg)
    row = next(r for r in (tmp_path / "regions.tsv").read_text().splitlines()[1:] if "\tA1\t" in r)
    assert row.split("\t")[2] == "A1,early_auditory,primary_auditory"
    # a subject whose sphere does not match its pycortex surfaces fails clearly
    with pytest.raises(ValueError, match="surfaces of different subjects"):
        R.glasser_voxel_areas(FakeCortex([m[:400] for m in masks], cortical), "UTSX", "UTSX_auto", "thick",
                              parcels, label_names, "line_nearest")


def test_pycortex_target():
    from conftest import REPO as REPO_ROOT

    from braintune.config import load_config

    demo = load_config(REPO_ROOT / "config" / "config.yaml")
    assert R.pycortex_target(demo, "UTS01") == (demo["data"]["demo"]["pycortex_filestore"], "S1", "fullhead")
    real = load_config(REPO_ROOT / "config" / "ds003020.yaml")
    assert R.pycortex_target(real, "UTS03") == ("resources/pycortex-db", "UTS03", "UTS03_auto")


def test_demo_regions_and_outputs(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    from braintune.preprocess.responses import n_voxels, response_path

    v = n_voxels(response_path(root, "UTS01", "wheretheressmoke"))
    config = copy.deepcopy(config)
    settings = R.RegionSettings.from_config(config["preprocess"]["regions"])
    assert settings.params() == {"source": "demo", "demo_map": config["preprocess"]["regions"]["demo_map"]}
    masks, parcels, attrs = R.subject_regions(settings, "UTS01", v, ground_truth=config["data"]["demo"]["ground_truth"])
    with h5py.File(config["data"]["demo"]["ground_truth"]) as f:
        planted = {k: f[f"UTS01/regions/{k}"][...] for k in f["UTS01/regions"]}
    np.testing.assert_array_equal(masks["late_language"], planted["language_temporal"] | planted["language_frontal"])
    np.testing.assert_array_equal(masks["primary_auditory"], planted["auditory"])
    assert attrs["source"] == "demo" and parcels is None
    R.write_regions(tmp_path / "regions.h5", masks, v, attrs)
    with h5py.File(tmp_path / "regions.h5") as f:
        assert set(R.REQUIRED_REGIONS) <= set(f) and f["late_language"].dtype == bool
        assert f["late_language"].shape == (v,) and f.attrs["source"] == "demo"
    R.write_region_table(tmp_path / "regions.tsv", masks)
    rows = (tmp_path / "regions.tsv").read_text().splitlines()
    assert rows[0] == "voxel\tparcel\tregions"
    n_any = np.any(np.stack(list(masks.values())), axis=0).sum()
    assert len(rows) - 1 == n_any
    first = rows[1].split("\t")
    assert all(masks[name][int(first[0])] for name in first[2].split(","))
    with pytest.raises(ValueError, match="responses have"):
        R.subject_regions(settings, "UTS01", v + 1, ground_truth=config["data"]["demo"]["ground_truth"])
    with pytest.raises(ValueError, match="required"):
        R.write_regions(tmp_path / "r2.h5", {"late_language": masks["late_language"]}, v, attrs)
    bad = copy.deepcopy(config)
    bad["preprocess"]["regions"]["demo_map"]["late_language"] = ["nonexistent"]
    with pytest.raises(KeyError, match="not planted"):
        R.subject_regions(R.RegionSettings.from_config(bad["preprocess"]["regions"]), "UTS01", v,
                          ground_truth=config["data"]["demo"]["ground_truth"])


def test_pycortex_overlay_fallback_on_s1():
    """The fallback on pycortex's sample subject: AC and Broca from S1's overlays.svg."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import TEST_FILESTORE

    from braintune.data.demo_cortex import use_filestore

    cortex = use_filestore(TEST_FILESTORE)
    masks = R.pycortex_roi_masks(cortex, "S1", "fullhead", "thin",
                                 {"late_language": ["Broca"], "primary_auditory": ["AC"]}, "line_nearest")
    n = int(np.asarray(cortex.db.get_mask("S1", "fullhead", "thin")).sum())
    assert masks["late_language"].shape == (n,)
    assert 50 < masks["late_language"].sum() < masks["primary_auditory"].sum() < 0.1 * n
    assert not (masks["late_language"] & masks["primary_auditory"]).any()
    with pytest.raises(ValueError, match="no ROI 'Nowhere'"):
        R.pycortex_roi_masks(cortex, "S1", "fullhead", "thin", {"x": ["Nowhere"]}, "line_nearest")
