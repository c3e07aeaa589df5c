"""The model contract: schema, hashes, building, validation and refusal of tampered documents."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import torch

from gvae.export import contract as gc
from gvae import geometry
from gvae.errors import ConfigError, ContractError, ModelLoadError
from gvae.model import GVAE, ModelConfig

REPO = Path(__file__).resolve().parents[1]
NORM = {"x": {"mean": 0.001, "std": 0.21}, "y": {"mean": -0.002, "std": 0.2},
        "log_energy": {"mean": 0.3, "std": 1.4}, "extra": "ignored"}


@pytest.fixture(scope="module")
def small_model() -> GVAE:
    """A small untrained GVAE (weights from seed 0)."""
    torch.manual_seed(0)
    cfg = ModelConfig(max_nodes=24, k=4, hidden=8, clusters=[8, 4], latent_dim=3, decoder="paper")
    return GVAE(cfg).eval()


@pytest.fixture()
def doc(small_model: GVAE) -> dict:
    cfg = small_model.config
    return gc.build_contract(
        config={"model": cfg.to_dict(), "training": {"seed": 1, "lr": 0.002}},
        normalisation=NORM, k=cfg.k, max_nodes=cfg.max_nodes, clusters=cfg.latent_clusters,
        latent_dim=cfg.latent_dim, state_dict=small_model.state_dict(), name="small",
        created_utc="2024-01-02T03:04:05Z")


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(gc.load_schema())


def test_published_schema_is_a_relative_link_to_the_package_schema() -> None:
    link = REPO / "export" / "contract.schema.json"
    assert link.is_symlink()
    assert not os.path.isabs(os.readlink(link))
    package_copy = REPO / "python" / "gvae" / "schemas" / "contract.schema.json"
    assert link.resolve() == package_copy.resolve()
    assert json.loads(link.read_text()) == gc.load_schema()


def test_built_contract_has_the_design_layout(doc: dict, small_model: GVAE) -> None:
    cfg = small_model.config
    shapes = {t["name"]: t["shape"] for t in doc["inputs"] + doc["outputs"]}
    assert shapes == {"features": ["batch", 24, 6], "neighbours": ["batch", 24, 4],
                      "mask": ["batch", 24], "noise": ["batch", 4, 3],
                      "reconstruction": ["batch", 24, 3]}
    assert [t["dtype"] for t in doc["inputs"]] == ["float32", "int64", "bool", "float32"]
    assert doc["node_features"] == ["x", "y", "log_energy", "is_track", "is_ecal", "is_hcal"]
    assert doc["geometry"] == geometry.as_dict()
    assert doc["graph"] == {"builder": "gvae-graph-v1", "k": cfg.k, "max_nodes": cfg.max_nodes}
    assert doc["normalisation"]["log_energy"] == {"mean": 0.3, "std": 1.4}
    assert "extra" not in doc["normalisation"]
    assert doc["latent"] == {"clusters": 4, "dim": 3}
    assert doc["model"] == {"name": "small", "version": "0.1.0", "format": "torchscript",
                            "device": "cpu"}
    # the text form round-trips through the validating parser
    assert gc.loads(gc.dumps(doc)) == doc


def test_config_hash_is_the_sha256_of_canonical_json(doc: dict, small_model: GVAE) -> None:
    import hashlib
    text = json.dumps(doc["training"]["config"], sort_keys=True, separators=(",", ":"))
    assert doc["training"]["config_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    reordered = dict(reversed(list(doc["training"]["config"].items())))
    assert gc.config_sha256(reordered) == doc["training"]["config_sha256"]
    with pytest.raises(ConfigError, match="canonical JSON"):  # a bad config (one function, gvae.train.config)
        gc.canonical_json({"lr": float("nan")})
    with pytest.raises(ContractError, match="canonical JSON"):  # ... and a bad contract when building one
        cfg = small_model.config
        gc.build_contract(config={"lr": float("nan")}, normalisation=NORM, k=cfg.k, max_nodes=cfg.max_nodes,
                          clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim,
                          state_dict=small_model.state_dict())


def test_one_config_hash_for_training_checkpoints_and_contracts(small_model: GVAE) -> None:
    """``Config.sha256()`` (run summaries, checkpoints, --resume) and the contract's
    ``training.config_sha256`` are the same function of the same config: one hash everywhere."""
    import hashlib

    from gvae.train.config import Config, load_config

    config = load_config(REPO / "configs" / "demo.yaml")
    tree = config.to_dict()
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert config.sha256() == gc.config_sha256(tree) == hashlib.sha256(canonical).hexdigest()
    cfg = small_model.config
    built = gc.build_contract(config=tree, normalisation=NORM, k=cfg.k, max_nodes=cfg.max_nodes,
                              clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim,
                              state_dict=small_model.state_dict())
    assert built["training"]["config_sha256"] == config.sha256()
    assert Config.from_dict(built["training"]["config"]).sha256() == config.sha256()


def test_weights_hash_follows_the_documented_byte_order() -> None:
    import hashlib
    sd = {"b": torch.tensor([1.0, -2.0]), "a": torch.tensor(3, dtype=torch.int64)}
    want = hashlib.sha256()
    want.update(b"a\0int64\0\0" + (3).to_bytes(8, "little", signed=True))
    want.update(b"b\0float32\x002\0" + torch.tensor([1.0, -2.0]).numpy().tobytes())
    assert gc.weights_sha256(sd) == want.hexdigest()
    # insertion order and memory layout do not matter, values, names and shapes do
    t = torch.arange(6.0).reshape(2, 3)
    assert gc.weights_sha256({"w": t.t().contiguous().t()}) == gc.weights_sha256({"w": t})
    assert gc.weights_sha256({"w": t.reshape(3, 2)}) != gc.weights_sha256({"w": t})
    assert gc.weights_sha256({"v": t}) != gc.weights_sha256({"w": t})
    with pytest.raises(ContractError, match="not a tensor"):
        gc.weights_sha256({"w": 1.0})


def test_weights_hash_detects_changed_weights(doc: dict, small_model: GVAE) -> None:
    state = {k: v.clone() for k, v in small_model.state_dict().items()}
    gc.check_weights(doc, state)  # unchanged: accepted
    name = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[name].view(-1)[0] += 1e-6
    with pytest.raises(ContractError, match="weights_sha256.*does not match"):
        gc.check_weights(doc, state, source="m.pt")


def _set(doc: dict, path: tuple, value: object) -> dict:
    new = copy.deepcopy(doc)
    target = new
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return new


_DELETE = object()
TAMPERED = {
    "unknown schema_version": (("schema_version",), 3, "schema_version"),
    "schema_version as text": (("schema_version",), "1", "schema_version"),
    "unknown graph builder": (("graph", "builder"), "gvae-graph-v2", "graph.builder"),
    "reordered node features": (("node_features",),
                                ["y", "x", "log_energy", "is_track", "is_ecal", "is_hcal"],
                                "node_features"),
    "missing output feature": (("output_features",), ["x", "y"], "output_features"),
    "neighbours shape disagrees with k": (("inputs", 1, "shape"), ["batch", 24, 5],
                                          r"inputs\[1\].shape"),
    "noise shape disagrees with latent": (("inputs", 3, "shape"), ["batch", 4, 4],
                                          r"inputs\[3\].shape"),
    "fixed batch axis": (("inputs", 0, "shape"), [2, 24, 6], r"inputs\[0\].shape"),
    "wrong dtype": (("inputs", 2, "dtype"), "uint8", r"inputs\[2\].dtype"),
    "inputs out of order": (("inputs", 0, "name"), "mask", r"inputs\[0\].name"),
    "zero std": (("normalisation", "x", "std"), 0.0, "normalisation.x.std"),
    "other geometry": (("geometry", "image_size"), 64, "geometry.image_size"),
    "config changed after hashing": (("training", "config", "training", "lr"), 0.1,
                                     "config_sha256"),
    "malformed weights hash": (("weights_sha256",), "abc", "weights_sha256"),
    "missing weights hash": (("weights_sha256",), _DELETE, "weights_sha256"),
    "unknown format": (("model", "format"), "onnx", "model.format"),
    "unknown top-level key": (("extra",), 1, "Additional properties"),
    "bad timestamp": (("created_utc",), "yesterday", "created_utc"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_contract_is_refused_naming_the_field(doc: dict, case: str) -> None:
    path, value, where = TAMPERED[case]
    with pytest.raises(ContractError, match=where) as info:
        gc.validate_contract(_set(doc, path, value), source="model.pt")
    assert "model.pt" in str(info.value)


def test_contract_must_be_an_object() -> None:
    with pytest.raises(ContractError, match="JSON object"):
        gc.validate_contract([1, 2])


def test_read_contract_from_sidecar_and_bad_files(doc: dict, tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    side = gc.write_sidecar(model, doc)
    assert side.name == "m.pt.contract.json"
    assert gc.read_contract(side) == doc
    side.write_text(gc.dumps(doc)[:-10])
    with pytest.raises(ContractError, match="not valid JSON"):
        gc.read_contract(side)
    tampered = tmp_path / "t.contract.json"
    tampered.write_text(json.dumps(_set(doc, ("graph", "k"), 5)))
    with pytest.raises(ContractError, match=r"t.contract.json.*inputs\[1\].shape"):
        gc.read_contract(tampered)
    with pytest.raises(ModelLoadError, match="no such file"):
        gc.read_contract(tmp_path / "missing.pt")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="extension"):
        gc.read_contract(tmp_path / "m.onnx")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="AOTInductor package"):
        gc.read_contract(tmp_path / "junk.pt2")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="TorchScript"):
        gc.read_contract(tmp_path / "junk.pt")


def test_torchscript_without_contract_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(ContractError, match="no 'contract.json'"):
        gc.read_contract(path)


def test_with_format_changes_only_the_model_block(doc: dict) -> None:
    aoti = gc.with_format(doc, "aoti", "cuda")
    assert aoti["model"]["format"] == "aoti" and aoti["model"]["device"] == "cuda"
    assert {k: v for k, v in aoti.items() if k != "model"} == \
        {k: v for k, v in doc.items() if k != "model"}
    assert doc["model"]["format"] == "torchscript"
