"""Common space: identity selection, fsaverage projection on synthetic spheres, annotations and mappers
(made as in test_regions), the weighted-mean normalisation, coverage, and the space / projection files."""

from __future__ import annotations

import h5py
import nibabel as nib
import nibabel.freesurfer as fs
import numpy as np
import pytest
from scipy import sparse
from test_regions import FakeCortex

from braintune.commonspace import projection as C
from braintune.preprocess import regions as R

# --- identity -------------------------------------------------------------------------------


def test_identity_projection_selects_the_mask_voxels():
    n = 10
    rng = np.random.default_rng(0)
    responses = rng.standard_normal((7, n)).astype(np.float32)
    regions = {"auditory": np.isin(np.arange(n), [2]), "language": np.isin(np.arange(n), [5, 7, 2])}
    space = C.identity_space([7, 2, 5], n, regions)
    assert space.method == "identity" and space.n_outputs == 3
    np.testing.assert_array_equal(space.index, [2, 5, 7])  # ascending voxel order
    assert list(space.parcel) == ["auditory", "language", "language"]  # the first region holding the voxel
    P, coverage = C.identity_projection(space, n)
    assert P.shape == (n, 3) and P.dtype == np.float32 and coverage.all()
    np.testing.assert_array_equal(P.toarray(), np.eye(n, dtype=np.float32)[:, [2, 5, 7]])
    np.testing.assert_array_equal(C.project(responses, P), responses[:, [2, 5, 7]])
    # a boolean mask and its index list define the same space
    mask = np.zeros(n, dtype=bool)
    mask[[2, 5, 7]] = True
    assert C.identity_space(mask, n).fingerprint() == space.fingerprint()
    with pytest.raises(ValueError, match="11 voxels but the identity shared space was defined on 10"):
        C.identity_projection(space, 11)
    with pytest.raises(ValueError, match="selects no voxel"):
        C.identity_space(np.zeros(n, dtype=bool), n)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        C.identity_space([3, 10], n)
    with pytest.raises(ValueError, match="repeated"):
        C.identity_space([3, 3], n)
    with pytest.raises(ValueError, match="shape"):
        C.identity_space(np.ones(n + 1, dtype=bool), n)


def test_weighted_mean_projection_normalises_every_output():
    W = sparse.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 2.0]]))
    P, coverage = C.weighted_mean_projection(W)
    np.testing.assert_array_equal(coverage, [True, False, True])
    np.testing.assert_allclose(P.toarray(), [[0.25, 0, 0], [0.75, 0, 0.5], [0, 0, 0.5]], rtol=1e-7)
    x = np.array([[4.0, 8.0, 2.0]])
    np.testing.assert_allclose(C.project(x, P), [[7.0, 0.0, 5.0]], rtol=1e-6)  # weighted means; uncovered: 0
    with pytest.raises(ValueError, match="non-negative"):
        C.weighted_mean_projection(sparse.csr_matrix(-W.toarray()))


def test_project_streams_rows_and_reads_hdf5(tmp_path):
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((50, 12)).astype(np.float32)
    P, _ = C.weighted_mean_projection(sparse.random(4, 12, density=0.5, random_state=2))
    whole = C.project(Y, P, chunk_rows=1000)
    assert whole.dtype == np.float32 and whole.shape == (50, 4)
    np.testing.assert_array_equal(C.project(Y, P, chunk_rows=7), whole)
    np.testing.assert_array_equal(C.project(Y, P), whole)  # default chunks
    np.testing.assert_allclose(whole, Y.astype(np.float64) @ P.toarray().astype(np.float64), rtol=1e-6, atol=1e-6)
    with h5py.File(tmp_path / "r.h5", "w") as h:
        h["data"] = Y
    with h5py.File(tmp_path / "r.h5", "r") as h:
        np.testing.assert_array_equal(C.project(h["data"], P, chunk_rows=16), whole)
    with pytest.raises(ValueError, match="12 voxels"):
        C.project(Y[:, :11], P)


# --- fsaverage ------------------------------------------------------------------------------

#: fsaverage stand-in: 8 vertices per hemisphere, the axis directions and two diagonals.
FSAVG = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [1, 1, 1], [-1, -1, -1]],
                 dtype=np.float64)
FSAVG = FSAVG / np.linalg.norm(FSAVG, axis=1, keepdims=True)
NAMES = ["44", "STSda", "V1"]
#: Glasser label index (into NAMES) of every fsaverage vertex, per hemisphere; -1 unlabelled.
LABELS = {"lh": np.array([0, 0, 1, 2, -1, -1, -1, -1]), "rh": np.array([-1, -1, -1, -1, 0, 1, 2, -1])}
PARCELS = ["44", "STSda"]
# the space: lh vertices 0, 1 (44), 2 (STSda); rh vertices 4 (44), 5 (STSda)
OUTPUTS = [("lh", 0, "44"), ("lh", 1, "44"), ("lh", 2, "STSda"), ("rh", 4, "44"), ("rh", 5, "STSda")]


def _atlas(tmp_path):
    """The annotation and fsaverage spheres as files (FreeSurfer annot, GIFTI sphere)."""
    annot, sphere = {}, {}
    ctab = np.array([[40, 0, 0, 0, 40], [80, 0, 0, 0, 80], [120, 0, 0, 0, 120]])
    for hemi in R.HEMIS:
        side = "L" if hemi == "lh" else "R"
        annot[hemi] = tmp_path / f"{hemi}.HCP-MMP1.annot"
        fs.write_annot(str(annot[hemi]), LABELS[hemi], ctab, [f"{side}_{n}_ROI".encode() for n in NAMES], fill_ctab=True)
        sphere[hemi] = tmp_path / f"{hemi}.sphere.surf.gii"
        gii = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(FSAVG.astype(np.float32), intent="NIFTI_INTENT_POINTSET")])
        nib.save(gii, str(sphere[hemi]))
    return annot, sphere


def _subject_sphere(tmp_path, name, nearest, seed):
    """A participant's sphere.reg (radius 100) per hemisphere whose vertex i lies next to fsaverage
    vertex ``nearest[hemi][i]``."""
    rng = np.random.default_rng(seed)
    paths = {}
    for hemi in R.HEMIS:
        xyz = FSAVG[nearest[hemi]] + 0.05 * rng.standard_normal((len(nearest[hemi]), 3))
        xyz = 100.0 * xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
        paths[hemi] = tmp_path / f"{name}.{hemi}.sphere.reg"
        fs.write_geometry(str(paths[hemi]), xyz, np.array([[0, 1, 2]]))
    return paths


# Participant A: 6 volume voxels, the cortical mask drops voxel 2 (native voxels = volume 0, 1, 3, 4, 5).
A_NEAREST = {"lh": [0, 0, 2, 3, 1], "rh": [4, 0]}
A_MAPPER = {
    "lh": np.array([
        [0.5, 0.5, 0, 0, 0, 0],  # -> fs lh 0 (output 0)
        [0, 1.0, 0, 0, 0, 0],  # -> fs lh 0 (output 0)
        [0, 0, 1.0, 0.2, 0, 0],  # -> fs lh 2 (output 2); volume voxel 2 is outside the mask
        [0, 0, 0, 0, 1.0, 0],  # -> fs lh 3 (V1: no output)
        [0, 0, 0, 0, 0.3, 0.6],  # -> fs lh 1 (output 1)
    ]),
    "rh": np.array([
        [0, 0, 0, 0, 0, 1.0],  # -> fs rh 4 (output 3)
        [0, 0, 0, 2.0, 0, 0],  # -> fs rh 0 (unlabelled: no output)
    ]),
}
A_MASK = np.array([True, True, False, True, True, True])
# output 0: volume 0 (0.5) + volume 1 (1.5) -> native 0: 0.25, native 1: 0.75
# output 1: volume 4 (0.3) + volume 5 (0.6) -> native 3: 1/3, native 4: 2/3
# output 2: volume 3 (0.2) only (volume 2 unmasked) -> native 2: 1
# output 3: volume 5 -> native 4: 1; output 4 (fs rh 5): no participant vertex -> uncovered
A_EXPECTED = np.array([
    [0.25, 0, 0, 0, 0],
    [0.75, 0, 0, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 1 / 3, 0, 0, 0],
    [0, 2 / 3, 0, 1, 0],
])
# Participant B: 4 volume voxels, all in the mask; different sphere and vertex counts.
B_NEAREST = {"lh": [1, 1, 0], "rh": [5, 5, 4, 7]}
B_MAPPER = {
    "lh": np.array([[1.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 0]]),  # fs lh 0's vertex maps to no voxel
    "rh": np.array([[0, 0, 1.0, 0], [0, 0, 1.0, 1.0], [0, 0, 0, 0.5], [1.0, 0, 0, 0]]),
}
B_MASK = np.ones(4, dtype=bool)
# output 1 (fs lh 1): native 0 1/4, native 1 3/4; output 3 (fs rh 4): native 3 1; output 4 (fs rh 5):
# native 2 2/3, native 3 1/3; outputs 0 (its vertex maps to nothing) and 2 (no vertex) uncovered
B_EXPECTED = np.array([
    [0, 0.25, 0, 0, 0],
    [0, 0.75, 0, 0, 0],
    [0, 0, 0, 0, 2 / 3],
    [0, 0, 0, 1, 1 / 3],
])


def _mapper(weights):
    return [sparse.csr_matrix(weights[hemi]) for hemi in R.HEMIS]


def test_fsaverage_space_from_the_annotation(tmp_path):
    annot, _ = _atlas(tmp_path)
    space = C.fsaverage_space(annot, PARCELS)
    assert space.method == "fsaverage" and space.n_outputs == len(OUTPUTS)
    assert list(zip(space.hemisphere, space.index.tolist(), space.parcel, strict=True)) == OUTPUTS
    assert space.sizes == {"lh": 8, "rh": 8}
    with pytest.raises(ValueError, match=r"lh.HCP-MMP1.annot: no parcel\(s\) \['45'\]"):
        C.fsaverage_space(annot, ["44", "45"])
    with pytest.raises(ValueError, match="repeated"):
        C.fsaverage_space(annot, ["44", "44"])


def test_fsaverage_projection_weighted_means_and_coverage(tmp_path, monkeypatch):
    annot, fsavg = _atlas(tmp_path)
    space = C.fsaverage_space(annot, PARCELS)
    sphere_a = _subject_sphere(tmp_path, "A", A_NEAREST, 1)
    sphere_b = _subject_sphere(tmp_path, "B", B_NEAREST, 2)
    P_a, cov_a = C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK, fsavg, sphere_a)
    P_b, cov_b = C.fsaverage_projection(space, _mapper(B_MAPPER), B_MASK, fsavg, sphere_b)
    # the same K outputs for both participants; each participant's own voxels and coverage
    assert P_a.shape == (5, space.n_outputs) and P_b.shape == (4, space.n_outputs)
    assert P_a.dtype == np.float32 and sparse.isspmatrix_csr(P_a)
    np.testing.assert_allclose(P_a.toarray(), A_EXPECTED, rtol=1e-6)
    np.testing.assert_allclose(P_b.toarray(), B_EXPECTED, rtol=1e-6)
    np.testing.assert_array_equal(cov_a, [True, True, True, True, False])
    np.testing.assert_array_equal(cov_b, [False, True, False, True, True])
    # targets are weighted means of the participant's voxels
    y = np.arange(1.0, 6.0)[None, :]
    np.testing.assert_allclose(C.project(y, P_a), [[0.25 * 1 + 0.75 * 2, (4 + 2 * 5) / 3, 3, 5, 0]], rtol=1e-6)
    # the same through the participant's pycortex database (what a rule would call)
    cortex = FakeCortex(_mapper(B_MAPPER), B_MASK)
    monkeypatch.setattr(R, "use_pycortex", lambda filestore: cortex)
    P_c, cov_c = C.subject_projection(space, tmp_path / "db" / "UTS02", "thick", "line_nearest", fsavg, sphere_b)
    np.testing.assert_array_equal(P_c.toarray(), P_b.toarray())
    np.testing.assert_array_equal(cov_c, cov_b)


def test_fsaverage_projection_errors(tmp_path):
    annot, fsavg = _atlas(tmp_path)
    space = C.fsaverage_space(annot, PARCELS)
    sphere_a = _subject_sphere(tmp_path, "A", A_NEAREST, 1)
    with pytest.raises(ValueError, match="surfaces of different subjects"):
        C.fsaverage_projection(space, _mapper(B_MAPPER), B_MASK, fsavg, sphere_a)
    with pytest.raises(ValueError, match="cortical mask"):
        C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK[:5], fsavg, sphere_a)
    small = tmp_path / "small.sphere.surf.gii"
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(FSAVG[:6].astype(np.float32),
                                                                    intent="NIFTI_INTENT_POINTSET")]), str(small))
    with pytest.raises(ValueError, match="small.sphere.surf.gii: 6 vertices, but the shared space was built on an annotation of 8"):
        C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK, {"lh": small, "rh": small}, sphere_a)
    with pytest.raises(ValueError, match="needs the identity shared space"):
        C.identity_projection(space, 5)
    with pytest.raises(FileNotFoundError, match="sphere surface missing"):
        C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK, fsavg, {"lh": tmp_path / "none", "rh": tmp_path / "none"})


# --- artifacts ------------------------------------------------------------------------------


def test_space_and_projection_files_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the workspace: paths inside it are stored relative
    annot, fsavg = _atlas(tmp_path)
    space = C.fsaverage_space(annot, PARCELS, provenance={"atlas": "HCP-MMP1"})
    C.write_space(tmp_path / "space.h5", space)
    back = C.read_space(tmp_path / "space.h5")
    assert back.method == "fsaverage" and back.sizes == space.sizes and back.fingerprint() == space.fingerprint()
    assert list(zip(back.hemisphere, back.index.tolist(), back.parcel, strict=True)) == OUTPUTS
    assert back.provenance == {"annotation": {"lh": "lh.HCP-MMP1.annot", "rh": "rh.HCP-MMP1.annot"},
                               "atlas": "HCP-MMP1", "parcels": PARCELS}
    P, cov = C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK, fsavg, _subject_sphere(tmp_path, "A", A_NEAREST, 1))
    C.write_projection(tmp_path / "proj" / "UTS01.h5", P, cov, {"subject": "UTS01", "sphere": tmp_path / "A.lh.sphere.reg"},
                       space=space)
    got = C.read_projection(tmp_path / "proj" / "UTS01.h5", space=back)
    assert got.P.dtype == np.float32 and got.method == "fsaverage"
    assert (got.P != P).nnz == 0 and got.P.shape == P.shape
    np.testing.assert_array_equal(got.coverage, cov)
    assert got.provenance == {"sphere": "A.lh.sphere.reg", "subject": "UTS01"}
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == ["UTS01.h5"]  # no temporary left
    # identity spaces round trip too, with their region labels
    ident = C.identity_space([1, 4], 6, {"auditory": np.arange(6) == 4})
    C.write_space(tmp_path / "ident.h5", ident)
    again = C.read_space(tmp_path / "ident.h5")
    assert again.sizes == {"voxels": 6} and list(again.parcel) == ["", "auditory"] and list(again.hemisphere) == ["", ""]
    # a projection made for another space is refused
    with pytest.raises(ValueError, match="UTS01.h5: made for a fsaverage shared space"):
        C.read_projection(tmp_path / "proj" / "UTS01.h5", space=ident)
    # absolute paths never enter an artifact
    with pytest.raises(ValueError, match="provenance.sphere: absolute path"):
        C.write_projection(tmp_path / "x.h5", P, cov, {"sphere": str(tmp_path / "A.lh.sphere.reg")}, space=space)
    assert not (tmp_path / "x.h5").exists()


def test_malformed_files_are_named(tmp_path):
    annot, fsavg = _atlas(tmp_path)
    space = C.fsaverage_space(annot, PARCELS)
    P, cov = C.fsaverage_projection(space, _mapper(A_MAPPER), A_MASK, fsavg, _subject_sphere(tmp_path, "A", A_NEAREST, 1))
    with pytest.raises(ValueError, match=r"p.h5: 5 output column\(s\)"):
        C.write_projection(tmp_path / "p.h5", P, ~cov, {}, space=space)  # coverage contradicts the columns
    with pytest.raises(ValueError, match="4 outputs but the shared space 5"):
        C.write_projection(tmp_path / "p.h5", P[:, :4], cov[:4], {}, space=space)
    C.write_projection(tmp_path / "p.h5", P, cov, {}, space=space)
    C.write_space(tmp_path / "space.h5", space)
    (tmp_path / "garbage.h5").write_bytes(b"not hdf5")
    with pytest.raises(OSError, match="garbage.h5: cannot read as HDF5"):
        C.read_projection(tmp_path / "garbage.h5")
    with pytest.raises(OSError, match="garbage.h5: cannot read as HDF5"):
        C.read_space(tmp_path / "garbage.h5")

    def damaged(name, edit):
        path = tmp_path / name
        path.write_bytes((tmp_path / ("space.h5" if name.startswith("space") else "p.h5")).read_bytes())
        with h5py.File(path, "a") as h:
            edit(h)
        return path

    with pytest.raises(KeyError, match="nocov.h5: no dataset 'coverage'"):
        C.read_projection(damaged("nocov.h5", lambda h: h.__delitem__("coverage")))

    def to_float64(h):
        data = h["data"][...]
        del h["data"]
        h["data"] = data.astype(np.float64)

    with pytest.raises(ValueError, match="f64.h5: projection weights are float64, expected float32"):
        C.read_projection(damaged("f64.h5", to_float64))

    def scale(h):
        h["data"][...] = 2 * h["data"][...]

    with pytest.raises(ValueError, match="scaled.h5: .* neither sum to 1"):
        C.read_projection(damaged("scaled.h5", scale))
    with pytest.raises(ValueError, match="indices.h5: not a valid CSR matrix"):
        C.read_projection(damaged("indices.h5", lambda h: h["indices"].__setitem__(0, 99)))  # output 99 of 5
    with pytest.raises(ValueError, match="space_edit.h5: the outputs do not match the stored fingerprint"):
        C.read_space(damaged("space_edit.h5", lambda h: h["index"].__setitem__(0, 7)))
    with pytest.raises(ValueError, match="space_method.h5: method 'mni'"):
        C.read_space(damaged("space_method.h5", lambda h: h.attrs.__setitem__("method", "mni")))
    def numeric_parcels(h):
        del h["parcel"]
        h["parcel"] = np.zeros(len(OUTPUTS))

    with pytest.raises(ValueError, match="space_parcel.h5: dataset 'parcel' holds float64, expected strings"):
        C.read_space(damaged("space_parcel.h5", numeric_parcels))
    with pytest.raises(KeyError, match="space_noprov.h5: no attribute 'n_outputs'"):
        C.read_space(damaged("space_noprov.h5", lambda h: h.attrs.__delitem__("n_outputs")))


# --- the stage's jobs (braintune.commonspace.run) ---------------------------------------------


def test_settings_hold_only_the_methods_keys():
    from braintune.commonspace.run import CommonSpaceSettings

    regions = {"mask": "thick", "mapper": "line_nearest"}
    fsavg = CommonSpaceSettings.from_config({"method": "fsaverage", "parcels": ["44"], "identity_regions": ["auditory"]},
                                            regions)
    assert fsavg.params() == {"method": "fsaverage", "parcels": ("44",), "mask": "thick", "mapper": "line_nearest",
                              "identity_regions": None}
    ident = CommonSpaceSettings.from_config({"method": "identity", "parcels": ["44"], "identity_regions": ["auditory"]},
                                            regions)
    assert ident.params()["parcels"] is None and ident.identity_regions == ("auditory",)
    assert CommonSpaceSettings.from_params(ident.params()) == ident  # the rule script's round trip
    with pytest.raises(ValueError, match=r"commonspace \(fsaverage\): settings \['parcels'\]"):
        CommonSpaceSettings("fsaverage", mask="thick", mapper="line_nearest")


def test_identity_projection_job_checks_the_voxel_count(tmp_path, monkeypatch):
    from braintune.commonspace.run import CommonSpaceSettings, projection_job

    monkeypatch.chdir(tmp_path)
    C.write_space("space.h5", C.identity_space([1, 4], 6))
    with h5py.File("test.hf5", "w") as handle:
        handle.create_dataset("data", data=np.zeros((3, 6), dtype=np.float32))
    settings = CommonSpaceSettings("identity", identity_regions=("auditory",))
    projection_job(settings, "UTS01", "space.h5", "test.hf5", "UTS01/projection.h5")
    got = C.read_projection("UTS01/projection.h5", space=C.read_space("space.h5"))
    np.testing.assert_array_equal(got.P.toarray() @ np.eye(2), np.eye(6)[:, [1, 4]])
    assert got.provenance == {"space": "space.h5", "subject": "UTS01"}
    with h5py.File("other.hf5", "w") as handle:
        handle.create_dataset("data", data=np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="5 voxels but the identity shared space was defined on 6"):
        projection_job(settings, "UTS02", "space.h5", "other.hf5", "UTS02/projection.h5")
    with pytest.raises(ValueError, match="space of method identity, but commonspace.method is fsaverage"):
        projection_job(CommonSpaceSettings("fsaverage", ("44",), "thick", "line_nearest"), "UTS01", "space.h5",
                       "test.hf5", "x.h5")
