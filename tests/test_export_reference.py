"""The committed reference model in ``export/reference/``: its contracts validate, both formats
load and agree with each other on the committed held-out jets (``heldout.gvh``).

The files are produced by ``python -m gvae.export --reference --out export/reference``
(see ``export/reference/README.md``); the C++ tests and the CMSSW example load them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gvae.export import contract as gc
from gvae import export as gx
from gvae.graphs.build import build_graphs
from gvae.io import read_jets
from gvae.graphs.normalisation import Normalisation

REFERENCE = Path(__file__).resolve().parents[1] / "export" / "reference"
PT, PT2 = REFERENCE / "gvae_reference.pt", REFERENCE / "gvae_reference.pt2"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_reference_files_are_committed_with_valid_contracts() -> None:
    docs = {}
    for fmt, path in (("torchscript", PT), ("aoti", PT2)):
        assert path.is_file(), f"{path} missing: rebuild it (export/reference/README.md)"
        embedded = gc.read_contract(path)
        assert embedded == gc.read_contract(gc.sidecar_path(path))
        assert embedded["model"]["name"] == "gvae_reference"
        assert embedded["model"]["format"] == fmt and embedded["model"]["device"] == "cpu"
        docs[fmt] = embedded
    strip = [{k: v for k, v in d.items() if k != "model"} for d in docs.values()]
    assert strip[0] == strip[1]  # one model: same weights hash, config, normalisation, shapes
    metadata = gc.read_aoti_metadata(PT2)
    assert metadata["AOTI_DEVICE_KEY"] == "cpu"


def test_reference_formats_agree_on_the_heldout_jets() -> None:
    doc = gc.read_contract(PT)
    jets = read_jets(REFERENCE / "heldout.gvh")
    k, n = doc["graph"]["k"], doc["graph"]["max_nodes"]
    graphs = build_graphs(jets.images, k, n)
    mask = torch.from_numpy(graphs["mask"])
    features = Normalisation.from_dict(doc["normalisation"]).apply(
        torch.from_numpy(graphs["features"]), mask)
    neighbours = torch.from_numpy(graphs["neighbours"]).to(torch.int64)
    batch = len(jets.images)
    assert batch > 1 and mask.any(dim=1).all()
    noise = torch.randn(batch, doc["latent"]["clusters"], doc["latent"]["dim"],
                        generator=torch.Generator().manual_seed(3))
    cpu = torch.device("cpu")
    ts, aoti = gx.load_exported(PT, cpu), gx.load_exported(PT2, cpu)
    for z in (torch.zeros_like(noise), noise):
        a = gx.call(ts, features, neighbours, mask, z)
        b = gx.call(aoti, features, neighbours, mask, z)
        assert a.shape == (batch, n, 3) and torch.isfinite(a[mask]).all()
        torch.testing.assert_close(b[mask], a[mask], atol=gx.DEFAULT_ATOL, rtol=gx.DEFAULT_RTOL)
    # batch of one gives the same rows as inside the batch
    one = gx.call(aoti, features[:1], neighbours[:1], mask[:1], noise[:1])
    torch.testing.assert_close(one[mask[:1]], b[:1][mask[:1]], atol=gx.DEFAULT_ATOL,
                               rtol=gx.DEFAULT_RTOL)
