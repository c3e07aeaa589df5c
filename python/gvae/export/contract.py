"""The model contract: one JSON document that travels with every exported model (DESIGN section 8).

The contract tells a consumer (the C++ library, the CMSSW example, the Python bindings) how to
feed the model: input/output tensor names, dtypes and shapes, the node-feature order, the image
geometry, the graph builder with ``k`` and ``max_nodes``, the normalisation constants, the latent
shape, the training config (with its hash) and the hash of the weights.

Where it lives:

- TorchScript ``.pt``: the extra file ``contract.json`` (``torch.jit.load(_extra_files=...)``);
- AOTInductor ``.pt2``: the package metadata key ``gvae_contract`` (a JSON string);
- next to either: the sidecar ``<model file>.contract.json`` (e.g. ``gvae.pt.contract.json``),
  so that tools can read it without loading the model.

The published JSON Schema is ``gvae/schemas/contract.schema.json`` (``export/contract.schema.json``
is a symlink to it). :func:`validate_contract` checks the schema *and* the cross-field rules a
schema cannot express (shapes against ``graph``/``latent``, the config hash); a contract that
fails either raises :class:`gvae.errors.ContractError` naming the source and the field.

Hashes:

- ``training.config_sha256`` = sha256 of :func:`canonical_json` of ``training.config``
  (keys sorted, separators ``,`` ``:``, ASCII only, NaN/Inf refused);
- ``weights_sha256`` = :func:`weights_sha256` of the model state dict: entries sorted by key, each
  contributing ``key`` (UTF-8), NUL, the dtype name without ``torch.`` (``float32``), NUL, the
  shape as comma-separated decimals (empty for a scalar), NUL, then the tensor's contiguous
  little-endian bytes.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import warnings
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gvae
from gvae import geometry
from gvae.errors import ConfigError, ContractError, ModelLoadError
from gvae.graphs.normalisation import NODE_FEATURES, OUTPUT_FEATURES, QUANTITIES
from gvae.model.prior import TYPES as _PRIOR_TYPE_NAMES
from gvae.train.config import canonical_json, config_sha256  # the one config hash (also Config.sha256)

SCHEMA_VERSION = 1  # the paper decoder's contract (one forward); still written and read for it
#: contract of latent-decoder models: named entry points ``reconstruct`` and ``simulate``
SCHEMA_VERSION_V2 = 2
SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION, SCHEMA_VERSION_V2)
_SCHEMA_FILES = {1: "contract.schema.json", 2: "contract_v2.schema.json"}
GRAPH_BUILDER = "gvae-graph-v1"
#: feature names, defined once by the graph stage (gvae.graphs.normalisation)
NORMALISED_FEATURES: tuple[str, ...] = QUANTITIES
FORMATS: tuple[str, ...] = ("torchscript", "aoti")
DEVICES: tuple[str, ...] = ("cpu", "cuda")

EXTRA_FILE = "contract.json"  # TorchScript extra file name
METADATA_KEY = "gvae_contract"  # AOTInductor package metadata key
SIDECAR_SUFFIX = ".contract.json"

_MEANINGS = {
    "features": "normalised node features (x', y', u', is_track, is_ecal, is_hcal) in node_features "
                "order; padding rows (mask false) are all zero",
    "neighbours": "indices of the k nearest nodes of each node in the same graph (kNN in the "
                  "(x, y) plane, builder gvae-graph-v1); padding rows and missing slots hold the "
                  "node's own index",
    "mask": "true for real nodes, false for padding",
    "noise": "latent noise, z = mu + noise * exp(logvar / 2); zeros give the deterministic "
             "reconstruction, standard-normal values from the caller's generator sample",
    "reconstruction": "normalised (x', y', u') of every node in output_features order; invert with "
                      "the normalisation constants (E = exp(u' * std + mean)); padding rows are "
                      "meaningless, use mask",
}


# ---------------------------------------------------------------------------------------------
# hashes


def weights_sha256(state_dict: Mapping[str, Any]) -> str:
    """sha256 (hex) of a state dict in the canonical byte order documented in the module docstring.

    Tensors are moved to CPU and made contiguous; the bytes are the little-endian element bytes.
    Non-tensor entries raise :class:`ContractError` (they have no defined byte order).
    """
    if sys.byteorder != "little":  # pragma: no cover - every supported host is little-endian
        raise ContractError("weights_sha256 is defined on little-endian bytes; big-endian host")
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key]
        if not isinstance(tensor, torch.Tensor):
            raise ContractError(f"state dict entry '{key}' is a {type(tensor).__name__}, "
                                "not a tensor: cannot hash it")
        t = tensor.detach().to("cpu").contiguous()
        digest.update(key.encode("utf-8") + b"\0")
        digest.update(str(t.dtype).removeprefix("torch.").encode("ascii") + b"\0")
        digest.update(",".join(str(s) for s in t.shape).encode("ascii") + b"\0")
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# schema and validation


@lru_cache(maxsize=2)
def load_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The published contract JSON Schema of ``version`` (package data ``gvae/schemas/contract.schema.json``
    for v1, ``contract_v2.schema.json`` for v2)."""
    text = resources.files("gvae.schemas").joinpath(_SCHEMA_FILES[version]).read_text("utf-8")
    return json.loads(text)


def _path_of(error_path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error_path]
    return "contract" + "".join(parts)


def validate_contract(doc: Any, *, source: str = "contract") -> dict[str, Any]:
    """Validate ``doc`` against the schema and the cross-field rules; return it unchanged.

    Raises :class:`ContractError` naming ``source`` and the offending field for: a schema
    violation (unknown ``schema_version``, unknown builder, feature lists or geometry other than
    DESIGN section 8, wrong dtypes, missing fields, ...), shapes disagreeing with
    ``graph``/``latent``, or a ``training.config_sha256`` that is not the hash of the config.
    """
    import jsonschema  # local import: only validation needs it

    if not isinstance(doc, dict):
        raise ContractError(f"{source}: the contract must be a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if type(version) is not int or version not in SCHEMA_VERSIONS:
        raise ContractError(f"{source}: field 'schema_version': unsupported value "
                            f"{version!r} (this gvae reads {', '.join(map(str, SCHEMA_VERSIONS))})")
    validator = jsonschema.Draft202012Validator(load_schema(version))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more schema errors)" if len(errors) > 1 else ""
        raise ContractError(f"{source}: field '{_path_of(first.absolute_path)}': "
                            f"{first.message}{more}")
    if version == SCHEMA_VERSION:
        _check_semantics(doc, source)
    else:
        _check_semantics_v2(doc, source)
    return doc


def expected_shapes(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Tensor shapes implied by ``graph`` and ``latent`` (``'batch'`` marks the dynamic axis)."""
    n, k = doc["graph"]["max_nodes"], doc["graph"]["k"]
    c, l = doc["latent"]["clusters"], doc["latent"]["dim"]
    return {
        "features": ["batch", n, len(NODE_FEATURES)],
        "neighbours": ["batch", n, k],
        "mask": ["batch", n],
        "noise": ["batch", c, l],
        "reconstruction": ["batch", n, len(OUTPUT_FEATURES)],
    }


def _check_common(doc: Mapping[str, Any], source: str) -> None:
    """Rules v1 and v2 share: k < max_nodes, finite normalisation, the config hash."""
    if doc["graph"]["k"] >= doc["graph"]["max_nodes"]:
        raise ContractError(f"{source}: field 'contract.graph.k': k={doc['graph']['k']} must be "
                            f"smaller than max_nodes={doc['graph']['max_nodes']}")
    for feature in NORMALISED_FEATURES:
        norm = doc["normalisation"][feature]
        if not (math.isfinite(norm["mean"]) and math.isfinite(norm["std"])):
            raise ContractError(f"{source}: field 'contract.normalisation.{feature}': "
                                f"mean/std must be finite, got {norm}")
    try:
        want_hash = config_sha256(doc["training"]["config"])
    except ConfigError as err:
        raise ContractError(f"{source}: field 'contract.training.config': {err}") from err
    if doc["training"]["config_sha256"] != want_hash:
        raise ContractError(f"{source}: field 'contract.training.config_sha256': "
                            f"{doc['training']['config_sha256']} is not the sha256 of the "
                            f"canonical config ({want_hash})")


#: v2 entry points a contract may lack (exports written before they existed)
OPTIONAL_ENTRY_POINTS = ("simulate_counts",)


def entry_specs_v2(doc: Mapping[str, Any]) -> dict[str, dict[str, list[tuple[str, str, list[Any]]]]]:
    """(name, dtype, shape) of every input and output of the v2 entry points implied by
    ``graph``/``latent``/``decoder`` (``'batch'`` marks the dynamic axis)."""
    n, k = doc["graph"]["max_nodes"], doc["graph"]["k"]
    c, l = doc["latent"]["clusters"], doc["latent"]["dim"]
    s = sum(doc["decoder"]["slots"])
    decoded = [("xyu", "float32", ["batch", s, 3]), ("channel", "int64", ["batch", s]),
               ("hit_mask", "bool", ["batch", s]), ("counts", "int64", ["batch", 3])]
    simulate_inputs = [("conditions", "float64", ["batch", 2]), ("latent_noise", "float32", ["batch", c * l]),
                       ("count_noise", "float32", ["batch", 3])]
    return {
        "reconstruct": {"inputs": [("features", "float32", ["batch", n, len(NODE_FEATURES)]),
                                   ("neighbours", "int64", ["batch", n, k]), ("mask", "bool", ["batch", n]),
                                   ("noise", "float32", ["batch", c, l]), ("count_noise", "float32", ["batch", 3])],
                        "outputs": decoded},
        "simulate": {"inputs": simulate_inputs, "outputs": decoded},
        "simulate_counts": {"inputs": simulate_inputs, "outputs": [("counts", "int64", ["batch", 3])]},
    }


def _check_semantics_v2(doc: Mapping[str, Any], source: str) -> None:
    _check_common(doc, source)
    if doc["batch"]["min"] > doc["batch"]["max"]:
        raise ContractError(f"{source}: field 'contract.batch': min={doc['batch']['min']} > "
                            f"max={doc['batch']['max']}")
    if sum(doc["decoder"]["slots"]) > doc["graph"]["max_nodes"]:
        raise ContractError(f"{source}: field 'contract.decoder.slots': {doc['decoder']['slots']} sum to more "
                            f"than max_nodes={doc['graph']['max_nodes']}")
    for entry, groups in entry_specs_v2(doc).items():
        if entry in OPTIONAL_ENTRY_POINTS and entry not in doc["entry_points"]:
            continue
        for group, want in groups.items():
            got = doc["entry_points"][entry][group]
            if len(got) != len(want):
                raise ContractError(f"{source}: field 'contract.entry_points.{entry}.{group}': "
                                    f"{len(got)} tensors, expected {len(want)} ({[w[0] for w in want]})")
            for i, (spec, (name, dtype, shape)) in enumerate(zip(got, want)):
                if (spec["name"], spec["dtype"], list(spec["shape"])) != (name, dtype, shape):
                    raise ContractError(
                        f"{source}: field 'contract.entry_points.{entry}.{group}[{i}]': "
                        f"{spec['name']} {spec['dtype']} {spec['shape']}, expected {name} {dtype} {shape}")
    indices = [t["index"] for t in doc["conditions"]["types"]]
    if indices != list(range(len(indices))):
        raise ContractError(f"{source}: field 'contract.conditions.types': indices {indices} must be 0..K-1 in order")
    for i, t in enumerate(doc["conditions"]["types"]):
        if not t["pt_min"] <= t["pt_max"]:
            raise ContractError(f"{source}: field 'contract.conditions.types[{i}]': pt_min > pt_max")


def _check_semantics(doc: Mapping[str, Any], source: str) -> None:
    shapes = expected_shapes(doc)
    for group in ("inputs", "outputs"):
        for i, spec in enumerate(doc[group]):
            want = shapes[spec["name"]]
            if list(spec["shape"]) != want:
                raise ContractError(
                    f"{source}: field 'contract.{group}[{i}].shape': {spec['name']} has shape "
                    f"{spec['shape']} but graph/latent imply {want}")
    _check_common(doc, source)


def check_weights(doc: Mapping[str, Any], state_dict: Mapping[str, Any], *,
                  source: str = "contract") -> None:
    """Raise :class:`ContractError` unless ``doc['weights_sha256']`` is the hash of ``state_dict``."""
    got = weights_sha256(state_dict)
    if doc["weights_sha256"] != got:
        raise ContractError(f"{source}: field 'contract.weights_sha256': {doc['weights_sha256']} "
                            f"does not match the weights ({got}); the model was changed after "
                            "the contract was written, or the contract belongs to another model")


# ---------------------------------------------------------------------------------------------
# building


def build_contract(*, config: Mapping[str, Any], normalisation: Mapping[str, Any], k: int,
                   max_nodes: int, clusters: int, latent_dim: int,
                   state_dict: Mapping[str, Any], name: str = "gvae",
                   fmt: str = "torchscript", device: str = "cpu",
                   created_utc: str | None = None) -> dict[str, Any]:
    """Assemble and validate a contract.

    ``normalisation`` is the ``dataset.json`` block ``{"x": {"mean", "std"}, "y": ...,
    "log_energy": ...}``; extra keys there are ignored. ``state_dict`` is the trained model's
    state dict (hashed with :func:`weights_sha256`).
    """
    try:
        norm = {f: {"mean": float(normalisation[f]["mean"]), "std": float(normalisation[f]["std"])}
                for f in NORMALISED_FEATURES}
    except (KeyError, TypeError, ValueError) as err:
        raise ContractError(f"normalisation block is incomplete or not numeric: {err!r} "
                            f"(need mean/std for {list(NORMALISED_FEATURES)})") from err
    try:
        config = json.loads(canonical_json(dict(config)))  # plain JSON types, NaN refused
    except ConfigError as err:
        raise ContractError(str(err)) from err
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": name, "version": gvae.__version__, "format": fmt, "device": device},
        "inputs": [],
        "outputs": [],
        "node_features": list(NODE_FEATURES),
        "output_features": list(OUTPUT_FEATURES),
        "geometry": geometry.as_dict(),
        "graph": {"builder": GRAPH_BUILDER, "k": int(k), "max_nodes": int(max_nodes)},
        "normalisation": norm,
        "latent": {"clusters": int(clusters), "dim": int(latent_dim)},
        "training": {"config": config, "config_sha256": config_sha256(config)},
        "weights_sha256": weights_sha256(state_dict),
        "created_utc": created_utc or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    shapes = expected_shapes(doc)
    dtypes = {"features": "float32", "neighbours": "int64", "mask": "bool", "noise": "float32",
              "reconstruction": "float32"}
    for group, names in (("inputs", ("features", "neighbours", "mask", "noise")),
                         ("outputs", ("reconstruction",))):
        doc[group] = [{"name": n, "dtype": dtypes[n], "shape": shapes[n], "meaning": _MEANINGS[n]}
                      for n in names]
    return validate_contract(doc, source="new contract")


_MEANINGS_V2 = {
    "features": _MEANINGS["features"],
    "neighbours": _MEANINGS["neighbours"],
    "mask": _MEANINGS["mask"],
    "noise": "latent noise, z = mu + noise * exp(logvar / 2); zeros give the latent mean",
    "count_noise": "standard-normal noise of the per-channel hit counts, "
                   "n_c = round(exp(mean_c + noise_c * std_c) - 1); zeros give the deterministic counts",
    "conditions": "per jet (type index of conditions.types, pT in GeV), float64",
    "latent_noise": "standard-normal noise of the prior, z = a_k + b_k t + m_kc + L_kc eps (flattened [C*L]); "
                    "the first coordinate also picks the mixture component c (gvae.model.prior.component_noise)",
    "xyu": "normalised (x', y', u') of every decoder slot, channel-major (track slots, ECAL, HCAL); "
           "zero where hit_mask is false; invert with the normalisation constants, then snap (see snap)",
    "channel": "channel of every slot (0 track, 1 ECAL, 2 HCAL)",
    "hit_mask": "true on the slots that are decoded hits (the first counts[b, c] slots of channel c)",
    "counts": "decoded hits per channel (track, ECAL, HCAL) before snapping",
}


def build_contract_v2(*, config: Mapping[str, Any], normalisation: Mapping[str, Any], k: int,
                      max_nodes: int, clusters: int, latent_dim: int, slots: list[int],
                      prior: Any, snap: Mapping[str, Any], state_dict: Mapping[str, Any],
                      batch_range: tuple[int, int], name: str = "gvae", fmt: str = "torchscript",
                      device: str = "cpu", created_utc: str | None = None) -> dict[str, Any]:
    """Assemble and validate a v2 contract (latent decoder + conditional prior ``prior``).

    ``snap`` = ``{"max_hit_energy": GeV, "thresholds": [track, ECAL, HCAL] GeV}``;
    ``batch_range`` = (min, max) batch the artifacts accept.
    """
    v1 = build_contract(config=config, normalisation=normalisation, k=k, max_nodes=max_nodes,
                        clusters=clusters, latent_dim=latent_dim, state_dict=state_dict, name=name,
                        fmt=fmt, device=device, created_utc=created_utc)
    names = {v: n for n, v in _PRIOR_TYPE_NAMES.items()}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION_V2,
        "model": {**v1["model"], "decoder": "latent"},
        "batch": {"min": int(batch_range[0]), "max": int(batch_range[1])},
        "entry_points": {},
        "node_features": v1["node_features"], "output_features": v1["output_features"],
        "geometry": v1["geometry"], "graph": v1["graph"], "normalisation": v1["normalisation"],
        "latent": v1["latent"], "decoder": {"slots": [int(s) for s in slots]},
        "conditions": {
            "columns": ["type", "pt"], "logpt_mean": float(prior.logpt_mean), "logpt_std": float(prior.logpt_std),
            "types": [{"index": int(t), "name": names.get(int(t), f"type{int(t)}"),
                       "pt_min": float(prior.pt_quantiles[t][0]), "pt_max": float(prior.pt_quantiles[t][-1])}
                      for t in sorted(prior.chol)]},
        "snap": {"max_hit_energy": float(snap["max_hit_energy"]),
                 "thresholds": [float(x) for x in snap["thresholds"]]},
        "training": v1["training"], "weights_sha256": v1["weights_sha256"], "created_utc": v1["created_utc"],
    }
    for entry, groups in entry_specs_v2(doc).items():
        doc["entry_points"][entry] = {"aoti_model": entry, **{
            group: [{"name": n, "dtype": d, "shape": sh, "meaning": _MEANINGS_V2[n]} for n, d, sh in specs]
            for group, specs in groups.items()}}
    return validate_contract(doc, source="new contract")


def prior_tensors(prior: Any) -> dict[str, torch.Tensor]:
    """The prior as ``prior.<type>.mean|slope|chol`` tensors, plus ``prior.<type>.weights|offsets|
    component_chol`` for a type with a mixture of more than one component (hashed into ``weights_sha256``
    of v2)."""
    out: dict[str, torch.Tensor] = {}
    for t in sorted(prior.chol):
        for key, table in (("mean", prior.mean), ("slope", prior.slope), ("chol", prior.chol)):
            out[f"prior.{int(t)}.{key}"] = torch.from_numpy(np.asarray(table[t], np.float64))
        if prior.components(t) > 1:
            for key, table in zip(("weights", "offsets", "component_chol"), prior.component_tables(t)):
                out[f"prior.{int(t)}.{key}"] = torch.from_numpy(np.asarray(table, np.float64))
    return out


def with_format(doc: Mapping[str, Any], fmt: str, device: str | None = None) -> dict[str, Any]:
    """A validated copy of ``doc`` describing the artifact format ``fmt`` (and ``device``)."""
    new = copy.deepcopy(dict(doc))
    new["model"]["format"] = fmt
    if device is not None:
        new["model"]["device"] = device
    return validate_contract(new, source="new contract")


def dumps(doc: Mapping[str, Any]) -> str:
    """The contract as pretty JSON text (the form embedded in models and written to sidecars)."""
    return json.dumps(doc, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def loads(text: str | bytes, *, source: str = "contract") -> dict[str, Any]:
    """Parse and validate contract JSON text."""
    try:
        doc = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContractError(f"{source}: not valid JSON: {err}") from err
    return validate_contract(doc, source=source)


# ---------------------------------------------------------------------------------------------
# reading from artifacts


def sidecar_path(model_path: str | Path) -> Path:
    """``<model file>.contract.json`` next to an exported model (``gvae.pt`` -> ``gvae.pt.contract.json``)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def write_sidecar(model_path: str | Path, doc: Mapping[str, Any]) -> Path:
    """Write the validated sidecar of ``model_path``; return its path."""
    validate_contract(dict(doc), source=str(model_path))
    path = sidecar_path(model_path)
    path.write_text(dumps(doc), encoding="utf-8")
    return path


def read_contract(path: str | Path) -> dict[str, Any]:
    """Read and validate the contract of an exported model or a contract JSON file.

    - ``*.pt``: the TorchScript extra file ``contract.json`` (loads the module on CPU);
    - ``*.pt2``: the AOTInductor package metadata key ``gvae_contract``, read from the package's
      zip archive without loading the compiled model (so a CUDA package can be inspected on a
      CPU-only machine; :func:`read_aoti_metadata` documents where);
    - ``*.json``: a sidecar or any contract document.

    Raises :class:`ModelLoadError` if the file cannot be read as its format and
    :class:`ContractError` if the contract is missing or invalid; both name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"'{path}': no such file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return loads(path.read_bytes(), source=str(path))
    if suffix == ".pt":
        extra = {EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as err:  # noqa: BLE001 - torch raises RuntimeError and others
            raise ModelLoadError(f"'{path}': cannot load as TorchScript: {err}") from err
        if not extra[EXTRA_FILE]:
            raise ContractError(f"'{path}': no '{EXTRA_FILE}' extra file: not a gvae export")
        return loads(extra[EXTRA_FILE], source=f"{path}:{EXTRA_FILE}")
    if suffix == ".pt2":
        metadata = read_aoti_metadata(path)
        if METADATA_KEY not in metadata:
            raise ContractError(f"'{path}': package metadata has no key '{METADATA_KEY}': "
                                "not a gvae export")
        return loads(metadata[METADATA_KEY], source=f"{path}:{METADATA_KEY}")
    raise ModelLoadError(f"'{path}': unknown model file extension '{suffix}' "
                         "(expected .pt, .pt2 or .json)")


def aoti_models(path: str | Path) -> list[str]:
    """Names of the AOTInductor models in a ``.pt2`` package (v1: ``model``; v2: one per entry point)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sorted({n.split("/data/aotinductor/", 1)[-1].split("/", 1)[0] for n in archive.namelist()
                           if "/data/aotinductor/" in f"/{n}" and n.endswith("_metadata.json")})
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelLoadError(f"'{path}': cannot read as an AOTInductor package: {err}") from err


def read_aoti_metadata(path: str | Path, model: str | None = None) -> dict[str, str]:
    """The user metadata of an AOTInductor ``.pt2`` package, read from its zip archive.

    ``aoti_compile_and_package`` stores ``config.aot_inductor.metadata`` as the JSON file
    ``<archive>/data/aotinductor/<model>/<stem>_metadata.json`` (the same dict
    ``torch._inductor.package.load_package(path).get_metadata()`` returns, which however needs to
    load the compiled model on its device). ``model`` names one model of a package holding several
(v2: one per entry point); default the first by name.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist()
                     if "/data/aotinductor/" in f"/{n}" and n.endswith("_metadata.json")]
            models = sorted({n.split("/data/aotinductor/", 1)[-1].split("/", 1)[0] for n in names})
            if not models:
                raise ModelLoadError(f"'{path}': no AOTInductor model in the package")
            if model is None:
                model = models[0]  # v2 packages hold one model per entry point, all with the same contract
            mine = [n for n in names if n.split("/data/aotinductor/", 1)[-1].split("/", 1)[0] == model]
            if not mine:
                raise ModelLoadError(f"'{path}': no AOTInductor model '{model}' in the package (has {models})")
            # the wrapper and kernel metadata files are copies; take any one
            return json.loads(archive.read(sorted(mine)[0]))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"'{path}': cannot read as an AOTInductor package: {err}") from err


__all__ = [
    "OPTIONAL_ENTRY_POINTS", "SCHEMA_VERSION", "SCHEMA_VERSION_V2", "SCHEMA_VERSIONS", "build_contract_v2", "entry_specs_v2",
    "prior_tensors", "aoti_models", "GRAPH_BUILDER", "NODE_FEATURES", "OUTPUT_FEATURES", "FORMATS", "DEVICES",
    "EXTRA_FILE", "METADATA_KEY", "SIDECAR_SUFFIX", "canonical_json", "config_sha256",
    "weights_sha256", "load_schema", "validate_contract", "expected_shapes", "check_weights",
    "build_contract", "with_format", "dumps", "loads", "sidecar_path", "write_sidecar",
    "read_contract", "read_aoti_metadata",
]
