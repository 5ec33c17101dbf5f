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
