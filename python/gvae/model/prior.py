"""Conditional prior ``p(z | jet type, jet pT)`` fitted on the encoder's latent means.

Sampling it and decoding (:meth:`gvae.model.GVAE.decode`) generates new jets of a requested type and
pT. Model: per jet type k (0 = QCD, 1 = top), a Gaussian whose mean is linear in the standardised
``t = (ln pT - m) / s``::

    z | (k, t) ~ N(a_k + b_k t, Sigma_k)

``Sigma_k`` is one of several covariance models of the residuals of the training latents (residual
covariance ``S_k``), chosen PER TYPE by the mean log-likelihood of that type's held-out (validation)
latents (:data:`COVARIANCE_CANDIDATES`):

* ``shrink_<lam>``: ``(1 - lam) S_k + lam diag(S_k)`` for ``lam`` in :data:`SHRINKAGE_GRID` (``shrink_1.0``
  is the diagonal model);
* ``factor_<r>``: factor analysis, ``W W^T + diag(psi)`` with ``W [D, r]`` (the leading ``r`` correlated
  directions plus independent noise per coordinate) for ``r`` in :data:`FACTOR_RANKS` (``r < D``), fitted
  by maximum likelihood on ``S_k`` (:func:`factor_analysis`);
* ``ledoit_wolf`` / ``oas``: ``(1 - a) S_k + a tr(S_k)/D I`` with the analytic Ledoit-Wolf / oracle
  approximating shrinkage ``a`` (:func:`ledoit_wolf_shrinkage`, :func:`oas_shrinkage`).

Whatever is chosen is stored as its Cholesky factor ``L_k`` (``z = a_k + b_k t + L_k eps``), so sampling,
the checkpoint and the export contract (``prior.<k>.chol``) do not depend on the covariance model.
:meth:`ConditionalPrior.fit` records the held-out log-likelihood of every candidate per type (and of the
unconditional standard normal) in ``selection`` so the choice is stated with numbers.

That Gaussian is then refined into a mixture of K = 1-4 Gaussians of the residuals (:data:`COMPONENT_GRID`,
:func:`fit_mixture`: weights ``w_kc``, offsets ``m_kc``, Cholesky factors ``L_kc``; each component's
covariance shrunk towards ``L_k L_k^T``), K chosen by the held-out log-likelihood (1 when nothing beats
the Gaussian): ``z = a_k + b_k t + m_kc + L_kc eps``. The component comes from the first noise coordinate
(:func:`component_noise`), so the noise stays ``[B, C*L]`` standard normals.

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
#: Candidate factor-analysis ranks (tried when below the latent size and at most 1/8 of the type's
#: training jets: a factor needs several jets to be estimated).
FACTOR_RANKS = (4, 8, 16, 32, 64, 128, 256)
_JETS_PER_FACTOR = 8
#: Selection criteria (per type, on the validation latents): "loglik" = highest mean Gaussian
#: log-likelihood; "frechet" = smallest Frechet distance between the model's residual Gaussian and the
#: validation residuals (mean and covariance), which weighs the leading directions the way FPD does.
CRITERIA = ("loglik", "frechet")
DEFAULT_CRITERION = "loglik"
#: Every covariance candidate name for a latent of size ``D`` is :func:`covariance_candidates` (D).
COVARIANCE_CANDIDATES = ("shrink_<lam>", "factor_<r>", "ledoit_wolf", "oas")
#: Jet types the prior knows (label y of the data, DESIGN §2).
TYPES = {"qcd": 0, "ttbar": 1}
_QUANTILES = 201

#: Candidate numbers of mixture components per type (1 = one Gaussian), chosen by held-out log-likelihood
#: (:func:`fit_mixture`); a K is tried when the type has at least ``_JETS_PER_COMPONENT * K`` training jets.
COMPONENT_GRID = (1, 2, 3, 4)
_JETS_PER_COMPONENT = 50
#: a forced number of components (``components=K``) needs at least this many training jets per component
_MIN_JETS_PER_FORCED_COMPONENT = 8


def component_scaled(eps: Tensor, which: Tensor, chol_t: Tensor) -> Tensor:
    """``eps_b L_{c_b}^T`` of every jet: ``eps [B, D]`` float64, ``which [B]`` int64 the component of each
    jet (an index into ``chol_t``), ``chol_t [K, D, D]`` float64 the transposed Cholesky factors ->
    ``[B, D]``. One ``[n_c, D] x [D, D]`` product per component over its own jets, so the FLOPs do not
    grow with K (only reading the factors does). Used by :meth:`ConditionalPrior.sample` and the exported
    ``simulate`` (TorchScript-compatible), so both compute alike."""
    scaled = torch.zeros_like(eps)
    for c in range(chol_t.shape[0]):
        idx = (which == c).nonzero().squeeze(1)
        scaled = scaled.index_copy(0, idx, eps.index_select(0, idx) @ chol_t[c])
    return scaled


def component_noise(eps0: Tensor, cum: Tensor, ncomp: Tensor) -> tuple[Tensor, Tensor]:
    """Mixture component per jet from the first standard-normal noise coordinate, and that coordinate
    renewed (an exact reparameterisation: no extra noise input).

    ``eps0 [B]`` float64 standard normal, ``cum [B, K]`` float64 cumulative component weights of each
    jet's type (padding components repeat the last value 1), ``ncomp [B]`` int64 components of the type.
    ``u = Phi(eps0)`` picks the component ``c`` whose cumulative interval holds ``u``; ``(u - cum[c-1]) /
    w_c`` is again uniform and independent of ``c``, so ``Phi^-1`` of it is a fresh standard normal for the
    Gaussian of component ``c``. Types with one component keep ``eps0`` bit for bit. Returns
    ``(component [B] int64, eps0' [B] float64)``."""
    sqrt2 = 1.4142135623730951
    u = 0.5 * (1.0 + torch.erf(eps0 / sqrt2))
    c = (u.unsqueeze(1) >= cum).to(torch.int64).sum(1)
    c = torch.minimum(c, ncomp - 1)
    lo = torch.cat([torch.zeros_like(cum[:, :1]), cum[:, :-1]], 1)
    lo_c = lo.gather(1, c.unsqueeze(1)).squeeze(1)
    w_c = cum.gather(1, c.unsqueeze(1)).squeeze(1) - lo_c
    # the uniform within the component, clamped to [1e-15, 1 - 1e-15] before Phi^-1
    v = ((u - lo_c) / w_c.clamp(min=1e-15)).clamp(1e-15, 1.0 - 1e-15)
    renewed = sqrt2 * torch.erfinv(2.0 * v - 1.0)
    return c, torch.where(ncomp > 1, renewed, eps0)


@dataclass
class ConditionalPrior:
    """Fitted prior (all arrays float64). ``shape`` = latent ``(C, L)``; per type k: ``mean [D]``,
    ``slope [D]``, ``chol [D, D]`` (Cholesky factor of Sigma_k), ``pt_quantiles [201]``, ``covariance``
    (the chosen candidate's name, e.g. ``factor_64``). ``shrinkage`` is the weight towards the diagonal
    when every type chose the same ``shrink_<lam>`` candidate, else NaN (kept for older readers).
    ``fit_info`` (stored as ``fit``): how it was fitted (plain values set by :mod:`gvae.train.prior`:
    requested covariance, criterion, jets used, data directory); empty in priors stored before it.
    A type with a mixture (K >= 2) also has ``weights [K]``, ``offsets [K, D]`` and ``component_chol
    [K, D, D]`` (:meth:`component_tables`); ``chol`` stays the Gaussian it refines."""

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
    covariance: dict[int, str] = field(default_factory=dict)
    criterion: str = DEFAULT_CRITERION
    fit_info: dict[str, Any] = field(default_factory=dict)
    weights: dict[int, np.ndarray] = field(default_factory=dict)
    offsets: dict[int, np.ndarray] = field(default_factory=dict)
    component_chol: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.shape[0] * self.shape[1]

    def components(self, k: int) -> int:
        """Number of mixture components of type ``k`` (1 = one Gaussian)."""
        return len(self.weights[k]) if k in self.weights else 1

    def component_tables(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weights [K], offsets [K, D], Cholesky factors [K, D, D])`` of type ``k`` (``([1.0], zeros,
        chol[k][None])`` for one Gaussian)."""
        if k in self.weights:
            return self.weights[k], self.offsets[k], self.component_chol[k]
        return np.ones(1), np.zeros((1, self.dim)), self.chol[k][None]

    def cumulative_weights(self, k: int) -> np.ndarray:
        """Cumulative component weights ``[K]`` of type ``k``, the last exactly 1 (:func:`component_noise`)."""
        cum = np.cumsum(self.component_tables(k)[0])
        cum[-1] = 1.0
        return cum

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, mu: np.ndarray, label: np.ndarray, pt: np.ndarray, mu_val: np.ndarray, label_val: np.ndarray,
            pt_val: np.ndarray, covariance: str | None = None, criterion: str = DEFAULT_CRITERION,
            components: int | None = None) -> "ConditionalPrior":
        """mu ``[n, C, L]`` latent means of the training jets with their labels ``[n]`` and pT ``[n]``;
        the ``*_val`` arrays (held-out jets, every type present) choose each type's covariance model, or
        ``covariance`` names the candidate to use for every type (the held-out numbers are still recorded).
        ``criterion`` (:data:`CRITERIA`) ranks the candidates; both figures are recorded in ``selection`` as
        ``"<type>:<candidate>"`` (log-likelihood, nats per jet) and ``"<type>:<candidate>:frechet"``.

        Then each type's Gaussian is refined into a mixture (:func:`fit_mixture`) with the number of
        components of :data:`COMPONENT_GRID` that has the highest held-out log-likelihood (recorded as
        ``"mixture:<type>:<K>"``; ``K = 1`` is the Gaussian), or ``components`` for every type.
        Each component's covariance is shrunk towards the chosen Gaussian's (weight from
        :data:`MIXTURE_SHRINKAGE`, also chosen on the held-out latents)."""
        if criterion not in CRITERIA:
            raise ConfigError(f"unknown prior selection criterion {criterion!r} (known: {', '.join(CRITERIA)})")
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
        means, slopes, chols, quant, counts, chosen = {}, {}, {}, {}, {}, {}
        weights, offsets, component_chol = {}, {}, {}
        selection: dict[str, float] = {}
        for k in types:
            sel = np.asarray(label).round() == k
            if sel.sum() < 3:
                raise ConfigError(f"the prior needs at least 3 training jets of type {k}, got {int(sel.sum())}")
            design = np.stack([np.ones(sel.sum()), t[sel]], axis=1)
            coef, *_ = np.linalg.lstsq(design, x[sel], rcond=None)
            resid = x[sel] - design @ coef
            means[k], slopes[k] = coef[0], coef[1]
            quant[k] = np.quantile(np.asarray(pt, np.float64)[sel], np.linspace(0, 1, _QUANTILES))
            counts[k] = int(sel.sum())
            vsel = np.asarray(label_val).round() == k
            if not vsel.any():
                raise ConfigError(f"the prior needs held-out (validation) jets of type {k} to choose its covariance")
            rv = xv[vsel] - coef[0] - np.outer(tv[vsel], coef[1])
            if covariance is not None and covariance not in covariance_candidates(x.shape[1], int(sel.sum())):
                raise ConfigError(f"covariance {covariance!r} is not a candidate for type {k} (candidates: "
                                  f"{', '.join(covariance_candidates(x.shape[1], int(sel.sum())))})")
            best_name, best_score, best_chol = "", -math.inf, None
            for name, chol in _candidate_cholesky(resid):
                ll, fd = _gaussian_loglik(rv, chol), _frechet(rv, chol)
                selection[f"{k}:{name}"], selection[f"{k}:{name}:frechet"] = ll, fd
                score = ll if criterion == "loglik" else -fd
                if (score > best_score and covariance is None) or name == covariance:
                    best_name, best_score, best_chol = name, score, chol
            assert best_chol is not None
            chols[k], chosen[k] = best_chol, best_name
            selection[f"{k}:chosen"] = selection[f"{k}:{best_name}"]
            selection[f"{k}:chosen:frechet"] = selection[f"{k}:{best_name}:frechet"]
            mixture = _choose_mixture(resid, rv, best_chol, selection, k, components)
            if mixture is not None:
                weights[k], offsets[k], component_chol[k], selection[f"{k}:chosen"] = mixture
        selection["standard_normal"] = float(np.mean(-0.5 * (xv ** 2).sum(1) - 0.5 * xv.shape[1] * math.log(2 * math.pi)))
        names = set(chosen.values())
        lam = float(next(iter(names))[len("shrink_"):]) if len(names) == 1 and next(iter(names)).startswith("shrink_") \
            else math.nan
        prior = cls(shape, m, s, lam, means, slopes, chols, quant, selection, counts, chosen, criterion,
                    weights=weights, offsets=offsets, component_chol=component_chol)
        selection["heldout"] = prior.log_likelihood(xv, label_val, tv, standardised=True)
        return prior

    def log_likelihood(self, x: np.ndarray, label: np.ndarray, t: np.ndarray, standardised: bool = False) -> float:
        """Mean log density (nats per jet) of latents ``x [n, D]`` given labels and ``t`` (standardised
        ln pT when ``standardised``, else pT in GeV)."""
        if not standardised:
            t = (np.log(np.asarray(t, np.float64)) - self.logpt_mean) / self.logpt_std
        total, n = 0.0, 0
        for k in self.chol:
            sel = np.asarray(label).round() == k
            if not sel.any():
                continue
            r = x[sel] - self.mean[k] - np.outer(t[sel], self.slope[k])
            total += _mixture_loglik(r, *self.component_tables(k)) * int(sel.sum())
            n += int(sel.sum())
        return total / max(n, 1)

    # -- sampling --------------------------------------------------------------------------
    def sample(self, label: Tensor, pt: Tensor, noise: Tensor) -> Tensor:
        """Latents ``[B, C, L]`` for types ``label [B]`` (0 QCD, 1 top), ``pt [B]`` (GeV) and the
        caller's standard-normal ``noise [B, C * L]``: ``z = a_k + b_k t + m_kc + L_kc eps`` with the
        component ``c`` and ``eps`` from the noise (:func:`component_noise`; one component: ``m = 0``,
        ``L_k1 = L_k``, ``eps = noise``)."""
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
                e = eps[sel]
                n_k = self.components(k)
                if n_k == 1:
                    out[sel] = mean + e @ torch.from_numpy(self.chol[k]).T
                    continue
                cum = torch.from_numpy(self.cumulative_weights(k)).expand(len(e), n_k)
                comp, e0 = component_noise(e[:, 0], cum, torch.full((len(e),), n_k, dtype=torch.int64))
                e = torch.cat([e0.unsqueeze(1), e[:, 1:]], 1)
                mean = mean + torch.from_numpy(self.offsets[k])[comp]
                chol_t = torch.from_numpy(self.component_chol[k]).transpose(1, 2)
                out[sel] = mean + component_scaled(e, comp, chol_t)
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
        return {"format": "gvae-prior-v2", "kind": "conditional-gaussian-mixture-linear-logpt", "shape": list(self.shape),
                "logpt_mean": self.logpt_mean, "logpt_std": self.logpt_std, "shrinkage": self.shrinkage,
                "types": {int(k): {"mean": torch.from_numpy(self.mean[k]), "slope": torch.from_numpy(self.slope[k]),
                                   "chol": torch.from_numpy(self.chol[k]),
                                   "covariance": self.covariance.get(k, ""),
                                   "pt_quantiles": torch.from_numpy(self.pt_quantiles[k]),
                                   "n_train": self.n_train.get(k, 0), **self._mixture_state(k)}
                          for k in self.chol},
                "selection": dict(self.selection), "criterion": self.criterion, "fit": dict(self.fit_info)}

    def _mixture_state(self, k: int) -> dict[str, Any]:
        """Type ``k``'s mixture tensors for :meth:`state` (none for one Gaussian: ``chol`` is all of it)."""
        if self.components(k) == 1:
            return {}
        return {name: torch.from_numpy(table)
                for name, table in zip(("weights", "offsets", "component_chol"), self.component_tables(k))}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ConditionalPrior":
        """Inverse of :meth:`state`."""
        if state.get("format") not in ("gvae-prior-v1", "gvae-prior-v2"):
            raise ConfigError(f"unknown prior format {state.get('format')!r}")
        types = state["types"]
        # v1: one Gaussian per type; v2: a type with a mixture adds weights [K], offsets [K, D] and
        # component_chol [K, D, D] (K >= 2; a type without them is one Gaussian)
        mixtures = {int(k): v for k, v in types.items() if "weights" in v and len(v["weights"]) > 1}
        return cls(shape=tuple(state["shape"]), logpt_mean=float(state["logpt_mean"]),
                   logpt_std=float(state["logpt_std"]), shrinkage=float(state["shrinkage"]),
                   mean={int(k): v["mean"].numpy() for k, v in types.items()},
                   slope={int(k): v["slope"].numpy() for k, v in types.items()},
                   chol={int(k): v["chol"].numpy() for k, v in types.items()},
                   pt_quantiles={int(k): v["pt_quantiles"].numpy() for k, v in types.items()},
                   selection=dict(state.get("selection", {})),
                   n_train={int(k): int(v.get("n_train", 0)) for k, v in types.items()},
                   covariance={int(k): str(v.get("covariance") or f"shrink_{float(state['shrinkage'])}")
                               for k, v in types.items()},
                   criterion=str(state.get("criterion", "loglik")), fit_info=dict(state.get("fit") or {}),
                   weights={k: v["weights"].numpy() for k, v in mixtures.items()},
                   offsets={k: v["offsets"].numpy() for k, v in mixtures.items()},
                   component_chol={k: v["component_chol"].numpy() for k, v in mixtures.items()})


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor of ``cov`` (with a tiny jitter for a rank-deficient cov)."""
    jitter = 1e-6 * float(np.mean(np.diag(cov)) or 1.0)
    return np.linalg.cholesky(cov + jitter * np.eye(len(cov)))


def _shrunk_cholesky(cov: np.ndarray, lam: float) -> np.ndarray:
    """Cholesky factor of ``(1 - lam) cov + lam diag(cov)``."""
    return _cholesky((1.0 - lam) * cov + lam * np.diag(np.diag(cov)))


def _row_logpdf(r: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Log density ``[n]`` of the rows of ``r [n, D]`` under N(0, L L^T), ``chol`` = L."""
    from scipy.linalg import solve_triangular

    w = solve_triangular(chol, r.T, lower=True, check_finite=False)            # L^-1 r  [D, n]
    return -0.5 * (w ** 2).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * r.shape[1] * math.log(2 * math.pi)


def _gaussian_loglik(r: np.ndarray, chol: np.ndarray) -> float:
    """Mean log density (nats per row) of zero-mean residuals ``r [n, D]`` under N(0, L L^T), ``chol`` = L."""
    return float(np.mean(_row_logpdf(r, chol)))


def _frechet(r: np.ndarray, chol: np.ndarray) -> float:
    """Frechet distance between N(0, L L^T) (``chol`` = L) and the mean and covariance of the residuals
    ``r [n, D]``: ``|m|^2 + tr(Sigma) + tr(S) - 2 tr((Sigma^1/2 S Sigma^1/2)^1/2)``, the last trace from the
    eigenvalues of ``L^T S L`` (the same nonzero spectrum)."""
    m = r.mean(0)
    c = r - m
    s = c.T @ c / max(len(r) - 1, 1)
    ev = np.linalg.eigvalsh(chol.T @ s @ chol)
    return float(m @ m + (chol ** 2).sum() + np.trace(s) - 2.0 * np.sqrt(np.clip(ev, 0.0, None)).sum())


def ledoit_wolf_shrinkage(x: np.ndarray) -> float:
    """Ledoit-Wolf (2004) weight ``a`` of ``(1 - a) S + a tr(S)/D I`` for centred rows ``x [n, D]``
    (``S = x^T x / n``), as sklearn.covariance.ledoit_wolf_shrinkage."""
    n, d = x.shape
    x2 = x ** 2
    mu = float(x2.sum() / (n * d))
    beta_ = float((x2.T @ x2).sum())
    delta_ = float(((x.T @ x) ** 2).sum()) / n ** 2
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * float(x2.sum()) / n + d * mu ** 2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


def oas_shrinkage(x: np.ndarray) -> float:
    """Oracle approximating shrinkage (Chen et al. 2010) weight of ``(1 - a) S + a tr(S)/D I`` for centred
    rows ``x [n, D]``, as sklearn.covariance.oas."""
    n, d = x.shape
    s = x.T @ x / n
    mu = float(np.trace(s)) / d
    alpha = float(np.mean(s ** 2))
    num, den = alpha + mu ** 2, (n + 1.0) * (alpha - mu ** 2 / d)
    return 1.0 if den == 0 else float(min(num / den, 1.0))


def factor_analysis(cov: np.ndarray, rank: int, max_iter: int = 60, tol: float = 1e-5,
                    psi0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximum-likelihood factor analysis of a sample covariance ``cov [D, D]``: ``W [D, rank]``,
    ``psi [D]`` with ``cov ~ W W^T + diag(psi)`` and the iterations used. The SVD fixed point of
    sklearn's FactorAnalysis (Barber, BRML 21.2.2) written on the covariance: with ``P = diag(psi)``, the
    leading ``rank`` eigenpairs ``(l, u)`` of ``P^-1/2 cov P^-1/2`` give ``W = P^1/2 u sqrt(max(l - 1, 0))``,
    then ``psi = diag(cov - W W^T)``; iterated (from ``psi0``, default ``diag(cov)``) until the
    log-likelihood per sample changes by less than ``tol`` times its size."""
    from scipy.linalg import eigh

    d = len(cov)
    if not 0 < rank < d:
        raise ConfigError(f"factor rank must be in 1..{d - 1}, got {rank}")
    var = np.diag(cov).copy()
    floor = 1e-6 * float(np.mean(var) or 1.0)
    psi = np.maximum(var if psi0 is None else psi0, floor)
    w = np.zeros((d, rank))
    old, it = -math.inf, 0
    for it in range(1, max_iter + 1):
        sq = np.sqrt(psi)
        scaled = cov / np.outer(sq, sq)
        top, vec = eigh(scaled, subset_by_index=[d - rank, d - 1], check_finite=False)
        w = sq[:, None] * vec * np.sqrt(np.maximum(top - 1.0, 0.0))
        # log-likelihood per sample (up to a constant) of the current (W, psi):
        # -1/2 (log|Sigma| + tr(Sigma^-1 cov)) in the scaled frame, whose Sigma has eigenvalues max(l, 1)
        rest = float(np.trace(scaled)) - float(top.sum())
        ll = -0.5 * (np.log(psi).sum() + np.log(np.maximum(top, 1.0)).sum() + rest + np.minimum(top, 1.0).sum())
        psi = np.maximum(var - (w ** 2).sum(1), floor)
        if abs(ll - old) < tol * max(1.0, abs(ll)):
            break
        old = ll
    return w, psi, it


def covariance_candidates(d: int, n: int | None = None) -> list[str]:
    """Names of the covariance candidates tried for a latent of size ``d`` fitted on ``n`` jets (module
    docstring; factor ranks ``r < d`` and ``r <= n / 8``)."""
    ranks = [r for r in FACTOR_RANKS if r < d and (n is None or r * _JETS_PER_FACTOR <= n)]
    return [f"shrink_{lam}" for lam in SHRINKAGE_GRID] + [f"factor_{r}" for r in ranks] + ["ledoit_wolf", "oas"]


def candidate_covariance(resid: np.ndarray, name: str, psi0: np.ndarray | None = None) -> np.ndarray:
    """The covariance ``[D, D]`` of candidate ``name`` for residuals ``resid [n, D]`` (two fitted mean
    parameters per coordinate, so ``S = resid^T resid / (n - 2)``); ``psi0`` starts a factor analysis."""
    return _candidate(resid, name, psi0)[0]


def _sample_covariance(resid: np.ndarray) -> np.ndarray:
    """``S = resid^T resid / (n - 2)`` of residuals ``resid [n, D]`` (two fitted mean parameters per coordinate)."""
    return resid.T @ resid / max(len(resid) - 2, 1)


def _candidate(resid: np.ndarray, name: str, psi0: np.ndarray | None = None,
               s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(covariance [D, D], factor psi or None)`` of candidate ``name``; ``s`` = the residuals' sample
    covariance when the caller has it already (:func:`_candidate_cholesky` computes it once per type)."""
    d = resid.shape[1]
    s = _sample_covariance(resid) if s is None else s
    if name.startswith("shrink_"):
        lam = float(name[len("shrink_"):])
        return (1.0 - lam) * s + lam * np.diag(np.diag(s)), None
    if name.startswith("factor_"):
        w, psi, _ = factor_analysis(s, int(name[len("factor_"):]), psi0=psi0)
        return w @ w.T + np.diag(psi), psi
    if name in ("ledoit_wolf", "oas"):
        a = ledoit_wolf_shrinkage(resid) if name == "ledoit_wolf" else oas_shrinkage(resid)
        return (1.0 - a) * s + a * float(np.trace(s)) / d * np.eye(d), None
    raise ConfigError(f"unknown covariance candidate {name!r} (known: {', '.join(COVARIANCE_CANDIDATES)})")


def _candidate_cholesky(resid: np.ndarray):
    """``(name, Cholesky factor)`` of every candidate of :func:`covariance_candidates` for ``resid [n, D]``
    (each factor analysis starts from the previous, lower rank's ``psi``)."""
    psi, s = None, _sample_covariance(resid)
    for name in covariance_candidates(resid.shape[1], resid.shape[0]):
        cov, fa_psi = _candidate(resid, name, psi if name.startswith("factor_") else None, s)
        if fa_psi is not None:
            psi = fa_psi
        yield name, _cholesky(cov)


def _kmeans(x: np.ndarray, k: int, seed: int, steps: int = 20) -> np.ndarray:
    """Cluster labels ``[n]`` of the rows of ``x [n, D]``: k-means++ seeding (``seed``) and Lloyd steps."""
    n = len(x)
    rng = np.random.default_rng(seed)
    centres = [x[int(rng.integers(n))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(x[int(rng.choice(n, p=d2 / d2.sum()))])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    xsq = (x ** 2).sum(1)[:, None]
    lab = np.zeros(n, dtype=np.int64)
    for _ in range(steps):
        lab = (xsq - 2.0 * x @ c.T + (c ** 2).sum(1)[None]).argmin(1)
        c = np.stack([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
    return lab


def fit_mixture(resid: np.ndarray, k: int, base: np.ndarray, shrink: float, seed: int = 0, steps: int = 5
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian mixture of residuals ``resid [n, D]``: weights ``w [K]`` (``K <= k``), means ``m [K, D]`` and
    the Cholesky factors ``[K, D, D]`` of the component covariances ``(1 - shrink) S_c + shrink base``
    (``S_c`` the component's own scatter, ``base [D, D]`` the type's one-Gaussian covariance: a component
    with few jets stays well defined). k-means++ (seeded) and Lloyd steps give the first responsibilities,
    then ``steps`` EM steps; components left with fewer than 8 jets are dropped. Deterministic for a
    given ``seed``."""
    resp = np.eye(k)[_kmeans(resid, k, seed)]
    for step in range(steps + 1):
        nk = resp.sum(0)
        keep = nk >= _MIN_JETS_PER_FORCED_COMPONENT
        resp, nk = resp[:, keep], nk[keep]
        resp = resp / resp.sum(1, keepdims=True).clip(min=1e-300)
        nk = resp.sum(0)
        weights, means = nk / nk.sum(), resp.T @ resid / nk[:, None]
        chols = np.stack([_cholesky((1.0 - shrink) * ((resid - means[c]) * resp[:, c:c + 1]).T @ (resid - means[c])
                                    / nk[c] + shrink * base) for c in range(len(nk))])
        if step == steps:
            break
        logp = np.stack([np.log(weights[c]) + _row_logpdf(resid - means[c], chols[c])
                         for c in range(len(nk))], 1)
        resp = np.exp(logp - np.logaddexp.reduce(logp, axis=1)[:, None])
    return weights, means, chols


def _mixture_loglik(r: np.ndarray, weights: np.ndarray, offsets: np.ndarray, chols: np.ndarray) -> float:
    """Mean log density (nats per row) of residuals ``r [n, D]`` under ``sum_c w_c N(offsets_c, L_c L_c^T)``
    (``weights [K]``, ``offsets [K, D]``, ``chols [K, D, D]``; K = 1 with a zero offset is
    :func:`_gaussian_loglik`)."""
    if len(weights) == 1 and not offsets.any():
        return _gaussian_loglik(r, chols[0])
    logp = np.stack([np.log(weights[c]) + _row_logpdf(r - offsets[c], chols[c])
                     for c in range(len(weights))], 1)
    return float(np.mean(np.logaddexp.reduce(logp, axis=1)))


#: Candidate weights of each mixture component's covariance towards the type's one-Gaussian covariance.
MIXTURE_SHRINKAGE = (0.01, 0.05, 0.2)


def _choose_mixture(resid: np.ndarray, rv: np.ndarray, chol: np.ndarray, selection: dict[str, float], k: int,
                    components: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Refine type ``k``'s Gaussian ``N(0, L L^T)`` (``chol`` = L) of the training residuals ``resid [n, D]``
    into the mixture (:func:`fit_mixture`, shrunk towards ``L L^T`` by each of :data:`MIXTURE_SHRINKAGE`)
    with the best held-out log-likelihood on ``rv``, over :data:`COMPONENT_GRID` (``components`` forces
    one K, the number EM starts from). Records in ``selection`` ``"mixture:<k>:<K>"`` (the best shrinkage
    of each K), ``...:<K>:kept`` (the components left: EM drops those with fewer than 8 jets; a fit left
    with one is never chosen) and ``"mixture:<k>:chosen"`` (the K); returns
    ``(weights [K], offsets [K, D], Cholesky factors [K, D, D], held-out loglik)`` or None when one
    Gaussian wins."""
    n = len(resid)
    if components is not None and components > 1 and components * _MIN_JETS_PER_FORCED_COMPONENT > n:
        raise ConfigError(f"prior.components = {components}: type {k} has {n} training jets, at least "
                          f"{_MIN_JETS_PER_FORCED_COMPONENT} per component are needed")
    grid = [c for c in COMPONENT_GRID if c > 1 and c * _JETS_PER_COMPONENT <= n] if components is None \
        else [c for c in (components,) if c > 1]
    best_ll, best = _gaussian_loglik(rv, chol), None
    selection[f"mixture:{k}:1"] = best_ll
    selection[f"mixture:{k}:1:kept"] = 1.0
    selection[f"mixture:{k}:chosen"] = 1.0
    base = chol @ chol.T
    for want in grid:
        fits = [fit_mixture(resid, want, base, shrink) for shrink in MIXTURE_SHRINKAGE]
        lls = [_mixture_loglik(rv, *fit) for fit in fits]
        top = int(np.argmax(lls))
        selection[f"mixture:{k}:{want}"] = lls[top]
        selection[f"mixture:{k}:{want}:kept"] = float(len(fits[top][0]))
        if len(fits[top][0]) < 2:          # EM left one component: that is the Gaussian again
            continue
        if components is not None or lls[top] > best_ll:
            best_ll, best = lls[top], (*fits[top], lls[top])
            selection[f"mixture:{k}:chosen"] = float(want)
    return best
