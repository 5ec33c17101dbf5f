"""Where each file of ds003020 lies under the dataset root (the dataset's own layout; relative paths).

The generator (:mod:`braintune.data.demo`), the downloader (:mod:`braintune.data.download`), the
readers (:mod:`braintune.preprocess.responses`) and the workflow's path functions all use these.
"""

from __future__ import annotations

RESPDICT = "derivative/respdict.json"


def stimulus_path(story: str) -> str:
    """The story's audio (WAV)."""
    return f"stimuli/{story}.wav"


def textgrid_path(story: str) -> str:
    """The story's Praat TextGrid (phone and word tiers)."""
    return f"derivative/TextGrids/{story}.TextGrid"


def response_path(subject: str, story: str) -> str:
    """A subject's preprocessed responses to one story (HDF5)."""
    return f"derivative/preprocessed_data/{subject}/{story}.hf5"


def pycortex_db_path(subject: str) -> str:
    """A subject's pycortex database folder (a prefix: ends in ``/``)."""
    return f"derivative/pycortex-db/{subject}/"


def sphere_reg_path(subject: str, hemi: str) -> str:
    """A subject's FreeSurfer registration sphere of one hemisphere (``lh`` or ``rh``)."""
    return f"derivative/freesurfer_subjdir/{subject}/surf/{hemi}.sphere.reg"
