# Functions and settings of the downstream stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/downstream.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from snakemake.exceptions import WorkflowError


from braintune.downstream import datasets as dsdata


from braintune.downstream import run as dsrun


DS = config.get("downstream") or {}


DS_DATA = DS.get("datasets", {})


DS_TASKS = list(DS.get("tasks", []))


DS_CORPORA = dsrun.needed_corpora(DS_TASKS) if DS else []


DS_DEMO = DS_DATA.get("source") == "demo"


DS_PUBLIC = ("speech_commands", "crema_d", "slurp")


def downstream_models():
    """(family, variant, owner) of every evaluated checkpoint."""
    wanted = DS.get("variants")
    out = []
    for family in families():
        for variant in variants(family):
            if wanted is not None and variant not in wanted:
                continue
            owners = sorted({owner(variant, s) for s in SUBJECTS})
            out.extend((family, variant, o) for o in owners)
    return out


def downstream_embeddings_path(family, variant, owner):
    return f"results/downstream/embeddings/{family}/{variant}/{owner}.h5"


def downstream_probe_path(family):
    return f"results/downstream/probes/{family}.tsv"


def downstream_family_checkpoints(wildcards):
    """(variant, owner) of every evaluated checkpoint of one family, in downstream_models() order."""
    return [(v, o) for f, v, o in downstream_models() if f == wildcards.family]


def downstream_family_embeddings(wildcards):
    """Embeddings of the checkpoints of downstream_family_checkpoints, in the same order."""
    return [downstream_embeddings_path(wildcards.family, v, o) for v, o in downstream_family_checkpoints(wildcards)]


def downstream_probe_runtime(wildcards):
    """Minutes for one family's probe job: about 1 s per task and layer on a paper-scale corpus on one CPU
    (docs/performance.md), i.e. about a minute per checkpoint; 5 per checkpoint leave room for larger corpora."""
    return 10 + 5 * len(downstream_family_checkpoints(wildcards))


def downstream_asr_models():
    asr = DS.get("asr", {})
    if "asr" not in DS_TASKS:
        return []
    return [
        m
        for m in downstream_models()
        if config["models"][m[0]]["architecture"] in asr.get("architectures", [])
        and (asr.get("variants") is None or m[1] in asr["variants"])
    ]


def downstream_checkpoint(wildcards):
    """The brain-tuning stage's saved model for every variant but `pretrained` (built from the config)."""
    if wildcards.variant == "pretrained":
        return []
    return f"results/braintuning/{wildcards.family}/{wildcards.variant}/{wildcards.owner}/model"


def downstream_corpus_ready(corpus):
    """Marker proving a corpus is in place: generated (demo), downloaded, or user-supplied (TIMIT,
    checked when the DAG is built so that a missing copy fails with the licence hint, not mid-run)."""
    if DS_DEMO:
        return f"{DS['demo']['root']}/.complete"
    if corpus in DS_PUBLIC:
        return f"{DS_DATA[corpus]['path']}/.complete"
    path = DS_DATA[corpus].get("path")
    if not path or not Path(path).is_dir():
        raise WorkflowError(f"downstream.datasets.{corpus}.path = {path!r} is not a directory. {dsdata.TIMIT_HINT}")
    return []


DS_INDEX = {c: f"results/downstream/index/{c}.tsv" for c in DS_CORPORA}


DS_FIGS = {
    "fig4": "fig4.rst",
    "fig9": "fig9.rst",
    "fig10": "fig10.rst",
    "fig11": "fig11.rst",
    "fig12": "fig12.rst",
}


def downstream_targets():
    """Final outputs of this stage that the default target `all` requests."""
    if not DS or not downstream_models():
        return []
    return [
        "results/downstream/scores.tsv",
        "results/downstream/summary.tsv",
        *[f"results/figures/{name}.{ext}" for name in DS_FIGS for ext in ("pdf", "png")],
    ]
