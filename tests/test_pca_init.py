"""``model.pca_init`` (gvae.model.pca): the latent-only GVAE starts at the PCA of the ordered slot vectors.

The PCA is checked against a direct numpy PCA (SVD) of ordered slot vectors built here by a plain loop,
not by the code under test."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from fixtures_model import random_model_inputs, tiny_config
from gvae.errors import ConfigError
from gvae.model import GVAE, ModelConfig, load_model
from gvae.model.pca import PCA_INIT_SIGMA, StreamingPCA, fit_pca_paths, ordered_slots
from gvae.model.set_decoder import DecodedSet
from gvae.model.set_loss import targets_in_layout, true_counts

N, K = 40, 4
SLOTS = [8, 24, 8]
CFG = dict(max_nodes=N, k=K, hidden=16, clusters=[10, 5], encoder_layers=[2, 1, 1], latent_dim=3,
           decoder="latent", decoder_hidden=16, decoder_heads=2, decoder_blocks=1, slots=SLOTS,
           latent_summary=True, latent_summary_hits=2, pca_init=True)


def numpy_ordered_slots(features: torch.Tensor, mask: torch.Tensor, slots: list[int]) -> np.ndarray:
    """Reference: per channel, the first ``slots[c]`` real hits of that channel in graph order -> ``[B, S, 4]``."""
    f, m = features.double().numpy(), mask.numpy()
    out = np.zeros((len(f), sum(slots), 4))
    for b in range(len(f)):
        start = 0
        for c, width in enumerate(slots):
            rows = [i for i in range(f.shape[1]) if m[b, i] and f[b, i, 3 + c] > 0.5][:width]
            for j, i in enumerate(rows):
                out[b, start + j] = [*f[b, i, :3], 1.0]
            start += width
    return out


def numpy_pca(train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean [D], components [k, D], std [k])`` of the rows of ``train`` by SVD."""
    mean = train.mean(0)
    _, sv, vt = np.linalg.svd(train - mean, full_matrices=False)
    return mean, vt[:k], sv[:k] / np.sqrt(len(train) - 1)


@pytest.fixture(scope="module")
def fitted() -> dict:
    torch.manual_seed(0)
    model = GVAE(ModelConfig(**CFG)).eval()
    train = random_model_inputs(48, N, K, seed=3)
    test = random_model_inputs(6, N, K, seed=11)
    fit_pca_paths(model, [(train[0][i:i + 16], train[2][i:i + 16]) for i in range(0, 48, 16)])
    return {"model": model, "train": train, "test": test}


def test_ordered_slots_are_the_ordered_loss_targets_and_the_reference():
    f, _, m = random_model_inputs(5, N, K, seed=2)
    got = ordered_slots(f, m, SLOTS)
    np.testing.assert_allclose(got.double().numpy(), numpy_ordered_slots(f, m, SLOTS), atol=1e-7)
    # the same targets as the decoder's ordered loss term on the full slot layout, presence = its mask
    counts = torch.minimum(true_counts(f, m), torch.tensor(SLOTS))
    channel = torch.cat([torch.full((s,), c) for c, s in enumerate(SLOTS)])
    rank = torch.cat([torch.arange(s) for s in SLOTS])
    layout_mask = rank.unsqueeze(0) < counts[:, channel]
    zeros = torch.zeros(5, 3)
    layout = DecodedSet(torch.zeros(5, sum(SLOTS), 3), channel.expand(5, -1), layout_mask, counts, zeros, zeros)
    torch.testing.assert_close(got[..., :3], targets_in_layout(f, m, layout))
    assert torch.equal(got[..., 3] > 0.5, layout_mask)


def test_untrained_pca_init_model_reconstructs_as_a_direct_numpy_pca(fitted):
    model, (f, nb, m), (tf, tnb, tm) = fitted["model"], fitted["train"], fitted["test"]
    k = 5 * 3
    mean, comps, std = numpy_pca(numpy_ordered_slots(f, m, SLOTS).reshape(48, -1), k)
    v = numpy_ordered_slots(tf, tm, SLOTS).reshape(6, -1)
    coeff = (v - mean) @ comps.T
    rec = (mean + coeff @ comps).reshape(6, -1, 4)
    with torch.no_grad():
        mu, logvar = model.encode(tf, tnb, tm)
        decoded = model.decode(mu)
    # the latent is the PCA coefficients in units of each component's spread (signs are arbitrary)
    np.testing.assert_allclose(np.abs(mu.flatten(1).double().numpy()), np.abs(coeff / std), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(logvar, torch.full_like(logvar, 2 * np.log(PCA_INIT_SIGMA)))
    # counts: the sum of the reconstructed presence flags (clamped to [0, 1]) of each channel, rounded
    bounds = np.cumsum([0, *SLOTS])
    expect = np.stack([np.clip(rec[:, a:b, 3], 0, 1).sum(1) for a, b in zip(bounds, bounds[1:])], 1)
    np.testing.assert_array_equal(decoded.counts.numpy(), np.rint(expect).astype(np.int64))
    assert decoded.counts.sum() > 0
    # every decoded hit sits where the PCA reconstruction puts that slot
    for b in range(6):
        for c, (a, _) in enumerate(zip(bounds, bounds[1:])):
            sel = decoded.mask[b] & (decoded.channel[b] == c)
            got = decoded.xyu[b][sel].double().numpy()
            np.testing.assert_allclose(got, rec[b, a:a + len(got), :3], rtol=1e-4, atol=1e-4)


def test_latent_of_the_training_jets_has_unit_variance(fitted):
    model, (f, nb, m) = fitted["model"], fitted["train"]
    with torch.no_grad():
        mu, _ = model.encode(f, nb, m)
    std = mu.flatten(1).double().std(0)
    torch.testing.assert_close(std, torch.ones_like(std), rtol=1e-3, atol=1e-3)


def test_pca_init_decoder_reads_only_the_latent(fitted):
    model, (tf, tnb, tm) = fitted["model"], fitted["test"]
    with torch.no_grad():
        mu, _ = model.encode(tf, tnb, tm)
        assert not torch.allclose(mu[0], mu[1])
        decoded = model.decode(torch.stack([mu[0], mu[1], mu[0]]))
        alone = model.decode(mu[0:1])
    assert torch.equal(decoded.counts[0], decoded.counts[2]) and torch.equal(decoded.counts[0], alone.counts[0])
    assert torch.equal(decoded.xyu[0][decoded.mask[0]], decoded.xyu[2][decoded.mask[2]])
    torch.testing.assert_close(decoded.xyu[0][decoded.mask[0]], alone.xyu[0][alone.mask[0]])


def test_streaming_pca_gram_and_covariance_routes_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 12)) @ rng.normal(size=(12, 12))
    few, many = StreamingPCA(4), StreamingPCA(4)
    few.add(x[:10])                        # 10 rows <= 12 features: Gram route
    for i in range(0, 30, 7):              # 30 rows > 12: covariance route
        many.add(x[i:i + 7])
    few.finish()
    many.finish()
    mean, comps, std = numpy_pca(x[:10], 4)
    np.testing.assert_allclose(np.abs(few.components), np.abs(comps), atol=1e-8)
    np.testing.assert_allclose(np.sqrt(few.explained_variance), std, rtol=1e-8)
    mean, comps, std = numpy_pca(x, 4)
    np.testing.assert_allclose(np.abs(many.components), np.abs(comps), atol=1e-8)
    np.testing.assert_allclose(many.mean, mean)


@pytest.mark.parametrize("trainable", [False, True])
def test_frozen_pca_is_buffers_and_trainable_pca_is_parameters(trainable):
    model = GVAE(ModelConfig(**CFG, pca_trainable=trainable))
    names = {n for n, _ in model.named_parameters()}
    paths = {"pca_encoder.basis", "pca_encoder.mean", "decoder.pca.basis", "decoder.pca.mean"}
    if trainable:
        assert paths <= names
    else:
        assert not paths & names
    assert paths | {"pca_encoder.scale", "decoder.pca.scale"} <= set(model.state_dict())


def test_config_refuses_pca_init_without_the_latent_decoder():
    with pytest.raises(ConfigError, match="pca_init"):
        ModelConfig(**{**CFG, "decoder": "paper", "latent_summary": False, "latent_summary_hits": 0}).validate()
    with pytest.raises(ConfigError, match="pca_trainable"):
        ModelConfig(**{**CFG, "pca_init": False, "pca_trainable": True}).validate()


@pytest.fixture(scope="module")
def pca_run(tmp_path_factory, synthetic_graphs):
    """A tiny pca_init GVAE trained 1 epoch through ``python -m gvae.train`` (frozen PCA)."""
    from gvae.train.__main__ import main

    run = tmp_path_factory.mktemp("pca_run")
    cfg = tiny_config(48, 4, epochs=1)
    cfg["model"] = {k: v for k, v in cfg["model"].items() if k != "decoder"} | {
        "decoder": "latent", "decoder_hidden": 16, "decoder_heads": 2, "decoder_blocks": 1,
        "latent_summary": True, "latent_summary_hits": 2, "pca_init": True}
    (run / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    threads = torch.get_num_threads()
    try:
        assert main(["--config", str(run / "tiny.yaml"), "--data", str(synthetic_graphs), "--out", str(run),
                     "--no-progress", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    return run / "best.pt"


def test_training_fits_the_pca_before_the_first_step_and_checkpoints_carry_it(pca_run, synthetic_graphs):
    from gvae.graphs.shards import GraphShards, model_inputs
    from gvae.evaluate.latent import _loader

    loaded = load_model(pca_run)
    model = loaded.model.eval()
    assert loaded.model_config.pca_init and loaded.prior is not None
    # frozen: the checkpoint's PCA is the PCA of the training jets' ordered slot vectors
    train = GraphShards(synthetic_graphs, "train")
    vs = []
    for batch in _loader(train, 64):
        f, _, m = model_inputs(batch, train.normalisation)
        vs.append(numpy_ordered_slots(f, m, model.config.slot_budget).reshape(len(m), -1))
    mean, comps, _ = numpy_pca(np.concatenate(vs), model.config.latent_clusters * model.config.latent_dim)
    np.testing.assert_allclose(model.decoder.pca.mean.double().numpy(), mean, atol=1e-5)
    basis = model.decoder.pca.basis.double().numpy() / model.decoder.pca.norm
    np.testing.assert_allclose(np.abs(basis), np.abs(comps), atol=1e-4)
    assert torch.equal(model.pca_encoder.basis, model.decoder.pca.basis)


def test_pca_init_checkpoint_exports_and_verifies(pca_run, synthetic_graphs, tmp_path):
    from gvae.export import export, load_source
    from gvae.export.verify import verify

    source = load_source(pca_run, max_batch=8)
    result = export(source, tmp_path, formats=("torchscript",), device="cpu", name="gvae_pca", max_batch=8)
    report = verify(source, result.artifacts, torch.device("cpu"), synthetic_graphs)
    assert {c.artifact.split(":")[1] for c in report.comparisons} == {"reconstruct", "simulate", "simulate_counts"}
    assert report.ok, [c.line() for c in report.comparisons if not c.ok]


def test_frozen_pca_is_stored_once():
    model = GVAE(ModelConfig(**CFG))
    assert model.pca_encoder.basis.data_ptr() == model.decoder.pca.basis.data_ptr()
    trainable = GVAE(ModelConfig(**CFG, pca_trainable=True))
    assert trainable.pca_encoder.basis.data_ptr() != trainable.decoder.pca.basis.data_ptr()
