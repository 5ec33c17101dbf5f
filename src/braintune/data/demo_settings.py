"""What the generated miniature depends on, and the files it writes (light: imported by Snakemake at
parse time).

The miniature is split in two jobs, each with the settings that change its files and nothing else:
:class:`StimulusSettings` (stories, speech, TextGrids, respdict) and :class:`ResponseSettings` (every
subject's responses and the ground truth). Both depend on the *set* of story names and on which one is
the test story, never on the other roles of a story (brain-tuning train or validation, alignment train):
moving a story between roles does not regenerate the dataset. Paths (dataset root, ground truth,
pycortex filestore) are the jobs' outputs, not settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from braintune.data import layout
from braintune.preprocess.timing import grid_timing
from braintune.utils import ParamsRoundTrip


def _pair(values) -> tuple:
    return tuple(values)


@dataclass(frozen=True)
class StimulusSettings(ParamsRoundTrip):
    """Settings of the stimuli job (the ``demo`` keys that shape the stories, the TR grid, the stories)."""

    seed: int
    story_duration_s: tuple[float, float]
    test_story_duration_s: float
    lead_in_s: tuple[float, float]
    voices: tuple[str, ...]
    rate_wpm: tuple[int, int]
    pitch: tuple[int, int]
    topic_concentration: float
    sentences_per_topic: int
    breath_min_pause_s: float
    timing: dict
    stories: tuple[str, ...]
    test_story: str

    @classmethod
    def from_config(cls, demo: dict, timing: dict, stories: Iterable[str], test_story: str) -> "StimulusSettings":
        """From the ``demo`` and ``timing`` sections and the stories the config needs (any order, any role)."""
        return cls(
            seed=int(demo["seed"]),
            story_duration_s=_pair(demo["story_duration_s"]),
            test_story_duration_s=float(demo["test_story_duration_s"]),
            lead_in_s=_pair(demo["lead_in_s"]),
            voices=tuple(demo["voices"]),
            rate_wpm=_pair(demo["rate_wpm"]),
            pitch=_pair(demo["pitch"]),
            topic_concentration=float(demo["topic_concentration"]),
            sentences_per_topic=int(demo["sentences_per_topic"]),
            breath_min_pause_s=float(demo["breath_min_pause_s"]),
            timing=grid_timing(timing),
            stories=tuple(sorted(set(stories) | {test_story})),
            test_story=str(test_story),
        )



@dataclass(frozen=True)
class ResponseSettings(ParamsRoundTrip):
    """Settings of the responses job (the ``demo`` keys of the generative model, the TR grid, the
    stories, the subjects and the stories each subject lacks)."""

    seed: int
    n_repeats: int
    voxel_mask: str
    voxel_stride: int
    regions: dict
    region_dilation_voxels: tuple[int, int]
    halo_voxels: float
    nc_region: tuple[float, float]
    nc_background_max: float
    zero_nc_fraction: float
    n_bands: int
    semantic_dim: int
    within_group_sd: float
    shared_weight_fraction: float
    hdf5_compression: str
    quantum: float
    missing_stories: dict
    timing: dict
    stories: tuple[str, ...]
    test_story: str
    subjects: tuple[str, ...]

    @classmethod
    def from_config(
        cls, demo: dict, timing: dict, stories: Iterable[str], test_story: str, subjects: Iterable[str]
    ) -> "ResponseSettings":
        """From the ``demo`` and ``timing`` sections, the stories the config needs and ``data.subjects``.

        ``data.demo.missing_stories`` (subject -> stories) makes the generator leave those response files
        out, as ds003020 lacks UTS04's ``life``; the test story cannot be missing.
        """
        stories = tuple(sorted(set(stories) | {test_story}))
        subjects = tuple(subjects)
        missing = {s: sorted(v) for s, v in sorted(demo["missing_stories"].items()) if v}
        for subject, names in missing.items():
            if subject not in subjects:
                raise ValueError(f"data.demo.missing_stories: subject {subject!r} is not in data.subjects {list(subjects)}")
            if test_story in names:
                raise ValueError(f"data.demo.missing_stories.{subject}: the test story {test_story!r} cannot be missing")
        return cls(
            seed=int(demo["seed"]),
            n_repeats=int(demo["n_repeats"]),
            voxel_mask=str(demo["voxel_mask"]),
            voxel_stride=int(demo["voxel_stride"]),
            regions=dict(demo["regions"]),
            region_dilation_voxels=_pair(demo["region_dilation_voxels"]),
            halo_voxels=float(demo["halo_voxels"]),
            nc_region=_pair(demo["nc_region"]),
            nc_background_max=float(demo["nc_background_max"]),
            zero_nc_fraction=float(demo["zero_nc_fraction"]),
            n_bands=int(demo["n_bands"]),
            semantic_dim=int(demo["semantic_dim"]),
            within_group_sd=float(demo["within_group_sd"]),
            shared_weight_fraction=float(demo["shared_weight_fraction"]),
            hdf5_compression=str(demo["hdf5_compression"]),
            quantum=float(demo["quantum"]),
            missing_stories=missing,
            timing=grid_timing(timing),
            stories=stories,
            test_story=str(test_story),
            subjects=subjects,
        )

    def has(self, subject: str, story: str) -> bool:
        """Whether the miniature has ``subject``'s responses to ``story``."""
        return story not in self.missing_stories.get(subject, ())


def stimulus_files(settings: StimulusSettings) -> dict[str, list[str]]:
    """Files of the stimuli job under the dataset root, by kind (relative paths)."""
    return {
        "wav": [layout.stimulus_path(s) for s in settings.stories],
        "textgrid": [layout.textgrid_path(s) for s in settings.stories],
        "respdict": [layout.RESPDICT],
    }


def response_files(settings: ResponseSettings) -> list[str]:
    """Response files of the responses job under the dataset root (relative paths)."""
    return [
        layout.response_path(u, s) for u in settings.subjects for s in settings.stories if settings.has(u, s)
    ]
