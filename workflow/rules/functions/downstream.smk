# Functions and settings of the downstream stage: every path pattern of results/downstream/, input
# functions, the jobs' settings (params), resources and targets. The rules themselves are in
# workflow/rules/downstream.smk (Snakemake's linter asks to keep functions and rules in separate files).

from dataclasses import asdict

from snakemake.exceptions import WorkflowError


from braintune.downstream import datasets as dsdata


from braintune.downstream import run as dsrun


DS = config["downstream"]


DS_DATA = DS["datasets"]


DS_TASKS = list(DS["tasks"])


DS_CORPORA = dsrun.needed_corpora(DS_TASKS)


DS_PROBE_CORPORA = dsrun.needed_corpora(dsrun.probe_tasks(DS_TASKS))


DS_DEMO = DS_DATA["source"] == "demo"


DS_PUBLIC = ("speech_commands", "crema_d", "slurp")


# --- paths ---------------------------------------------------------------------------------------


def downstream_demo_marker():
    """Written when the demo stand-ins of every corpus (and the preference word corpus) are in place."""
    return f"{DS['demo']['root']}/.complete"


def downstream_download_marker(corpus):
    return f"{DS_DATA[corpus]['path']}/.complete"


def downstream_index_path(corpus):
    return f"results/downstream/index/{corpus}.tsv"


def downstream_acoustic_targets_path():
    return "results/downstream/index/timit_targets.h5"


def downstream_baselines_path():
    return "results/downstream/baselines.tsv"


def downstream_embeddings_path(family, variant, owner):
    return f"results/downstream/embeddings/{family}/{variant}/{owner}.h5"


def downstream_probe_path(family):
    return f"results/downstream/probes/{family}.tsv"


def downstream_asr_path(family, variant, owner, ext):
    """ext `tsv`: the scores; `json`: the training curve."""
    return f"results/downstream/asr/{family}/{variant}/{owner}.{ext}"


def downstream_table_path(name):
    """The collected tables: `scores`, `summary`, `means` (what figs 4, 9-12 show)."""
    return f"results/downstream/{name}.tsv"


# --- what is evaluated ---------------------------------------------------------------------------


def downstream_models():
    """(family, variant, owner) of every evaluated checkpoint (downstream.variants null: every variant)."""
    wanted = DS["variants"]
    out = []
    for family in families():
        for variant in variants(family):
            if wanted is not None and variant not in wanted:
                continue
            owners = sorted({owner(variant, s) for s in SUBJECTS})
            out.extend((family, variant, o) for o in owners)
    return out


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
    """The checkpoints fine-tuned for ASR (downstream.asr.architectures, .variants; variants null: every one)."""
    asr = DS["asr"]
    if "asr" not in DS_TASKS:
        return []
    return [
        m
        for m in downstream_models()
        if config["models"][m[0]]["architecture"] in asr["architectures"]
        and (asr["variants"] is None or m[1] in asr["variants"])
    ]


def downstream_checkpoint(wildcards):
    """{"checkpoint": the brain-tuning stage's saved model} for every variant but `pretrained`."""
    if wildcards.variant == "pretrained":
        return {}
    return {"checkpoint": braintuning_model_path(wildcards.family, wildcards.variant, wildcards.owner)}


def downstream_corpus_ready(corpus):
    """Marker proving a corpus is in place: generated (demo) or downloaded; a user-supplied corpus (TIMIT)
    is checked when the DAG is built, so that a missing copy fails with the licence hint, not mid-run."""
    if DS_DEMO:
        return [downstream_demo_marker()]
    if corpus in DS_PUBLIC:
        return [downstream_download_marker(corpus)]
    path = DS_DATA[corpus]["path"]
    if not path or not Path(path).is_dir():
        raise WorkflowError(f"downstream.datasets.{corpus}.path = {path!r} is not a directory. {dsdata.TIMIT_HINT}")
    return []


# --- settings (params): exactly what changes each job's result -----------------------------------


def downstream_demo_settings():
    return asdict(dsrun.DemoSettings.from_config(DS, config["preference"], config["seed"]))


def downstream_index_settings():
    return asdict(dsrun.IndexSettings.from_config(DS, config["seed"]))


def downstream_embed_settings(wildcards):
    model = config["models"][wildcards.family]
    return asdict(dsrun.EmbedSettings.from_config(DS, model, config["compute"]["device"], config["seed"]))


def downstream_probe_settings():
    return asdict(dsrun.ProbeSettings.from_config(DS, config["seed"]))


def downstream_asr_settings(wildcards):
    model = config["models"][wildcards.family]
    return asdict(dsrun.AsrSettings.from_config(DS, model, config["compute"]["device"], config["seed"]))


def downstream_collect_settings():
    return asdict(dsrun.CollectSettings.from_config(DS, config["stories"]["braintuning_train"]))


def downstream_gpu():
    return 1 if config["compute"]["device"] == "cuda" else 0


def downstream_targets():
    """Final outputs of this stage that the default target `all` requests (the figures: figures stage)."""
    if not downstream_models():
        return []
    return [downstream_table_path(name) for name in ("scores", "summary", "means")]
