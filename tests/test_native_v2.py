"""Contract v2 through the bindings (issue 16): Model.run of both entry points against PyTorch eager in
both formats (batch 1, 7 and 64), C++ snapping against gvae.model.snap, Producer returning decoded hit
sets with per-channel diagnostics, gvae::Simulator, and the typed errors (batch range, conditions,
unknown contract versions). Models: the session's tiny latent-decoder exports (``latent_exported``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gvae.native as native
from fixtures_export import LATENT_MAX_BATCH
from gvae.errors import ContractError, InvalidInput
from gvae.export.entry import eager_reconstruct, eager_simulate
from gvae.export.verify import compare_decoded, held_out_inputs, simulate_conditions
from gvae.graphs.normalisation import Normalisation
from gvae.model.snap import snap_to_detector

FORMATS = ("torchscript", "aoti")


@pytest.fixture(scope="module")
def models(latent_exported):
    return {fmt: native.Model.load(str(latent_exported[fmt]), "cpu", 2) for fmt in FORMATS}


def _jets(n: int, seed: int):
    rng = np.random.default_rng(seed)
    jets = []
    for _ in range(n):
        m = int(rng.integers(8, 45))
        jets.append((rng.integers(0, 3, m), np.clip(rng.normal(62, 4, m).round(), 0, 124).astype(int),
                     np.clip(rng.normal(62, 4, m).round(), 0, 124).astype(int),
                     rng.exponential(5.0, m).astype(np.float32) + 0.2))
    return native.flatten_hits(jets)


def _table_of(result: dict, jet: int) -> list[tuple[int, int, int, float]]:
    """Hits of one jet of a flat per-hit dict as sorted (channel, ieta, iphi, energy)."""
    end = np.cumsum(result["counts"])
    sl = slice(int(end[jet] - result["counts"][jet]), int(end[jet]))
    return sorted(zip(result["channel"][sl].tolist(), result["ieta"][sl].tolist(), result["iphi"][sl].tolist(),
                      result["energy"][sl].tolist()))


def _python_table(table, jet: int) -> list[tuple[int, int, int, float]]:
    sel = table.jet == jet
    return sorted(zip(table.channel[sel].astype(int).tolist(), table.ieta[sel].astype(int).tolist(),
                      table.iphi[sel].astype(int).tolist(), table.energy[sel].tolist()))


def _agreement(ours: list, theirs: list) -> float:
    """Fraction of cells present in both with energies within 1e-4 relative (1 = identical sets)."""
    if not ours and not theirs:
        return 1.0
    a = {(c, e, p): en for c, e, p, en in ours}
    b = {(c, e, p): en for c, e, p, en in theirs}
    same = sum(1 for k in a.keys() & b.keys() if abs(a[k] - b[k]) <= 1e-4 * abs(b[k]) + 1e-6)
    return same / max(len(a.keys() | b.keys()), 1)


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_run_matches_eager_for_both_entry_points_and_formats(latent_exported, models, batch):
    source = latent_exported["source"]
    c, l = source.clusters, source.latent_dim
    g = torch.Generator().manual_seed(100 + batch)
    features, neighbours, mask = held_out_inputs(latent_exported["data"], source, batch, torch.device("cpu"))
    noise, count_noise = torch.randn(batch, c, l, generator=g), torch.randn(batch, 3, generator=g)
    conditions = simulate_conditions(source, batch)
    latent_noise = torch.randn(batch, c * l, generator=g)
    with torch.no_grad():
        refs = {"reconstruct": eager_reconstruct(source.gvae, features, neighbours, mask, noise, count_noise),
                "simulate": eager_simulate(source.gvae, source.prior, conditions, latent_noise, count_noise)}
    inputs = {"reconstruct": [t.numpy() for t in (features, neighbours, mask, noise, count_noise)],
              "simulate": [t.numpy() for t in (conditions, latent_noise, count_noise)]}
    for fmt, model in models.items():
        for entry in ("reconstruct", "simulate"):
            out = tuple(torch.from_numpy(np.asarray(a)) for a in model.run(entry, inputs[entry]))
            assert out[0].shape == (batch, sum(source.slots), 3)
            max_abs, _, excess = compare_decoded(out, refs[entry], 1e-4, 1e-4)
            assert excess <= 0, (fmt, entry, batch, max_abs)
            assert batch < 64 or int(out[3].sum()) > 0  # the 1-epoch model may decode 0 hits for one jet


def test_cpp_snapping_equals_python_snapping(latent_exported, models):
    source = latent_exported["source"]
    g = torch.Generator().manual_seed(9)
    conditions = simulate_conditions(source, 64)
    with torch.no_grad():
        decoded = eager_simulate(source.gvae, source.prior, conditions,
                                 torch.randn(64, source.clusters * source.latent_dim, generator=g),
                                 torch.randn(64, 3, generator=g))
    # spread some hits over pixel edges, outside the window and below thresholds
    table, _ = snap_to_detector(decoded, Normalisation.from_dict(source.normalisation))
    ours = native.snap(models["torchscript"], decoded.xyu.numpy(), decoded.channel.numpy(), decoded.mask.numpy())
    assert int(ours["counts"].sum()) == len(table.energy) > 0
    for jet in range(64):
        assert _table_of(ours, jet) == _python_table(table, jet), jet


@pytest.mark.parametrize("fmt", FORMATS)
def test_producer_returns_snapped_hit_sets_with_diagnostics(latent_exported, models, fmt):
    source, model = latent_exported["source"], models[fmt]
    flat = _jets(7, 3)
    producer = native.Producer(model, batch_size=7, mode="sampling", seed=1)
    out = producer.produce(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"],
                           rng=native.NoiseGenerator(5))
    prep = producer.prepare(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"],
                            rng=native.NoiseGenerator(5))
    raw = model.run("reconstruct", [prep[k] for k in ("features", "neighbours", "mask", "noise", "count_noise")])
    again = native.snap(model, raw[0], raw[1], raw[2])
    eager = eager_reconstruct(source.gvae, *(torch.from_numpy(prep[k]) for k in
                                             ("features", "neighbours", "mask", "noise", "count_noise")))
    table, _ = snap_to_detector(eager, Normalisation.from_dict(source.normalisation))
    starts = np.cumsum(flat["counts"]) - flat["counts"]
    for jet in range(7):
        hits = _table_of(out, jet)
        assert hits == _table_of(again, jet)
        assert _agreement(hits, _python_table(table, jet)) >= 0.95
        sl = slice(starts[jet], starts[jet] + flat["counts"][jet])
        assert out["counts_in"][jet].tolist() == np.bincount(flat["channel"][sl], minlength=3).tolist()
        np.testing.assert_allclose(out["energy_in"][jet], np.bincount(flat["channel"][sl], flat["energy"][sl],
                                                                       minlength=3), rtol=1e-6)
        assert out["counts_out"][jet].tolist() == np.bincount([h[0] for h in hits], minlength=3).tolist()
        np.testing.assert_allclose(out["energy_out"][jet], np.bincount([h[0] for h in hits], [h[3] for h in hits],
                                                                        minlength=3), rtol=1e-5)
        assert out["decoded"][jet].tolist() == raw[3][jet].tolist()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_simulator_matches_eager_prior_and_decoder(latent_exported, models, fmt, batch):
    source = latent_exported["source"]
    conditions = simulate_conditions(source, batch).numpy()
    sim = native.Simulator(models[fmt], batch_size=batch, seed=0)
    out = sim.simulate(conditions[:, 0].astype(np.int32), conditions[:, 1], rng=native.NoiseGenerator(11))
    g = torch.Generator().manual_seed(11)  # NoiseGenerator = torch's CPU generator, latent then counts
    latent_noise = torch.randn(batch, source.clusters * source.latent_dim, generator=g)
    count_noise = torch.randn(batch, 3, generator=g)
    with torch.no_grad():
        eager = eager_simulate(source.gvae, source.prior, torch.from_numpy(conditions), latent_noise, count_noise)
    table, _ = snap_to_detector(eager, Normalisation.from_dict(source.normalisation))
    scores = [_agreement(_table_of(out, j), _python_table(table, j)) for j in range(batch)]
    assert min(scores) >= 0.95 and np.mean(scores) >= 0.99, scores
    for j in range(batch):
        hits = _table_of(out, j)
        assert out["channel_counts"][j].tolist() == np.bincount([h[0] for h in hits], minlength=3).tolist()


def test_simulator_per_jet_seeds_do_not_depend_on_batching(latent_exported, models):
    source = latent_exported["source"]
    cond = simulate_conditions(source, 9).numpy()
    ids = np.arange(100, 109, dtype=np.uint64)
    one = native.Simulator(models["aoti"], batch_size=9, seed=4).simulate(cond[:, 0].astype(np.int32), cond[:, 1],
                                                                          jet_ids=ids)
    perm = np.arange(9)[::-1].copy()
    other = native.Simulator(models["torchscript"], batch_size=2, seed=4).simulate(
        cond[perm, 0].astype(np.int32), cond[perm, 1], jet_ids=ids[perm])
    for j in range(9):
        assert _agreement(_table_of(one, j), _table_of(other, 8 - j)) >= 0.95
    diff_seed = native.Simulator(models["aoti"], batch_size=9, seed=5).simulate(cond[:, 0].astype(np.int32),
                                                                                cond[:, 1], jet_ids=ids)
    assert any(_table_of(one, j) != _table_of(diff_seed, j) for j in range(9))


def test_typed_errors_batch_range_conditions_and_versions(latent_exported, models):
    source = latent_exported["source"]
    model = models["aoti"]
    cond = simulate_conditions(source, 3).numpy()
    with pytest.raises(InvalidInput, match="batch_size"):
        native.Simulator(model, batch_size=LATENT_MAX_BATCH + 1)
    with pytest.raises(InvalidInput, match="batch_size"):
        native.Producer(model, batch_size=LATENT_MAX_BATCH + 1)
    big = LATENT_MAX_BATCH + 1
    with pytest.raises(InvalidInput, match="field 'batch'"):
        model.run("simulate", [np.tile(cond[:1], (big, 1)), np.zeros((big, source.clusters * source.latent_dim),
                                                                      np.float32), np.zeros((big, 3), np.float32)])
    sim = native.Simulator(model, batch_size=3)
    with pytest.raises(InvalidInput, match=r"jet 1 \(jet_id 1\): field 'jet_type'"):
        sim.simulate(np.array([0, 7, 1], np.int32), cond[:, 1])
    with pytest.raises(InvalidInput, match=r"jet 2 \(jet_id 2\): field 'pt'"):
        sim.simulate(cond[:, 0].astype(np.int32), np.array([cond[0, 1], cond[1, 1], 1e6]))
    with pytest.raises(InvalidInput, match="field 'phi'"):
        sim.simulate(cond[:, 0].astype(np.int32), cond[:, 1], phi=np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ContractError, match="no entry point 'encode'"):
        model.run("encode", [cond])
    doc = dict(model.contract)
    native.parse_contract(json.dumps(doc))
    for version in (3, 0):
        with pytest.raises(ContractError, match=f"unknown schema_version {version}"):
            native.parse_contract(json.dumps({**doc, "schema_version": version}))
    with pytest.raises(ContractError, match="/batch"):
        native.parse_contract(json.dumps({**doc, "batch": {"min": 5, "max": 4}}))
    bad = json.loads(json.dumps(doc))
    bad["entry_points"]["simulate"]["inputs"][0]["dtype"] = "float32"
    with pytest.raises(ContractError, match="entry_points/simulate/inputs/0"):
        native.parse_contract(json.dumps(bad))
    bad = json.loads(json.dumps(doc))
    bad["conditions"]["types"][0]["index"] = 1
    with pytest.raises(ContractError, match="conditions/types/0"):
        native.parse_contract(json.dumps(bad))
