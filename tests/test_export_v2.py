"""Contract v2 (latent-only decoder): export of the entry points reconstruct / simulate, the schema,
--verify against the eager model, and the batch range recorded in the contract."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from fixtures_export import LATENT_MAX_BATCH
from gvae.errors import ContractError
from gvae.export import contract as gc
from gvae.export.formats import call_entry, load_exported
from gvae.export.verify import compare_decoded, verify


def test_v2_contract_describes_entry_points_and_batch_range(latent_exported):
    for fmt in ("torchscript", "aoti"):
        doc = gc.read_contract(latent_exported[fmt])
        assert doc["schema_version"] == 2 and doc["model"]["format"] == fmt
        assert doc["batch"] == {"min": 1, "max": LATENT_MAX_BATCH}
        assert set(doc["entry_points"]) == {"reconstruct", "simulate", "simulate_counts"}
        assert [t["name"] for t in doc["entry_points"]["simulate_counts"]["outputs"]] == ["counts"]
        names = [t["name"] for t in doc["entry_points"]["simulate"]["inputs"]]
        assert names == ["conditions", "latent_noise", "count_noise"]
        assert [t["index"] for t in doc["conditions"]["types"]] == [0, 1]
        assert doc == gc.read_contract(gc.sidecar_path(latent_exported[fmt]))
    assert gc.aoti_models(latent_exported["aoti"]) == ["reconstruct", "simulate", "simulate_counts"]


def test_v2_contract_validation_refuses_bad_documents(latent_exported):
    doc = gc.read_contract(latent_exported["torchscript"])
    for mutate, field in ((lambda d: d.__setitem__("schema_version", 3), "schema_version"),
                          (lambda d: d["batch"].__setitem__("min", 0), "batch"),
                          (lambda d: d["batch"].update(min=9, max=8), "batch"),
                          (lambda d: d["entry_points"]["simulate"]["inputs"][0].__setitem__("dtype", "float32"),
                           "entry_points.simulate.inputs[0]"),
                          (lambda d: d["decoder"].__setitem__("slots", [1, 1, 100]), "decoder.slots"),
                          (lambda d: d["entry_points"]["simulate_counts"]["outputs"][0].__setitem__("shape", ["batch", 4]),
                           "entry_points.simulate_counts.outputs[0]"),
                          (lambda d: d["entry_points"].pop("simulate"), "entry_points")):
        bad = copy.deepcopy(doc)
        mutate(bad)
        with pytest.raises(ContractError, match=field.split(".")[0]):
            gc.validate_contract(bad, source="t")
    # simulate_counts is optional: exports written before it lack it and stay valid
    older = copy.deepcopy(doc)
    older["entry_points"].pop("simulate_counts")
    gc.validate_contract(older, source="t")


@pytest.mark.parametrize("batch", [1, 7, LATENT_MAX_BATCH])
def test_entry_points_match_eager_in_both_formats(latent_exported, batch):
    from gvae.export.entry import eager_reconstruct, eager_simulate
    from gvae.export.verify import held_out_inputs, simulate_conditions

    source = latent_exported["source"]
    c, l = source.clusters, source.latent_dim
    g = torch.Generator().manual_seed(batch)
    features, neighbours, mask = held_out_inputs(latent_exported["data"], source, batch, torch.device("cpu"))
    noise, count_noise = torch.randn(batch, c, l, generator=g), torch.randn(batch, 3, generator=g)
    conditions = simulate_conditions(source, batch)
    with torch.no_grad():
        refs = {"reconstruct": eager_reconstruct(source.gvae, features, neighbours, mask, noise, count_noise),
                "simulate": eager_simulate(source.gvae, source.prior, conditions, noise.reshape(batch, -1),
                                           count_noise)}
    inputs = {"reconstruct": (features, neighbours, mask, noise, count_noise),
              "simulate": (conditions, noise.reshape(batch, -1), count_noise)}
    for fmt in ("torchscript", "aoti"):
        for entry in ("reconstruct", "simulate"):
            out = call_entry(load_exported(latent_exported[fmt], torch.device("cpu"), entry), *inputs[entry])
            assert int(out[2].sum()) == int(refs[entry].counts.sum()) > 0
            max_abs, _, excess = compare_decoded(out, refs[entry], 1e-4, 1e-4)
            assert excess <= 0, (fmt, entry, batch, max_abs)
        # simulate_counts: simulate's counts, exactly, without decoding
        counts = call_entry(load_exported(latent_exported[fmt], torch.device("cpu"), "simulate_counts"),
                            *inputs["simulate"])
        assert len(counts) == 1 and torch.equal(counts[0], refs["simulate"].counts), (fmt, batch)


def test_verify_runs_every_entry_point(latent_exported):
    source = latent_exported["source"]
    artifacts = {f: latent_exported[f] for f in ("torchscript", "aoti")}
    report = verify(source, artifacts, torch.device("cpu"), latent_exported["data"])
    names = {c.artifact for c in report.comparisons}
    assert names == {f"{p.name}:{e}" for p in artifacts.values() for e in ("reconstruct", "simulate", "simulate_counts")}
    assert report.ok, [c.line() for c in report.comparisons if not c.ok]
