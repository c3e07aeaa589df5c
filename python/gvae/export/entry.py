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
then HCAL). Only the real slots are computed: as the eager :class:`gvae.model.set_decoder.SetDecoder`,
the graph decodes ``W = max_b sum_c counts[b,c]`` packed slots per jet (a data-dependent size) and
then places them in the fixed layout; slots do not interact (cross-attention to the latent tokens
only), so each real slot has the same value in every layout and ``hit_mask`` selects the same hits
in the same order (channel, then rank). Padding slots are zero. Zero ``count_noise`` (and zero ``noise``) give
the deterministic decoding.

Snapping to detector cells (:mod:`gvae.model.snap`) is *not* in the graph: it merges hits into
cells (data-dependent sizes), which the C++ library does in float64 with the rule of
``include/gvae/Geometry.h`` and the thresholds recorded in the contract (``snap`` block).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from gvae.model.latent import JetSummary, reparameterise
from gvae.model.prior import ConditionalPrior, component_noise, component_scaled
from gvae.model.set_decoder import SetDecoder, data_size, unpack


class _ZeroLatent(nn.Module):
    """Stands in for an encoder-side latent term that is switched off (:class:`gvae.model.latent.JetSummary`
    without ``model.latent_summary``, :class:`gvae.model.pca.PCAEncoderPath` without ``model.pca_init``):
    adds a zero ``[B, C, L]``."""

    def __init__(self, clusters: int, latent_dim: int) -> None:
        super().__init__()
        self.clusters, self.latent_dim = clusters, latent_dim

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return features.new_zeros((features.shape[0], self.clusters, self.latent_dim))


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
            else _ZeroLatent(int(decoder.clusters), int(decoder.latent_dim))
        # model.pca_init: the encoder's PCA coefficients (the decoder's PCA path is part of SetDecoder)
        self.pca_encoder = gvae.pca_encoder if decoder.pca is not None \
            else _ZeroLatent(int(decoder.clusters), int(decoder.latent_dim))
        # the decoder itself: count head and packed decoding are SetDecoder's own (TorchScript-compatible)
        # methods, so the exports run the eager model's code
        self.decoder = decoder
        slots = [int(s) for s in decoder.slots]
        self.clusters, self.latent_dim = int(decoder.clusters), int(decoder.latent_dim)
        self.min_nodes = int(gvae.config.k) + 1      # as GVAE._trimmed
        channel = torch.cat([torch.full((s,), c, dtype=torch.int64) for c, s in enumerate(slots)])
        rank = torch.cat([torch.arange(s, dtype=torch.int64) for s in slots])
        self.register_buffer("slot_channel", channel, persistent=False)
        self.register_buffer("slot_rank", rank, persistent=False)
        # prior, per type index (types 0..K-1; unknown types are refused by the caller/contract)
        types = sorted(prior.chol)
        if types != list(range(len(types))):
            raise ValueError(f"prior types must be 0..K-1, got {types}")
        self.register_buffer("prior_mean", torch.from_numpy(np.stack([prior.mean[k] for k in types])).double(),
                             persistent=False)
        self.register_buffer("prior_slope", torch.from_numpy(np.stack([prior.slope[k] for k in types])).double(),
                             persistent=False)
        # mixture components of every type, one after the other (type k's first at prior_start[k]; one
        # Gaussian: offset 0, L_k): offsets [components, D], transposed Cholesky factors [components, D, D];
        # cumulative weights per type padded with 1 to the most components (padding is never chosen)
        tables = [prior.component_tables(k) for k in types]
        kmax = max(len(w) for w, _, _ in tables)
        cum = np.ones((len(types), kmax))
        for i, k in enumerate(types):
            cum[i, :prior.components(k)] = prior.cumulative_weights(k)
        start = np.cumsum([0] + [len(w) for w, _, _ in tables[:-1]])
        self.register_buffer("prior_start", torch.from_numpy(start).to(torch.int64), persistent=False)
        chol_t = np.concatenate([c.transpose(0, 2, 1) for _, _, c in tables])
        self.register_buffer("prior_chol_t", torch.from_numpy(chol_t).double().contiguous(), persistent=False)
        self.register_buffer("prior_offsets", torch.from_numpy(np.concatenate([o for _, o, _ in tables])).double(),
                             persistent=False)
        self.register_buffer("prior_cum", torch.from_numpy(cum).double(), persistent=False)
        self.register_buffer("prior_ncomp", torch.tensor([prior.components(k) for k in types], dtype=torch.int64),
                             persistent=False)
        self.logpt_mean = float(prior.logpt_mean)
        self.logpt_std = float(prior.logpt_std)

    def count_head(self, z: Tensor, count_noise: Tensor) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        """z f32 ``[B,C,L]``, count_noise f32 ``[B,3]`` -> (counts ``[B,3]`` int64, the decoder's global
        code g, and the count head's ``rec`` (None without one), which :meth:`decode` passes on to the packed
        decoding)."""
        decoder = self.decoder
        g = decoder.glob(z.flatten(1))
        mean, logstd, rec = decoder.count_distribution(z, g)
        return decoder.sample_counts(mean, logstd, count_noise), g, rec

    def decode(self, z: Tensor, count_noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """z f32 ``[B,C,L]``, count_noise f32 ``[B,3]`` -> (xyu ``[B,S,3]``, channel ``[B,S]``,
        hit_mask ``[B,S]``, counts ``[B,3]``) over the whole slot budget."""
        b = z.shape[0]
        decoder = self.decoder
        counts, g, rec = self.count_head(z, count_noise)
        hit_mask = self.slot_rank.unsqueeze(0) < counts[:, self.slot_channel]                # [B, S]
        # the real slots only (packed: cost follows sum(counts), not the budget), then placed in
        # the fixed channel-major layout of the whole budget
        packed, starts, _ = decoder.decode_packed(z, counts, g, rec)
        xyu = unpack(packed, starts, self.slot_channel, self.slot_rank) * hit_mask.unsqueeze(-1).to(packed.dtype)
        s = self.slot_rank.shape[0]
        channel = self.slot_channel.unsqueeze(0).expand(b, s).contiguous()
        return xyu, channel, hit_mask, counts

    def trim(self, features: Tensor, neighbours: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Drop the padding columns beyond the batch's largest jet (as :meth:`GVAE.encode`): the
        inputs have the contract's ``max_nodes`` columns, the encoder's cost follows the real nodes.
        ``n = max(k + 1, last real node + 1)`` is data dependent (an unbacked size under torch.export);
        a neighbour index at or beyond ``n`` (never in a valid graph: real nodes list real nodes,
        padding rows their own index) becomes the node's own index."""
        last = (mask.to(torch.int64) * torch.arange(1, mask.shape[1] + 1, device=mask.device)).max()
        n = data_size(last.clamp(min=self.min_nodes, max=mask.shape[1]), mask.shape[1], self.min_nodes)
        features, neighbours, mask = features[:, :n], neighbours[:, :n], mask[:, :n]
        node = torch.arange(n, dtype=neighbours.dtype, device=neighbours.device).view(1, n, 1)
        neighbours = torch.where(neighbours < n, neighbours, node)
        return features, neighbours, mask

    @torch.jit.export
    def reconstruct(self, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Tensor,
                    count_noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Hits graph -> latent -> decoded hit set (module docstring)."""
        features, neighbours, mask = self.trim(features, neighbours, mask)
        adj = self.adjacency(neighbours, mask)
        h, _, _ = self.encoder(features, adj, mask)
        mu, logvar = self.latent(h)
        mu = mu + self.summary(features, mask)
        mu = mu + self.pca_encoder(features, mask)
        z = reparameterise(mu, logvar, noise)
        return self.decode(z, count_noise)

    def prior_latent(self, conditions: Tensor, latent_noise: Tensor) -> Tensor:
        """conditions f64 ``[B,2]`` (type index, pT GeV), latent_noise f32 ``[B,C*L]`` -> z f32 ``[B,C,L]``:
        ``z = a_k + b_k t + m_kc + L_kc eps`` in float64 as the prior (component ``c`` and ``eps`` from the
        noise, :func:`gvae.model.prior.component_noise`)."""
        b = conditions.shape[0]
        k = torch.round(conditions[:, 0]).to(torch.int64)
        t = (torch.log(conditions[:, 1].to(torch.float64)) - self.logpt_mean) / self.logpt_std
        eps = latent_noise.to(torch.float64)
        comp, eps0 = component_noise(eps[:, 0], self.prior_cum[k], self.prior_ncomp[k])
        eps = torch.cat([eps0.unsqueeze(1), eps[:, 1:]], 1)
        # every type's components one after the other: jet b uses factor prior_start[k_b] + c_b
        which = self.prior_start[k] + comp
        scaled = component_scaled(eps, which, self.prior_chol_t)
        zf = self.prior_mean[k] + t.unsqueeze(1) * self.prior_slope[k] + self.prior_offsets[which] + scaled
        return zf.to(torch.float32).reshape(b, self.clusters, self.latent_dim)

    @torch.jit.export
    def simulate(self, conditions: Tensor, latent_noise: Tensor, count_noise: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """conditions f64 ``[B,2]`` (type index, pT GeV), latent_noise f32 ``[B,C*L]``, count_noise
        f32 ``[B,3]`` -> decoded hit set: the prior (:meth:`prior_latent`), then the decoder."""
        return self.decode(self.prior_latent(conditions, latent_noise), count_noise)

    @torch.jit.export
    def simulate_counts(self, conditions: Tensor, latent_noise: Tensor, count_noise: Tensor) -> tuple[Tensor]:
        """The inputs of :meth:`simulate` -> ``(counts [B,3] int64,)``: the hits per channel that
        ``simulate`` decodes for the same inputs, without decoding them (prior and count head only).
        A caller batching many jets orders them by these counts, so that each ``simulate`` call pads
        to a similar width."""
        return (self.count_head(self.prior_latent(conditions, latent_noise), count_noise)[0],)

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


class _SimulateCounts(nn.Module):
    """``forward`` = :meth:`LatentEntryPoints.simulate_counts` (for ``torch.export``)."""

    def __init__(self, inner: LatentEntryPoints) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, conditions: Tensor, latent_noise: Tensor, count_noise: Tensor) -> tuple[Tensor]:
        return self.inner.simulate_counts(conditions, latent_noise, count_noise)


def entry_module(inner: LatentEntryPoints, entry: str) -> nn.Module:
    """A module whose ``forward`` is entry point ``entry`` (``reconstruct``, ``simulate`` or
    ``simulate_counts``)."""
    if entry == "reconstruct":
        return inner
    if entry == "simulate":
        return _Simulate(inner)
    if entry == "simulate_counts":
        return _SimulateCounts(inner)
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
