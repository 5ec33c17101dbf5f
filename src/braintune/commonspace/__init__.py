"""Common space of several participants (the follow-up: Moussa & Toneva, NeurIPS 2025).

One speech model is brain-tuned jointly on several participants. Their fMRI responses live in
different voxel spaces, so each participant's responses are first projected to one *shared* space of
``K`` outputs, the same ``K`` outputs for every participant; the joint trainer regresses those.
Evaluation stays voxelwise, in each participant's own voxels (the alignment stage, unchanged).

:mod:`.projection` builds, per participant, a sparse projection ``P`` (native voxels x K) with
``targets = responses @ P``: every output is a weighted mean of the participant's voxels. Two ways
to define the shared space (``method``):

``identity``
    Data already in one voxel space (the demo: every participant's responses are in pycortex sample
    subject S1's voxel order). The outputs are the voxels of a subject-independent mask; ``P`` selects
    them.
``fsaverage``
    Native voxel -> the participant's cortical surface vertices (pycortex's vertex-to-voxel mapper)
    -> the participant's ``sphere.reg`` -> the nearest fsaverage sphere vertex. The outputs are the
    fsaverage vertices (both hemispheres) inside given Glasser (HCP-MMP1) parcels.

Artifacts: the shared space (``write_space`` / ``read_space``, HDF5, written once) and one
projection per participant (``write_projection`` / ``read_projection``, HDF5).
"""
