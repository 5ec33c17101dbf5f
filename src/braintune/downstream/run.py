"""What the downstream and preference rules run: one function per rule, each reading and writing the
artifacts of docs/artifacts.md (stages downstream and preference). Library logic lives in the sibling
modules; this module wires it to the config.

Tasks (paper 3.4.3, appendix B and D.1; DECISIONS.md 12), each a probe per layer on mean-pooled
features, with the corpus, the kind of probe and the label column of the corpus index:
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np
import pandas as pd

from braintune.downstream import datasets, embed, labels, preference
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
    """Corpora the enabled tasks read (ASR reads TIMIT)."""
    out = []
    for task in tasks:
        corpus = "timit" if task == "asr" else TASKS[task][0]
        if corpus not in out:
            out.append(corpus)
    return out


# --- rule downstream_index -------------------------------------------------------------------


def build_index(config: dict, out_dir: str | Path, targets_path: str | Path, baselines_path: str | Path) -> None:
    """Read every needed corpus, write ``index/{corpus}.tsv``, TIMIT's MFCC/FBANK targets and the
    majority-class baselines of the classification tasks."""
    from braintune.downstream import acoustic, probes  # transformers, sklearn: imported by the jobs that use them

    ds = config["downstream"]
    out_dir = Path(out_dir)
    indices = {}
    for corpus in needed_corpora(ds["tasks"]):
        df = datasets.read_corpus(corpus, ds["datasets"][corpus], seed=config["seed"])
        df = df[df.split.isin(("train", "test"))].reset_index(drop=True)
        if ds.get("max_items"):  # a seeded subset per split, in index order
            parts = [g.sample(min(len(g), ds["max_items"]), random_state=config["seed"])
                     for _, g in df.groupby("split", sort=False)]
            df = pd.concat(parts).sort_index().reset_index(drop=True)
        indices[corpus] = df
        with atomic_output(out_dir / f"{corpus}.tsv") as tmp:
            df.to_csv(tmp, sep="\t", index=False)
        log.info("%s: %s utterances %s", corpus, len(df), df.split.value_counts().to_dict())
    ac = ds["acoustic"]
    with atomic_output(targets_path) as tmp, h5py.File(tmp, "w") as h5:
        if "timit" in indices and {"mfcc", "fbank"} & set(ds["tasks"]):
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
    for task in ds["tasks"]:
        if task == "asr" or TASKS[task][1] == "regression":
            continue
        y_train, y_test, _ = task_targets(task, indices[TASKS[task][0]])
        kind = TASKS[task][1]
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


# --- rule preference_wordset -----------------------------------------------------------------


def build_word_set(config: dict, out_wordset: str | Path, out_segments: str | Path) -> None:
    """Word set (targets, synonyms, near-homophones) and the word occurrences to embed."""
    pc = config["preference"]
    corpus = pc["corpus"]
    pron = preference.cmu_pronunciations()
    synonyms = preference.load_synonyms(pc)
    vocab = preference.corpus_vocabulary(corpus["path"], corpus["word_tier"])
    ws = preference.build_word_set(vocab, pron, synonyms, pc["n_words"], pc["max_phonetic_distance"],
                                   pc["max_neighbours"], config["seed"])
    words = sorted(set(ws.target) | set(ws.neighbour))
    seg = preference.find_word_segments(corpus["path"], words, pc["max_instances"], corpus["word_tier"], config["seed"])
    ws = ws[ws.target.isin(seg.word) & ws.neighbour.isin(seg.word)]
    log.info("word set: %d targets, %d pairs, %d occurrences", ws.target.nunique(), len(ws), len(seg))
    with atomic_output(out_wordset) as tmp:
        ws.to_csv(tmp, sep="\t", index=False)
    with atomic_output(out_segments) as tmp:
        seg.to_csv(tmp, sep="\t", index=False)


# --- rule downstream_embed -------------------------------------------------------------------


def family_layers(config: dict, family: str) -> list[int]:
    layers = config["downstream"].get("layers") or config["models"][family].get("layers")
    if not layers:
        raise ValueError(f"downstream.layers and models.{family}.layers are both empty")
    return [int(x) for x in layers]


def load_backbone(config: dict, family: str, checkpoint: str | None):
    """The family's pretrained model (``checkpoint=None``) or a saved checkpoint, on ``compute.device``."""
    from braintune import models

    device = models.resolve_device((config.get("compute") or {}).get("device", "cpu"))
    return models.prepare_model(config["models"][family], checkpoint, device)


def embed_variant(config: dict, family: str, variant: str, owner: str, checkpoint: str | None,
                  index_paths: dict[str, str], segments_path: str | None, out_path: str | Path) -> None:
    """Mean-pooled features of every corpus (and word occurrence) for one model variant."""
    seed_everything(config["seed"])
    layers = family_layers(config, family)
    model = load_backbone(config, family, checkpoint)
    forward, n_valid = embed.model_forward(model, layers)
    batch = config["downstream"]["embed_batch_size"]
    max_s = config["downstream"].get("max_audio_s")
    corpora = {}
    for corpus, path in index_paths.items():
        index = pd.read_csv(path, sep="\t", keep_default_na=False)
        audios = (datasets.load_utterance(p, SAMPLE_RATE, max_s) for p in index["path"])
        corpora[corpus] = (index["utt_id"].tolist(), embed.pooled_features(forward, audios, layers, n_valid, batch))
        log.info("%s/%s/%s: embedded %s (%d items)", family, variant, owner, corpus, len(index))
    if segments_path:
        seg = pd.read_csv(segments_path, sep="\t", keep_default_na=False)
        clips = embed.slice_segments(seg, SAMPLE_RATE, lambda p: datasets.load_utterance(p, SAMPLE_RATE))
        corpora[WORDS] = (seg["word"].tolist(), embed.pooled_features(forward, clips, layers, n_valid, batch))
    from braintune.models import n_parameters

    embed.write_embeddings(out_path, corpora, layers, {"family": family, "variant": variant, "owner": owner,
                                                        "checkpoint": checkpoint or "pretrained",
                                                        "n_parameters": n_parameters(model)})


# --- rule downstream_probe -------------------------------------------------------------------


def probe_family(config: dict, family: str, checkpoints: Iterable[tuple[str, str, str]], index_paths: dict[str, str],
                 targets_path: str, out_path: str | Path) -> None:
    """Every probe task x layer of every checkpoint ``(variant, owner, embeddings path)`` of one family
    -> one tidy TSV. One job per family: a linear probe on cached, pooled features takes well under a
    second, far less than starting a job."""
    frames = [probe_scores(config, family, variant, owner, embeddings, index_paths, targets_path)
              for variant, owner, embeddings in checkpoints]
    with atomic_output(out_path) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, sep="\t", index=False)


def probe_scores(config: dict, family: str, variant: str, owner: str, embeddings: str, index_paths: dict[str, str],
                 targets_path: str) -> pd.DataFrame:
    """Every probe task x layer of one checkpoint, from its embeddings file: tidy rows."""
    from braintune.downstream import probes  # sklearn: not needed by the embedding jobs

    ds = config["downstream"]
    pc = ds["probe"]
    rows = []
    with h5py.File(targets_path, "r") as targets:
        for task in ds["tasks"]:
            if task == "asr":
                continue
            corpus, kind, _ = TASKS[task]
            index = pd.read_csv(index_paths[corpus], sep="\t", keep_default_na=False)
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
            cfg = probes.ProbeConfig(epochs=int(pc["epochs"].get(task, pc["epochs"]["default"])), lr=pc["lr"],
                                     threshold=pc["threshold"], seed=config["seed"], standardize=pc["standardize"])
            pred = probes.train_classification_probes(feats[:, train], y_train, feats[:, test], kind, n_out, cfg)
            for layer, p in zip(layers, pred):
                for metric, value in probes.classification_metrics(y_test, p).items():
                    rows.append({"task": task, "layer": layer, "metric": metric, "value": value})
    df = pd.DataFrame(rows)
    with h5py.File(embeddings, "r") as h5:
        df["n_parameters"] = int(h5.attrs["n_parameters"])
    df.insert(0, "owner", owner)
    df.insert(0, "variant", variant)
    df.insert(0, "family", family)
    return df


# --- rule downstream_asr ---------------------------------------------------------------------


def asr_variant(config: dict, family: str, variant: str, owner: str, checkpoint: str | None, timit_index: str,
                out_path: str | Path, curve_path: str | Path) -> None:
    """CTC fine-tuning of the whole model on TIMIT train, 1 - WER on TIMIT test."""
    from braintune import models
    from braintune.downstream import asr

    ac = config["downstream"]["asr"]
    seed_everything(config["seed"])
    model = load_backbone(config, family, checkpoint)
    frozen = models.frozen_parameter_names(model) if ac["freeze_feature_encoder"] else []
    index = pd.read_csv(timit_index, sep="\t", keep_default_na=False)
    train, test = index[index.split == "train"], index[index.split == "test"]
    if ac.get("max_test_utterances"):
        test = test.iloc[: ac["max_test_utterances"]]
    load = lambda p: datasets.load_utterance(p, SAMPLE_RATE)  # noqa: E731

    def forward(m, batch):
        return models.encoder_forward(m, batch)[-1]

    result = asr.finetune_ctc(model, forward, models.hidden_size(model), [load(p) for p in train.path],
                              train.text.tolist(), [load(p) for p in test.path], test.text.tolist(),
                              ac["steps"], ac["batch_size"], ac["lr"], config["seed"], frozen, ac["warmup_fraction"],
                              device=next(model.parameters()).device)
    row = {"family": family, "variant": variant, "owner": owner, "task": "asr", "layer": -1,
           "metric": "one_minus_wer", "value": result["accuracy"]}
    with atomic_output(out_path) as tmp:
        pd.DataFrame([row, {**row, "metric": "wer", "value": result["wer"]}]).to_csv(tmp, sep="\t", index=False)
    with atomic_output(curve_path) as tmp:
        Path(tmp).write_text(json.dumps({"loss": result["loss_curve"], "hypotheses": result["hypotheses"][:20]}, indent=1))


# --- rules downstream_collect and preference_d -----------------------------------------------


def collect(probe_tables: list[str], asr_tables: list[str], out_long: str, out_summary: str) -> None:
    """All variants' scores (long table) and the per-(model, owner) layer averages (summary)."""
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


def preference_table(config: dict, embeddings: dict[tuple[str, str, str], str], wordset: str, out_path: str) -> None:
    """d per layer for every model variant -> tidy TSV."""
    pc = config["preference"]
    ws = pd.read_csv(wordset, sep="\t", keep_default_na=False)
    rows = []
    for (family, variant, owner), path in sorted(embeddings.items()):
        words, feats, layers = embed.read_embeddings(path, WORDS)
        means, order = preference.word_means(feats, words)
        res = preference.preference_per_layer(means, order, ws, pc["n_random"], config["seed"])
        res.insert(0, "layer", [layers[i] for i in res.pop("layer_index")])
        res.insert(0, "owner", owner)
        res.insert(0, "variant", variant)
        res.insert(0, "family", family)
        rows.append(res)
    with atomic_output(out_path) as tmp:
        pd.concat(rows, ignore_index=True).to_csv(tmp, sep="\t", index=False)
