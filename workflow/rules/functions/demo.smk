# Functions and settings of the demo stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/demo.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.data import demo_layout as _demo_layout


DEMO = config["dataset"]["source"] == "demo"


if DEMO and not config.get("demo"):
    raise ValueError("configuration: dataset.source is 'demo' but the config has no 'demo' section (config/README.md)")


def _demo_files(kind):
    return [f"{DATASET}/{path}" for path in _demo_layout.dataset_files(config)[kind]]


def demo_targets():
    """Final outputs of this stage that `rule all` requests (nothing unless dataset.source is demo)."""
    if not DEMO:
        return []
    kinds = ("wav", "textgrid", "respdict", "responses")
    return [config["demo"]["ground_truth"]] + [f for kind in kinds for f in _demo_files(kind)]
