"""The committed reference model in ``export/reference/`` (contract v2, latent decoder): its contracts
validate and name both entry points, both formats reproduce the eager model's outputs stored at the
build (``expected.npz``) for ``reconstruct`` (held-out jets, deterministic and sampling) and
``simulate`` (seeded conditions), agree with each other, and a batch of one gives the rows of the
batch.

The files are produced by ``python -m gvae.export --reference --out export/reference``
(``make reference-model``, see ``export/reference/README.md``); the C++ tests and the CMSSW example
load them. Contract v1 (paper decoder) artefacts are covered by the session's tiny v1 exports
(tests/test_export.py, tests/cpp/test_model_load.cpp and the other libgvae tests on tiny.pt).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gvae import export as gx
from gvae.export import contract as gc
from gvae.export.formats import ENTRY_POINTS, call_entry
from gvae.export.reference import EXPECTATION_SEED, expectations, reference_cases
from gvae.export.verify import compare_decoded

REFERENCE = Path(__file__).resolve().parents[1] / "export" / "reference"
PT, PT2 = REFERENCE / "gvae_reference.pt", REFERENCE / "gvae_reference.pt2"
ARTIFACTS = {"torchscript": PT, "aoti": PT2}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(REFERENCE / "expected.npz") as npz:
        return dict(npz)


@pytest.fixture(scope="module")
def cases(expected) -> dict[str, tuple[str, tuple]]:
    doc = gc.read_contract(PT)
    return reference_cases(REFERENCE / "heldout.gvh", doc["normalisation"], doc["graph"]["k"],
                           doc["graph"]["max_nodes"], doc["latent"]["clusters"], doc["latent"]["dim"],
                           torch.from_numpy(expected["simulate_conditions"]))


@pytest.fixture(scope="module")
def models() -> dict[tuple[str, str], object]:
    cpu = torch.device("cpu")
    return {(fmt, entry): gx.load_exported(path, cpu, entry) for fmt, path in ARTIFACTS.items()
            for entry in gc.read_contract(path)["entry_points"]}


def _stored(expected: dict[str, np.ndarray], case: str) -> SimpleNamespace:
    """The eager outputs of one case as the fields :func:`compare_decoded` reads."""
    return SimpleNamespace(**{f: torch.from_numpy(expected[f"{case}_{k}"]) for f, k in
                              (("xyu", "xyu"), ("channel", "channel"), ("mask", "hit_mask"), ("counts", "counts"))})


def test_reference_files_are_committed_with_valid_v2_contracts() -> None:
    docs = {}
    for fmt, path in ARTIFACTS.items():
        assert path.is_file(), f"{path} missing: rebuild it (export/reference/README.md)"
        embedded = gc.read_contract(path)
        assert embedded == gc.read_contract(gc.sidecar_path(path))
        assert embedded["schema_version"] == 2
        # every required entry point; the optional ones (gc.OPTIONAL_ENTRY_POINTS) only if exported
        # after they existed (the committed reference predates simulate_counts)
        required = set(ENTRY_POINTS) - set(gc.OPTIONAL_ENTRY_POINTS)
        assert required <= set(embedded["entry_points"]) <= set(ENTRY_POINTS)
        assert embedded["model"]["name"] == "gvae_reference"
        assert embedded["model"]["format"] == fmt and embedded["model"]["device"] == "cpu"
        assert embedded["batch"]["min"] == 1
        docs[fmt] = embedded
    strip = [{k: v for k, v in d.items() if k != "model"} for d in docs.values()]
    assert strip[0] == strip[1]  # one model: same weights hash, config, normalisation, shapes
    assert gc.read_aoti_metadata(PT2)["AOTI_DEVICE_KEY"] == "cpu"
    # the stored expectations belong to these weights
    summary = json.loads((REFERENCE / "expected.json").read_text())
    assert summary["weights_sha256"] == docs["torchscript"]["weights_sha256"]
    assert summary["seed"] == EXPECTATION_SEED


@pytest.mark.parametrize("fmt", sorted(ARTIFACTS))
def test_reference_entry_points_reproduce_the_stored_eager_outputs(fmt, models, cases, expected) -> None:
    for case, (entry, inputs) in cases.items():
        ref = _stored(expected, case)
        assert int(ref.counts.sum()) > 0, f"{case}: the stored eager outputs hold no hit"
        out = call_entry(models[(fmt, entry)], *inputs)
        max_abs, max_rel, excess = compare_decoded(out, ref, gx.DEFAULT_ATOL, gx.DEFAULT_RTOL)
        assert excess <= 0.0, (f"{fmt} {case}: max |exported - eager| {max_abs:.3e} (rel {max_rel:.3e}) beyond "
                               f"atol={gx.DEFAULT_ATOL:g}, rtol={gx.DEFAULT_RTOL:g} (inf = different counts)")


def test_reference_formats_agree_and_a_batch_of_one_gives_the_rows_of_the_batch(models, cases) -> None:
    for case, (entry, inputs) in cases.items():
        a = call_entry(models[("torchscript", entry)], *inputs)
        b = call_entry(models[("aoti", entry)], *inputs)
        assert torch.equal(a[3], b[3]), f"{case}: the formats decode different counts"
        assert torch.equal(a[2], b[2]) and torch.equal(a[1][a[2]], b[1][b[2]])
        torch.testing.assert_close(b[0][b[2]], a[0][a[2]], atol=gx.DEFAULT_ATOL, rtol=gx.DEFAULT_RTOL)
        one = call_entry(models[("aoti", entry)], *(t[:1] for t in inputs))
        assert torch.equal(one[3], b[3][:1])
        torch.testing.assert_close(one[0][one[2]], b[0][:1][b[2][:1]], atol=gx.DEFAULT_ATOL, rtol=gx.DEFAULT_RTOL)


def test_reference_checkpoint_is_the_committed_model_and_gives_the_stored_eager_outputs(expected) -> None:
    """``gvae_reference.ckpt`` (for exporting the reference to other devices) holds the committed
    weights, and its eager model gives the stored expectations again (same counts and channels,
    positions/energies within the export tolerance: eager kernels may differ in the last bits across
    CPUs)."""
    summary, arrays = expectations(REFERENCE / "gvae_reference.ckpt", REFERENCE / "heldout.gvh")
    assert summary["weights_sha256"] == gc.read_contract(PT)["weights_sha256"]
    assert set(arrays) == set(expected)
    for key, value in arrays.items():
        if key.endswith("_xyu") or key == "simulate_conditions":
            np.testing.assert_allclose(value, expected[key], atol=gx.DEFAULT_ATOL, rtol=gx.DEFAULT_RTOL, err_msg=key)
        else:
            np.testing.assert_array_equal(value, expected[key], err_msg=key)
