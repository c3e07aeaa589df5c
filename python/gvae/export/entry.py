"""Exportable entry points of a latent-decoder model (contract v2): ``reconstruct`` and ``simulate``.

:class:`LatentEntryPoints` wraps the trained submodules of a :class:`gvae.model.GVAE` with
``model.decoder: latent`` and its conditional prior (:class:`gvae.model.prior.ConditionalPrior`)
in one scriptable / exportable module with fixed output shapes:

- ``reconstruct(features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N],
  noise f32 [B,C,L], count_noise f32 [B,3]) -> (xyu f32 [B,S,3], channel i64 [B,S],
  hit_mask bool [B,S], counts i64 [B,3])``: encoder, ``z = mu + noise * exp(logvar / 2)``, decoder;
- ``simulate(conditions f64 [B,2] (type, pT GeV), latent_noise f32 [B,C*L], count_noise f32 [B,3])
  -> the same four outputs``: ``z ~ p(z | type, pT)`` from the prior, then the decoder.

``S = sum(model.slots)`` (the decoder's whole slot budget, channel-major: track slots, then ECAL,
then HCAL). The eager :class:`gvae.model.set_decoder.SetDecoder` decodes only ``max_b counts[b,c]``
slots per channel; its slots do not interact (cross-attention to the latent tokens only), so each
real slot has the same value in both layouts and ``hit_mask`` selects the same hits in the same
order (channel, then rank). Padding slots are zero. Zero ``count_noise`` (and zero ``noise``) give
the deterministic decoding.

Snapping to detector cells (:mod:`gvae.model.snap`) is *not* in the graph: it merges hits into
cells (data-dependent sizes), which the C++ library does in float64 with the rule of
``include/gvae/Geometry.h`` and the thresholds recorded in the contract (``snap`` block).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gvae.model.latent import JetSummary, reparameterise
from gvae.model.prior import ConditionalPrior
from gvae.model.set_decoder import _GOLDEN_ANGLE, LOGSTD_RANGE, N_CHANNELS, SetDecoder, soft_range


class _NoSummary(nn.Module):
    """Stands in for :class:`gvae.model.latent.JetSummary` when ``model.latent_summary`` is off: adds 0."""

    def __init__(self, clusters: int, latent_dim: int) -> None:
        super().__init__()
        self.clusters, self.latent_dim = clusters, latent_dim

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return features.new_zeros((features.shape[0], self.clusters, self.latent_dim))

class _NoPCAEncoder(nn.Module):
    """Stands in for :class:`gvae.model.pca.PCAEncoderPath` when ``model.pca_init`` is off: adds 0."""

    def __init__(self, clusters: int, latent_dim: int) -> None:
        super().__init__()
        self.clusters, self.latent_dim = clusters, latent_dim

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return features.new_zeros((features.shape[0], self.clusters, self.latent_dim))


class _NoPCADecoder(nn.Module):
    """Stands in for :class:`gvae.model.pca.PCADecoderPath` when ``model.pca_init`` is off (never called)."""

    def __init__(self, slots: int) -> None:
        super().__init__()
        self.slots = slots

    def forward(self, z: Tensor) -> Tensor:
        return z.new_zeros((z.shape[0], self.slots, 4))

    def log_counts(self, rec: Tensor) -> Tensor:
        return rec.new_zeros((rec.shape[0], 3))


#: output names of both entry points, in order
DECODED_OUTPUTS = ("xyu", "channel", "hit_mask", "counts")


class LatentEntryPoints(nn.Module):
    """Scriptable ``reconstruct`` / ``simulate`` of a latent-decoder GVAE (module docstring).

    ``forward`` is ``reconstruct`` (TorchScript keeps both as methods; AOTInductor packages each
    entry point as its own model, see :func:`entry_module`).
    """

    def __init__(self, gvae: nn.Module, prior: ConditionalPrior) -> None:
        super().__init__()
        decoder = gvae.decoder
        if not isinstance(decoder, SetDecoder):
            raise TypeError("LatentEntryPoints needs a GVAE with model.decoder: latent")
        self.adjacency = gvae.adjacency
        self.encoder = gvae.encoder
        self.latent = gvae.latent
        # model.latent_summary: the encoder's jet summary added to the latent mean (GVAE._latent)
        self.summary = gvae.summary if isinstance(getattr(gvae, "summary", None), JetSummary) \
            else _NoSummary(int(decoder.clusters), int(decoder.latent_dim))
        # model.pca_init: the encoder's PCA coefficients and the decoder's PCA reconstruction (gvae.model.pca)
        self.use_pca = decoder.pca is not None
        self.pca_encoder = gvae.pca_encoder if self.use_pca \
            else _NoPCAEncoder(int(decoder.clusters), int(decoder.latent_dim))
        self.pca_decoder = decoder.pca if decoder.pca is not None else _NoPCADecoder(sum(int(s) for s in decoder.slots))
        self.token = decoder.token
        self.glob = decoder.glob
        self.count_head = decoder.count_head
        self.query = decoder.query
        self.blocks = decoder.blocks
        self.norm_out = decoder.norm_out
        self.head = decoder.head
        self.cluster_embedding = decoder.cluster_embedding
        self.slot_embedding = decoder.slot_embedding
        self.slot_readout = decoder.slot_readout
        slots = [int(s) for s in decoder.slots]
        self.clusters, self.latent_dim = int(decoder.clusters), int(decoder.latent_dim)
        self.log_slot_norm = float(decoder.log_slot_norm)
        self.logstd_lo, self.logstd_hi = float(LOGSTD_RANGE[0]), float(LOGSTD_RANGE[1])
        self.anchor_radius = float(decoder.anchor_radius)
        channel = torch.cat([torch.full((s,), c, dtype=torch.int64) for c, s in enumerate(slots)])
        rank = torch.cat([torch.arange(s, dtype=torch.int64) for s in slots])
        self.register_buffer("slot_channel", channel, persistent=False)
        self.register_buffer("slot_rank", rank, persistent=False)
        # slot_id = offset[channel] + rank = 0..S-1 in this channel-major layout
        self.register_buffer("slot_limits", torch.tensor(slots, dtype=torch.int64), persistent=False)
        self.register_buffer("onehot", nn.functional.one_hot(channel, N_CHANNELS).to(torch.float32),
                             persistent=False)
        self.register_buffer("log_rank", torch.log1p(rank.to(torch.float32)) / self.log_slot_norm,
                             persistent=False)
        self.register_buffer("angle", rank.to(torch.float32) * _GOLDEN_ANGLE, persistent=False)
        # prior, per type index (types 0..K-1; unknown types are refused by the caller/contract)
        types = sorted(prior.chol)
        if types != list(range(len(types))):
            raise ValueError(f"prior types must be 0..K-1, got {types}")
        self.register_buffer("prior_mean", torch.from_numpy(np.stack([prior.mean[k] for k in types])).double(),
                             persistent=False)
        self.register_buffer("prior_slope", torch.from_numpy(np.stack([prior.slope[k] for k in types])).double(),
                             persistent=False)
        self.register_buffer("prior_chol_t", torch.from_numpy(
            np.stack([prior.chol[k].T for k in types])).double().contiguous(), persistent=False)
        self.logpt_mean = float(prior.logpt_mean)
        self.logpt_std = float(prior.logpt_std)

    def decode(self, z: Tensor, count_noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """z f32 ``[B,C,L]``, count_noise f32 ``[B,3]`` -> (xyu ``[B,S,3]``, channel ``[B,S]``,
        hit_mask ``[B,S]``, counts ``[B,3]``) over the whole slot budget."""
        b = z.shape[0]
        g = self.glob(z.flatten(1))
        out = self.count_head(g)
        mean = out[:, :3]
        logstd = soft_range(out[:, 3:], self.logstd_lo, self.logstd_hi)
        rec = self.pca_decoder(z)                                                   # [B, S, 4]
        if self.use_pca:
            mean = mean + self.pca_decoder.log_counts(rec)
        value = mean + count_noise.to(mean.dtype) * torch.exp(logstd)
        counts = torch.round(torch.expm1(value.clamp(min=0.0))).to(torch.int64)
        counts = torch.minimum(counts.clamp(min=0), self.slot_limits.unsqueeze(0))
        per_slot = counts[:, self.slot_channel]                                    # [B, S]
        n = per_slot.clamp(min=1).to(torch.float32)
        rel = (self.slot_rank.to(torch.float32) + 0.5) / n
        s = self.slot_rank.shape[0]
        feats = torch.cat([rel.unsqueeze(-1), self.log_rank.view(1, s, 1).expand(b, s, 1),
                           self.onehot.unsqueeze(0).expand(b, s, 3)], dim=-1)
        hit_mask = self.slot_rank.unsqueeze(0) < per_slot
        tokens = self.token(z) + self.cluster_embedding
        q = self.query(feats.to(z.dtype)) + self.slot_embedding.unsqueeze(0) + g.unsqueeze(1)
        for block in self.blocks:
            q = block(q, tokens)
        res = self.head(self.norm_out(q)) + torch.einsum("bh,sho->bso", g, self.slot_readout)
        if self.use_pca:  # the PCA reconstruction takes the anchors' place (SetDecoder.forward)
            res = res + rec[..., :3]
            xy = res[..., :2]
        else:
            radius = self.anchor_radius * torch.sqrt(rel)
            anchor = torch.stack([radius * torch.cos(self.angle), radius * torch.sin(self.angle)], dim=-1)
            xy = res[..., :2] + anchor.to(res.dtype)
        xyu = torch.cat([xy, res[..., 2:]], dim=-1) * hit_mask.unsqueeze(-1).to(q.dtype)
        channel = self.slot_channel.unsqueeze(0).expand(b, s).contiguous()
        return xyu, channel, hit_mask, counts

    @torch.jit.export
    def reconstruct(self, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Tensor,
                    count_noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Hits graph -> latent -> decoded hit set (module docstring)."""
        adj = self.adjacency(neighbours, mask)
        h, _, _ = self.encoder(features, adj, mask)
        mu, logvar = self.latent(h)
        mu = mu + self.summary(features, mask)
        mu = mu + self.pca_encoder(features, mask)
        z = reparameterise(mu, logvar, noise)
        return self.decode(z, count_noise)

    @torch.jit.export
    def simulate(self, conditions: Tensor, latent_noise: Tensor, count_noise: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """conditions f64 ``[B,2]`` (type index, pT GeV), latent_noise f32 ``[B,C*L]``, count_noise
        f32 ``[B,3]`` -> decoded hit set; ``z = a_k + b_k t + L_k eps`` in float64 as the prior."""
        b = conditions.shape[0]
        k = torch.round(conditions[:, 0]).to(torch.int64)
        t = (torch.log(conditions[:, 1].to(torch.float64)) - self.logpt_mean) / self.logpt_std
        eps = latent_noise.to(torch.float64)
        zf = self.prior_mean[k] + t.unsqueeze(1) * self.prior_slope[k] \
            + torch.bmm(eps.unsqueeze(1), self.prior_chol_t[k]).squeeze(1)
        z = zf.to(torch.float32).reshape(b, self.clusters, self.latent_dim)
        return self.decode(z, count_noise)

    def forward(self, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Tensor,
                count_noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """= :meth:`reconstruct`."""
        return self.reconstruct(features, neighbours, mask, noise, count_noise)


class _Simulate(nn.Module):
    """``forward`` = :meth:`LatentEntryPoints.simulate` (for ``torch.export``, which exports forward)."""

    def __init__(self, inner: LatentEntryPoints) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, conditions: Tensor, latent_noise: Tensor, count_noise: Tensor
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.inner.simulate(conditions, latent_noise, count_noise)


def entry_module(inner: LatentEntryPoints, entry: str) -> nn.Module:
    """A module whose ``forward`` is entry point ``entry`` (``reconstruct`` or ``simulate``)."""
    if entry == "reconstruct":
        return inner
    if entry == "simulate":
        return _Simulate(inner)
    raise ValueError(f"unknown entry point '{entry}'")


def eager_reconstruct(gvae: nn.Module, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Tensor,
                      count_noise: Tensor):
    """The eager reference of ``reconstruct``: :meth:`GVAE.encode` + :meth:`GVAE.decode` (a DecodedSet)."""
    mu, logvar = gvae.encode(features, neighbours, mask)
    return gvae.decode(reparameterise(mu, logvar, noise), count_noise)


def eager_simulate(gvae: nn.Module, prior: ConditionalPrior, conditions: Tensor, latent_noise: Tensor,
                   count_noise: Tensor):
    """The eager reference of ``simulate``: :meth:`ConditionalPrior.sample` + :meth:`GVAE.decode`."""
    z = prior.sample(conditions[:, 0].cpu(), conditions[:, 1].cpu(), latent_noise.cpu()).to(latent_noise.device)
    return gvae.decode(z, count_noise)


__all__ = ["DECODED_OUTPUTS", "LatentEntryPoints", "entry_module", "eager_reconstruct", "eager_simulate"]
