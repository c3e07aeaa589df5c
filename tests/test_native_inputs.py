"""``gvae.native.Model.forward`` refuses bad inputs in both formats (issue 12, "the abort").

Before the fix a neighbour index outside ``[0, N)`` killed the process inside the AOTInductor
OpenMP kernel (``std::terminate``, exit 134) and gave a bare ``RuntimeError`` in TorchScript; NaN/Inf
features ran silently. Now libgvae checks the inputs against the contract before either format
runs and raises :class:`gvae.errors.InvalidInput` naming the batch row and the field. The model
exports are the session's (``exported_models``); a regression in the AOTI case aborts pytest.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gvae.native as native
from gvae.errors import InvalidInput


def _batch(model: Any, n: int = 4) -> dict[str, np.ndarray]:
    """Valid model inputs for ``n`` seeded random jets, as the C++ producer prepares them."""
    rng = np.random.default_rng(4)
    jets = []
    for _ in range(n):
        m = int(rng.integers(5, 60))
        jets.append((rng.integers(0, 3, m), np.clip(rng.normal(62, 5, m).round(), 0, 124).astype(int),
                     np.clip(rng.normal(62, 5, m).round(), 0, 124).astype(int),
                     rng.exponential(5.0, m).astype(np.float32) + 0.01))
    flat = native.flatten_hits(jets)
    producer = native.Producer(model, batch_size=n)
    return producer.prepare(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"])


def _forward(model: Any, inputs: dict[str, np.ndarray], **changed: np.ndarray) -> np.ndarray:
    x = {**inputs, **changed}
    return model.forward(x["features"], x["neighbours"], x["mask"], x["noise"])


def _check(path: Path) -> None:
    model = native.Model.load(str(path))
    n_nodes = model.max_nodes
    inputs = _batch(model)
    reference = _forward(model, inputs)
    assert np.isfinite(reference).all()

    for bad in (n_nodes, -1, 2**40):
        nb = inputs["neighbours"].copy()
        nb[2, 3, 1] = bad
        with pytest.raises(InvalidInput, match=rf"batch row 2, field 'neighbours': node 3, slot 1 holds "
                                               rf"index {bad}, outside \[0, {n_nodes}\)") as info:
            _forward(model, inputs, neighbours=nb)
        assert str(path) in str(info.value)

    for value, column, name in ((np.nan, 2, "log_energy"), (np.inf, 0, "x"), (-np.inf, 4, "is_ecal")):
        features = inputs["features"].copy()
        features[1, 6, column] = value
        with pytest.raises(InvalidInput, match=rf"batch row 1, field 'features': node 6, feature '{name}'"):
            _forward(model, inputs, features=features)

    noise = inputs["noise"].copy()
    noise[3, 0, 1] = np.nan
    with pytest.raises(InvalidInput, match=r"batch row 3, field 'noise': cluster 0, dimension 1"):
        _forward(model, inputs, noise=noise)

    for mask in (inputs["mask"][:, :-1], inputs["mask"][:-1], inputs["mask"][0]):
        with pytest.raises(InvalidInput, match=rf"field 'mask': shape \[.*\], expected \[4, {n_nodes}\]"):
            _forward(model, inputs, mask=mask)

    # the model still works and gives the same answer
    np.testing.assert_array_equal(_forward(model, inputs), reference)


def test_torchscript_forward_refuses_bad_inputs(exported_torchscript: dict[str, Any]) -> None:
    _check(Path(exported_torchscript["torchscript"]))


@pytest.mark.slow
def test_aoti_forward_refuses_bad_inputs(exported_models: dict[str, Any]) -> None:
    _check(Path(exported_models["aoti"]))
