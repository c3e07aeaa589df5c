"""``python -m gvae.export``: a trained checkpoint -> TorchScript ``.pt`` and AOTInductor ``.pt2``.

Both artifacts expose the inference signature of DESIGN section 7::

    forward(features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N], noise f32 [B,C,L])
        -> reconstruction f32 [B,N,3]

and carry the same model contract (:mod:`gvae.export.contract`), embedded and as a sidecar
``<file>.contract.json``. ``--verify`` runs the exported files on held-out graphs against the
eager model and fails with the measured differences when they exceed the tolerance.

TorchScript is produced by **scripting**, not tracing: :class:`gvae.model.InferenceModel` is
written to be scriptable, and scripting keeps every size (batch, clusters) symbolic and every
mask operation as a graph op, whereas a trace records one concrete execution and may bake in
Python-level values of the example batch. The scripted module is frozen
(:func:`torch.jit.freeze`: weights inlined as constants, no training-only attributes left).

AOTInductor is produced by :func:`torch.export.export` with one dynamic dimension ``batch``
(``1 <= B <= max_batch``, the other axes fixed by the contract) and
:func:`torch._inductor.aoti_compile_and_package`, with the contract JSON in the package
metadata under ``gvae_contract``. The package runs only on the device it was compiled for.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from gvae.export import contract as gc
from gvae.cli import EXIT_OK, run_stage
from gvae.errors import ContractError, DeviceUnavailable, GvaeError, ModelLoadError, VerificationError

log = logging.getLogger("gvae.export")

#: Largest batch an AOTInductor package accepts (the dynamic ``batch`` dimension's maximum).
DEFAULT_MAX_BATCH = 4096
#: Tolerances of ``--verify`` (|exported - eager| <= atol + rtol * |eager| on real nodes).
#: fp32 on CPU: the exported graphs reorder and fuse float ops (Inductor C++ kernels,
#: TorchScript freezing), which moves results by a few ulp of the O(1) normalised outputs;
#: measured differences are ~1e-6, so 1e-4 leaves two orders of magnitude of margin while still
#: catching any wrong weight or wrong op.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4
#: ``-march`` of ``--portable`` AOTInductor CPU builds (x86-64 with AVX2, FMA, BMI2: 2013+ CPUs).
PORTABLE_MARCH = "x86-64-v3"
FORMAT_SUFFIX = {"torchscript": ".pt", "aoti": ".pt2"}


# ---------------------------------------------------------------------------------------------
# what is exported


@dataclass
class ExportSource:
    """Everything export needs from a checkpoint.

    ``model`` is the eager inference module (signature of DESIGN section 7) in eval mode on CPU;
    ``state_dict`` the trained model's weights (hashed into the contract).
    """

    model: torch.nn.Module
    state_dict: Mapping[str, torch.Tensor]
    config: dict[str, Any]
    normalisation: dict[str, Any]
    k: int
    max_nodes: int
    clusters: int
    latent_dim: int
    batch_size: int
    data_dir: Path | None = None
    checkpoint: Path | None = None

    def contract(self, *, name: str, fmt: str, device: str,
                 created_utc: str | None = None) -> dict[str, Any]:
        """The validated contract of this model for one artifact format and device."""
        return gc.build_contract(
            config=self.config, normalisation=self.normalisation, k=self.k,
            max_nodes=self.max_nodes, clusters=self.clusters, latent_dim=self.latent_dim,
            state_dict=self.state_dict, name=name, fmt=fmt, device=device,
            created_utc=created_utc)


def load_source(checkpoint: str | Path) -> ExportSource:
    """Read a training checkpoint (written by ``python -m gvae.train``) into an :class:`ExportSource`.

    Raises :class:`ModelLoadError` for an unreadable checkpoint and :class:`ContractError` when
    its normalisation is missing or its dataset's ``k``/``max_nodes`` disagree with the model.
    """
    from gvae.model import InferenceModel, load_model  # the model stage's API

    checkpoint = Path(checkpoint)
    loaded = load_model(checkpoint, map_location="cpu")
    cfg = loaded.model_config
    if not loaded.normalisation:
        raise ContractError(f"checkpoint '{checkpoint}': no normalisation constants: cannot "
                            "write a contract")
    for key, value in (("k", cfg.k), ("max_nodes", cfg.max_nodes)):
        if key in loaded.dataset and int(loaded.dataset[key]) != value:
            raise ContractError(f"checkpoint '{checkpoint}': dataset {key}="
                                f"{loaded.dataset[key]} but model.{key}={value}")
    data_dir = loaded.dataset.get("dir") or (loaded.config.get("data") or {}).get("dir")
    return ExportSource(
        model=InferenceModel(loaded.model).eval(), state_dict=loaded.model.state_dict(),
        config=loaded.config, normalisation=loaded.normalisation, k=cfg.k,
        max_nodes=cfg.max_nodes, clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim,
        batch_size=int(loaded.config["training"]["batch_size"]),
        data_dir=Path(data_dir) if data_dir else None, checkpoint=checkpoint)


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda`` -> :class:`torch.device`; :class:`DeviceUnavailable` if CUDA is absent."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable("--device cuda: CUDA is not available on this machine "
                                    f"(torch {torch.__version__}, built with CUDA "
                                    f"{torch.version.cuda or 'none'})")
        return torch.device("cuda")
    raise DeviceUnavailable(f"unknown device '{name}' (expected cpu or cuda)")


def example_inputs(source: ExportSource, batch: int, device: torch.device,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Synthetic inputs of the right shapes (export tracing only, never for verification).

    features ``[B,N,6]``, neighbours ``[B,N,k]`` (valid indices), mask ``[B,N]`` (a random
    number of leading real nodes per graph), noise ``[B,C,L]`` (zeros).
    """
    g = torch.Generator().manual_seed(seed)
    n, k = source.max_nodes, source.k
    n_real = torch.randint(k + 1, n + 1, (batch,), generator=g)
    mask = torch.arange(n).unsqueeze(0) < n_real.unsqueeze(1)
    features = torch.randn(batch, n, 6, generator=g) * mask.unsqueeze(-1)
    neighbours = torch.randint(0, k + 1, (batch, n, k), generator=g)
    neighbours = torch.where(mask.unsqueeze(-1), neighbours, torch.arange(n).view(1, n, 1))
    noise = torch.zeros(batch, source.clusters, source.latent_dim)
    return tuple(t.to(device) for t in (features, neighbours, mask, noise))


# ---------------------------------------------------------------------------------------------
# the two formats


def export_torchscript(source: ExportSource, path: Path, device: torch.device,
                       doc: Mapping[str, Any]) -> Path:
    """Script, freeze and save the model with ``contract.json`` as an extra file."""
    model = source.model.to(device).eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
        try:
            scripted = torch.jit.script(model)
        except Exception as err:  # noqa: BLE001 - TorchScript raises many frontend error types
            raise ModelLoadError(f"cannot script {type(model).__name__} for TorchScript export: "
                                 f"{err}") from err
        frozen = torch.jit.freeze(scripted.eval())
        torch.jit.save(frozen, str(path), _extra_files={gc.EXTRA_FILE: gc.dumps(doc)})
    return path


def aoti_inductor_configs(doc: Mapping[str, Any], device: torch.device,
                          portable: bool) -> dict[str, Any]:
    """Inductor options of the AOTInductor build: the contract as package metadata and, with
    ``portable`` on an x86-64 CPU, ``-march=x86-64-v3`` (any AVX2+FMA CPU) instead of Inductor's
    default ``-march=native`` (which ties the package to CPUs like the exporting one)."""
    configs: dict[str, Any] = {"aot_inductor.metadata": {gc.METADATA_KEY: gc.dumps(doc)}}
    if portable and device.type == "cpu" and platform.machine() in ("x86_64", "AMD64"):
        configs["cpp.march"] = PORTABLE_MARCH
        configs["cpp.simdlen"] = 256  # AVX2 kernels even when exporting on an AVX-512 CPU
    return configs


def export_aoti(source: ExportSource, path: Path, device: torch.device, doc: Mapping[str, Any],
                max_batch: int = DEFAULT_MAX_BATCH, portable: bool = False) -> Path:
    """``torch.export`` with a dynamic batch axis, then compile and package with AOTInductor."""
    model = source.model.to(device).eval()
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    dynamic = ({0: batch}, {0: batch}, {0: batch}, {0: batch})
    # batch 2 for the example: torch.export specialises sizes 0 and 1
    args = example_inputs(source, 2, device)
    with torch.no_grad():
        program = torch.export.export(model, args, dynamic_shapes=dynamic)
    if path.exists():
        path.unlink()  # the packager appends to an existing archive name otherwise
    out = torch._inductor.aoti_compile_and_package(
        program, package_path=str(path),
        inductor_configs=aoti_inductor_configs(doc, device, portable))
    return Path(out)


def load_exported(path: Path, device: torch.device) -> Callable[..., torch.Tensor]:
    """Load a ``.pt`` or ``.pt2`` written by this module as a callable on ``device``."""
    try:
        if path.suffix == ".pt":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                return torch.jit.load(str(path), map_location=device).eval()
        from torch._inductor.package import load_package
        return load_package(str(path))
    except Exception as err:  # noqa: BLE001
        raise ModelLoadError(f"'{path}': cannot load exported model: {err}") from err


def call(model: Callable[..., Any], features: torch.Tensor, neighbours: torch.Tensor,
         mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Run a loaded export (either format) without gradients; returns reconstruction ``[B,N,3]``."""
    with torch.no_grad():
        out = model(features, neighbours, mask, noise)
    if isinstance(out, (list, tuple)):  # an AOTI package may return its flat output list
        out = out[0]
    return out


# ---------------------------------------------------------------------------------------------
# verification


@dataclass
class Comparison:
    """Differences between one exported artifact and the eager model on one input case."""

    artifact: str
    case: str
    batch: int
    max_abs: float
    max_rel: float
    worst_excess: float  # max(|d| - atol - rtol*|ref|); > 0 means out of tolerance
    seconds: float

    @property
    def ok(self) -> bool:
        return self.worst_excess <= 0.0

    def line(self) -> str:
        return (f"{self.artifact:<28} {self.case:<18} B={self.batch:<5} max|d|={self.max_abs:.3e} "
                f"max rel={self.max_rel:.3e} {'ok' if self.ok else 'FAIL'} ({self.seconds:.3f} s)")


@dataclass
class VerifyReport:
    """All comparisons of one ``--verify`` run."""

    atol: float
    rtol: float
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def worst(self, artifact: str | None = None) -> tuple[float, float]:
        """(max abs, max rel) over all cases (of one artifact)."""
        cs = [c for c in self.comparisons if artifact is None or c.artifact == artifact]
        return max(c.max_abs for c in cs), max(c.max_rel for c in cs)


def compare(out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor, atol: float,
            rtol: float) -> tuple[float, float, float]:
    """(max abs diff, max rel diff, worst tolerance excess) over the real nodes (``mask``).

    out, ref ``[B,N,3]``, mask ``[B,N]``; rel = |d| / max(|ref|, 1e-12). Non-finite outputs
    count as an infinite difference. Padding rows are not part of the contract and are skipped.
    """
    if out.shape != ref.shape:
        return float("inf"), float("inf"), float("inf")
    o, r = out.detach().double().cpu()[mask.cpu()], ref.detach().double().cpu()[mask.cpu()]
    if o.numel() == 0:
        return 0.0, 0.0, 0.0
    d = (o - r).abs()
    d = torch.where(torch.isfinite(d), d, torch.full_like(d, float("inf")))
    rel = d / r.abs().clamp_min(1e-12)
    excess = d - atol - rtol * r.abs()
    return float(d.max()), float(rel.max()), float(excess.max())


def held_out_inputs(data_dir: Path, source: ExportSource, batch: int,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``batch`` graphs of the test split as model inputs (cycled if the split is
    smaller): features6 ``[B,N,6]``, neighbours ``[B,N,k]``, mask ``[B,N]``."""
    from gvae.graphs.shards import GraphShards, collate  # helper C's API

    shards = GraphShards(data_dir, "test")
    if len(shards) == 0:
        raise ContractError(f"'{data_dir}': the test split is empty: nothing to verify on")
    if shards.max_nodes != source.max_nodes or shards.k != source.k:
        raise ContractError(f"'{data_dir}': graphs have max_nodes={shards.max_nodes}, "
                            f"k={shards.k} but the model expects max_nodes={source.max_nodes}, "
                            f"k={source.k}")
    items = [shards[i % len(shards)] for i in range(batch)]
    features, neighbours, mask = shards.model_inputs(collate(items))
    return features.to(device), neighbours.to(device), mask.to(device)


def verify(source: ExportSource, artifacts: Mapping[str, Path], device: torch.device,
           data_dir: Path, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
           seed: int = 12345) -> VerifyReport:
    """Run every artifact on held-out graphs against the eager model.

    Cases: batch 1 and batch ``source.batch_size + 1`` (above the training batch size), each with
    ``noise = 0`` and with a fixed standard-normal noise tensor (``seed``). Before comparing
    numbers, checks that each artifact's embedded contract equals its sidecar, describes its
    format and device, carries the hash of ``source.state_dict`` and otherwise equals the
    contract :meth:`ExportSource.contract` builds for the checkpoint (config, normalisation,
    shapes). Returns the report;
    :func:`main` turns a failing report into :class:`VerificationError`.
    """
    report = VerifyReport(atol=atol, rtol=rtol)
    eager = source.model.to(device).eval()
    for fmt, path in artifacts.items():
        embedded = gc.read_contract(path)
        sidecar = gc.read_contract(gc.sidecar_path(path))
        if embedded != sidecar:
            raise ContractError(f"'{path}': embedded contract differs from its sidecar "
                                f"'{gc.sidecar_path(path)}'")
        if embedded["model"]["format"] != fmt or embedded["model"]["device"] != device.type:
            raise ContractError(f"'{path}': contract says format={embedded['model']['format']}, "
                                f"device={embedded['model']['device']}; expected {fmt}, "
                                f"{device.type}")
        gc.check_weights(embedded, source.state_dict, source=str(path))
        expected = source.contract(name=embedded["model"]["name"], fmt=fmt, device=device.type,
                                   created_utc=embedded["created_utc"])
        for key in expected:
            if embedded[key] != expected[key]:
                raise ContractError(f"'{path}': contract field '{key}' does not describe the "
                                    f"checkpoint: {embedded[key]!r} != {expected[key]!r}")
    loaded = {fmt: load_exported(path, device) for fmt, path in artifacts.items()}
    g = torch.Generator().manual_seed(seed)
    for batch in (1, source.batch_size + 1):
        features, neighbours, mask = held_out_inputs(data_dir, source, batch, device)
        fixed = torch.randn(batch, source.clusters, source.latent_dim, generator=g).to(device)
        for case, noise in (("noise=0", torch.zeros_like(fixed)), ("fixed noise", fixed)):
            with torch.no_grad():
                ref = eager(features, neighbours, mask, noise)
                for fmt, model in loaded.items():
                    t0 = time.perf_counter()
                    out = call(model, features, neighbours, mask, noise)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    seconds = time.perf_counter() - t0
                    max_abs, max_rel, excess = compare(out, ref, mask, atol, rtol)
                    c = Comparison(artifacts[fmt].name, case, batch, max_abs, max_rel, excess,
                                   seconds)
                    report.comparisons.append(c)
                    log.info("verify %s", c.line())
    return report


# ---------------------------------------------------------------------------------------------
# the whole job


@dataclass
class ExportResult:
    """Paths written by :func:`export` and how long each artifact took."""

    artifacts: dict[str, Path]
    sidecars: dict[str, Path]
    seconds: dict[str, float]
    report: VerifyReport | None = None


def export(source: ExportSource, out_dir: Path, *, formats: Sequence[str] = gc.FORMATS,
           device: str = "cpu", name: str = "gvae", max_batch: int = DEFAULT_MAX_BATCH,
           portable: bool = False) -> ExportResult:
    """Export ``source`` in each of ``formats`` to ``out_dir/<name>.{pt,pt2}`` with sidecars."""
    dev = resolve_device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult({}, {}, {})
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # one for all formats
    for fmt in formats:
        path = out_dir / f"{name}{FORMAT_SUFFIX[fmt]}"
        doc = source.contract(name=name, fmt=fmt, device=dev.type, created_utc=created)
        log.info("exporting %s -> %s", fmt, path)
        t0 = time.perf_counter()
        if fmt == "torchscript":
            export_torchscript(source, path, dev, doc)
        else:
            export_aoti(source, path, dev, doc, max_batch=max_batch, portable=portable)
        result.seconds[fmt] = time.perf_counter() - t0
        result.artifacts[fmt] = path
        result.sidecars[fmt] = gc.write_sidecar(path, doc)
        log.info("wrote %s (%.1f kB) in %.1f s, contract %s", path, path.stat().st_size / 1e3,
                 result.seconds[fmt], result.sidecars[fmt])
    source.model.to("cpu")
    return result


# ---------------------------------------------------------------------------------------------
# the committed reference model

REFERENCE_NAME = "gvae_reference"


def _step(command: list[str]) -> None:
    """Run one stage CLI (``python -m ...``) and fail with its output if it fails."""
    import subprocess

    log.info("reference: %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise GvaeError(f"reference build step failed (exit {done.returncode}): "
                        f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def build_reference(args: argparse.Namespace, work: Path) -> Path:
    """Generate jets, convert them to graphs and train briefly with ``args.config`` in ``work``;
    write ``heldout.gvh`` (jets from another seed) to ``args.out``; return the checkpoint.

    Each stage runs through its own command line (the same commands as the demo), so the
    reference model is exactly what a user gets from the documented pipeline, only smaller.
    """
    py = sys.executable
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets", str(args.jets),
           "--seed", str(args.seed), "--out", str(work / "jets.parquet")])
    _step([py, "-m", "gvae.data", "convert", str(work / "jets.parquet"), str(work / "graphs")])
    _step([py, "-m", "gvae.train", "--config", str(args.config), "--data", str(work / "graphs"),
           "--out", str(work / "run"), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--no-progress"])
    args.out.mkdir(parents=True, exist_ok=True)
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets",
           str(args.heldout_jets), "--seed", str(args.seed + 1000),
           "--out", str(args.out / "heldout.gvh")])
    return work / "run" / "best.pt"


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gvae.export`` command line."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.export",
        description="Export a trained gvae checkpoint to TorchScript (.pt) and AOTInductor "
                    "(.pt2), each with the model contract embedded and as a sidecar "
                    "<file>.contract.json (schema: export/contract.schema.json).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path,
                        help="training checkpoint written by `python -m gvae.train` "
                             "(e.g. run/best.pt)")
    source.add_argument("--reference", action="store_true",
                        help="build the small committed reference model instead: generate "
                             "--jets jets (--seed), convert, train --epochs with --config, then "
                             "export both formats --portable with --verify as "
                             f"'{REFERENCE_NAME}' and write heldout.gvh next to them")
    p.add_argument("--out", type=Path, required=True,
                   help="output directory (created); files are <name>.pt, <name>.pt2 and their "
                        "<file>.contract.json sidecars")
    p.add_argument("--format", choices=["torchscript", "aoti", "all"], default="all",
                   help="which artifact(s) to write: TorchScript (scripted + frozen), "
                        "AOTInductor package, or both")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="device to export for (an AOTI package only runs on it); cuda without a "
                        "GPU fails with DeviceUnavailable")
    p.add_argument("--name", default=None,
                   help="model name: file stem and contract model.name ([A-Za-z0-9_.-]); "
                        f"default gvae, or {REFERENCE_NAME} with --reference")
    p.add_argument("--verify", action="store_true",
                   help="run the exported files on held-out test graphs against the eager model "
                        "(batch 1 and training batch + 1, noise zero and fixed) and fail with the "
                        "measured max abs/rel differences if they exceed the tolerance")
    p.add_argument("--data", type=Path, default=None,
                   help="graph shards directory for --verify (test split); default: the dataset "
                        "the checkpoint was trained on")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                   help="--verify absolute tolerance on the normalised outputs")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                   help="--verify relative tolerance: pass if |d| <= atol + rtol*|eager|")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="largest batch the AOTInductor package accepts (dynamic batch axis max)")
    p.add_argument("--portable", action="store_true",
                   help=f"AOTInductor CPU build for any x86-64 CPU with AVX2/FMA "
                        f"(-march={PORTABLE_MARCH}, 256-bit kernels) instead of -march=native; "
                        "use for packages that are committed or shipped to other machines")
    p.add_argument("--summary", type=Path, default=None,
                   help="also write a JSON summary (paths, sizes, export seconds, verify "
                        "differences) to this file")
    ref = p.add_argument_group("--reference options")
    ref.add_argument("--config", type=Path, default=Path("configs/demo.yaml"),
                     help="training config of the reference model")
    ref.add_argument("--jets", type=int, default=400, help="jets generated for its training")
    ref.add_argument("--heldout-jets", type=int, default=16,
                     help="jets (seed + 1000) written to OUT/heldout.gvh for C++ tests/examples")
    ref.add_argument("--epochs", type=int, default=2, help="training epochs")
    ref.add_argument("--seed", type=int, default=2024, help="seed of generation and training")
    ref.add_argument("--work", type=Path, default=None,
                     help="keep the intermediate jets, graphs and run here (default: a "
                          "temporary directory, removed afterwards)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def summary(result: ExportResult) -> dict[str, Any]:
    """JSON-able summary of an export (and its verification)."""
    doc: dict[str, Any] = {"torch": torch.__version__, "artifacts": {}}
    for fmt, path in result.artifacts.items():
        entry = {"path": str(path), "bytes": path.stat().st_size,
                 "contract": str(result.sidecars[fmt]), "export_seconds": result.seconds[fmt]}
        if result.report is not None:
            max_abs, max_rel = result.report.worst(path.name)
            entry.update(max_abs_diff=max_abs, max_rel_diff=max_rel)
        doc["artifacts"][fmt] = entry
    if result.report is not None:
        doc["verify"] = {"ok": result.report.ok, "atol": result.report.atol,
                         "rtol": result.report.rtol,
                         "cases": [vars(c) for c in result.report.comparisons]}
    return doc


def run(args: argparse.Namespace) -> ExportResult:
    """Execute a parsed command line; raises :class:`GvaeError` subclasses on failure."""
    device = resolve_device(args.device)  # fail fast, before loading anything
    if args.reference:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gvae-reference-") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            checkpoint = build_reference(args, work)
            log.info("reference: data + training took %.1f s", time.perf_counter() - t0)
            ref_args = argparse.Namespace(**{**vars(args), "reference": False,
                                             "checkpoint": checkpoint, "verify": True,
                                             "portable": True, "format": "all",
                                             "data": work / "graphs",
                                             "name": args.name or REFERENCE_NAME,
                                             "summary": args.summary or args.out / "summary.json"})
            return run(ref_args)
    source = load_source(args.checkpoint)
    formats = list(gc.FORMATS) if args.format == "all" else [args.format]
    result = export(source, args.out, formats=formats, device=device.type,
                    name=args.name or "gvae",
                    max_batch=args.max_batch, portable=args.portable)
    if args.verify:
        data_dir = args.data or source.data_dir
        if data_dir is None:
            raise ContractError("--verify needs held-out graphs: pass --data (the checkpoint "
                                "does not name its dataset)")
        result.report = verify(source, result.artifacts, device, Path(data_dir),
                               atol=args.atol, rtol=args.rtol)
        for fmt, path in result.artifacts.items():
            max_abs, max_rel = result.report.worst(path.name)
            log.info("verify %s: max abs diff %.3e, max rel diff %.3e (atol %.0e, rtol %.0e)",
                     path.name, max_abs, max_rel, args.atol, args.rtol)
    if args.summary:
        args.summary.write_text(json.dumps(summary(result), indent=2) + "\n")
    if result.report is not None and not result.report.ok:
        bad = [c for c in result.report.comparisons if not c.ok]
        raise VerificationError(
            f"exported model(s) differ from the eager model beyond atol={args.atol:g}, "
            f"rtol={args.rtol:g} in {len(bad)} of {len(result.report.comparisons)} cases:\n  "
            + "\n  ".join(c.line() for c in bad))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gvae.export``; returns the exit status (:mod:`gvae.cli`: 1 when
    ``--verify`` fails, 2 for bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def body() -> int:
        run(args)
        return EXIT_OK

    return run_stage(log, body)


if __name__ == "__main__":
    sys.exit(main())
