"""The two artifact formats: TorchScript ``.pt`` and AOTInductor ``.pt2``, written with the contract
embedded and loaded back as callables (see :mod:`gvae.export` for how each format is produced)."""
from __future__ import annotations

import platform
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from gvae.errors import ModelLoadError
from gvae.export import contract as gc
from gvae.export.source import ExportSource, example_inputs

#: Largest batch an AOTInductor package accepts (the dynamic ``batch`` dimension's maximum).
DEFAULT_MAX_BATCH = 4096
#: ``-march`` of ``--portable`` AOTInductor CPU builds (x86-64 with AVX2, FMA, BMI2: 2013+ CPUs).
PORTABLE_MARCH = "x86-64-v3"
FORMAT_SUFFIX = {"torchscript": ".pt", "aoti": ".pt2"}
#: contract v2 entry points (TorchScript methods; AOTInductor model names in the package);
#: ``simulate_counts`` is optional in a contract (exports before it lack it)
ENTRY_POINTS = ("reconstruct", "simulate", "simulate_counts")


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
        preserved = list(ENTRY_POINTS) if source.decoder == "latent" else []
        frozen = torch.jit.freeze(scripted.eval(), preserved_attrs=preserved)
        torch.jit.save(frozen, str(path), _extra_files={gc.EXTRA_FILE: gc.dumps(doc)})
    return path


def aoti_inductor_configs(doc: Mapping[str, Any], device: torch.device,
                          portable: bool) -> dict[str, Any]:
    """Inductor options of the AOTInductor build: the contract as package metadata, CPU kernels
    whose OpenMP buffers follow the team size at run time (``cpp.dynamic_threads``) and, with
    ``portable`` on an x86-64 CPU, ``-march=x86-64-v3`` (any AVX2+FMA CPU) instead of Inductor's
    default ``-march=native`` (which ties the package to CPUs like the exporting one); ``portable``
    packages (any device) also leave out the compiled code's line tables (size)."""
    configs: dict[str, Any] = {"aot_inductor.metadata": {gc.METADATA_KEY: gc.dumps(doc)}}
    if device.type == "cpu":
        # Size the kernels' per-thread reduction buffers by the running thread's OpenMP team
        # (omp_get_max_threads()) instead of the exporting machine's thread count: otherwise a larger
        # team at run time (more cores than the exporter, OMP_NUM_THREADS) indexes past them.
        configs["cpp.dynamic_threads"] = True
    if portable and device.type == "cpu" and platform.machine() in ("x86_64", "AMD64"):
        configs["cpp.march"] = PORTABLE_MARCH
        configs["cpp.simdlen"] = 256  # AVX2 kernels even when exporting on an AVX-512 CPU
    from torch._inductor import config as inductor_config

    if portable and hasattr(inductor_config.aot_inductor, "enable_line_tables"):
        # No -g1 line tables in packages that are committed or shipped: they are ~40% of each
        # compiled model (1.7 MB of 4 MB for the reference model's reconstruct entry point).
        configs["aot_inductor.enable_line_tables"] = False
    return configs


def export_aoti(source: ExportSource, path: Path, device: torch.device, doc: Mapping[str, Any],
                max_batch: int = DEFAULT_MAX_BATCH, portable: bool = False) -> Path:
    """``torch.export`` with a dynamic batch axis, then compile and package with AOTInductor."""
    model = source.model.to(device).eval()
    if path.exists():
        path.unlink()  # the packager appends to an existing archive name otherwise
    configs = aoti_inductor_configs(doc, device, portable)
    if source.decoder != "latent":
        program = _export_program(model, example_inputs(source, 2, device), max_batch)
        return Path(torch._inductor.aoti_compile_and_package(program, package_path=str(path),
                                                             inductor_configs=configs))
    from torch._inductor.package import package_aoti

    from gvae.export.entry import entry_module

    files: dict[str, Any] = {}
    for entry in ENTRY_POINTS:
        program = _export_program(entry_module(model, entry),
                                  example_inputs(source, 2, device, entry=entry), max_batch)
        files[entry] = torch._inductor.aot_compile(program.module(), program.example_inputs[0],
                                                   options={**configs, "aot_inductor.package": True})
    return Path(package_aoti(str(path), files))


def _export_program(module: torch.nn.Module, args: tuple[torch.Tensor, ...],
                    max_batch: int) -> torch.export.ExportedProgram:
    """``torch.export`` with one dynamic axis ``batch`` (axis 0 of every input) in ``[1, max_batch]``.

    Raises :class:`ContractError` if torch narrows the range (the contract records ``[1, max_batch]``
    and the C++ library checks it; a package compiled for 2.. would refuse batch 1 at run time).
    """
    from gvae.errors import ContractError

    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=tuple({0: batch} for _ in args))
    # only the batch axis: the latent decoder's packed slot count is a data-dependent (unbacked)
    # size with its own range
    batch_symbols = {node.meta["val"].shape[0].node.expr for node in program.graph.nodes
                     if node.op == "placeholder" and node.name in program.graph_signature.user_inputs
                     and isinstance(node.meta.get("val"), torch.Tensor)
                     and isinstance(node.meta["val"].shape[0], torch.SymInt)}
    for symbol, vr in program.range_constraints.items():
        if symbol in batch_symbols and (int(vr.lower), int(vr.upper)) != (1, max_batch):
            raise ContractError(f"torch.export narrowed the batch range to [{vr.lower}, {vr.upper}], the contract "
                                f"promises [1, {max_batch}]")
    return program


def load_exported(path: Path, device: torch.device, entry: str | None = None) -> Callable[..., Any]:
    """Load a ``.pt`` or ``.pt2`` written by this module as a callable on ``device``; ``entry``
    (contract v2) picks an entry point (:data:`ENTRY_POINTS`), None = the v1 forward."""
    try:
        if path.suffix == ".pt":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                module = torch.jit.load(str(path), map_location=device).eval()
            return module if entry is None else getattr(module, entry)
        from torch._inductor.package import load_package
        return load_package(str(path)) if entry is None else load_package(str(path), entry)
    except Exception as err:  # noqa: BLE001
        raise ModelLoadError(f"'{path}': cannot load exported model: {err}") from err


def call_entry(model: Callable[..., Any], *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run a loaded v2 entry point (either format) without gradients; returns its output tuple."""
    with torch.no_grad():
        out = model(*inputs)
    return tuple(out)


def call(model: Callable[..., Any], features: torch.Tensor, neighbours: torch.Tensor,
         mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Run a loaded export (either format) without gradients; returns reconstruction ``[B,N,3]``."""
    with torch.no_grad():
        out = model(features, neighbours, mask, noise)
    if isinstance(out, (list, tuple)):  # an AOTI package may return its flat output list
        out = out[0]
    return out
