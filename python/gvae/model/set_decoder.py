"""Latent-only set decoder (``model.decoder: latent``): ``z [B, C, L]`` -> a variable-size set of hits.

Nothing from the input jet reaches it: no assignment matrices, no node count, no channel, no node
order. Its only inputs are the latent and, optionally, the caller's noise.

Design (TSPN-like cardinality prediction + learned slot queries cross-attending to the latent):

1. **Tokens.** Each latent cluster ``z_c [L]`` becomes a token ``W z_c + e_c [H]`` (``e_c`` a learned
   embedding of the cluster index: the encoder's clusters are ordered, so their identity carries
   meaning). A global code ``g [H]`` is an MLP of the flattened latent.
2. **Cardinality.** ``g`` predicts, per channel (track, ECAL, HCAL), the mean and log-std of
   ``log(1 + n_c)``. Deterministic decoding takes ``n_c = round(exp(mean) - 1)``; sampling takes
   ``round(exp(mean + std * noise_c) - 1)`` with the caller's standard-normal ``noise [B, 3]``.
   ``n_c`` is clipped to the channel's slot budget ``model.slots[c]``.
3. **Slots.** Slot ``i`` of channel ``c`` in a jet with ``n_c`` hits of that channel gets a query
   from its relative rank ``(i + 0.5) / n_c``, ``log(1 + i)`` and the channel one-hot, plus a learned
   embedding of ``(c, i)`` (its identity, as DETR's object queries: slots must differ from the start,
   or a permutation-invariant loss gives every slot the same gradient and the set collapses onto one
   point), plus ``g``. ``blocks`` rounds of cross-attention to the tokens + MLP (pre-LayerNorm,
   residual) refine the queries; a linear head gives ``(dx', dy', u')``. The position is
   ``anchor + (dx', dy')`` plus a per-slot linear readout of the global code (``W_(c,i) g``: a
   PCA-like direct path from the latent to every slot, which the attention path refines; without it
   the decoder learns jet-specific positions slowly), with a fixed anchor per slot on a Fibonacci spiral of radius
   ``anchor_radius * sqrt((i + 0.5) / n_c)`` (energetic hits, low ranks, start central; the slots of
   a channel cover a disc evenly for any n), in normalised units (DESIGN §5). No attention runs
   between slots, so only the real slots are computed: each jet's hits are packed into the first
   ``sum_c n_c`` of ``W = max_b sum_c n_c`` positions (:func:`packed_slots`), decoded, and placed
   in the channel-major slot layout afterwards (:func:`unpack`); the cost is ``O(B * W * C * H)``,
   following the hits rather than the slot budget.

During training the true per-channel counts choose how many slots are decoded (teacher forcing of
the set size, as TSPN trains its set-size head separately); the count head is trained on its own
loss. At inference the predicted counts are used (:meth:`SetDecoder.forward` with ``counts=None``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from gvae import geometry
from gvae.errors import InvalidInput
from gvae.model.config import ModelConfig
from gvae.model.layers import make_activation
from gvae.model.pca import PCADecoderPath

N_CHANNELS = geometry.N_CHANNELS
#: Radius (normalised units, ~0.5 in Delta R) of the disc the slot anchors of a channel cover.
ANCHOR_RADIUS = 1.5
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
#: Range of the cardinality head's log standard deviation.
LOGSTD_RANGE = (-6.0, 3.0)


def soft_range(x: Tensor, lo: float, hi: float) -> Tensor:
    """Map ``x`` smoothly into the open interval ``(lo, hi)`` (``mid + half * tanh((x - mid) / half)``).

    A hard clamp has zero gradient outside its range: measured on the demo, a count head whose raw
    log-std overshot 3 in the first steps stayed there (count loss stuck at 9.0 for the whole run)
    and predicted no usable counts. The tanh keeps a gradient everywhere and is close to the
    identity near the middle of the range."""
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return mid + half * torch.tanh((x - mid) / half)


@dataclass
class DecodedSet:
    """A batch of decoded jets as padded slots, grouped by channel (track slots, then ECAL, then HCAL).

    xyu: float32 ``[B, S, 3]`` normalised ``(x', y', u')`` per slot (DESIGN §5 normalisation).
    channel: int64 ``[B, S]`` channel of each slot (0 track, 1 ECAL, 2 HCAL).
    mask: bool ``[B, S]`` True on the slots that are hits (the first ``counts[b, c]`` of channel c).
    counts: int64 ``[B, 3]`` hits per channel.
    log_count_mean, log_count_logstd: float32 ``[B, 3]`` the cardinality head's prediction of
        ``log(1 + n_c)`` (mean and log standard deviation).
    """

    xyu: Tensor
    channel: Tensor
    mask: Tensor
    counts: Tensor
    log_count_mean: Tensor
    log_count_logstd: Tensor

    def __len__(self) -> int:
        return int(self.xyu.shape[0])


class _Block(nn.Module):
    """Pre-LN cross-attention of the slot queries to the latent tokens, then a residual MLP.

    The attention keeps ``nn.MultiheadAttention``'s parameters (``attn.in_proj_*``, ``attn.out_proj``)
    but runs as projections + ``scaled_dot_product_attention`` (:func:`cross_attention`): the same
    values as the module (measured bit-identical on the demo's shapes) without its per-call checks
    and copies (``benchmarks/results/inference_v2.md``)."""

    def __init__(self, hidden: int, heads: int, activation: str) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(hidden)
        self.norm_kv = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.heads = heads
        self.norm_mlp = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), make_activation(activation),
                                 nn.Linear(2 * hidden, hidden))

    def forward(self, q: Tensor, tokens: Tensor) -> Tensor:
        """q ``[B, S, H]``, tokens ``[B, C, H]`` -> ``[B, S, H]``."""
        kv = self.norm_kv(tokens)
        attn = self.attn
        q = q + cross_attention(self.norm_q(q), kv, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight,
                                attn.out_proj.bias, self.heads)
        return q + self.mlp(self.norm_mlp(q))


def cross_attention(q: Tensor, kv: Tensor, in_weight: Tensor, in_bias: Tensor, out_weight: Tensor,
                    out_bias: Tensor, heads: int) -> Tensor:
    """``attn(q, kv, kv)`` of a ``batch_first`` ``nn.MultiheadAttention`` (no masks, no dropout; its
    ``in_proj_*``, ``out_proj.*`` and ``num_heads``) as linear projections +
    ``scaled_dot_product_attention``: q ``[B, S, H]``, kv ``[B, C, H]`` -> ``[B, S, H]``."""
    b, s, h = q.shape
    d = h // heads
    qh = nn.functional.linear(q, in_weight[:h], in_bias[:h]).view(b, s, heads, d).transpose(1, 2)
    kvh = nn.functional.linear(kv, in_weight[h:], in_bias[h:]).view(b, kv.shape[1], 2, heads, d).permute(2, 0, 3, 1, 4)
    out = nn.functional.scaled_dot_product_attention(qh, kvh[0], kvh[1])
    return nn.functional.linear(out.transpose(1, 2).reshape(b, s, h), out_weight, out_bias)


@torch.jit.unused
def _check_size(size: int, low: int, limit: int) -> None:
    """torch.export: bound a data-dependent size (``low <= size <= limit``)."""
    torch._check(size >= low)
    torch._check(size <= limit)


def data_size(value: Tensor, limit: int, low: int = 1) -> int:
    """A size read from the data: the int of the one-element int64 tensor ``value``, known to lie in
    ``[low, limit]``. One ``.item()``; under ``torch.export`` an unbacked SymInt with that range
    (``int()`` would specialise it to the example's value)."""
    size = value.item()
    if torch.jit.is_scripting():
        return int(size)
    _check_size(size, low, limit)
    return size


#: The packed width is a multiple of this: CPU attention/GEMM kernels treat a tail of fewer rows
#: than their vector width differently (measured: SDPA rows in a tail block of 1-7 differ in the
#: last bit), so a jet's values would depend on the other jets of its batch; with whole blocks
#: they do not (the Simulator's per-jet samples are bit-identical for any batch size).
PACK_MULTIPLE = 16


def packed_width(counts: Tensor, limit: int, multiple: int = 16) -> int:
    """Slots per jet of the packed layout of ``counts [B, 3]``: ``max(1, max_b sum_c counts[b, c])``
    rounded up to a multiple of ``multiple`` (default :data:`PACK_MULTIPLE`; data dependent, see
    :func:`data_size`); ``limit`` is the slot budget."""
    if counts.shape[0] == 0:
        return multiple
    total = counts.sum(dim=1).max().clamp(min=1)
    padded = torch.div(total + (multiple - 1), multiple, rounding_mode="floor") * multiple
    return data_size(padded, (limit + multiple - 1) // multiple * multiple, multiple)


def packed_slots(counts: Tensor, width: int, slot_offset: Tensor, budget: Tensor, log_slot_norm: float
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The packed layout: jet b's hits as its first ``sum_c counts[b, c]`` of ``width`` positions,
    channel-major (track, ECAL, HCAL), rank within the channel; the rest is padding.

    counts int64 ``[B, 3]``; slot_offset int64 ``[3]`` first slot id of each channel; budget int64
    ``[3]`` slots per channel. Returns ``(features [B, W, 2 + 3] (relative rank, log rank, channel
    one-hot), rank int64 [B, W], slot_id int64 [B, W] (clamped into the table on padding),
    starts int64 [B, 3] (packed position of each channel's first hit))``. The features of a real
    hit equal those of its slot in :meth:`SetDecoder.slot_layout`.
    """
    ends = counts.cumsum(dim=1)
    starts = ends - counts
    j = torch.arange(width, dtype=torch.int64, device=counts.device).unsqueeze(0)      # [1, W]
    channel = (j >= ends[:, 0:1]).to(torch.int64) + (j >= ends[:, 1:2]).to(torch.int64)  # [B, W]
    rank = j - starts.gather(1, channel)
    n = counts.gather(1, channel).clamp(min=1).to(torch.float32)
    rel = (rank.to(torch.float32) + 0.5) / n
    logr = torch.log1p(rank.to(torch.float32)) / log_slot_norm
    onehot = nn.functional.one_hot(channel, 3).to(torch.float32)          # 3 = N_CHANNELS (TorchScript)
    feats = torch.cat([rel.unsqueeze(-1), logr.unsqueeze(-1), onehot], dim=-1)
    slot_id = slot_offset[channel] + torch.minimum(rank, budget[channel] - 1)
    return feats, rank, slot_id, starts


def unpack(values: Tensor, starts: Tensor, channel: Tensor, rank: Tensor) -> Tensor:
    """Packed values ``[B, W, F]`` -> values in a channel-major slot layout ``[B, S, F]`` whose slot s
    has ``channel [S]`` and ``rank [S]`` (position ``starts[b, channel] + rank``, clamped; the
    caller masks the slots beyond a jet's counts)."""
    idx = (starts[:, channel] + rank.unsqueeze(0)).clamp(max=values.shape[1] - 1)       # [B, S]
    return values.gather(1, idx.unsqueeze(-1).expand(-1, -1, values.shape[2]))


class SetDecoder(nn.Module):
    """``z [B, C, L]`` (+ optional count noise ``[B, 3]``) -> :class:`DecodedSet` (see the module doc)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.decoder_hidden
        c, l = cfg.latent_clusters, cfg.latent_dim
        self.clusters, self.latent_dim = c, l
        self.slots = cfg.slot_budget
        self.slot_total = int(sum(self.slots))
        # module constants as attributes (TorchScript reads no imported globals)
        self.n_channels = int(N_CHANNELS)
        self.logstd_lo, self.logstd_hi = float(LOGSTD_RANGE[0]), float(LOGSTD_RANGE[1])
        self.golden_angle = float(_GOLDEN_ANGLE)
        self.token = nn.Linear(l, h)
        self.cluster_embedding = nn.Parameter(torch.randn(c, h) * 0.02)
        act = cfg.activation
        self.glob = nn.Sequential(nn.Linear(c * l, 2 * h), make_activation(act), nn.Linear(2 * h, h))
        self.count_head = nn.Sequential(nn.Linear(h, h), make_activation(act), nn.Linear(h, 2 * N_CHANNELS))
        self.query = nn.Sequential(nn.Linear(2 + N_CHANNELS, h), make_activation(act), nn.Linear(h, h))
        self.slot_embedding = nn.Parameter(torch.randn(sum(self.slots), h))
        self.slot_readout = nn.Parameter(torch.zeros(sum(self.slots), h, 3))
        self.register_buffer("slot_offset", torch.tensor([0, *self.slots[:-1]]).cumsum(0), persistent=False)
        self.register_buffer("slot_limit", torch.tensor(self.slots, dtype=torch.int64), persistent=False)
        self.blocks = nn.ModuleList([_Block(h, cfg.decoder_heads, act) for _ in range(cfg.decoder_blocks)])
        if cfg.decoder_blocks == 0:
            # the latent tokens feed only the cross-attention blocks: without blocks they are never
            # used, and a parameter that never gets a gradient stops multi-process (DDP) training. They
            # stay in the state dict (checkpoints and exports keep their layout) but are frozen.
            self.token.requires_grad_(False)
            self.cluster_embedding.requires_grad_(False)
        self.norm_out = nn.LayerNorm(h)
        self.head = nn.Linear(h, 3)
        self.log_slot_norm = math.log1p(max(self.slots))
        self.anchor_radius = ANCHOR_RADIUS
        # model.pca_init (gvae.model.pca): a linear path from z to every slot and to the counts; the
        # head and the count head's last layer start at zero so the untrained decoder is the PCA
        self.pca: Optional[PCADecoderPath] = None
        if cfg.pca_init:
            self.pca = PCADecoderPath(self.slots, c, l, cfg.pca_trainable)
            for layer in (self.head, self.count_head[-1]):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def count_distribution(self, z: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        """z ``[B, C, L]``, global code g ``[B, H]`` -> ``(log_count_mean [B, 3], log_count_logstd [B, 3],
        rec)``: ``rec [B, S_budget, 4]`` is the PCA reconstruction of ``z`` with ``model.pca_init``
        (its presence flags add to the mean; :meth:`decode_packed` reuses it), else None.
        TorchScript-compatible (the exported entry points call it)."""
        out = self.count_head(g)
        mean = out[:, :self.n_channels]
        logstd = soft_range(out[:, self.n_channels:], self.logstd_lo, self.logstd_hi)
        rec: Optional[Tensor] = None
        if self.pca is not None:
            rec = self.pca(z)
            mean = mean + self.pca.log_counts(rec)
        return mean, logstd, rec

    def sample_counts(self, mean: Tensor, logstd: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        """Hit counts int64 ``[B, 3]`` from the cardinality head: ``round(exp(mean + std * noise) - 1)``
        (``noise [B, 3]``; None = the mean), clipped to ``[0, slots[c]]``. TorchScript-compatible."""
        value = mean if noise is None else mean + noise.to(mean.dtype) * torch.exp(logstd)
        counts = torch.round(torch.expm1(value.detach().clamp(min=0.0))).to(torch.int64)
        return torch.minimum(counts.clamp(min=0), self.slot_limit.unsqueeze(0))

    def predict_counts(self, z: Tensor, noise: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """z ``[B, C, L]`` -> ``(counts int64 [B, 3], log_count_mean [B, 3], log_count_logstd [B, 3],
        g [B, H])``; counts use ``noise [B, 3]`` when given (sampling), else the mean."""
        g = self.glob(z.flatten(1))
        mean, logstd, _ = self.count_distribution(z, g)
        return self.sample_counts(mean, logstd, noise), mean, logstd, g

    def slot_layout(self, counts: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-slot inputs for ``counts [B, 3]``: each channel gets ``max_b counts[b, c]`` slots.

        Returns ``(features [B, S, 2 + 3] (relative rank, log rank, channel one-hot),
        channel [S] int64, rank [S] int64, mask [B, S] bool)``.
        """
        widths = counts.max(dim=0).values.tolist() if counts.numel() else [0] * N_CHANNELS
        device = counts.device
        channel = torch.cat([torch.full((w,), c, dtype=torch.int64, device=device) for c, w in enumerate(widths)])
        rank = torch.cat([torch.arange(w, dtype=torch.int64, device=device) for w in widths])
        n = counts[:, channel].clamp(min=1).to(torch.float32)                   # [B, S]
        rel = (rank.to(torch.float32) + 0.5) / n
        logr = torch.log1p(rank.to(torch.float32)).expand_as(rel) / self.log_slot_norm
        onehot = nn.functional.one_hot(channel, N_CHANNELS).to(torch.float32).expand(len(counts), -1, -1)
        feats = torch.cat([rel.unsqueeze(-1), logr.unsqueeze(-1), onehot], dim=-1)
        mask = rank.unsqueeze(0) < counts[:, channel]
        return feats, channel, rank, mask

    def anchors(self, rel: Tensor, rank: Tensor) -> Tensor:
        """Fixed slot anchors ``[B, S, 2]`` on a Fibonacci spiral: radius ``R sqrt(rel)``, angle ``rank * golden``."""
        radius = self.anchor_radius * torch.sqrt(rel)
        angle = (rank.to(torch.float32) * self.golden_angle).expand_as(rel)
        return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)

    def decode_packed(self, z: Tensor, counts: Tensor, g: Tensor, rec: Optional[Tensor] = None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """Decode only the real slots: z ``[B, C, L]``, counts int64 ``[B, 3]``, g ``[B, H]``, ``rec``
        the PCA reconstruction from :meth:`count_distribution` (None: computed here when
        ``model.pca_init``) -> ``(out [B, W, 3] (x', y', u') in the packed layout of
        :func:`packed_slots`, starts [B, 3], rank [B, W])``, ``W = max_b sum_c counts[b, c]``: the cost
        follows the hits, not the budget. Slots do not interact, so each hit gets the value it has
        in any other layout. TorchScript-compatible: the exported entry points
        (:class:`gvae.export.entry.LatentEntryPoints`) decode through this method."""
        width = packed_width(counts, self.slot_total)
        feats, rank, slot_id, starts = packed_slots(counts, width, self.slot_offset, self.slot_limit,
                                                    self.log_slot_norm)
        # embedding, not slot_embedding[slot_id]: the same rows, but the indexing's backward (an
        # accumulating index_put) adds into the table with racing atomic float adds on CPU with >1
        # thread, so 2-thread training was not bit-reproducible; embedding's backward gives each
        # thread its own rows and adds in index order: deterministic at any thread count, and faster
        # (tests/test_train_determinism.py, benchmarks/results/slot_lookup.md)
        q = self.query(feats.to(z.dtype)) + nn.functional.embedding(slot_id, self.slot_embedding) + g.unsqueeze(1)
        if len(self.blocks) > 0:
            tokens = self.token(z) + self.cluster_embedding
            for block in self.blocks:
                q = block(q, tokens)
        readout = torch.einsum("bh,sho->bso", g, self.slot_readout)                  # [B, S_budget, 3]
        index = slot_id.unsqueeze(-1).expand(-1, -1, 3)
        out = self.head(self.norm_out(q)) + readout.gather(1, index)
        if self.pca is None:
            xy = out[..., :2] + self.anchors(feats[..., 0], rank).to(out.dtype)
        else:  # the PCA reconstruction takes the anchors' place
            if rec is None:
                rec = self.pca(z)
            out = out + rec[..., :3].gather(1, index)
            xy = out[..., :2]
        return torch.cat([xy, out[..., 2:]], dim=-1), starts, rank

    def decode_slots(self, z: Tensor, counts: Tensor, g: Tensor, rec: Optional[Tensor] = None
                     ) -> tuple[Tensor, Tensor, Tensor]:
        """z ``[B, C, L]``, counts int64 ``[B, 3]``, g ``[B, H]`` (and ``rec``, see :meth:`decode_packed`)
        -> ``(xyu [B, S, 3], channel [S], mask [B, S])`` in the layout of :meth:`slot_layout` (zero on
        the slots beyond the counts)."""
        _, channel, rank, mask = self.slot_layout(counts)
        packed, starts, _ = self.decode_packed(z, counts, g, rec)
        xyu = unpack(packed, starts, channel, rank) * mask.unsqueeze(-1).to(packed.dtype)
        return xyu, channel, mask

    @torch.jit.unused
    def forward(self, z: Tensor, noise: Optional[Tensor] = None, counts: Optional[Tensor] = None) -> DecodedSet:
        """Decode.

        z: float32 ``[B, C, L]``. noise: optional float32 ``[B, 3]`` standard-normal draws for the
        hit counts (None = deterministic). counts: int64 ``[B, 3]`` hits per channel to decode
        (training only: the true counts; None = the predicted ones).
        """
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.clusters, self.latent_dim):
            raise InvalidInput(f"expected z [B, {self.clusters}, {self.latent_dim}], got {list(z.shape)}", field="z")
        if noise is not None and tuple(noise.shape) != (z.shape[0], N_CHANNELS):
            raise InvalidInput(f"expected noise [{z.shape[0]}, {N_CHANNELS}], got {list(noise.shape)}", field="noise")
        g = self.glob(z.flatten(1))
        mean, logstd, rec = self.count_distribution(z, g)
        if counts is None:
            counts = self.sample_counts(mean, logstd, noise)
        else:
            counts = torch.minimum(counts.to(torch.int64), self.slot_limit)
        xyu, channel, mask = self.decode_slots(z, counts, g, rec)
        return DecodedSet(xyu=xyu, channel=channel.unsqueeze(0).expand(len(z), -1), mask=mask,
                          counts=counts, log_count_mean=mean, log_count_logstd=logstd)
