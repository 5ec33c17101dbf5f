# Stage: demo (see docs/artifacts.md). The generated miniature of ds003020 (braintune.data.demo):
# one job writes the whole dataset (stimuli, TextGrids, respdict, responses) and its ground truth.
# Only defined when dataset.source is demo; the download stage provides the same files otherwise.

from braintune.data.demo_layout import dataset_files as _demo_dataset_files

DEMO = config["dataset"]["source"] == "demo"


def _demo_files(kind):
    return [f"{DATASET}/{path}" for path in _demo_dataset_files(config)[kind]]


if DEMO:

    rule demo_dataset:
        """Generate the ds003020 miniature: synthesised stories, TextGrids, respdict and the
        responses of every subject from the documented generative model, plus the ground truth."""
        output:
            ground_truth=config["demo"]["ground_truth"],
            wav=_demo_files("wav"),
            textgrid=_demo_files("textgrid"),
            respdict=_demo_files("respdict"),
            responses=_demo_files("responses"),
        params:
            demo=config["demo"],
            timing=config["timing"],
            stories=config["stories"],
            root=DATASET,
            subjects=SUBJECTS,
        log:
            "logs/demo_dataset/demo_dataset.log",
        benchmark:
            "benchmarks/demo_dataset/demo_dataset.tsv"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=15,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/demo_dataset.py"


def demo_targets():
    """Final outputs of this stage that `rule all` requests (nothing unless dataset.source is demo)."""
    if not DEMO:
        return []
    return [config["demo"]["ground_truth"]] + [f for kind in ("wav", "textgrid", "respdict", "responses") for f in _demo_files(kind)]
