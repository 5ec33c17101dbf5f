"""The files of the generated miniature, from the config alone (light: imported by Snakemake at parse time)."""

from __future__ import annotations

from braintune.config import all_stories


def dataset_files(config: dict) -> dict[str, list[str]]:
    """Every file :func:`braintune.data.demo.generate` writes under the dataset root, by kind
    (paths relative to ``config["dataset"]["root"]``; the ds003020 layout, docs/artifacts.md)."""
    stories = all_stories(config)
    subjects = config["dataset"]["subjects"]
    return {
        "wav": [f"stimuli/{s}.wav" for s in stories],
        "textgrid": [f"derivative/TextGrids/{s}.TextGrid" for s in stories],
        "respdict": ["derivative/respdict.json"],
        "responses": [f"derivative/preprocessed_data/{u}/{s}.hf5" for u in subjects for s in stories],
    }


#: Keys of ``demo:`` that shape the stimuli (stories, speech, TextGrids, respdict); all other keys
#: shape only the responses and the ground truth. Each of the two rules gets only its keys as params,
#: so a change of the response model does not rerun anything that reads only the stimuli.
STIMULUS_KEYS = (
    "seed", "story_duration_s", "test_story_duration_s", "lead_in_s", "voices", "rate_wpm", "pitch",
    "topic_concentration", "sentences_per_topic", "breath_min_pause_s",
)


def stimulus_params(demo: dict) -> dict:
    return {k: demo[k] for k in STIMULUS_KEYS}


def response_params(demo: dict) -> dict:
    return {k: v for k, v in demo.items() if k not in STIMULUS_KEYS or k == "seed"}


def demo_stimuli_metadata(config: dict) -> str:
    """Path of the stories' metadata (voice, rate, pitch, text, ...) next to the ground truth."""
    from pathlib import Path

    return str(Path(config["demo"]["ground_truth"]).with_name("stimuli.json"))


def config_from_params(params) -> dict:
    """The config sub-dict the generator reads, rebuilt from a demo rule's ``params``
    (``demo``, ``timing``, ``stories``, ``root`` and, for the responses, ``subjects``)."""
    dataset = {"root": params.root}
    if hasattr(params, "subjects"):
        dataset["subjects"] = list(params.subjects)
    return {"demo": dict(params.demo), "timing": dict(params.timing), "stories": dict(params.stories), "dataset": dataset}
