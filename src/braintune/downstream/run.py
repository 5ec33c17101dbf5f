"""What the downstream rules run: one job function per rule, each taking its input and output paths and
a frozen settings object built from the ``downstream`` config section (docs/artifacts.md, stage
downstream). Library logic lives in the sibling modules; this module wires it to the artifacts.

Tasks (paper 3.4.3, appendix B and D.1; docs/decisions.md 12), each a probe per layer on mean-pooled
features, with the corpus, the kind of probe and the label column of the corpus index: :data:`TASKS`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from braintune.downstream import datasets, embed, labels
from braintune.utils import atomic_output, seed_everything

log = logging.getLogger("braintune.downstream.run")

#: task -> (corpus, probe kind, canonical class order or None)
TASKS = {
    "phonemes": ("timit", "multilabel", labels.TIMIT_39),
    "sentence_type": ("timit", "multiclass", labels.SENTENCE_TYPES),
    "sequence_understanding": ("slurp", "multiclass", None),
    "word_identity": ("speech_commands", "multiclass", labels.SPEECH_COMMANDS_35),
    "emotion": ("crema_d", "multiclass", labels.CREMA_D_EMOTIONS),
    "mfcc": ("timit", "regression", None),
    "fbank": ("timit", "regression", None),
}
PROBE_TASKS = tuple(TASKS)
ALL_TASKS = (*PROBE_TASKS, "asr")
SAMPLE_RATE = 16000
WORDS = "words"


def needed_corpora(tasks: Iterable[str]) -> list[str]:
    """Corpora the enabled tasks read (ASR reads TIMIT), in task order."""
    out = []
    for task in tasks:
        corpus = "timit" if task == "asr" else TASKS[task][0]
        if corpus not in out:
            out.append(corpus)
    return out


def probe_tasks(tasks: Iterable[str]) -> tuple[str, ...]:
    """The enabled tasks that are linear probes (every task but ``asr``)."""
    return tuple(t for t in tasks if t != "asr")


def task_metric(task: str, classification_metric: str) -> str:
    """The score of a task that the figures show: 1 - WER (ASR), R^2 (MFCC/FBANK), else
    ``classification_metric`` (``downstream.metric``)."""
    if task == "asr":
        return "one_minus_wer"
    return "r2" if TASKS[task][1] == "regression" else classification_metric


def corpus_paths(corpora: Sequence[str], paths: Sequence[str]) -> dict[str, str]:
    """``{corpus: path}`` of a rule's per-corpus index files, listed in the order of ``corpora``."""
    if len(corpora) != len(paths):
        raise ValueError(f"{len(paths)} index files {list(paths)} for the {len(corpora)} corpora {list(corpora)}")
    return dict(zip(corpora, paths))


def read_index(path: str | os.PathLike, audio: bool = True) -> pd.DataFrame:
    """A corpus index (``downstream_index``); with ``audio``, every audio file it lists must exist."""
    index = pd.read_csv(path, sep="\t", keep_default_na=False)
    if "path" not in index.columns:
        raise ValueError(f"{path}: no column 'path' (columns: {list(index.columns)})")
    missing = [p for p in index["path"] if not os.path.exists(p)] if audio else []
    if missing:
        raise FileNotFoundError(f"{path}: column 'path' lists {len(missing)} missing audio files, e.g. {missing[0]!r} "
                                f"(paths are relative to the workspace unless the corpus is configured by an absolute path)")
    return index


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSettings:
    """What defines the corpus indices, TIMIT's acoustic targets and the majority baselines."""

    tasks: tuple[str, ...]
    corpora: Mapping[str, Mapping]  #: corpus -> its ``downstream.datasets`` entry without the download manifest
    acoustic: Mapping
    max_items: int | None
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "IndexSettings":
        tasks = tuple(section["tasks"])
        corpora = {c: {k: v for k, v in section["datasets"][c].items() if k != "download"} for c in needed_corpora(tasks)}
        return cls(tasks, corpora, dict(section["acoustic"]), section["max_items"], seed)


@dataclass(frozen=True)
class EmbedSettings:
    """What defines one checkpoint's pooled features (``embed_batch_size`` only sets the speed)."""

    corpora: tuple[str, ...]
    layers: tuple[int, ...]
    max_audio_s: float | None
    model: Mapping  #: the family's ``models`` entry without its variant list
    device: str  #: ``compute.device``
    seed: int

    @classmethod
    def from_config(cls, section: dict, model: dict, device: str, seed: int) -> "EmbedSettings":
        """``section``: ``downstream``; ``model``: ``models.<family>`` (its ``layers`` when ``downstream.layers`` is null)."""
        layers = section["layers"] or model["layers"]
        if not layers:
            raise ValueError("downstream.layers and the family's models.<family>.layers are both empty")
        return cls(tuple(needed_corpora(section["tasks"])), tuple(int(x) for x in layers), section["max_audio_s"],
                   {k: v for k, v in model.items() if k != "variants"}, device, seed)


@dataclass(frozen=True)
class ProbeSettings:
    """What defines the probe scores of a family's checkpoints."""

    tasks: tuple[str, ...]  #: the probe tasks (``asr`` excluded)
    probe: Mapping  #: ``downstream.probe``
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "ProbeSettings":
        return cls(probe_tasks(section["tasks"]), dict(section["probe"]), seed)

    @property
    def corpora(self) -> list[str]:
        return needed_corpora(self.tasks)


@dataclass(frozen=True)
class AsrSettings:
    """What defines one checkpoint's CTC fine-tuning and its WER (``downstream.asr`` without the keys that
    select which checkpoints are fine-tuned)."""

    steps: int
    batch_size: int
    lr: float
    warmup_fraction: float
    freeze_feature_encoder: bool
    max_test_utterances: int | None
    model: Mapping
    device: str
    seed: int

    @classmethod
    def from_config(cls, section: dict, model: dict, device: str, seed: int) -> "AsrSettings":
        asr = section["asr"]
        return cls(asr["steps"], asr["batch_size"], asr["lr"], asr["warmup_fraction"], asr["freeze_feature_encoder"],
                   asr["max_test_utterances"], {k: v for k, v in model.items() if k != "variants"}, device, seed)


@dataclass(frozen=True)
class CollectSettings:
    """What defines the collected tables: the plotted classification metric (``downstream.metric``)
    and the number of brain-tuning training stories (the data size of the ``braintuned`` variant)."""

    metric: str
    n_train_stories: int

    @classmethod
    def from_config(cls, section: dict, braintuning_train: Sequence[str]) -> "CollectSettings":
        return cls(section["metric"], len(braintuning_train))


@dataclass(frozen=True)
class DemoSettings:
    """What defines the demo stand-ins of the corpora: ``downstream.demo`` (without its output ``root``) and
    the preference keys that choose the demo's word set."""

    demo: Mapping
    max_phonetic_distance: float
    max_neighbours: int
    seed: int

    @classmethod
    def from_config(cls, section: dict, preference: dict, seed: int) -> "DemoSettings":
        demo = {k: v for k, v in section["demo"].items() if k != "root"}
        return cls(demo, preference["max_phonetic_distance"], preference["max_neighbours"], seed)


# --- rule downstream_demo_data ---------------------------------------------------------------


def demo_corpora(settings: DemoSettings, out_root: str | os.PathLike) -> None:
    """Write the demo stand-ins of every corpus and of the preference word corpus under ``out_root``."""
    from braintune.downstream import demo
    from braintune.preference import analysis

    seeds = settings.demo["preference_words"]
    ws = analysis.demo_word_set(seeds, len(seeds), settings.max_phonetic_distance, settings.max_neighbours,
                                settings.seed)
    words = sorted(set(ws.target) | set(ws.neighbour))
    demo.write_all(Path(out_root), settings.demo, settings.seed, words=words)


# --- rule downstream_index -------------------------------------------------------------------


def build_index(settings: IndexSettings, index_paths: Mapping[str, str | os.PathLike], targets_path: str | os.PathLike,
                baselines_path: str | os.PathLike) -> None:
    """Read every needed corpus, write its index to ``index_paths[corpus]``, TIMIT's MFCC/FBANK targets and
    the majority-class baselines of the classification tasks."""
    from braintune.downstream import acoustic, probes  # transformers, sklearn: imported by the jobs that use them

    if set(index_paths) != set(settings.corpora):
        raise ValueError(f"index files for {sorted(index_paths)}, but the tasks read {sorted(settings.corpora)}")
    indices = {}
    for corpus, reader in settings.corpora.items():
        df = datasets.read_corpus(corpus, reader, seed=settings.seed)
        df = df[df.split.isin(("train", "test"))].reset_index(drop=True)
        if settings.max_items:  # a seeded subset per split, in index order
            parts = [g.sample(min(len(g), settings.max_items), random_state=settings.seed)
                     for _, g in df.groupby("split", sort=False)]
            df = pd.concat(parts).sort_index().reset_index(drop=True)
        indices[corpus] = df
        with atomic_output(index_paths[corpus]) as tmp:
            df.to_csv(tmp, sep="\t", index=False)
        log.info("%s: %s utterances %s", corpus, len(df), df.split.value_counts().to_dict())
    ac = settings.acoustic
    with atomic_output(targets_path) as tmp, h5py.File(tmp, "w") as h5:
        if "timit" in indices and {"mfcc", "fbank"} & set(settings.tasks):
            fb, mf = [], []
            for path in indices["timit"]["path"]:
                audio = datasets.load_utterance(path, SAMPLE_RATE)
                f, m = acoustic.utterance_targets(audio, SAMPLE_RATE, ac["fbank_mels"], ac["mfcc_mels"], ac["n_mfcc"])
                fb.append(f)
                mf.append(m)
            h5.create_dataset("fbank", data=np.stack(fb))
            h5.create_dataset("mfcc", data=np.stack(mf))
            h5.create_dataset("utt_id", data=indices["timit"]["utt_id"].to_numpy(dtype=object), dtype=h5py.string_dtype())
        h5.attrs["definition"] = "time-averaged log-mel (fbank) and DCT-II of it (mfcc) per utterance"
        for key, value in ac.items():
            h5.attrs[key] = value
    rows = []
    for task in probe_tasks(settings.tasks):
        kind = TASKS[task][1]
        if kind == "regression":
            continue
        y_train, y_test, _ = task_targets(task, indices[TASKS[task][0]])
        pred = probes.majority_baseline(y_train, len(y_test), kind)
        for metric, value in probes.classification_metrics(y_test, pred).items():
            rows.append({"task": task, "metric": metric, "value": value, "n_train": len(y_train), "n_test": len(y_test)})
    with atomic_output(baselines_path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)


def task_targets(task: str, index: pd.DataFrame, targets: h5py.File | None = None):
    """``(y_train, y_test, n_outputs)`` of a probe task from its corpus index."""
    corpus, kind, order = TASKS[task]
    train, test = (index.split == "train").to_numpy(), (index.split == "test").to_numpy()
    if kind == "multilabel":
        y = labels.multi_hot(index["phones"].str.split().map(set), order)
        return y[train], y[test], y.shape[1]
    if kind == "regression":
        if targets is None:
            raise ValueError(f"task {task}: regression targets file needed")
        ids = [x.decode() if isinstance(x, bytes) else x for x in targets["utt_id"][()]]
        if ids != index["utt_id"].tolist():
            raise ValueError(f"{targets.filename}: utterance order differs from the TIMIT index")
        y = targets[task][()]
        return y[train], y[test], y.shape[1]
    label_map = labels.LabelMap.from_splits({"train": index.label[train], "test": index.label[test]}, order=order)
    y = label_map.encode(index["label"])
    return y[train], y[test], len(label_map)


# --- rule downstream_embed -------------------------------------------------------------------


def load_backbone(model: Mapping, device: str, checkpoint: str | None):
    """The family's pretrained model (``checkpoint=None``) or a saved checkpoint, on ``device``."""
    from braintune.features import models

    return models.prepare_model(dict(model), checkpoint, models.resolve_device(device))


def embed_variant(settings: EmbedSettings, index_paths: Mapping[str, str], segments_path: str | None,
                  checkpoint: str | None, out_path: str | os.PathLike, meta: Mapping[str, str],
                  batch_size: int) -> None:
    """Mean-pooled features of every corpus (and word occurrence) for one checkpoint (``None``: pretrained).

    ``meta``: ``family``, ``variant``, ``owner`` stored as attributes; ``batch_size`` (items of equal
    length per forward pass) changes the speed, not the features."""
    from braintune.features.models import n_parameters

    if list(index_paths) != list(settings.corpora):
        raise ValueError(f"index files for {list(index_paths)}, expected {list(settings.corpora)}")
    seed_everything(settings.seed)
    layers = list(settings.layers)
    model = load_backbone(settings.model, settings.device, checkpoint)
    forward, n_valid = embed.model_forward(model, layers)
    corpora = {}
    for corpus, path in index_paths.items():
        index = read_index(path)
        audios = (datasets.load_utterance(p, SAMPLE_RATE, settings.max_audio_s) for p in index["path"])
        corpora[corpus] = (index["utt_id"].tolist(), embed.pooled_features(forward, audios, layers, n_valid, batch_size))
        log.info("%s: embedded %s (%d items)", out_path, corpus, len(index))
    if segments_path:
        seg = read_index(segments_path)
        clips = embed.slice_segments(seg, SAMPLE_RATE, lambda p: datasets.load_utterance(p, SAMPLE_RATE))
        corpora[WORDS] = (seg["word"].tolist(), embed.pooled_features(forward, clips, layers, n_valid, batch_size))
    embed.write_embeddings(out_path, corpora, layers, {**meta, "checkpoint": checkpoint or "pretrained",
                                                       "n_parameters": n_parameters(model)})


# --- rule downstream_probe -------------------------------------------------------------------


def probe_family(settings: ProbeSettings, family: str, checkpoints: Iterable[tuple[str, str, str]],
                 index_paths: Mapping[str, str], targets_path: str, out_path: str | os.PathLike) -> None:
    """Every probe task x layer of every checkpoint ``(variant, owner, embeddings path)`` of one family
    -> one tidy TSV. One job per family: a linear probe on cached, pooled features takes well under a
    second, far less than starting a job."""
    frames = [probe_scores(settings, family, variant, owner, embeddings, index_paths, targets_path)
              for variant, owner, embeddings in checkpoints]
    with atomic_output(out_path) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, sep="\t", index=False)


def probe_scores(settings: ProbeSettings, family: str, variant: str, owner: str, embeddings: str,
                 index_paths: Mapping[str, str], targets_path: str) -> pd.DataFrame:
    """Every probe task x layer of one checkpoint, from its embeddings file: tidy rows."""
    from braintune.downstream import probes  # sklearn: not needed by the embedding jobs

    pc = settings.probe
    rows = []
    with h5py.File(targets_path, "r") as targets:
        for task in settings.tasks:
            corpus, kind, _ = TASKS[task]
            index = read_index(index_paths[corpus], audio=False)
            ids, feats, layers = embed.read_embeddings(embeddings, corpus)
            if ids != index["utt_id"].tolist():
                raise ValueError(f"{embeddings}: {corpus} rows do not match {index_paths[corpus]}")
            train = (index.split == "train").to_numpy()
            test = ~train
            y_train, y_test, n_out = task_targets(task, index, targets)
            if kind == "regression":
                r2 = probes.train_regression_probes(feats[:, train], y_train, feats[:, test], y_test, pc["ridge_alphas"],
                                                    pc["standardize"])
                rows += [{"task": task, "layer": l, "metric": "r2", "value": float(v)} for l, v in zip(layers, r2)]
                continue
            # downstream.probe.epochs: a per-task count, `default` for the tasks it does not list
            epochs = pc["epochs"][task] if task in pc["epochs"] else pc["epochs"]["default"]
            cfg = probes.ProbeConfig(epochs=int(epochs), lr=pc["lr"], threshold=pc["threshold"], seed=settings.seed,
                                     standardize=pc["standardize"])
            pred = probes.train_classification_probes(feats[:, train], y_train, feats[:, test], kind, n_out, cfg)
            for layer, p in zip(layers, pred):
                for metric, value in probes.classification_metrics(y_test, p).items():
                    rows.append({"task": task, "layer": layer, "metric": metric, "value": value})
    df = pd.DataFrame(rows)
    df["n_parameters"] = int(embed.read_embedding_attrs(embeddings)["n_parameters"])
    df.insert(0, "owner", owner)
    df.insert(0, "variant", variant)
    df.insert(0, "family", family)
    return df


# --- rule downstream_asr ---------------------------------------------------------------------


def asr_variant(settings: AsrSettings, timit_index: str, checkpoint: str | None, out_path: str | os.PathLike,
                curve_path: str | os.PathLike, meta: Mapping[str, str]) -> None:
    """CTC fine-tuning of the whole model (``checkpoint``; ``None``: pretrained) on TIMIT train, 1 - WER on
    TIMIT test. ``meta``: the ``family``, ``variant``, ``owner`` columns of the score rows."""
    from braintune.downstream import asr
    from braintune.features import models

    seed_everything(settings.seed)
    model = load_backbone(settings.model, settings.device, checkpoint)
    frozen = models.frozen_parameter_names(model) if settings.freeze_feature_encoder else []
    index = read_index(timit_index)
    train, test = index[index.split == "train"], index[index.split == "test"]
    if settings.max_test_utterances:
        test = test.iloc[: settings.max_test_utterances]
    load = lambda p: datasets.load_utterance(p, SAMPLE_RATE)  # noqa: E731

    def forward(m, batch):
        return models.encoder_forward(m, batch)[-1]

    result = asr.finetune_ctc(model, forward, models.hidden_size(model), [load(p) for p in train.path],
                              train.text.tolist(), [load(p) for p in test.path], test.text.tolist(),
                              settings.steps, settings.batch_size, settings.lr, settings.seed, frozen,
                              settings.warmup_fraction, device=next(model.parameters()).device)
    row = {"family": meta["family"], "variant": meta["variant"], "owner": meta["owner"], "task": "asr", "layer": -1,
           "metric": "one_minus_wer", "value": result["accuracy"]}
    with atomic_output(out_path) as tmp:
        pd.DataFrame([row, {**row, "metric": "wer", "value": result["wer"]}]).to_csv(tmp, sep="\t", index=False)
    with atomic_output(curve_path) as tmp:
        Path(tmp).write_text(json.dumps({"loss": result["loss_curve"], "hypotheses": result["hypotheses"][:20]}, indent=1))


# --- rule downstream_collect -----------------------------------------------------------------


def collect(settings: CollectSettings, probe_tables: list[str], asr_tables: list[str], baselines_path: str,
            out_long: str, out_summary: str, out_means: str) -> None:
    """All scores (long table), the per-(model, owner) layer averages (summary) and what the figures show
    (means): see :func:`participant_means`."""
    probe = pd.concat([pd.read_csv(p, sep="\t") for p in probe_tables], ignore_index=True)
    frames = [probe] + [pd.read_csv(p, sep="\t") for p in asr_tables]
    df = pd.concat(frames, ignore_index=True)
    sizes = probe.groupby("family")["n_parameters"].first()
    df["n_parameters"] = df["family"].map(sizes).astype("Int64")
    with atomic_output(out_long) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    summary = (df.groupby(["family", "variant", "owner", "task", "metric", "n_parameters"], as_index=False)["value"]
               .mean().rename(columns={"value": "layer_mean"}))
    with atomic_output(out_summary) as tmp:
        summary.to_csv(tmp, sep="\t", index=False)
    means = participant_means(summary, pd.read_csv(baselines_path, sep="\t"), settings)
    with atomic_output(out_means) as tmp:
        means.to_csv(tmp, sep="\t", index=False)


def data_size(variant: str, n_train_stories: int) -> int | None:
    """Brain-tuning training stories of a variant trained on fMRI responses (``braintuned``: all of them,
    ``braintuned_n{K}``: K); None for every other variant."""
    from braintune.braintuning.variants import parse_variant

    if variant == "pretrained":
        return None
    spec = parse_variant(variant)
    if spec.target != "responses":
        return None
    return spec.n_train_stories or n_train_stories


def participant_means(summary: pd.DataFrame, baselines: pd.DataFrame, settings: CollectSettings) -> pd.DataFrame:
    """Per family x variant x task, the task's plotted metric (:func:`task_metric`) across participants
    (owners) of the layer means: ``mean``, ``se`` (NaN for one participant), ``n``; ``gain`` (variant minus
    the family's pretrained mean, averaged over participants) and ``gain_se`` (0 for one participant; NaN
    when the family has no pretrained score); ``baseline`` (the majority-class score of the task, NaN for
    ASR and regression); the family's ``n_parameters``; ``train_stories`` (:func:`data_size`)."""
    from braintune.statistics import summarise

    frames = []
    for task in summary.task.unique():
        metric = task_metric(task, settings.metric)
        sub = summary[(summary.task == task) & (summary.metric == metric)]
        agg = summarise(sub, "layer_mean", ("family", "variant"), unit="owner")
        agg.insert(2, "task", task)
        agg.insert(3, "metric", metric)
        base = baselines[(baselines.task == task) & (baselines.metric == metric)]
        agg["baseline"] = float(base["value"].iloc[0]) if len(base) else np.nan
        gains = []
        for family, variant in zip(agg.family, agg.variant):
            pre = sub.loc[(sub.family == family) & (sub.variant == "pretrained"), "layer_mean"]
            tuned = sub.loc[(sub.family == family) & (sub.variant == variant), "layer_mean"].to_numpy()
            if len(pre) and len(tuned):
                diff = tuned - float(pre.mean())
                gains.append((diff.mean(), diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0))
            else:
                gains.append((np.nan, np.nan))
        agg["gain"] = [g for g, _ in gains]
        agg["gain_se"] = [s for _, s in gains]
        frames.append(agg)
    out = pd.concat(frames, ignore_index=True)
    out["n_parameters"] = out["family"].map(summary.groupby("family")["n_parameters"].first())
    out["train_stories"] = pd.array([data_size(v, settings.n_train_stories) for v in out.variant], dtype="Int64")
    return out
