"""Latent-only decoder (model.decoder: latent), its loss, detector snapping, the conditional prior and
``python -m gvae.simulate``."""
from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fixtures_model import random_model_inputs, tiny_config
from gvae import geometry, io
from gvae.errors import ConfigError, InvalidInput
from gvae.model import GVAE, ModelConfig, load_model
from gvae.model.prior import ConditionalPrior
from gvae.model.set_decoder import DecodedSet, SetDecoder
from gvae.model.set_loss import set_loss, targets_in_layout, transport_loss, true_counts
from gvae.model.snap import evaluation_hits, images, snap_to_detector
from gvae.graphs.normalisation import Normalisation

N, K = 40, 4
CFG = dict(max_nodes=N, k=K, hidden=16, clusters=[10, 5], encoder_layers=[2, 1, 1], latent_dim=3,
           decoder="latent", decoder_hidden=16, decoder_heads=2, decoder_blocks=1)
NORM = Normalisation(0.0, 0.3, 0.0, 0.3, 0.5, 1.2)


@pytest.fixture(scope="module")
def model() -> GVAE:
    torch.manual_seed(0)
    gvae = GVAE(ModelConfig(**CFG)).eval()
    with torch.no_grad():  # untrained: predict a few hits per channel (log(1 + n) = log 6, 21, 6)
        gvae.decoder.count_head[-1].bias[:3] = torch.log1p(torch.tensor([5.0, 20.0, 5.0]))
        gvae.decoder.slot_readout.normal_(0.0, 0.1)
    return gvae


def test_decode_signature_takes_only_the_latent_and_noise():
    assert list(inspect.signature(GVAE.decode).parameters) == ["self", "z", "noise"]
    # the set decoder's own inputs: the latent, the count noise and (training only) the counts
    assert list(inspect.signature(SetDecoder.forward).parameters) == ["self", "z", "noise", "counts"]


def test_two_different_jets_with_the_same_latent_decode_identically(model):
    f, nb, m = random_model_inputs(4, N, K, seed=5)
    assert not torch.equal(f[0], f[1])
    with torch.no_grad():
        mu, _ = model.encode(f, nb, m)
        assert not torch.allclose(mu[0], mu[1])
        # jets 0 and 2 of this batch are different jets given the same latent (jet 0's); jets 1 and 3
        # keep their own, so anything batch-dependent would show
        z = torch.stack([mu[0], mu[1], mu[0], mu[3]])
        decoded = model.decode(z)
        alone = model.decode(mu[0:1])                  # and jet 0's latent decoded on its own
    assert torch.equal(decoded.counts[0], decoded.counts[2]) and torch.equal(decoded.counts[0], alone.counts[0])
    assert int(decoded.counts[0].sum()) >= 10
    rows = [decoded.xyu[j][decoded.mask[j]] for j in (0, 2)] + [alone.xyu[0][alone.mask[0]]]
    assert torch.equal(rows[0], rows[1])
    torch.testing.assert_close(rows[0], rows[2], atol=1e-6, rtol=1e-6)
    assert not torch.equal(decoded.xyu[1][decoded.mask[1]][:3], rows[0][:3])


def test_decoding_is_deterministic_for_given_noise(model):
    torch.manual_seed(1)
    z = torch.randn(3, 5, 3)
    noise = torch.randn(3, 3, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a, b = model.decode(z, noise), model.decode(z, noise.clone())
        c = model.decode(z)
    assert torch.equal(a.xyu, b.xyu) and torch.equal(a.mask, b.mask) and torch.equal(a.counts, b.counts)
    assert torch.equal(c.counts, model.decode(z).counts)
    big = model.decode(z, torch.full((3, 3), 3.0))
    assert (big.counts >= c.counts).all() and (big.counts > c.counts).any()


def test_decoded_counts_respect_the_slot_budget_and_channels(model):
    with torch.no_grad():
        d = model.decode(torch.randn(2, 5, 3) * 50, torch.full((2, 3), 10.0))
    budget = torch.tensor(model.config.slot_budget)
    assert (d.counts <= budget).all()
    for c in range(3):
        assert torch.equal((d.mask & (d.channel == c)).sum(1), d.counts[:, c])


def test_count_head_log_std_keeps_a_gradient_outside_its_range():
    """The cardinality head's log-std is squashed into its range smoothly: a raw value far outside
    it (as after a bad first step) still gets a gradient from the count loss, so it can recover."""
    from gvae.model.set_decoder import LOGSTD_RANGE, soft_range

    raw = torch.tensor([-20.0, -1.5, 0.0, 2.0, 20.0], requires_grad=True)
    out = soft_range(raw, *LOGSTD_RANGE)
    assert bool(((out >= LOGSTD_RANGE[0]) & (out <= LOGSTD_RANGE[1])).all())
    assert abs(float(out[1]) + 1.5) < 1e-6 and abs(float(out[2])) < 0.1
    y = torch.tensor(3.0)                       # log(1 + n_true); mean prediction 2.0
    loss = (0.5 * ((y - 2.0) * torch.exp(-out)) ** 2 + out).sum()
    loss.backward()
    assert bool((raw.grad.abs() > 1e-8).all())
    assert float(raw.grad[-1]) > 0               # too large a log-std is pushed down


def test_jet_summary_features_are_the_channel_counts_energies_and_centroids():
    from gvae.model.latent import JetSummary

    summary = JetSummary(5, 3, 8)
    with torch.no_grad():
        summary.energy_scale.fill_(1.9)                 # a = |1.9| + 0.1 = 2
    f = torch.zeros(1, 4, 6)
    f[0, :, :3] = torch.tensor([[0.5, 0.0, 1.0], [-0.5, 0.0, 1.0], [0.0, 2.0, 0.0], [9.0, 9.0, 9.0]])
    f[0, :2, 4] = 1.0                                  # two ECAL hits
    f[0, 2, 5] = 1.0                                   # one HCAL hit
    f[0, 3, 3] = 1.0                                   # a padding row: must not count
    mask = torch.tensor([[True, True, True, False]])
    got = summary.features(f, mask)[0].view(3, 5)
    torch.testing.assert_close(got[0], torch.zeros(5))                       # no track hit
    torch.testing.assert_close(got[1], torch.tensor([math.log(3.0), 1.0 + math.log(2.0) / 2, 0.0, 0.0, 0.5]),
                               atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(got[2], torch.tensor([math.log(2.0), 0.0, 0.0, 2.0, 0.0]), atol=1e-3, rtol=1e-4)


def test_jet_summary_leading_hits_are_the_first_hits_of_each_channel():
    from gvae.model.latent import JetSummary

    summary = JetSummary(5, 3, 8, leading=2)
    f = torch.zeros(1, 5, 6)
    f[0, :, :3] = torch.arange(15.0).view(5, 3)
    f[0, [0, 2, 3], 4] = 1.0                           # ECAL: nodes 0, 2, 3 (only 0 and 2 kept)
    f[0, [1, 4], 3] = 1.0                              # track: node 1 (node 4 is padding)
    mask = torch.tensor([[True, True, True, True, False]])
    lead = summary.leading_hits(f, mask)[0]
    torch.testing.assert_close(lead[0], torch.tensor([[3.0, 4.0, 5.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(lead[1], torch.tensor([[0.0, 1.0, 2.0], [6.0, 7.0, 8.0]]))
    torch.testing.assert_close(lead[2], torch.zeros(2, 3))
    assert summary.features(f, mask).shape == (1, 15 + 2 * 9)
    with pytest.raises(ConfigError, match="latent_summary_hits"):
        ModelConfig(**{**CFG, "latent_summary_hits": 4}).validate()


def test_latent_summary_offsets_the_latent_mean_and_nothing_else():
    torch.manual_seed(0)
    gvae = GVAE(ModelConfig(**{**CFG, "latent_summary": True})).eval()
    f, nb, m = random_model_inputs(3, N, K, seed=2)
    with torch.no_grad():
        mu0, lv0 = gvae.encode(f, nb, m)               # zero-initialised last layer: no offset yet
        gvae.summary.mlp[-1].weight.normal_(0.0, 0.5)
        mu1, lv1 = gvae.encode(f, nb, m)
        want = gvae.summary(*gvae._trimmed(f, nb, m, True)[::2])
    torch.testing.assert_close(mu1 - mu0, want, atol=1e-5, rtol=1e-5)
    assert float((mu1 - mu0).abs().max()) > 1e-2
    torch.testing.assert_close(lv1, lv0)
    with pytest.raises(ConfigError, match="latent_summary"):
        ModelConfig(**{**CFG, "decoder": "paper", "latent_summary": True}).validate()


def test_encode_ignores_padding_columns(model):
    f, nb, m = random_model_inputs(3, N, K, seed=2)
    n = int(m.sum(1).max())
    assert n < N
    with torch.no_grad():
        full = model.encode(f, nb, m)[0]
        model_nodes = model.config.max_nodes
        trimmed = model.encode(f[:, :n], nb[:, :n], m[:, :n])[0]
    assert model_nodes == N
    torch.testing.assert_close(full, trimmed, atol=1e-5, rtol=1e-5)


def test_inputs_are_checked(model):
    f, nb, m = random_model_inputs(2, N, K, seed=2)
    with pytest.raises(InvalidInput):
        model.encode(torch.zeros(2, N + 1, 6), nb, m)
    with pytest.raises(InvalidInput):
        model.decode(torch.zeros(2, 4, 3))
    with pytest.raises(InvalidInput):
        model.decode(torch.zeros(2, 5, 3), torch.zeros(2, 2))
    with pytest.raises(ConfigError):
        ModelConfig(**{**CFG, "decoder": "magic"}).validate()
    with pytest.raises(ConfigError):
        ModelConfig(**{**CFG, "slots": [30, 30, 30]}).validate()


def test_old_checkpoint_configs_read_as_paper_decoder():
    cfg = ModelConfig(**{**CFG, "decoder": "paper"}).to_dict()
    del cfg["decoder"]
    assert ModelConfig.from_dict(cfg).decoder == "paper"
    assert ModelConfig().decoder == "latent"


def _teacher_forced(model: GVAE, seed: int = 0):
    f, nb, m = random_model_inputs(4, N, K, seed=seed)
    out = model(f, nb, m)
    return out, out["features"], out["mask"]


def test_teacher_forced_layout_matches_the_true_hits(model):
    out, f, m = _teacher_forced(model)
    d = out["decoded"]
    assert torch.equal(d.counts, torch.minimum(true_counts(f, m), torch.tensor(model.config.slot_budget)))
    target = targets_in_layout(f, m, d)
    for b in range(len(m)):
        for c in range(3):
            want = f[b][m[b] & (f[b, :, 3 + c] > 0.5), :3][: int(d.counts[b, c])]
            got = target[b][d.mask[b] & (d.channel[b] == c)]
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("method", ["sinkhorn", "chamfer"])
def test_set_loss_is_small_for_the_truth_and_grows_with_a_shift(model, method):
    out, f, m = _teacher_forced(model)
    d = out["decoded"]
    exact = targets_in_layout(f, m, d)
    for shift, expect_small in ((0.0, True), (0.5, False)):
        xyu = exact.clone()
        xyu[..., 0] += shift
        pred = DecodedSet(xyu * d.mask.unsqueeze(-1), d.channel, d.mask, d.counts, d.log_count_mean,
                          d.log_count_logstd)
        parts = set_loss(pred, f, m, NORM, method, blur=0.01, iters=30)
        if expect_small:
            assert float(parts["ot_value"]) < 0.05 and float(parts["energy"]) < 1e-8 and float(parts["logE"]) < 1e-8
            assert float(parts["ordered"]) < 1e-10
        else:
            # every hit moved by 0.5 x' = 0.15 in eta = 0.1875 R in each of the 3 channels: OT 0.56, Chamfer less
            assert float(parts["ot_value"]) > 0.25
            assert float(parts["ordered"]) == pytest.approx(3 * 0.25, rel=1e-4)   # 0.5^2 per channel, weights sum to 1


def test_sinkhorn_gradient_moves_points_towards_the_target():
    a = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]], requires_grad=True)
    b = torch.tensor([[[0.2, 0.0], [1.2, 0.0]]])
    w = torch.full((1, 2), 0.5)
    surrogate, value = transport_loss(a, w, b, w, "sinkhorn", 0.01, 40)
    surrogate.sum().backward()
    assert abs(float(value) - 0.2) < 0.02
    assert (a.grad[0, :, 0] < 0).all()   # moving right lowers the cost


def test_snap_puts_hits_on_cells_and_applies_thresholds():
    norm = Normalisation(0.0, 1.0, 0.0, 1.0, 0.0, 1.0)
    xyu = torch.tensor([[[0.0, 0.0, np.log(5.0)], [0.0174 * 3.4, 0.0, np.log(0.1)],   # track 5 GeV, 0.1 GeV
                         [0.0174 * 2.6, -0.0174 * 1.2, np.log(2.0)], [0.0174 * 3.1, -0.0174, np.log(1.0)],  # ECAL
                         [0.0, 0.0, np.log(0.5)], [0.0174 * 4, 0.0174 * 4, np.log(3.0)],   # HCAL 0.5 (< 0.8), 3
                         [5.0, 0.0, np.log(50.0)]]], dtype=torch.float32)                   # ECAL outside
    channel = torch.tensor([[0, 0, 1, 1, 2, 2, 1]])
    mask = torch.ones(1, 7, dtype=torch.bool)
    d = DecodedSet(xyu, channel, mask, torch.tensor([[2, 3, 2]]), torch.zeros(1, 3), torch.zeros(1, 3))
    table, stats = snap_to_detector(d, norm)
    hits = list(zip(table.channel.tolist(), table.ieta.tolist(), table.iphi.tolist(), table.energy.tolist()))
    assert hits[0][:3] == (0, 62, 62) and abs(hits[0][3] - 5.0) < 1e-4          # 0.1 GeV track curls up
    assert hits[1][:3] == (1, 65, 61) and abs(hits[1][3] - 3.0) < 1e-4           # two ECAL hits merged
    assert hits[2][:3] == (2, 67, 67) and abs(hits[2][3] - 3.0) < 1e-4           # tower 13 -> centre 67
    assert len(hits) == 3 and table.counts.tolist() == [3]
    assert stats.outside.tolist() == [0, 1, 0] and stats.below_threshold.tolist() == [1, 0, 1]
    img = images(table)
    assert img.shape == (1, 3, 125, 125)
    assert abs(float(img[0, 2, 65:70, 65:70].sum()) - 3.0) < 1e-4 and abs(float(img[0, 2, 65, 65]) - 3.0 / 25) < 1e-6
    ev = evaluation_hits(table)[0]
    assert np.allclose(ev.x, (table.ieta.astype(float) - 62) * geometry.PIXEL_SIZE)


def _latents(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.float32)
    pt = rng.uniform(400, 900, n)
    t = np.log(pt) - np.log(600)
    mu = rng.normal(size=(n, 4, 2)) * 0.3 + label[:, None, None] * 2.0 + 3.0 * t[:, None, None]
    return mu, label, pt


def test_prior_samples_the_requested_conditions_reproducibly():
    prior = ConditionalPrior.fit(*_latents(400, 0), *_latents(100, 1))
    assert prior.selection["standard_normal"] < max(v for k, v in prior.selection.items() if k != "standard_normal")
    label = torch.tensor([1.0] * 500 + [0.0] * 500)
    pt = torch.tensor([850.0] * 250 + [450.0] * 250 + [850.0] * 250 + [450.0] * 250)
    gen = torch.Generator().manual_seed(3)
    noise = torch.randn(1000, prior.dim, generator=gen)
    z = prior.sample(label, pt, noise)
    again = prior.sample(label, pt, torch.randn(1000, prior.dim, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(z, again) and z.shape == (1000, 4, 2)
    means = [float(z[i:i + 250].mean()) for i in range(0, 1000, 250)]   # top high, top low, qcd high, qcd low
    assert means[0] - means[2] == pytest.approx(2.0, abs=0.15)         # type shifts the latent by 2
    assert means[0] - means[1] == pytest.approx(3.0 * np.log(850 / 450), abs=0.15)  # pT slope 3 per ln pT
    restored = ConditionalPrior.from_state(prior.state())
    assert torch.equal(restored.sample(label, pt, noise), z)
    with pytest.raises(InvalidInput):
        prior.sample(torch.tensor([2.0]), torch.tensor([500.0]), torch.zeros(1, prior.dim))
    with pytest.raises(InvalidInput):
        prior.sample(torch.tensor([1.0]), torch.tensor([-5.0]), torch.zeros(1, prior.dim))
    u = torch.rand(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pts = prior.sample_pt(torch.ones(2000), u)
    lo, hi = prior.pt_range(1)
    assert float(pts.min()) >= lo and float(pts.max()) <= hi and abs(float(pts.mean()) - 650) < 30


@pytest.fixture(scope="module")
def latent_checkpoint(tmp_path_factory, synthetic_graphs) -> Path:
    """A tiny latent-decoder GVAE trained 1 epoch on the synthetic graphs, with its prior."""
    from gvae.train.__main__ import main

    run = tmp_path_factory.mktemp("latent_run")
    cfg = tiny_config(48, 4, epochs=1)
    cfg["model"] = {k: v for k, v in cfg["model"].items() if k != "decoder"} | {
        "decoder": "latent", "decoder_hidden": 16, "decoder_heads": 2, "decoder_blocks": 1}
    (run / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(run / "tiny.yaml"), "--data", str(synthetic_graphs), "--out", str(run),
                 "--no-progress", "--threads", "1"]) == 0
    return run / "best.pt"


def test_training_logs_set_terms_and_stores_the_prior(latent_checkpoint):
    loaded = load_model(latent_checkpoint)
    assert loaded.model_config.decoder == "latent" and loaded.prior is not None
    assert loaded.prior.shape == loaded.model.latent_shape
    history = torch.load(latent_checkpoint, weights_only=False)["history"]
    for key in ("train_ot", "train_energy", "train_logE", "train_count", "train_ordered", "val_ot", "val_count"):
        assert key in history[-1] and np.isfinite(history[-1][key])


@pytest.mark.parametrize("ext", ["parquet", "gvh"])
def test_simulate_writes_files_every_reader_reads(latent_checkpoint, tmp_path, ext):
    from gvae.data.__main__ import main as data_main
    from gvae.simulate.__main__ import main

    out = tmp_path / f"sim.{ext}"
    assert main(["--checkpoint", str(latent_checkpoint), "--process", "mixed", "--jets", "10", "--seed", "5",
                 "--out", str(out), "--no-progress", "--chunk-size", "4"]) == 0
    jets = io.read_jets(out)
    assert len(jets) == 10 and jets.y.tolist() == [1.0, 0.0] * 5
    assert np.all(jets.images >= 0) and np.all(np.isfinite(jets.m0))
    assert data_main(["inspect", str(out), "--no-progress"]) == 0
    again = tmp_path / f"again.{ext}"
    assert main(["--checkpoint", str(latent_checkpoint), "--process", "mixed", "--jets", "10", "--seed", "5",
                 "--out", str(again), "--no-progress", "--chunk-size", "4"]) == 0
    assert np.array_equal(io.read_jets(again).images, jets.images)


def test_simulate_decodes_in_groups_of_similar_size_and_returns_the_jets_in_order(latent_checkpoint):
    """A chunk is decoded in groups sorted by hit count (gvae.simulate.DECODE_GROUP): every jet once, no
    trailing group of one, and each jet equal to the one-call decoding of the whole chunk (same counts;
    images to float rounding, which can move a snapped hit by a cell's worth of energy in rare pixels)."""
    import gvae.simulate as simulate
    from gvae.model.snap import images, snap_to_detector

    sim = simulate.Simulator(latent_checkpoint, decode_group=4)
    gen = torch.Generator().manual_seed(2)
    n = 13                                                   # groups 4, 4, 5 (no trailing group of one)
    label = torch.tensor([1.0, 0.0] * 6 + [1.0])
    pt = torch.full((n,), 700.0, dtype=torch.float64)
    latent_noise, count_noise = torch.randn(n, sim.prior.dim, generator=gen), torch.randn(n, 3, generator=gen)
    z = sim.prior.sample(label, pt, latent_noise)
    groups = sim._groups(z, count_noise)
    assert [len(g) for g in groups] == [4, 4, 5]
    assert sorted(torch.cat(groups).tolist()) == list(range(n))
    with torch.no_grad():
        whole = sim.model.decode(z, count_noise)
        sizes = whole.counts.sum(1)[torch.cat(groups)]
        assert torch.equal(sizes, sizes.sort().values)            # by increasing hit count
        reference = images(snap_to_detector(whole, sim.norm)[0])
    batch = sim.simulate(label, pt, latent_noise, count_noise)
    one_call = simulate.Simulator(latent_checkpoint, decode_group=0)
    assert [len(g) for g in one_call._groups(z, count_noise)] == [n]
    np.testing.assert_allclose(batch.images.reshape(n, -1).sum(1), reference.reshape(n, -1).sum(1), rtol=1e-4)
    assert np.array_equal(batch.images > 0, reference > 0) or np.abs(batch.images - reference).max() < 1.0


def test_simulate_conditions_file_and_errors(latent_checkpoint, tmp_path):
    from gvae.simulate.__main__ import main

    cond = tmp_path / "cond.csv"
    cond.write_text("type,pt\nttbar,500\nqcd,700\n1,450\n")
    out = tmp_path / "c.h5"
    assert main(["--checkpoint", str(latent_checkpoint), "--conditions", str(cond), "--seed", "1",
                 "--out", str(out), "--no-progress"]) == 0
    jets = io.read_jets(out)
    assert jets.y.tolist() == [1.0, 0.0, 1.0] and np.allclose(jets.pt, [500, 700, 450])
    bad = tmp_path / "bad.csv"
    bad.write_text("type,pt\nttbar,-3\n")
    assert main(["--checkpoint", str(latent_checkpoint), "--conditions", str(bad), "--seed", "1",
                 "--out", str(tmp_path / "x.h5"), "--no-progress"]) == 2
    assert main(["--checkpoint", str(latent_checkpoint), "--process", "qcd", "--jets", "3", "--pt-min", "900",
                 "--seed", "1", "--out", str(tmp_path / "x.h5"), "--no-progress"]) == 2
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--process", "qcd", "--jets", "3", "--seed", "1",
                 "--out", str(tmp_path / "x.h5"), "--no-progress"]) == 2


def test_simulate_pt_range_is_honoured(latent_checkpoint, tmp_path):
    from gvae.simulate.__main__ import main

    out = tmp_path / "r.parquet"
    assert main(["--checkpoint", str(latent_checkpoint), "--process", "ttbar", "--jets", "6", "--pt-min", "800",
                 "--pt-max", "900", "--seed", "2", "--out", str(out), "--no-progress"]) == 0
    jets = io.read_jets(out)
    assert np.all((jets.pt >= 800) & (jets.pt <= 900)) and np.all(jets.y == 1.0)


def test_simulate_help_lists_every_flag(capsys):
    from gvae.simulate.__main__ import build_parser

    text = build_parser().format_help()
    for flag in ("--checkpoint", "--process", "--jets", "--pt-min", "--pt-max", "--conditions", "--seed", "--out",
                 "--chunk-size", "--no-progress"):
        assert flag in text


def test_evaluate_reports_the_latent_gvae_beside_the_latent_only_pca(latent_checkpoint, synthetic_graphs, tmp_path):
    import json

    from gvae.evaluate.__main__ import main

    out = tmp_path / "eval"
    assert main(["--checkpoint", str(latent_checkpoint), "--data", str(synthetic_graphs), "--out", str(out),
                 "--workers", "1", "--no-plots"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["checkpoint"]["decoder"] == "latent"
    for model in ("gvae", "latent_pca", "other_jet"):
        assert report["emd"][model]["all"]["median"] > 0
    assert report["baseline"]["components"] <= 6 * 4 and report["data"]["n_jets"] == 16
    assert "latent-only PCA" in (out / "report.md").read_text()
