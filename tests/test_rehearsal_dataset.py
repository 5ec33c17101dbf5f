"""The rehearsal's ds003020 fixture, checked with the real code that reads it: the manifest builder (over
``file://`` and git's dumb HTTP protocol), the download plan and downloader, the atlas download with its
pinned MD5s, and the Glasser regions through pycortex on the exported participants."""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, tiny_config

from braintune.data import download as dl
from braintune.data import layout
from braintune.data.manifest import build_manifest, read_manifest, write_manifest
from braintune.preprocess import regions as R
from braintune.preprocess.responses import n_voxels
from braintune.rehearsal import dataset as D

TEST = "wheretheressmoke"


def rehearsal_config(base: Path) -> dict:
    """The tests' small demo config (2 subjects, 4 short stories, every 50th voxel of S1's thin mask)
    as the rehearsal runs it: ds003020 from OpenNeuro (here: the fixture), Glasser regions; UTS02
    lacks one story, as UTS04 lacks `life` in the real dataset."""
    config = tiny_config(base)
    config["data"]["source"] = "openneuro"
    config["data"]["root"] = str(base / "local" / "ds003020")
    config["data"]["demo"]["missing_stories"] = {"UTS02": ["howtodraw"]}
    config["preprocess"]["regions"].update(source="glasser", mask="thin")
    config["data"]["download"].update(manifest=str(base / "local" / "manifest.tsv"), min_free_gb=0.0, retries=1,
                                      backoff_s=0.01, timeout_s=10, known_missing={})
    return config


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fixture built once: ``(config with the overrides applied, www, workdir, overrides)``."""
    base = tmp_path_factory.mktemp("rehearsal_dataset")
    config = rehearsal_config(base)
    www, workdir = base / "www", base / "work"
    overrides = D.build_dataset(config, www, "http://127.0.0.1:9", workdir)
    merged = copy.deepcopy(config)
    merged["data"]["download"].update(overrides["data"]["download"])
    return merged, www, workdir, overrides


@pytest.fixture()
def http(built):
    """A loopback static file server on the built ``www`` (no Range: dumb HTTP needs none)."""
    _, www, _, _ = built
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_ino) for root in roots for p in root.rglob("*")}


# --- git-annex keys and the repository ---------------------------------------------------------------


def test_annex_keys_match_git_annex():
    """Keys, extensions and hash directories as git-annex 10.20230126 made them for these files."""
    assert D.annex_extension("x.nii.gz") == ".nii.gz" and D.annex_extension("y.TextGrid") == ""
    assert D.annex_extension("lh.sphere.reg") == ".reg" and D.annex_extension("a.b.c.d") == ".c.d"
    assert D.annex_extension("x.ABCDE") == "" and D.annex_extension("p.q-r.gz") == ".gz"
    assert D.annex_key(5000, "51982311f28f01e4bed3b2825697638e", "x.nii.gz") == "MD5E-s5000--51982311f28f01e4bed3b2825697638e.nii.gz"
    known = {"MD5E-s5000--51982311f28f01e4bed3b2825697638e.nii.gz": "kg/7g",
             "MD5E-s3000--276202e9232cf101a9dfb88d0bea3046": "WK/qM",
             "MD5E-s2000--cb9b8962d80cf95503bd8c431330eb8f.reg": "p7/81",
             "MD5E-s2000--478318056761348e6ae47132fbb199ec.hf5": "Z7/P6"}
    assert {key: D.annex_hash_dir(key) for key in known} == known
    key = "MD5E-s5000--51982311f28f01e4bed3b2825697638e.nii.gz"
    assert D.annex_symlink_target("a/b/x.nii.gz", key) == f"../../.git/annex/objects/kg/7g/{key}/{key}"


def test_annex_repository_of_a_small_tree(tmp_path):
    export = tmp_path / "export"
    (export / "sub" / "deep").mkdir(parents=True)
    (export / "small.json").write_text('{"a": 1}\n')
    big = np.random.default_rng(0).bytes(3000)
    (export / "sub" / "deep" / "big.hf5").write_bytes(big)
    bare = D.annex_repository(export, tmp_path / "www" / "git" / "ds.git", "1.0.0")
    assert (bare / "info" / "refs").is_file()  # ready for dumb HTTP
    entries = {e.path: e for e in build_manifest(f"file://{bare}", "1.0.0")}
    assert entries["small.json"].annexed is False and entries["small.json"].md5 == hashlib.md5(b'{"a": 1}\n').hexdigest()
    e = entries["sub/deep/big.hf5"]
    assert e.annexed and (e.size, e.md5) == (3000, hashlib.md5(big).hexdigest())
    target = subprocess.run(["git", "-C", str(bare), "cat-file", "-p", "1.0.0:sub/deep/big.hf5"], capture_output=True,
                            check=True, text=True).stdout
    key = D.annex_key(3000, e.md5, "big.hf5")
    assert target == f"../../.git/annex/objects/{D.annex_hash_dir(key)}/{key}/{key}"
    # the same tree gives the same commit (fixed dates), rebuilt in place
    refs = (bare / "info" / "refs").read_text()
    assert "refs/tags/1.0.0" in refs
    D.annex_repository(export, bare, "1.0.0")
    assert (bare / "info" / "refs").read_text() == refs


def test_parcel_homes_follow_demo_map():
    from braintune.config import load_config

    regions = load_config(REPO / "config" / "config.yaml")["preprocess"]["regions"]
    homes = D.parcel_homes(regions, ["auditory", "language_temporal", "language_frontal"])
    assert set(homes) == set(D.needed_parcels(regions))
    assert homes["A1"] == homes["PBelt"] == "auditory"
    assert homes["STSda"] == homes["PFm"] == homes["55b"] == "language_temporal"
    assert homes["44"] == homes["IFSp"] == "language_frontal"
    order = list(homes)
    assert order.index("A1") < order.index("PBelt")  # primary_auditory is the more specific placement
    assert order.index("STSda") < order.index("PFm")  # LTC (an area) before AG (via late_language)
    assert D.parcel_homes(regions, ["auditory"])["STSda"] is None


# --- the built fixture ----------------------------------------------------------------------------


def test_export_matches_the_manifest_of_its_repository(built):
    config, www, _, _ = built
    export = www / D.EXPORT
    entries = build_manifest(f"file://{www / D.REPOSITORY}", config["data"]["download"]["tag"])
    assert [e.path for e in entries] == _files(export)
    for e in entries:
        data = (export / e.path).read_bytes()
        assert (e.size, e.md5, e.annexed) == (len(data), hashlib.md5(data).hexdigest(), len(data) > D.ANNEX_THRESHOLD), e.path
    paths = {e.path for e in entries}
    assert {"dataset_description.json", "README", D.NEVER_NEEDED, layout.RESPDICT} <= paths
    assert layout.response_path("UTS02", "howtodraw") not in paths and layout.response_path("UTS01", "howtodraw") in paths
    assert not any("/cache/" in p or "/views/" in p or "retinotopy" in p or "fullhead" in p for p in paths)
    for subject in ("UTS01", "UTS02"):
        prefix = layout.pycortex_db_path(subject)
        assert f"{prefix}transforms/{subject}_auto/mask_thin.nii.gz" in paths
        assert f"{prefix}transforms/{subject}_auto/matrices.xfm" in paths and f"{prefix}overlays.svg" in paths


def test_download_plan_resolves_and_files_arrive(built, http):
    """The real plan of the config resolves against the manifest read over dumb HTTP; the downloader
    fetches and verifies a subject's files; the atlas arrives under the rule's names with the pinned MD5s."""
    config, www, workdir, _ = built
    overrides = D.build_dataset(config, www, http, workdir)["data"]["download"]  # the up-to-date fixture, this URL
    config = copy.deepcopy(config)
    config["data"]["download"].update(overrides)
    d = config["data"]["download"]
    write_manifest(d["manifest"], build_manifest(d["repository"], d["tag"]), source="rehearsal test")
    manifest = read_manifest(d["manifest"])
    plan = dl.download_plan(config)
    assert set(plan) == {"stimuli", "transcripts", "responses_UTS01", "responses_UTS02", "pycortex_UTS01",
                         "pycortex_UTS02", "freesurfer_UTS01", "freesurfer_UTS02"}
    jobs = {job: dl.resolve(paths, manifest, tuple(d["exclude"])) for job, paths in plan.items()}
    assert all(jobs.values())
    assert layout.response_path("UTS02", "howtodraw") not in plan["responses_UTS02"]  # data.missing_story: skip
    assert len(jobs["responses_UTS01"]) == 4 and len(jobs["responses_UTS02"]) == 3
    root = Path(config["data"]["root"])
    options = dl.FetchOptions.from_config(d)
    for job in ("transcripts", "responses_UTS02", "freesurfer_UTS02"):
        dl.fetch(jobs[job], root, options, show_progress=False)
    assert n_voxels(root / layout.response_path("UTS02", TEST)) == n_voxels(www / D.EXPORT / layout.response_path("UTS02", TEST))
    atlas = d["atlas"]
    targets = {}
    for hemi in R.HEMIS:
        annot_name, sphere_name = D.atlas_local_names(hemi)
        targets[atlas["annot_url"][hemi]] = root.parent / "atlas" / annot_name
        targets[atlas["fsaverage_sphere_url"][hemi]] = root.parent / "atlas" / sphere_name
    dl.fetch_urls(targets, options, md5=atlas["md5"])
    assert sorted(atlas["md5"]) == sorted(p.name for p in targets.values())
    # the names are those of the data_atlas rule (workflow/rules/functions/data.smk)
    rules = (REPO / "workflow" / "rules" / "functions" / "data.smk").read_text()
    for name in D.atlas_local_names("{hemi}"):
        assert name in rules, name


def test_second_call_rewrites_nothing(built):
    config, www, workdir, overrides = built
    before = _snapshot(www, workdir)
    again = D.build_dataset(config, www, "http://127.0.0.1:9", workdir)
    assert again == overrides
    assert _snapshot(www, workdir) == before


def test_glasser_regions_of_every_participant(built, tmp_path):
    """preprocess.regions (glasser) through pycortex on writable copies of the exported databases, as
    the workflow runs it: the required regions are non-empty, match the response columns and overlap the
    planted regions they stand for; a flatmap finds the mask of the responses."""
    from braintune.figures.flatmaps import Target, volume_data

    config, www, workdir, _ = built
    export = www / D.EXPORT
    filestore = tmp_path / "pycortex-db"
    subjects = config["data"]["subjects"]
    for subject in subjects:  # rule preprocess_pycortex
        shutil.copytree(export / layout.pycortex_db_path(subject), filestore / subject)
    settings = R.RegionSettings.from_config(config["preprocess"]["regions"])
    atlas = {"annot": {h: www / D.atlas_annot_path(h) for h in R.HEMIS},
             "fsaverage_sphere": {h: www / D.atlas_sphere_path(h) for h in R.HEMIS}}
    with h5py.File(workdir / "ds003020" / "ground_truth.h5", "r") as gt:
        planted = {s: {k: v[...] for k, v in gt[s]["regions"].items()} for s in subjects}
    for subject in subjects:
        n = n_voxels(export / layout.response_path(subject, TEST))
        masks, parcels, attrs = R.subject_regions(
            settings, subject, n, pycortex_subject_dir=filestore / subject,
            subject_sphere={h: export / layout.sphere_reg_path(subject, h) for h in R.HEMIS}, **atlas)
        assert attrs["xfm"] == f"{subject}_auto" and parcels.shape == (n,)
        for region in R.REQUIRED_REGIONS:
            assert masks[region].shape == (n,) and masks[region].any(), (subject, region)
        assert (masks["primary_auditory"] & planted[subject]["auditory"]).sum() > 0.5 * masks["primary_auditory"].sum()
        assert (masks["late_language"] & planted[subject]["language"]).any()
        cortex = R.use_pycortex(filestore)
        values = np.arange(n, dtype=np.float32)
        assert np.array_equal(volume_data(cortex, values, Target(str(filestore), subject, f"{subject}_auto")), values)


def test_a_changed_setting_rebuilds(built, monkeypatch):
    """A new tag (any setting the fixture depends on) rebuilds everything and the old tag is gone; a
    rebuild that fails leaves www as it was and no stamp, so that no later call trusts it. Last: it
    changes the module's fixture."""
    config, www, workdir, _ = built
    config = copy.deepcopy(config)
    config["data"]["download"]["tag"] = "9.9.9"
    before = _snapshot(www)

    def broken(*args):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(D, "write_atlas", broken)
        with pytest.raises(OSError, match="disk full"):
            D.build_dataset(config, www, "http://127.0.0.1:9", workdir)
    assert _snapshot(www) == before and not (workdir / "ds003020" / "stamp.json").exists()
    D.build_dataset(config, www, "http://127.0.0.1:9", workdir)
    assert _snapshot(www / D.REPOSITORY) != {k: v for k, v in before.items() if D.REPOSITORY in k}
    assert build_manifest(f"file://{www / D.REPOSITORY}", "9.9.9")
    refs = (www / D.REPOSITORY / "info" / "refs").read_text()
    assert "refs/tags/9.9.9" in refs and "refs/tags/3.1.0" not in refs
    assert not (workdir / "ds003020" / "staging").exists()
    assert not [p for p in www.rglob(".*") if p.name.endswith((".old", ".partial"))]
