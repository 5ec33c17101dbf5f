"""Linear probes on mean-pooled layer features (paper 3.4.3 / appendix B, docs/decisions.md 12).

Classification probes follow the reference (docs/protocol.md §6): one ``Linear(H, C)`` per layer trained
full-batch (the whole training matrix every step) with Adam (lr 1e-3); cross-entropy for single-label
tasks, ``BCEWithLogits`` for the multi-label phoneme task (prediction = sigmoid >= threshold, 0.5).
The test split is scored after the last epoch (the reference evaluates every epoch and never selects
one; the last is the only choice that does not peek at the test set).

All layers are trained at once: features are stacked ``(L, N, H)``, weights ``(L, H, C)`` and the loss
is the sum over layers. Adam is element-wise and the layers share no parameter, so this is exactly L
independent probes, in one batched matmul per step instead of L (benchmarks/downstream_probes.py).

Regression probes (MFCC / FBANK targets, appendix D.1) are closed-form ridge regressions with the
penalty chosen by efficient leave-one-out CV on the train split (scikit-learn ``RidgeCV``), scored by
R^2 (``r2_score``, uniform average over the target coefficients) on the test split.

Features are z-scored with the train split's statistics (``standardize``) so that one learning rate
suits models whose activations differ in scale by orders of magnitude (Whisper vs wav2vec2); a linear
probe's capacity is unchanged by this affine map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import accuracy_score, f1_score, r2_score

CLASSIFICATION = ("multiclass", "multilabel")


def standardize(train: np.ndarray, *others: np.ndarray, eps: float = 1e-6):
    """Z-score along the sample axis (-2) with the train split's mean and std."""
    mean = train.mean(axis=-2, keepdims=True)
    std = train.std(axis=-2, keepdims=True) + eps
    return tuple(((x - mean) / std).astype(np.float32) for x in (train, *others))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """F1 macro and micro and accuracy (subset accuracy for multi-label indicator arrays)."""
    return {
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_micro": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def majority_baseline(y_train: np.ndarray, n_test: int, kind: str) -> np.ndarray:
    """Predictions of the naive classifier: the train split's majority class for every test item
    (multi-label: each label's majority value, i.e. the labels present in at least half the items)."""
    if kind == "multilabel":
        row = (np.asarray(y_train).mean(axis=0) >= 0.5).astype(np.float32)
        return np.tile(row, (n_test, 1))
    values, counts = np.unique(np.asarray(y_train), return_counts=True)
    return np.full(n_test, values[np.argmax(counts)])


@dataclass(frozen=True)
class ProbeConfig:
    epochs: int
    lr: float = 1e-3
    threshold: float = 0.5
    seed: int = 0
    standardize: bool = True


def train_classification_probes(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, kind: str, n_classes: int, cfg: ProbeConfig
) -> np.ndarray:
    """Train one linear probe per layer, full batch; return test predictions.

    Args:
        x_train, x_test: ``(L, N, H)`` and ``(L, M, H)`` float32 features.
        y_train: ``(N,)`` int class indices (multiclass) or ``(N, C)`` 0/1 (multilabel).
        kind: ``multiclass`` or ``multilabel``.
    Returns:
        ``(L, M)`` int predictions (multiclass) or ``(L, M, C)`` 0/1 float32 (multilabel).
    """
    if kind not in CLASSIFICATION:
        raise ValueError(f"probe kind {kind!r}: expected one of {CLASSIFICATION}")
    if x_train.ndim != 3 or x_test.ndim != 3 or x_train.shape[::2] != x_test.shape[::2]:
        raise ValueError(f"features must be (L, N, H) with equal L and H, got {x_train.shape} and {x_test.shape}")
    if cfg.standardize:
        x_train, x_test = standardize(x_train, x_test)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_layers, _, hidden = x_train.shape
    bound = 1.0 / np.sqrt(hidden)  # nn.Linear's default initialisation
    # drawn layer by layer, so a layer's probe does not depend on which other layers are trained with it
    init = [(torch.rand(hidden + 1, n_classes, generator=gen) * 2 - 1) * bound for _ in range(n_layers)]
    weight = torch.stack([w[:hidden] for w in init]).requires_grad_()
    bias = torch.stack([w[hidden:] for w in init]).requires_grad_()
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    if kind == "multilabel":
        target = torch.from_numpy(np.asarray(y_train, dtype=np.float32)).expand(n_layers, -1, -1)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
    else:
        target = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).repeat(n_layers)
        loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    n = xt.shape[1]
    optimizer = torch.optim.Adam([weight, bias], lr=cfg.lr)
    for _ in range(cfg.epochs):
        optimizer.zero_grad()
        logits = torch.baddbmm(bias, xt, weight)  # (L, N, C)
        if kind == "multilabel":
            # per layer: the mean over items and labels, as BCEWithLogitsLoss(reduction="mean")
            loss = loss_fn(logits, target) / (n * n_classes)
        else:
            loss = loss_fn(logits.reshape(-1, n_classes), target) / n
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = torch.baddbmm(bias, torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.float32)), weight)
        if kind == "multilabel":
            return (torch.sigmoid(logits) >= cfg.threshold).float().numpy()
        return logits.argmax(dim=-1).numpy()


def train_regression_probes(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                            alphas, standardize_x: bool = True) -> np.ndarray:
    """Ridge probes per layer (alpha by leave-one-out CV on train); return test R^2 per layer ``(L,)``."""
    if standardize_x:
        x_train, x_test = standardize(x_train, x_test)
    y_train, y_test = standardize(np.asarray(y_train, np.float32), np.asarray(y_test, np.float32))
    scores = np.empty(x_train.shape[0], dtype=np.float64)
    for layer in range(x_train.shape[0]):
        model = RidgeCV(alphas=np.asarray(alphas, dtype=np.float64)).fit(x_train[layer], y_train)
        scores[layer] = r2_score(y_test, model.predict(x_test[layer]), multioutput="uniform_average")
    return scores
