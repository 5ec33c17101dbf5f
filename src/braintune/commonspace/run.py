"""The jobs of stage commonspace: the shared space (one per config) and each participant's projection to it.

Library of the rules ``commonspace_space`` and ``commonspace_projection`` (workflow/rules/commonspace.smk);
the methods and the artifacts are described in :mod:`.projection`. The jobs take explicit paths and a
:class:`CommonSpaceSettings` (exactly the config values a result depends on) and read no Snakemake object.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from braintune.utils import ParamsRoundTrip, portable_path

from .projection import (
    METHODS,
    fsaverage_space,
    identity_projection,
    identity_space,
    read_space,
    subject_projection,
    write_projection,
    write_space,
)

log = logging.getLogger(__name__)

__all__ = ["CommonSpaceSettings", "projection_job", "space_job"]


@dataclass(frozen=True)
class CommonSpaceSettings(ParamsRoundTrip):
    """What the shared space and the projections depend on, per method: ``fsaverage`` the ``parcels`` and the
    pycortex cortical ``mask`` and ``mapper`` (``preprocess.regions.mask`` / ``mapper``: the response columns
    and the vertex-to-voxel weights); ``identity`` the planted ``identity_regions`` (the other method's keys
    are None, so that changing them reruns nothing)."""

    method: str
    parcels: tuple[str, ...] | None = None
    mask: str | None = None
    mapper: str | None = None
    identity_regions: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"commonspace.method: {self.method!r}; expected one of {METHODS}")
        needed = ("parcels", "mask", "mapper") if self.method == "fsaverage" else ("identity_regions",)
        missing = [key for key in needed if getattr(self, key) is None]
        if missing:
            raise ValueError(f"commonspace ({self.method}): settings {missing} are required")

    @classmethod
    def from_config(cls, commonspace: Mapping, regions: Mapping) -> CommonSpaceSettings:
        """From the ``commonspace`` section and ``preprocess.regions`` (its ``mask`` and ``mapper``)."""
        if commonspace["method"] == "fsaverage":
            return cls("fsaverage", parcels=tuple(commonspace["parcels"]), mask=regions["mask"], mapper=regions["mapper"])
        return cls(commonspace["method"], identity_regions=tuple(commonspace["identity_regions"]))


def space_job(
    settings: CommonSpaceSettings,
    out_path: str | os.PathLike,
    *,
    annot: Mapping[str, str | os.PathLike] | None = None,
    ground_truth: str | os.PathLike | None = None,
    pycortex_filestore: str | os.PathLike | None = None,
) -> None:
    """Write the shared space: ``fsaverage`` from the HCP-MMP1 annotation ``annot`` (``{hemi: path}``);
    ``identity`` from the miniature's ``ground_truth`` and S1's pycortex filestore (the union of the undilated
    planted ``identity_regions``, :func:`braintune.data.demo.planted_regions`)."""
    if settings.method == "fsaverage":
        if annot is None:
            raise ValueError("commonspace (fsaverage): the annotation {lh, rh} is required")
        space = fsaverage_space(annot, settings.parcels)
    else:
        from braintune.data.demo import planted_regions

        if ground_truth is None or pycortex_filestore is None:
            raise ValueError("commonspace (identity): the demo ground truth and pycortex filestore are required")
        masks = planted_regions(ground_truth, pycortex_filestore, settings.identity_regions)
        union = np.logical_or.reduce(list(masks.values()))
        space = identity_space(union, union.size, masks,
                               {"ground_truth": portable_path(ground_truth), "regions": list(settings.identity_regions)})
    log.info("common space (%s): %d outputs", space.method, space.n_outputs)
    write_space(out_path, space)


def projection_job(
    settings: CommonSpaceSettings,
    subject: str,
    space_path: str | os.PathLike,
    test_responses: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    pycortex_subject_dir: str | os.PathLike | None = None,
    fsaverage_sphere: Mapping[str, str | os.PathLike] | None = None,
    subject_sphere: Mapping[str, str | os.PathLike] | None = None,
) -> None:
    """Write ``subject``'s projection to the shared space at ``space_path``, in the column order of its
    responses (``test_responses``: the voxel count is checked against it). ``fsaverage`` also needs the
    subject's pycortex database folder and the fsaverage and subject spheres (``{hemi: path}``)."""
    from braintune.preprocess.responses import n_voxels

    space = read_space(space_path)
    if space.method != settings.method:
        raise ValueError(f"{space_path}: shared space of method {space.method}, but commonspace.method is {settings.method}")
    n = n_voxels(test_responses)
    provenance = {"subject": subject, "space": portable_path(space_path)}
    if settings.method == "identity":
        P, coverage = identity_projection(space, n)
    else:
        if pycortex_subject_dir is None or fsaverage_sphere is None or subject_sphere is None:
            raise ValueError("commonspace (fsaverage): the pycortex folder and both spheres are required")
        P, coverage = subject_projection(space, pycortex_subject_dir, settings.mask, settings.mapper,
                                         fsaverage_sphere, subject_sphere)
        if P.shape[0] != n:
            raise ValueError(f"{subject}: the projection maps {P.shape[0]} voxels but {test_responses} has {n} columns "
                             f"(preprocess.regions.mask={settings.mask!r} wrong?)")
        provenance.update(mask=settings.mask, mapper=settings.mapper)
    log.info("%s: %d of %d outputs covered by %d voxels", subject, int(coverage.sum()), space.n_outputs, n)
    write_projection(out_path, P, coverage, provenance, space=space)
