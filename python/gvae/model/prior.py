"""Conditional prior ``p(z | jet type, jet pT)`` fitted on the encoder's latent means.

Sampling it and decoding (:meth:`gvae.model.GVAE.decode`) generates new jets of a requested type and
pT. Model: per jet type k (0 = QCD, 1 = top), a Gaussian whose mean is linear in the standardised
``t = (ln pT - m) / s`` and whose covariance is shrunk towards its diagonal::

    z | (k, t) ~ N(a_k + b_k t, Sigma_k),   Sigma_k = (1 - lam) S_k + lam diag(S_k)

with ``S_k`` the residual covariance of the training latents. The shrinkage ``lam`` is chosen from
:data:`SHRINKAGE_GRID` by the mean log-likelihood of held-out (validation) latents; ``lam = 1`` is the
diagonal model. :meth:`ConditionalPrior.fit` records the held-out log-likelihood of every candidate
(and of the unconditional standard normal) in ``selection`` so the choice is stated with numbers.

No hidden random state: :meth:`ConditionalPrior.sample` takes the caller's standard-normal noise;
:meth:`ConditionalPrior.sample_pt` turns the caller's uniforms into pT draws from the training pT
distribution of a type (stored as quantiles).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gvae.errors import ConfigError, InvalidInput

#: Candidate shrinkage weights towards the diagonal (1.0 = diagonal covariance).
SHRINKAGE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Jet types the prior knows (label y of the data, DESIGN §2).
TYPES = {"qcd": 0, "ttbar": 1}
_QUANTILES = 201


@dataclass
class ConditionalPrior:
    """Fitted prior (all arrays float64). ``shape`` = latent ``(C, L)``; per type k: ``mean [D]``,
    ``slope [D]``, ``chol [D, D]`` (Cholesky factor of Sigma_k), ``pt_quantiles [201]``."""

    shape: tuple[int, int]
    logpt_mean: float
    logpt_std: float
    shrinkage: float
    mean: dict[int, np.ndarray]
    slope: dict[int, np.ndarray]
    chol: dict[int, np.ndarray]
    pt_quantiles: dict[int, np.ndarray]
    selection: dict[str, float] = field(default_factory=dict)
    n_train: dict[int, int] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.shape[0] * self.shape[1]

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, mu: np.ndarray, label: np.ndarray, pt: np.ndarray, mu_val: np.ndarray, label_val: np.ndarray,
            pt_val: np.ndarray) -> "ConditionalPrior":
        """mu ``[n, C, L]`` latent means of the training jets with their labels ``[n]`` and pT ``[n]``;
        the ``*_val`` arrays (held-out jets) choose the shrinkage."""
        if mu.ndim != 3:
            raise InvalidInput(f"expected latents [n, C, L], got {mu.shape}", field="mu")
        shape = (int(mu.shape[1]), int(mu.shape[2]))
        x, xv = mu.reshape(len(mu), -1).astype(np.float64), mu_val.reshape(len(mu_val), -1).astype(np.float64)
        lp = np.log(np.asarray(pt, np.float64))
        m, s = float(lp.mean()), float(lp.std() or 1.0)
        t, tv = (lp - m) / s, (np.log(np.asarray(pt_val, np.float64)) - m) / s
        types = sorted({int(v) for v in np.asarray(label).round()})
        if not types:
            raise ConfigError("the prior needs at least one training jet")
        means, slopes, covs, quant, counts = {}, {}, {}, {}, {}
        for k in types:
            sel = np.asarray(label).round() == k
            if sel.sum() < 3:
                raise ConfigError(f"the prior needs at least 3 training jets of type {k}, got {int(sel.sum())}")
            design = np.stack([np.ones(sel.sum()), t[sel]], axis=1)
            coef, *_ = np.linalg.lstsq(design, x[sel], rcond=None)
            resid = x[sel] - design @ coef
            means[k], slopes[k] = coef[0], coef[1]
            covs[k] = resid.T @ resid / max(sel.sum() - 2, 1)
            quant[k] = np.quantile(np.asarray(pt, np.float64)[sel], np.linspace(0, 1, _QUANTILES))
            counts[k] = int(sel.sum())
        selection: dict[str, float] = {}
        best, best_ll = None, -math.inf
        for lam in SHRINKAGE_GRID:
            chol = {k: _shrunk_cholesky(covs[k], lam) for k in types}
            prior = cls(shape, m, s, lam, means, slopes, chol, quant)
            ll = prior.log_likelihood(xv, label_val, tv, standardised=True)
            selection[f"shrinkage_{lam}"] = ll
            if ll > best_ll:
                best, best_ll = prior, ll
        selection["standard_normal"] = float(np.mean(-0.5 * (xv ** 2).sum(1) - 0.5 * xv.shape[1] * math.log(2 * math.pi)))
        assert best is not None
        best.selection = selection
        best.n_train = counts
        return best

    def log_likelihood(self, x: np.ndarray, label: np.ndarray, t: np.ndarray, standardised: bool = False) -> float:
        """Mean log density (nats per jet) of latents ``x [n, D]`` given labels and ``t`` (standardised
        ln pT when ``standardised``, else pT in GeV)."""
        if not standardised:
            t = (np.log(np.asarray(t, np.float64)) - self.logpt_mean) / self.logpt_std
        total, n = 0.0, 0
        for k, chol in self.chol.items():
            sel = np.asarray(label).round() == k
            if not sel.any():
                continue
            r = x[sel] - self.mean[k] - np.outer(t[sel], self.slope[k])
            w = np.linalg.solve(chol, r.T)                                   # L^-1 r
            logdet = 2.0 * np.log(np.diag(chol)).sum()
            total += float((-0.5 * (w ** 2).sum(0) - 0.5 * logdet - 0.5 * x.shape[1] * math.log(2 * math.pi)).sum())
            n += int(sel.sum())
        return total / max(n, 1)

    # -- sampling --------------------------------------------------------------------------
    def sample(self, label: Tensor, pt: Tensor, noise: Tensor) -> Tensor:
        """Latents ``[B, C, L]`` for types ``label [B]`` (0 QCD, 1 top), ``pt [B]`` (GeV) and the
        caller's standard-normal ``noise [B, C * L]``."""
        label = torch.as_tensor(label).round().to(torch.int64)
        pt = torch.as_tensor(pt, dtype=torch.float64)
        if noise.shape != (len(label), self.dim):
            raise InvalidInput(f"expected noise [{len(label)}, {self.dim}], got {list(noise.shape)}", field="noise")
        if not bool(torch.isfinite(pt).all()) or bool((pt <= 0).any()):
            raise InvalidInput("jet pT must be finite and > 0", field="pt")
        unknown = sorted(set(label.tolist()) - set(self.chol))
        if unknown:
            raise InvalidInput(f"jet type(s) {unknown} not in the prior (known: {sorted(self.chol)})", field="type")
        t = (torch.log(pt) - self.logpt_mean) / self.logpt_std
        out = torch.empty((len(label), self.dim), dtype=torch.float64)
        eps = noise.to(torch.float64)
        for k in self.chol:
            sel = label == k
            if bool(sel.any()):
                mean = torch.from_numpy(self.mean[k]) + t[sel, None] * torch.from_numpy(self.slope[k])
                out[sel] = mean + eps[sel] @ torch.from_numpy(self.chol[k]).T
        return out.to(torch.float32).reshape(len(label), *self.shape)

    def sample_pt(self, label: Tensor, uniform: Tensor) -> Tensor:
        """pT ``[B]`` (GeV) from each type's training pT distribution, by inverse CDF of ``uniform [B]`` in [0, 1)."""
        label = torch.as_tensor(label).round().to(torch.int64)
        out = torch.empty(len(label), dtype=torch.float64)
        grid = np.linspace(0, 1, _QUANTILES)
        for i, (k, u) in enumerate(zip(label.tolist(), uniform.tolist())):
            if k not in self.pt_quantiles:
                raise InvalidInput(f"jet type {k} not in the prior", field="type")
            out[i] = float(np.interp(u, grid, self.pt_quantiles[k]))
        return out

    def pt_range(self, label: int) -> tuple[float, float]:
        """Smallest and largest training pT of a type (GeV)."""
        q = self.pt_quantiles[label]
        return float(q[0]), float(q[-1])

    # -- storage ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain dict stored in the checkpoint under ``prior``."""
        return {"format": "gvae-prior-v1", "kind": "conditional-gaussian-linear-logpt", "shape": list(self.shape),
                "logpt_mean": self.logpt_mean, "logpt_std": self.logpt_std, "shrinkage": self.shrinkage,
                "types": {int(k): {"mean": torch.from_numpy(self.mean[k]), "slope": torch.from_numpy(self.slope[k]),
                                   "chol": torch.from_numpy(self.chol[k]),
                                   "pt_quantiles": torch.from_numpy(self.pt_quantiles[k]),
                                   "n_train": self.n_train.get(k, 0)} for k in self.chol},
                "selection": dict(self.selection)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ConditionalPrior":
        """Inverse of :meth:`state`."""
        if state.get("format") != "gvae-prior-v1":
            raise ConfigError(f"unknown prior format {state.get('format')!r}")
        types = state["types"]
        return cls(shape=tuple(state["shape"]), logpt_mean=float(state["logpt_mean"]),
                   logpt_std=float(state["logpt_std"]), shrinkage=float(state["shrinkage"]),
                   mean={int(k): v["mean"].numpy() for k, v in types.items()},
                   slope={int(k): v["slope"].numpy() for k, v in types.items()},
                   chol={int(k): v["chol"].numpy() for k, v in types.items()},
                   pt_quantiles={int(k): v["pt_quantiles"].numpy() for k, v in types.items()},
                   selection=dict(state.get("selection", {})),
                   n_train={int(k): int(v.get("n_train", 0)) for k, v in types.items()})


def _shrunk_cholesky(cov: np.ndarray, lam: float) -> np.ndarray:
    """Cholesky factor of ``(1 - lam) cov + lam diag(cov)`` (with a tiny jitter for rank-deficient cov)."""
    diag = np.diag(np.diag(cov))
    shrunk = (1.0 - lam) * cov + lam * diag
    jitter = 1e-6 * float(np.mean(np.diag(cov)) or 1.0)
    return np.linalg.cholesky(shrunk + jitter * np.eye(len(cov)))
