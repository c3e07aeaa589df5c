"""The set decoder computes only the real slots (packed layout, issue 15): same values as decoding
the padded slot layout with ``nn.MultiheadAttention``, for the same weights and inputs, in the eager
decoder and in the exported entry points' ``decode`` (whole slot budget)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gvae.errors import ConfigError
from gvae.export.entry import LatentEntryPoints
from gvae.model import GVAE, ModelConfig
from gvae.model.prior import ConditionalPrior
from gvae.model.set_decoder import PACK_MULTIPLE, SetDecoder, packed_slots, packed_width

N, K = 64, 4
CFG = dict(max_nodes=N, k=K, hidden=16, clusters=[10, 5], encoder_layers=[2, 1, 1], latent_dim=3,
           decoder="latent", decoder_hidden=16, decoder_heads=2, decoder_blocks=2, slots=[12, 30, 9])
#: counts per jet: every channel empty somewhere, one full channel (30 ECAL), one empty jet
COUNTS = torch.tensor([[3, 7, 2], [0, 30, 9], [12, 0, 0], [0, 0, 0], [5, 11, 1]])


def padded_reference(dec: SetDecoder, z: Tensor, counts: Tensor, g: Tensor,
                     channel: Tensor, rank: Tensor) -> tuple[Tensor, Tensor]:
    """The decoder before packing: every slot of the layout ``channel [S]``, ``rank [S]`` decoded for
    every jet, attention through the ``nn.MultiheadAttention`` modules -> (xyu [B, S, 3], mask [B, S])."""
    n = counts[:, channel].clamp(min=1).to(torch.float32)
    rel = (rank.to(torch.float32) + 0.5) / n
    logr = torch.log1p(rank.to(torch.float32)).expand_as(rel) / dec.log_slot_norm
    onehot = nn.functional.one_hot(channel, 3).to(torch.float32).expand(len(counts), -1, -1)
    feats = torch.cat([rel.unsqueeze(-1), logr.unsqueeze(-1), onehot], dim=-1)
    mask = rank.unsqueeze(0) < counts[:, channel]
    tokens = dec.token(z) + dec.cluster_embedding
    slot_id = dec.slot_offset[channel] + rank
    q = dec.query(feats) + dec.slot_embedding[slot_id] + g.unsqueeze(1)
    for block in dec.blocks:
        kv = block.norm_kv(tokens)
        q = q + block.attn(block.norm_q(q), kv, kv, need_weights=False)[0]
        q = q + block.mlp(block.norm_mlp(q))
    out = dec.head(dec.norm_out(q)) + torch.einsum("bh,sho->bso", g, dec.slot_readout[slot_id])
    xy = out[..., :2] + dec.anchors(rel, rank)
    return torch.cat([xy, out[..., 2:]], dim=-1) * mask.unsqueeze(-1).to(q.dtype), mask


@pytest.fixture(scope="module")
def model() -> GVAE:
    torch.manual_seed(3)
    gvae = GVAE(ModelConfig(**CFG)).eval()
    with torch.no_grad():
        gvae.decoder.slot_readout.normal_(0.0, 0.1)
        gvae.decoder.count_head[-1].bias[:3] = torch.log1p(torch.tensor([4.0, 15.0, 3.0]))
    return gvae


def test_packed_layout_puts_each_channel_after_the_previous_one():
    dec_offset, limit = torch.tensor([0, 12, 42]), torch.tensor([12, 30, 9])
    width = packed_width(COUNTS, 51)
    assert width == 48                                   # jet 1: 0 + 30 + 9 = 39, whole blocks of 16
    feats, rank, slot_id, starts = packed_slots(COUNTS, width, dec_offset, limit, 1.0)
    assert starts[0].tolist() == [0, 3, 10]
    assert rank[0, :13].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2]
    assert feats[0, :13, 2:].argmax(-1).tolist() == [0] * 3 + [1] * 7 + [2] * 3
    assert slot_id[0, :12].tolist() == [0, 1, 2, 12, 13, 14, 15, 16, 17, 18, 42, 43]
    assert slot_id[1, :39].tolist() == list(range(12, 51))
    assert int(slot_id.max()) <= 50                      # padding positions stay inside the table
    assert packed_width(torch.zeros(2, 3, dtype=torch.int64), 51) == 16
    assert inspect.signature(packed_width).parameters["multiple"].default == PACK_MULTIPLE


def test_eager_decoder_equals_the_padded_decoding(model):
    dec = model.decoder
    z = torch.randn(len(COUNTS), 5, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        decoded = dec(z, None, COUNTS)
        g = dec.glob(z.flatten(1))
        _, channel, rank, _ = dec.slot_layout(COUNTS)
        ref, mask = padded_reference(dec, z, COUNTS, g, channel, rank)
    assert decoded.xyu.shape == ref.shape == (5, 12 + 30 + 9, 3)
    assert torch.equal(decoded.mask, mask)
    assert torch.equal(decoded.counts, COUNTS)
    torch.testing.assert_close(decoded.xyu, ref, atol=1e-5, rtol=0)
    assert float(ref[mask].abs().min()) > 0 and not bool(decoded.xyu[~mask].any())


def test_entry_point_decode_equals_the_padded_decoding_over_the_whole_budget(model):
    rng = np.random.default_rng(0)
    dim = 5 * 3
    prior = ConditionalPrior(shape=(5, 3), logpt_mean=4.0, logpt_std=1.0, shrinkage=0.5,
                             mean={0: rng.normal(size=dim)}, slope={0: rng.normal(size=dim)},
                             chol={0: np.eye(dim)}, pt_quantiles={0: np.linspace(10.0, 100.0, 101)})
    entry = LatentEntryPoints(model, prior).eval()
    dec = model.decoder
    z = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(2))
    cnoise = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        xyu, channel, hit_mask, counts = entry.decode(z, cnoise)
        g = dec.glob(z.flatten(1))
        budget_channel = torch.repeat_interleave(torch.arange(3), torch.tensor(CFG["slots"]))
        budget_rank = torch.cat([torch.arange(s) for s in CFG["slots"]])
        ref, mask = padded_reference(dec, z, counts, g, budget_channel, budget_rank)
        eager = dec(z, cnoise)
    assert int(counts.sum()) > 10 and torch.equal(counts, eager.counts)
    assert xyu.shape == (4, 51, 3) and torch.equal(channel[0], budget_channel)
    assert torch.equal(hit_mask, mask)
    torch.testing.assert_close(xyu, ref, atol=1e-5, rtol=0)
    scripted = torch.jit.script(entry)                   # the TorchScript export scripts this module
    with torch.no_grad():
        for x, y in zip(scripted.decode(z, cnoise), (xyu, channel, hit_mask, counts)):
            assert torch.equal(x, y)
    for b in range(4):                                   # the same hits, in the same order, as eager
        torch.testing.assert_close(xyu[b][hit_mask[b]], eager.xyu[b][eager.mask[b]], atol=1e-5, rtol=0)


def test_a_jets_decoding_does_not_depend_on_the_other_jets_of_its_batch(model):
    """Bit for bit (the C++ Simulator's per-jet samples must not depend on batching): the packed
    width follows the batch's largest jet, whole blocks of PACK_MULTIPLE keep the kernels' rows alike."""
    dec = model.decoder
    counts = torch.tensor([[1, 1, 1], [2, 1, 0], [12, 30, 9]])
    z = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        # two small jets (3 hits each: width 16; unpadded, a 3-row attention block computes its rows
        # differently in the last bit), then the same jets with a large one (51 hits: width 64).
        # Two, not one: batch 1 takes BLAS's matrix-vector path in the global code, not the packing's business
        small = dec(z[:2], None, counts[:2])
        large = dec(z, None, counts)
    for i in (0, 1):
        assert int(small.mask[i].sum()) == 3
        assert torch.equal(small.xyu[i][small.mask[i]], large.xyu[i][large.mask[i]])


def test_a_decoder_without_attention_blocks_decodes_and_scripts_as_eager():
    """``decoder_blocks: 0`` (configs/fast.yaml): no cross-attention; the slots are their queries
    through the output head plus the readout. Eager equals the padded reference, the scripted entry
    points equal eager, and a negative block count is refused."""
    torch.manual_seed(7)
    gvae = GVAE(ModelConfig(**{**CFG, "decoder_blocks": 0})).eval()
    dec = gvae.decoder
    assert len(dec.blocks) == 0
    with torch.no_grad():
        dec.slot_readout.normal_(0.0, 0.1)
        dec.count_head[-1].bias[:3] = torch.log1p(torch.tensor([4.0, 15.0, 3.0]))
    z = torch.randn(len(COUNTS), 5, 3, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        decoded = dec(z, None, COUNTS)
        _, channel, rank, _ = dec.slot_layout(COUNTS)
        ref, mask = padded_reference(dec, z, COUNTS, dec.glob(z.flatten(1)), channel, rank)
    assert torch.equal(decoded.mask, mask) and float(ref[mask].abs().min()) > 0
    torch.testing.assert_close(decoded.xyu, ref, atol=1e-5, rtol=0)
    rng = np.random.default_rng(1)
    prior = ConditionalPrior(shape=(5, 3), logpt_mean=4.0, logpt_std=1.0, shrinkage=0.5,
                             mean={0: rng.normal(size=15)}, slope={0: rng.normal(size=15)},
                             chol={0: np.eye(15)}, pt_quantiles={0: np.linspace(10.0, 100.0, 101)})
    entry = LatentEntryPoints(gvae, prior).eval()
    cnoise = torch.randn(len(COUNTS), 3, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        eager = dec(z, cnoise)
        xyu, _, hit_mask, counts = torch.jit.script(entry).decode(z, cnoise)
    assert int(counts.sum()) > 10 and torch.equal(counts, eager.counts)
    for b in range(len(COUNTS)):
        assert torch.equal(xyu[b][hit_mask[b]], eager.xyu[b][eager.mask[b]])
    with pytest.raises(ConfigError, match="decoder_blocks"):
        ModelConfig(**{**CFG, "decoder_blocks": -1}).validate()
