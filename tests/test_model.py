"""GVAE model: shapes, masks, padding independence, loss terms, inference signature, export."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch_geometric.nn import dense_mincut_pool

from fixtures_model import random_model_inputs
from gvae.errors import ConfigError, InvalidInput
from gvae.model import GVAE, InferenceModel, LossConfig, ModelConfig, gvae_loss
from gvae.model.adjacency import KnnAdjacency
from gvae.model.losses import cluster_usage, kl_per_dimension, node_weights, reconstruction_terms
from gvae.model.pooling import assignments, coarsen

N, K = 40, 4
CFG = dict(max_nodes=N, k=K, hidden=16, clusters=[10, 5], encoder_layers=[2, 1, 1],
           decoder_layers=[1, 1, 2], latent_dim=3, decoder="paper")


@pytest.fixture(scope="module")
def model() -> GVAE:
    torch.manual_seed(0)
    return GVAE(ModelConfig(**CFG)).eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return random_model_inputs(5, N, K, seed=3)


def test_shapes_and_masks(model, inputs):
    f, nb, m = inputs
    assert (~m).any() and m.sum(1).min() < N, "the batch must contain padded jets"
    out = model(f, nb, m)
    assert out["reconstruction"].shape == (5, N, 3)
    assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (5, 5, 3)
    s1, s2 = out["assignments"]
    assert s1.shape == (5, N, 10) and s2.shape == (5, 10, 5)
    # softmaxed assignments: rows sum to 1 on real nodes, 0 on padding
    torch.testing.assert_close(s1.sum(-1), m.float())
    torch.testing.assert_close(s2.sum(-1), torch.ones(5, 10))
    assert (out["reconstruction"][~m] == 0).all()
    a1, a2 = out["pooled_adjacency"]
    assert a1.shape == (5, 10, 10) and a2.shape == (5, 5, 5)
    assert torch.isfinite(out["mincut_loss"]) and torch.isfinite(out["ortho_loss"])
    assert len(out["mincut_stages"]) == 2


def test_adjacency_is_symmetric_masked_knn():
    f, nb, m = random_model_inputs(3, N, K, seed=1)
    adj = KnnAdjacency(self_loops=False)(nb, m)
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    assert (adj[~m].sum() == 0) and (adj.transpose(1, 2)[~m].sum() == 0)
    assert (torch.diagonal(adj, dim1=1, dim2=2) == 0).all()
    b, i = 0, 0
    for j in nb[b, i].tolist():
        if j != i:
            assert adj[b, i, j] == 1 and adj[b, j, i] == 1
    with_loops = KnnAdjacency(self_loops=True)(nb, m)
    torch.testing.assert_close(torch.diagonal(with_loops, dim1=1, dim2=2), m.float())


def _scramble_padding(f, nb, m, seed):
    """Random garbage on padding rows (features and neighbour indices, including real ones)."""
    g = torch.Generator().manual_seed(seed)
    f2, nb2 = f.clone(), nb.clone()
    pad = ~m
    f2[pad] = torch.randn(int(pad.sum()), 6, generator=g) * 10
    nb2[pad] = torch.randint(0, N, (int(pad.sum()), K), generator=g)
    return f2, nb2


def test_padding_never_influences_real_outputs(model, inputs):
    f, nb, m = inputs
    noise = torch.randn(5, 5, 3, generator=torch.Generator().manual_seed(0))
    ref = model(f, nb, m, noise)
    f2, nb2 = _scramble_padding(f, nb, m, seed=9)
    out = model(f2, nb2, m, noise)
    torch.testing.assert_close(out["reconstruction"][m], ref["reconstruction"][m], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["mu"], ref["mu"], rtol=1e-5, atol=1e-6)
    assert (out["reconstruction"][~m] == 0).all()
    for key in ("mincut_loss", "ortho_loss"):
        torch.testing.assert_close(out[key], ref[key], rtol=1e-5, atol=1e-6)
    # same through the exported signature
    inf = InferenceModel(model)
    torch.testing.assert_close(inf(f2, nb2, m, noise)[m], inf(f, nb, m, noise)[m], rtol=1e-5, atol=1e-6)


def test_outputs_do_not_depend_on_the_rest_of_the_batch(model, inputs):
    f, nb, m = inputs
    full = model(f, nb, m)["reconstruction"]
    for b in range(len(f)):
        alone = model(f[b:b + 1], nb[b:b + 1], m[b:b + 1])["reconstruction"]
        torch.testing.assert_close(alone[0], full[b], rtol=1e-5, atol=1e-6)


def test_separate_mean_and_logvar_heads_and_no_batchnorm(model):
    assert model.latent.mu is not model.latent.logvar
    assert model.latent.mu.weight.data_ptr() != model.latent.logvar.weight.data_ptr()
    bad = [n for n, mod in model.named_modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    assert bad == []


def test_gradients_reach_every_parameter(inputs):
    torch.manual_seed(1)
    model = GVAE(ModelConfig(**CFG))
    f, nb, m = inputs
    out = model(f, nb, m, torch.randn(5, 5, 3))
    loss, _ = gvae_loss(out, f, m, LossConfig(), std_u=1.4)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert missing == []


def test_coarsen_matches_dense_mincut_pool():
    g = torch.Generator().manual_seed(4)
    f, nb, m = random_model_inputs(3, N, K, seed=4)
    adj = KnnAdjacency()(nb, m)
    x = torch.randn(3, N, 8, generator=g) * m.unsqueeze(-1)
    logits = torch.randn(3, N, 6, generator=g)
    ref_x, ref_adj, _, _ = dense_mincut_pool(x, adj, logits, m, 0.5)
    out_x, out_adj = coarsen(x, adj, assignments(logits, m, 0.5))
    torch.testing.assert_close(out_x, ref_x)
    torch.testing.assert_close(out_adj, ref_adj)


def test_inference_model_matches_training_forward_script_and_export(model, inputs):
    f, nb, m = inputs
    inf = InferenceModel(model).eval()
    noise = torch.randn(5, 5, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref0 = model(f, nb, m)["reconstruction"]
        ref = model(f, nb, m, noise)["reconstruction"]
        torch.testing.assert_close(inf(f, nb, m, torch.zeros(5, 5, 3)), ref0)
        torch.testing.assert_close(inf(f, nb, m, noise), ref)
        # noise = 0 is the latent mean: deterministic and different from a sample
        assert not torch.allclose(ref0, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation warning
        scripted = torch.jit.script(inf)
    with torch.no_grad():
        torch.testing.assert_close(scripted(f, nb, m, noise), ref, rtol=1e-5, atol=1e-6)
    batch = torch.export.Dim("batch", min=1, max=4096)
    dyn = {"features": {0: batch}, "neighbours": {0: batch}, "mask": {0: batch}, "noise": {0: batch}}
    exported = torch.export.export(inf, (f[:2], nb[:2], m[:2], noise[:2]), dynamic_shapes=dyn)
    run = exported.module()
    with torch.no_grad():
        for sl in (slice(0, 1), slice(0, 5), slice(2, 5)):
            torch.testing.assert_close(run(f[sl], nb[sl], m[sl], noise[sl]), ref[sl], rtol=1e-5, atol=1e-6)


def test_same_seed_same_model(inputs):
    f, nb, m = inputs
    outs = []
    for _ in range(2):
        torch.manual_seed(11)
        outs.append(GVAE(ModelConfig(**CFG)).eval()(f, nb, m)["reconstruction"])
    assert torch.equal(outs[0], outs[1])


def test_invalid_inputs_are_typed_errors(model, inputs):
    f, nb, m = inputs
    with pytest.raises(InvalidInput, match="features"):
        model(f.double(), nb, m)
    with pytest.raises(InvalidInput, match="neighbours"):
        model(f, nb.int(), m)
    bad = nb.clone()
    bad[0, 0, 0] = N
    with pytest.raises(InvalidInput, match="neighbours"):
        model(f, bad, m)
    with pytest.raises(InvalidInput, match="mask"):
        model(f, nb, m[:, :-1])
    nan = f.clone()
    nan[2, 0, 0] = float("nan")
    with pytest.raises(InvalidInput, match="row 2"):
        model(nan, nb, m)


def test_config_validation():
    with pytest.raises(ConfigError, match="clusters"):
        ModelConfig(max_nodes=40, k=4, clusters=[50, 10]).validate()
    with pytest.raises(ConfigError, match="encoder_layers"):
        ModelConfig(max_nodes=40, k=4, clusters=[10, 5], encoder_layers=[1, 1]).validate()
    with pytest.raises(ConfigError, match="activation"):
        ModelConfig(activation="tanh").validate()
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({"hidden": 8, "widht": 3})


def test_loss_terms():
    f, nb, m = random_model_inputs(4, N, K, seed=5)
    w = node_weights(f, m, std_u=1.4, energy_weight=0.5)
    torch.testing.assert_close(w.sum(1), torch.ones(4))
    assert (w[~m] == 0).all() and (w[m] > 0).all()
    # energy weighting: lambda = 1 gives the energy fractions E_i / sum E
    frac = node_weights(f, m, std_u=1.4, energy_weight=1.0)
    energy = torch.exp(f[..., 2] * 1.4) * m
    torch.testing.assert_close(frac, energy / energy.sum(1, keepdim=True))
    uniform = node_weights(f, m, std_u=1.4, energy_weight=0.0)
    torch.testing.assert_close(uniform, m.float() / m.sum(1, keepdim=True))
    # perfect reconstruction -> 0; garbage on padding does not count
    pred = f[..., :3].clone()
    pred[~m] = 123.0
    loss, per_feature = reconstruction_terms(pred, f, w, [1.0, 1.0, 1.0])
    assert float(loss) == 0.0 and (per_feature == 0).all()
    shifted = f[..., :3] + torch.tensor([0.0, 0.0, 1.0])
    loss, per_feature = reconstruction_terms(shifted, f, w, [1.0, 1.0, 2.0])
    torch.testing.assert_close(per_feature, torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(loss, torch.tensor(2.0))
    # KL of the prior itself is 0
    assert float(kl_per_dimension(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)).abs().max()) == 0.0
    torch.testing.assert_close(kl_per_dimension(torch.ones(1, 1, 1), torch.zeros(1, 1, 1)),
                               torch.full((1, 1, 1), 0.5))


def test_cluster_usage_indicators():
    uniform_mass = torch.eye(4).repeat(1, 3, 1)              # 12 nodes, hard, balanced over 4
    eff, ent = cluster_usage(uniform_mass)
    assert abs(float(eff) - 4.0) < 1e-5 and abs(float(ent)) < 1e-5
    collapsed = torch.zeros(1, 12, 4)
    collapsed[..., 0] = 1
    eff, _ = cluster_usage(collapsed)
    assert abs(float(eff) - 1.0) < 1e-5
    soft = torch.full((1, 12, 4), 0.25)
    _, ent = cluster_usage(soft)
    assert abs(float(ent) - torch.log(torch.tensor(4.0))) < 1e-5


def test_gvae_loss_logs_every_term(model, inputs):
    f, nb, m = inputs
    out = model(f, nb, m)
    cfg = LossConfig(beta=0.5, beta_warmup_steps=10, mincut_weight=0.3, ortho_weight=0.7)
    total, terms = gvae_loss(out, f, m, cfg, std_u=1.4, step=4)
    for key in ("loss", "recon", "recon_x", "recon_y", "recon_u", "mse", "kl", "beta", "mincut",
                "ortho", "active_dims", "clusters_eff_1", "clusters_eff_2", "assign_entropy_1",
                "assign_entropy_2"):
        assert key in terms and torch.isfinite(terms[key]), key
    assert abs(float(terms["beta"]) - 0.25) < 1e-7  # half-way through the warm-up
    expected = terms["recon"] + 0.25 * terms["kl"] + 0.3 * terms["mincut"] + 0.7 * terms["ortho"]
    torch.testing.assert_close(total.detach(), expected)
