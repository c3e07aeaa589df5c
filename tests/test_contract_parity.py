"""One table of tampered contracts, run through BOTH validators (issue 12).

Each row edits a valid contract and states the outcome of the Python validator
(:func:`gvae.export.contract.validate_contract`, JSON Schema + cross-field rules) and of the C++ one
(``gvae::Contract::parse`` through :func:`gvae.native.parse_contract`), and the text each error
must contain (Python names fields ``contract.a.b``, C++ as JSON pointers ``/a/b``).

The two agree on every row but these deliberate differences (C++ is stricter; a hand edit is the
only way to get there, since :func:`gvae.export.contract.build_contract` writes Python ints):

- ``k``/``max_nodes``/``image_size`` written as a float with an integral value (``4.0``): JSON
  Schema counts it as an integer and Python accepts it; C++ wants a JSON integer.
- ``max_nodes`` above 1,000,000: Python accepts, C++ refuses (a bound before it allocates graphs).

Not a validator's job on either side: whether ``weights_sha256`` is the hash of the weights that
travel with it (a well-formed hash of other weights is accepted by both). Python checks that at
export and in ``--verify`` (:func:`gvae.export.contract.check_weights`); C++ cannot re-hash a loaded
TorchScript/AOTInductor model's state dict, so it checks presence and form only.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch

import gvae.native as native
from gvae.export import contract as gc
from gvae.errors import ContractError
from gvae.model import GVAE, ModelConfig

NORM = {"x": {"mean": 0.001, "std": 0.21}, "y": {"mean": -0.002, "std": 0.2},
        "log_energy": {"mean": 0.3, "std": 1.4}}
DELETE = object()
N, K = 24, 4  # max_nodes and k of the base contract


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    """A valid contract of a small untrained GVAE (seed 0), as export writes it."""
    torch.manual_seed(0)
    cfg = ModelConfig(max_nodes=N, k=K, hidden=8, clusters=[8, 4], latent_dim=3)
    model = GVAE(cfg).eval()
    return gc.build_contract(
        config={"model": cfg.to_dict(), "training": {"seed": 1, "lr": 0.002}}, normalisation=NORM,
        k=cfg.k, max_nodes=cfg.max_nodes, clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim,
        state_dict=model.state_dict(), name="small", created_utc="2024-01-02T03:04:05Z")


def _rehash(doc: dict[str, Any]) -> None:
    doc["training"]["config_sha256"] = gc.config_sha256(doc["training"]["config"])


# A config whose canonical JSON exercises the number and string forms both sides must write alike.
AWKWARD_CONFIG = {"lr": 1e-05, "tiny": 5e-324, "big": 1e16, "just_below": 1e15,
                  "sixteen_digits": 1234567890123456.0, "below_1e16": -9.999999999999998e15, "e_minus_4": -1e-4,
                  "huge": 1.5e300, "third": 1 / 3,
                  "neg_zero": -0.0, "int": 123456789012, "neg": -7, "flags": [True, False, None],
                  "text": "caf\u00e9 \u2603 \U0001F600 \"quoted\" back\\slash tab\t nl\n",
                  "nested": {"b": 2.5, "a": [1.0, 100000.0, 0.0001, 123.456e-12]},
                  "Z": 1, "_": 2, "\u00e9": 3}

ACCEPT, REJECT = "accept", "reject"

# id: (edits [(path, value)], python outcome, C++ outcome, python message regex, C++ message text)
TABLE: dict[str, tuple[list[tuple[tuple[Any, ...], Any]], str, str, str, str]] = {
    # -- hashes -----------------------------------------------------------------------------
    "missing weights hash": ([(("weights_sha256",), DELETE)], REJECT, REJECT,
                             "'weights_sha256' is a required property", "/weights_sha256': missing"),
    "malformed weights hash": ([(("weights_sha256",), "abc")], REJECT, REJECT,
                               r"contract\.weights_sha256", "/weights_sha256"),
    "upper-case weights hash": ([(("weights_sha256",), "A" * 64)], REJECT, REJECT,
                                r"contract\.weights_sha256", "/weights_sha256"),
    "weights hash as a number": ([(("weights_sha256",), 12)], REJECT, REJECT,
                                 r"contract\.weights_sha256", "/weights_sha256"),
    "weights hash of other weights (well-formed)": ([(("weights_sha256",), "0" * 64)], ACCEPT, ACCEPT, "", ""),
    "config changed after hashing": ([(("training", "config", "training", "lr"), 0.1)], REJECT, REJECT,
                                     r"contract\.training\.config_sha256.*not the sha256",
                                     "/training/config_sha256"),
    "config key added after hashing": ([(("training", "config", "note"), "x")], REJECT, REJECT,
                                       r"contract\.training\.config_sha256", "/training/config_sha256"),
    "malformed config hash": ([(("training", "config_sha256"), "xyz")], REJECT, REJECT,
                              r"contract\.training\.config_sha256", "/training/config_sha256"),
    "missing training block": ([(("training",), DELETE)], REJECT, REJECT,
                               "'training' is a required property", "/training': missing"),
    "config not an object": ([(("training", "config"), [1, 2])], REJECT, REJECT,
                             r"contract\.training\.config", "/training/config"),
    "config edited and re-hashed (awkward numbers, unicode)": ([(("training", "config"), AWKWARD_CONFIG)],
                                                               ACCEPT, ACCEPT, "", ""),
    # -- unknown keys -------------------------------------------------------------------------
    "unknown top-level key": ([(("extra",), 1)], REJECT, REJECT, "'extra' was unexpected", "/extra': unknown key"),
    "unknown key in model": ([(("model", "extra"), 1)], REJECT, REJECT, "'extra' was unexpected",
                             "/model/extra': unknown key"),
    "unknown key in geometry": ([(("geometry", "eta_max"), 1.0)], REJECT, REJECT, "'eta_max' was unexpected",
                                "/geometry/eta_max': unknown key"),
    "unknown key in a tensor spec": ([(("inputs", 0, "unit"), "GeV")], REJECT, REJECT, "'unit' was unexpected",
                                     "/inputs/0/unit': unknown key"),
    "unknown key in a standardisation": ([(("normalisation", "x", "median"), 0.0)], REJECT, REJECT,
                                         "'median' was unexpected", "/normalisation/x/median': unknown key"),
    "unknown key in training": ([(("training", "seed"), 1)], REJECT, REJECT, "'seed' was unexpected",
                                "/training/seed': unknown key"),
    # -- timestamp, names -------------------------------------------------------------------------
    "bad timestamp": ([(("created_utc",), "yesterday")], REJECT, REJECT, r"contract\.created_utc", "/created_utc"),
    "timestamp with offset": ([(("created_utc",), "2024-01-02T03:04:05+01:00")], REJECT, REJECT,
                              r"contract\.created_utc", "/created_utc"),
    "missing timestamp": ([(("created_utc",), DELETE)], REJECT, REJECT, "'created_utc' is a required property",
                          "/created_utc': missing"),
    "model name with a space": ([(("model", "name"), "my model")], REJECT, REJECT, r"contract\.model\.name",
                                "/model/name"),
    "model version not semantic": ([(("model", "version"), "one")], REJECT, REJECT, r"contract\.model\.version",
                                   "/model/version"),
    "tensor meaning empty": ([(("outputs", 0, "meaning"), "")], REJECT, REJECT, r"contract\.outputs\[0\]\.meaning",
                             "/outputs/0/meaning"),
    # -- geometry ---------------------------------------------------------------------------------
    "wrong centre pixel": ([(("geometry", "centre_pixel"), 61)], REJECT, REJECT, r"contract\.geometry\.centre_pixel",
                           "/geometry/centre_pixel"),
    "other pixel size": ([(("geometry", "pixel_size"), 0.0175)], REJECT, REJECT, r"contract\.geometry\.pixel_size",
                         "/geometry/pixel_size"),
    "pixel size off by 1e-11": ([(("geometry", "pixel_size"), 0.01740000001)], REJECT, REJECT,
                                r"contract\.geometry\.pixel_size", "/geometry/pixel_size"),
    "HCAL tower of 4 pixels": ([(("geometry", "hcal_tower_pixels"), 4)], REJECT, REJECT,
                               r"contract\.geometry\.hcal_tower_pixels", "/geometry/hcal_tower_pixels"),
    "energy in MeV": ([(("geometry", "energy_unit"), "MeV")], REJECT, REJECT, r"contract\.geometry\.energy_unit",
                      "/geometry/energy_unit"),
    "empty coordinate unit": ([(("geometry", "coordinate_unit"), "")], REJECT, REJECT,
                              r"contract\.geometry\.coordinate_unit", "/geometry/coordinate_unit"),
    "other image size": ([(("geometry", "image_size"), 64)], REJECT, REJECT, r"contract\.geometry\.image_size",
                         "/geometry/image_size"),
    "channels reordered": ([(("geometry", "channels"), ["ecal", "track", "hcal"])], REJECT, REJECT,
                           r"contract\.geometry\.channels", "/geometry/channels"),
    # -- graph and shapes -------------------------------------------------------------------------
    "k equal to max_nodes (shapes consistent)": ([(("graph", "k"), N), (("inputs", 1, "shape"), ["batch", N, N])],
                                                 REJECT, REJECT, r"contract\.graph\.k.*smaller than max_nodes",
                                                 "/graph/k': k must be < max_nodes"),
    "k above max_nodes (shapes consistent)": ([(("graph", "k"), 30), (("inputs", 1, "shape"), ["batch", N, 30])],
                                              REJECT, REJECT, r"contract\.graph\.k", "/graph/k"),
    "k zero": ([(("graph", "k"), 0), (("inputs", 1, "shape"), ["batch", N, 0])], REJECT, REJECT,
               r"contract\.graph\.k|contract\.inputs\[1\]", "/graph/k"),
    "neighbours shape disagrees with k": ([(("inputs", 1, "shape"), ["batch", N, K + 1])], REJECT, REJECT,
                                          r"contract\.inputs\[1\]\.shape", "/inputs/1/shape"),
    "fixed batch axis": ([(("inputs", 0, "shape"), [2, N, 6])], REJECT, REJECT, r"contract\.inputs\[0\]",
                         "/inputs/0/shape"),
    "unknown graph builder": ([(("graph", "builder"), "gvae-graph-v2")], REJECT, REJECT, r"contract\.graph\.builder",
                              "/graph/builder"),
    "negative std": ([(("normalisation", "y", "std"), -1.0)], REJECT, REJECT, r"contract\.normalisation\.y\.std",
                     "/normalisation/y/std"),
    "unknown device": ([(("model", "device"), "tpu")], REJECT, REJECT, r"contract\.model\.device", "/model/device"),
    # -- versions ---------------------------------------------------------------------------------
    "unknown schema_version 3": ([(("schema_version",), 3)], REJECT, REJECT, "schema_version", "/schema_version"),
    "unknown schema_version 0": ([(("schema_version",), 0)], REJECT, REJECT, "schema_version", "/schema_version"),
    "schema_version as text": ([(("schema_version",), "1")], REJECT, REJECT, "schema_version", "/schema_version"),
    # -- deliberate differences (module docstring) --------------------------------------------------
    "k written as 4.0": ([(("graph", "k"), float(K))], ACCEPT, REJECT, "", "/graph/k': expected an integer"),
    "image size written as 125.0": ([(("geometry", "image_size"), 125.0)], ACCEPT, REJECT, "",
                                    "/geometry/image_size': expected an integer"),
    "max_nodes above 1e6 (shapes consistent)": (
        [(("graph", "max_nodes"), 2_000_000), (("inputs", 0, "shape"), ["batch", 2_000_000, 6]),
         (("inputs", 1, "shape"), ["batch", 2_000_000, K]), (("inputs", 2, "shape"), ["batch", 2_000_000]),
         (("outputs", 0, "shape"), ["batch", 2_000_000, 3])],
        ACCEPT, REJECT, "", "/graph/max_nodes': expected a positive integer"),
}


def _edited(doc: dict[str, Any], edits: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    for path, value in edits:
        target = new
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(value)
        if path[:2] == ("training", "config") and len(path) == 2:  # a deliberate re-hash
            _rehash(new)
    return new


def test_base_contract_is_accepted_by_both(base: dict[str, Any]) -> None:
    assert gc.validate_contract(copy.deepcopy(base)) == base
    assert native.parse_contract(json.dumps(base), "base.json") == base


@pytest.mark.parametrize("case", list(TABLE))
def test_tampered_contract_table(base: dict[str, Any], case: str) -> None:
    edits, py_outcome, cpp_outcome, py_text, cpp_text = TABLE[case]
    doc = _edited(base, edits)
    text = json.dumps(doc)
    if py_outcome == ACCEPT:
        gc.validate_contract(copy.deepcopy(doc), source="tampered.json")
    else:
        with pytest.raises(ContractError, match=py_text) as info:
            gc.validate_contract(copy.deepcopy(doc), source="tampered.json")
        assert "tampered.json" in str(info.value)
    if cpp_outcome == ACCEPT:
        assert native.parse_contract(text, "tampered.json") == doc
    else:
        with pytest.raises(ContractError) as info:
            native.parse_contract(text, "tampered.json")
        assert "contract of 'tampered.json'" in str(info.value) and cpp_text in str(info.value), str(info.value)


def test_table_has_both_outcomes_and_every_listed_check() -> None:
    """The issue's list: each named check has a row, and rows where the validators agree dominate."""
    for needed in ("missing weights hash", "malformed weights hash", "config changed after hashing",
                   "unknown top-level key", "bad timestamp", "wrong centre pixel", "other pixel size",
                   "HCAL tower of 4 pixels", "energy in MeV", "k equal to max_nodes (shapes consistent)",
                   "unknown schema_version 3"):
        assert TABLE[needed][1:3] == (REJECT, REJECT), needed
    differences = [c for c, row in TABLE.items() if row[1] != row[2]]
    assert differences == ["k written as 4.0", "image size written as 125.0",
                           "max_nodes above 1e6 (shapes consistent)"]


def test_config_hash_parity_on_awkward_configs(base: dict[str, Any]) -> None:
    """C++ re-derives config_sha256 from the canonical JSON exactly as Python does, key by key."""
    for key, value in AWKWARD_CONFIG.items():
        doc = _edited(base, [(("training", "config"), {key: value})])
        native.parse_contract(json.dumps(doc), f"awkward-{key}.json")
        doc["training"]["config"][key] = [value, 0]  # changed after hashing: refused by both
        with pytest.raises(ContractError, match="config_sha256"):
            native.parse_contract(json.dumps(doc), f"awkward-{key}.json")
        with pytest.raises(ContractError, match="config_sha256"):
            gc.validate_contract(doc)
