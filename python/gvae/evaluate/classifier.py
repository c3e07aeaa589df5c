"""Classifier two-sample test: how well can a small network tell real from generated jets?

A multilayer perceptron (2 hidden layers of 64, SiLU) on per-jet features is trained with
stratified ``folds``-fold cross-validation; the ROC AUC of the out-of-fold scores is the figure
(0.5: indistinguishable, 1: fully separable). Features are first mapped by ``sign(x) log(1 + |x|)``
(EFPs and energies span decades) and standardised with the training folds' mean and std.
Everything is seeded: the folds from ``numpy.random.default_rng(seed)`` and the network's
initialisation and batches from a forked torch RNG, so the caller's global torch state is left
untouched. scikit-learn is not a dependency of the project, so this is a plain torch loop.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata

from gvae.errors import ConfigError, InvalidInput


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores [n]`` for binary ``labels [n]`` (Mann-Whitney U with mid-ranks for ties)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        raise InvalidInput("AUC needs both classes", field="labels")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def auc_null_std(n1: int, n0: int) -> float:
    """Standard deviation of the AUC of a random score (no separation): ``sqrt((n1+n0+1) / (12 n1 n0))``."""
    return math.sqrt((n1 + n0 + 1) / (12.0 * n1 * n0))


def _transform(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def classifier_auc(a: np.ndarray, b: np.ndarray, seed: int = 0, folds: int = 5, epochs: int = 200,
                   hidden: int = 64, lr: float = 3e-3, weight_decay: float = 1e-3) -> dict[str, float]:
    """Cross-validated AUC of a classifier separating sample ``a [n_a, d]`` (label 0) from ``b [n_b, d]``.

    Returns ``{"auc", "null_std", "folds", "n_a", "n_b"}``; ``null_std`` is the AUC's spread for
    indistinguishable samples of these sizes.
    """
    x = np.concatenate([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)])
    if x.ndim != 2 or np.asarray(a).shape[1:] != np.asarray(b).shape[1:]:
        raise InvalidInput(f"samples must be [n, d] with the same d, got {np.shape(a)} and {np.shape(b)}", field="features")
    if not np.all(np.isfinite(x)):
        raise InvalidInput("classifier features must be finite", field="features")
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    if folds < 2 or min(len(a), len(b)) < folds:
        raise ConfigError(f"need folds >= 2 and at least `folds` jets per sample, got folds={folds}, "
                          f"sizes {len(a)}, {len(b)}")
    x = _transform(x)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(x), dtype=np.int64)
    for cls in (0, 1):  # stratified: each class spread evenly over the folds
        idx = np.flatnonzero(y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    scores = np.empty(len(x))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-wide MLP gains nothing from threads; restored below
    try:
        _cross_validate(x, y, fold, folds, scores, seed, epochs, hidden, lr, weight_decay)
    finally:
        torch.set_num_threads(threads)
    return {"auc": roc_auc(y, scores), "null_std": auc_null_std(len(b), len(a)), "folds": folds,
            "n_a": len(a), "n_b": len(b)}


def _cross_validate(x: np.ndarray, y: np.ndarray, fold: np.ndarray, folds: int, scores: np.ndarray, seed: int,
                    epochs: int, hidden: int, lr: float, weight_decay: float) -> None:
    """Fill ``scores [n]`` with out-of-fold logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for f in range(folds):
            train, test = fold != f, fold == f
            mean, std = x[train].mean(axis=0), x[train].std(axis=0)
            std[std == 0] = 1.0
            xt = torch.as_tensor((x[train] - mean) / std, dtype=torch.float32)
            yt = torch.as_tensor(y[train], dtype=torch.float32)
            net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.SiLU(),
                                      torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 1))
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            # class-balanced loss: the two samples may differ in size
            pos_weight = torch.tensor(float((yt == 0).sum()) / max(float((yt == 1).sum()), 1.0))
            loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
            batch = min(256, len(xt))
            for _ in range(epochs):
                order = torch.randperm(len(xt))
                for i in range(0, len(xt), batch):
                    sel = order[i:i + batch]
                    opt.zero_grad()
                    loss_fn(net(xt[sel]).squeeze(1), yt[sel]).backward()
                    opt.step()
            with torch.no_grad():
                xs = torch.as_tensor((x[test] - mean) / std, dtype=torch.float32)
                scores[test] = net(xs).squeeze(1).double().numpy()
