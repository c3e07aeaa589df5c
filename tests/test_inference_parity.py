"""Parity of libgvae (through the bindings) with eager PyTorch on generated jets.

For the 240 generated ``physics_jets`` and the session's trained model exported to TorchScript
and AOTInductor (``exported_models``): the C++ producer (C++ graph builder, normalisation from
the contract, batching, exported model, inverse normalisation) must reproduce the Python chain
``gvae.graphs.build.build_graph`` -> ``Normalisation.apply`` -> eager ``InferenceModel`` ->
``Normalisation.invert`` for batch sizes 1, 7 and 64, deterministic and sampling modes.

Tolerance (stated): on every real node, |dx|, |dy| <= 1e-5 (eta/phi offset; a pixel is 0.0174)
and |dE| / E <= 1e-4. The exported graphs reorder float32 arithmetic, so the differences are a
few ulp of the O(1) normalised outputs (measured ~1e-6, printed by the tests).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gvae.native as native
from gvae.graphs.build import build_graph, hits_from_image
from gvae.graphs.normalisation import Normalisation

ATOL_XY = 1e-5
RTOL_E = 1e-4
BATCH_SIZES = (1, 7, 64)


@pytest.fixture(scope="module")
def reference(physics_jets: Any, export_source: Any, exported_torchscript: dict[str, Any]) -> dict[str, Any]:
    """The Python chain on every jet: hits, graphs, eager outputs (deterministic and sampling)."""
    contract = json.loads(Path(str(exported_torchscript["torchscript"]) + ".contract.json").read_text())
    k, n_max = contract["graph"]["k"], contract["graph"]["max_nodes"]
    c, l = contract["latent"]["clusters"], contract["latent"]["dim"]
    norm = Normalisation.from_dict(contract["normalisation"])
    hits = [hits_from_image(img) for img in physics_jets.images]
    graphs = [build_graph(h, k=k, max_nodes=n_max, jet=i) for i, h in enumerate(hits)]
    feats = np.stack([g.features for g in graphs])
    mask = np.stack([g.mask for g in graphs])
    neighbours = torch.from_numpy(np.stack([g.neighbours for g in graphs]))
    ids = np.arange(1000, 1000 + len(hits), dtype=np.uint64)
    seed = 77
    noise = torch.stack([torch.randn(c, l, generator=torch.Generator().manual_seed(native.jet_seed(seed, int(i))))
                         for i in ids])
    eager = export_source.model.eval()
    with torch.no_grad():
        x = torch.from_numpy(norm.apply(feats, mask))
        det = eager(x, neighbours, torch.from_numpy(mask), torch.zeros_like(noise)).numpy()
        smp = eager(x, neighbours, torch.from_numpy(mask), noise).numpy()
    return {"hits": hits, "graphs": graphs, "ids": ids, "seed": seed,
            "deterministic": norm.invert(det, mask), "sampling": norm.invert(smp, mask)}


def _compare(outputs: list[native.JetOutput], reference: dict[str, Any], mode: str) -> tuple[float, float]:
    """Max |dx|, |dy| and max |dE|/E over all real nodes; asserts structure on the way."""
    phys = reference[mode]
    dxy = de = 0.0
    assert len(outputs) == len(reference["graphs"])
    for j, (out, g) in enumerate(zip(outputs, reference["graphs"])):
        n = g.n_nodes
        assert out.jet_id == int(reference["ids"][j])
        assert (out.n_nodes, out.n_hits) == (g.n_nodes, g.n_hits)
        assert out.total_energy == pytest.approx(g.total_energy, rel=1e-12)
        np.testing.assert_array_equal(out.channel, g.features[:n, 3].astype(np.int32))
        dxy = max(dxy, float(np.abs(out.x - phys[j, :n, 0]).max(initial=0)),
                  float(np.abs(out.y - phys[j, :n, 1]).max(initial=0)))
        de = max(de, float((np.abs(out.energy.astype(np.float64) - phys[j, :n, 2]) / phys[j, :n, 2]).max(initial=0)))
    return dxy, de


def _check_format(path: Path, reference: dict[str, Any]) -> None:
    model = native.Model.load(str(path))
    for mode in ("deterministic", "sampling"):
        for bs in BATCH_SIZES:
            producer = native.Producer(model, batch_size=bs, mode=mode, seed=reference["seed"])
            outputs = native.produce(producer, reference["hits"], jet_ids=reference["ids"])
            dxy, de = _compare(outputs, reference, mode)
            print(f"parity {model.format:<11} {mode:<13} batch {bs:>2}: max|dx,dy| = {dxy:.2e}, "
                  f"max|dE|/E = {de:.2e} over {len(outputs)} jets")
            assert dxy <= ATOL_XY, f"{path.name} {mode} batch {bs}: |dx|,|dy| up to {dxy:.3e}"
            assert de <= RTOL_E, f"{path.name} {mode} batch {bs}: |dE|/E up to {de:.3e}"


def test_torchscript_parity_with_eager(exported_torchscript: dict[str, Any], reference: dict[str, Any]) -> None:
    _check_format(exported_torchscript["torchscript"], reference)


@pytest.mark.slow
def test_aoti_parity_with_eager(exported_models: dict[str, Any], reference: dict[str, Any]) -> None:
    _check_format(exported_models["aoti"], reference)
