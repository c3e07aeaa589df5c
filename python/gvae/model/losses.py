"""Loss terms of the GVAE and the cluster-collapse indicators.

Reconstruction (masked, energy weighted). A jet's energy sits in a few hits, so a plain
per-node mean would spend the model's capacity on soft hits that carry little energy, while a
pure energy weighting would ignore most nodes. Each real node i of a jet gets the weight

    w_i = (1 - lambda) / n + lambda * E_i / sum_j E_j          (sum_i w_i = 1 per jet)

with ``lambda = energy_weight`` (0: uniform over nodes, 1: energy fractions). ``E_i / sum E``
is computed from the normalised log energy as ``softmax_i(u'_i * std_u)`` over the real nodes
(exact, since ``u = ln E`` and the mean cancels). The loss of a jet is
``sum_i w_i sum_f a_f (pred_if - target_if)^2`` over f in (x', y', u') with feature weights
``a_f``; the batch loss is the mean over jets. Padding nodes have weight 0.

KL: ``KL(q(z|x) || N(0, 1))`` per latent dimension, averaged over batch, clusters and
dimensions (nats per dimension), weighted by ``beta`` (linearly warmed up over
``beta_warmup_steps``). MinCut and orthogonality losses come from ``dense_mincut_pool``
(summed over the pooling stages) with their own weights. Every term is a mean over the jets of
the batch, so equal-size batches on several processes average to the single-process gradient.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor

from gvae.errors import ConfigError


@dataclass
class LossConfig:
    """Weights of the loss terms (see the module docstring)."""

    beta: float = 0.01
    beta_warmup_steps: int = 0
    mincut_weight: float = 0.1
    ortho_weight: float = 1.0
    energy_weight: float = 0.5
    feature_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    # latent-only set decoder (model.decoder: latent), see gvae.model.set_loss
    set_loss: str = "sinkhorn"
    sinkhorn_blur: float = 0.02
    sinkhorn_iters: int = 20
    ot_weight: float = 1.0
    set_energy_weight: float = 1.0
    log_energy_weight: float = 0.1
    count_weight: float = 0.1
    ordered_weight: float = 0.0

    def validate(self) -> "LossConfig":
        """Check ranges; raise :class:`ConfigError`."""
        for name in ("beta", "mincut_weight", "ortho_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"training.loss.{name} must be >= 0")
        if not 0.0 <= self.energy_weight <= 1.0:
            raise ConfigError("training.loss.energy_weight must lie in [0, 1]")
        if len(self.feature_weights) != 3 or any(w < 0 for w in self.feature_weights):
            raise ConfigError("training.loss.feature_weights needs 3 non-negative numbers")
        if self.beta_warmup_steps < 0:
            raise ConfigError("training.loss.beta_warmup_steps must be >= 0")
        if self.set_loss not in ("sinkhorn", "chamfer"):
            raise ConfigError(f"training.loss.set_loss = {self.set_loss!r}: must be sinkhorn or chamfer")
        if not self.sinkhorn_blur > 0 or self.sinkhorn_iters < 1:
            raise ConfigError("training.loss.sinkhorn_blur must be > 0 and sinkhorn_iters >= 1")
        for name in ("ot_weight", "set_energy_weight", "log_energy_weight", "count_weight", "ordered_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"training.loss.{name} must be >= 0")
        return self

    def beta_at(self, step: int) -> float:
        """KL weight at optimiser step ``step`` (linear warm-up)."""
        if self.beta_warmup_steps <= 0:
            return self.beta
        return self.beta * min(1.0, (step + 1) / self.beta_warmup_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LossConfig":
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise ConfigError(f"training.loss: unknown keys {sorted(set(data) - known)}")
        return cls(**data).validate()


def node_weights(features: Tensor, mask: Tensor, std_u: float, energy_weight: float) -> Tensor:
    """Per-node reconstruction weights ``[B, N]`` summing to 1 over each jet's real nodes.

    features ``[B, N, 6]`` (column 2 = u'), mask bool ``[B, N]``.
    """
    m = mask.to(torch.float32)
    n = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    logits = (features[:, :, 2].float() * std_u).masked_fill(~mask, float("-inf"))
    frac = torch.softmax(logits, dim=1).nan_to_num(0.0) * m  # empty jets: all -inf -> nan -> 0
    return (1.0 - energy_weight) * m / n + energy_weight * frac


def reconstruction_terms(pred: Tensor, features: Tensor, weights: Tensor,
                         feature_weights: List[float]) -> Tuple[Tensor, Tensor]:
    """pred ``[B, N, 3]``, features ``[B, N, 6]``, weights ``[B, N]`` ->
    ``(weighted loss (scalar), per-feature weighted squared error [3])``."""
    err = (pred.float() - features[:, :, :3].float()) ** 2           # [B, N, 3]
    per_feature = (err * weights.unsqueeze(-1)).sum(dim=1).mean(dim=0)  # [3]
    fw = torch.tensor(feature_weights, dtype=per_feature.dtype, device=per_feature.device)
    return (per_feature * fw).sum(), per_feature


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` elementwise ``[B, C, L]``."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu ** 2 + torch.exp(logvar) - 1.0 - logvar)


def cluster_usage(s: Tensor) -> Tuple[Tensor, Tensor]:
    """Collapse indicators of soft assignments s ``[B, N_p, C]`` (zero rows on padding).

    Returns ``(effective clusters, node assignment entropy)``: the first is
    ``exp(H(p))`` with ``p`` the jet's cluster mass distribution, averaged over jets (C when
    every cluster gets equal mass, 1 when everything collapses into one cluster); the second is
    the mean entropy (nats) of a real node's assignment (0 = hard assignments).
    """
    s = s.float()
    mass = s.sum(dim=1)                                               # [B, C]
    p = mass / mass.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    effective = torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum(-1)).mean()
    rows = s.sum(-1) > 0.5                                            # real nodes
    node_h = -(s * torch.log(s.clamp(min=1e-12))).sum(-1)
    entropy = node_h[rows].mean() if bool(rows.any()) else node_h.sum() * 0.0
    return effective, entropy


def gvae_loss(out: Dict[str, Any], features: Tensor, mask: Tensor, cfg: LossConfig,
              std_u: float, step: int = 0, normalisation: Any = None) -> Tuple[Tensor, Dict[str, Tensor]]:
    """Total loss and the detached logged terms for one batch.

    ``out`` is :meth:`gvae.model.GVAE.forward`'s dict; features ``[B, N, 6]``; mask ``[B, N]``;
    ``std_u`` the training-split std of ln E (DESIGN §5) for the energy weights; ``step`` the
    optimiser step for the KL warm-up. Logged terms: ``loss, recon, recon_x, recon_y, recon_u,
    mse (unweighted per-node MSE), kl, beta, mincut, ortho, clusters_eff_<p>,
    assign_entropy_<p>, active_dims`` (latent dimensions with mean KL > 0.01 nats).

    With the latent-only decoder (``out["decoded"]`` present) the reconstruction terms are those of
    :func:`gvae.model.set_loss.set_loss` (needs ``normalisation``, the training
    :class:`gvae.normalisation.Normalisation`) and the logged ``recon`` is their weighted sum;
    logged: ``ot, ot_value, energy, logE, count`` instead of ``recon_x/y/u, mse``.
    """
    if "decoded" in out:
        return _latent_decoder_loss(out, features, mask, cfg, step, normalisation)
    weights = node_weights(features, mask, std_u, cfg.energy_weight)
    recon, per_feature = reconstruction_terms(out["reconstruction"], features, weights,
                                              cfg.feature_weights)
    regulariser, terms = _encoder_terms(out, cfg, step)
    total = recon + regulariser
    with torch.no_grad():
        m = mask.to(torch.float32)
        sq = ((out["reconstruction"].float() - features[:, :, :3].float()) ** 2).sum(-1)
        mse = (sq * m).sum() / m.sum().clamp(min=1.0) / 3.0
        terms.update({
            "loss": total.detach(), "recon": recon.detach(),
            "recon_x": per_feature[0].detach(), "recon_y": per_feature[1].detach(),
            "recon_u": per_feature[2].detach(), "mse": mse,
        })
    return total, terms


def _encoder_terms(out: Dict[str, Any], cfg: LossConfig, step: int) -> Tuple[Tensor, Dict[str, Tensor]]:
    """The decoder-independent part of the loss: ``beta * KL + mincut_weight * MinCut +
    ortho_weight * ortho`` (scalar) and its logged terms (KL, beta, MinCut, ortho, active latent
    dimensions, cluster usage per pooling stage)."""
    kl_elem = kl_per_dimension(out["mu"], out["logvar"])
    kl = kl_elem.mean()
    beta = cfg.beta_at(step)
    mincut = out["mincut_loss"].float()
    ortho = out["ortho_loss"].float()
    regulariser = beta * kl + cfg.mincut_weight * mincut + cfg.ortho_weight * ortho
    with torch.no_grad():
        terms: Dict[str, Tensor] = {
            "kl": kl.detach(), "beta": torch.tensor(beta), "mincut": mincut.detach(),
            "ortho": ortho.detach(), "active_dims": (kl_elem.mean(dim=(0, 1)) > 0.01).sum().float(),
        }
        for p, s in enumerate(out["assignments"], start=1):
            eff, ent = cluster_usage(s)
            terms[f"clusters_eff_{p}"] = eff
            terms[f"assign_entropy_{p}"] = ent
    return regulariser, terms


def _latent_decoder_loss(out: Dict[str, Any], features: Tensor, mask: Tensor, cfg: LossConfig, step: int,
                         normalisation: Any) -> Tuple[Tensor, Dict[str, Tensor]]:
    """:func:`gvae_loss` for ``model.decoder: latent``."""
    from gvae.model.set_loss import set_loss

    if normalisation is None:
        raise ConfigError("the latent decoder's loss needs the training normalisation")
    features, mask = out["features"], out["mask"]  # trimmed to the batch's largest jet
    parts = set_loss(out["decoded"], features, mask, normalisation, cfg.set_loss, cfg.sinkhorn_blur,
                     cfg.sinkhorn_iters)
    recon = (cfg.ot_weight * parts["ot"] + cfg.set_energy_weight * parts["energy"]
             + cfg.log_energy_weight * parts["logE"] + cfg.count_weight * parts["count"]
             + cfg.ordered_weight * parts["ordered"])
    regulariser, terms = _encoder_terms(out, cfg, step)
    total = recon + regulariser
    terms.update({
        "loss": total.detach(), "recon": recon.detach(), "ot": parts["ot_value"],
        "energy": parts["energy"].detach(), "logE": parts["logE"].detach(),
        "count": parts["count"].detach(), "ordered": parts["ordered"].detach(),
    })
    return total, terms
