"""What is exported: a training checkpoint read into an :class:`ExportSource` (eager inference
model, weights, config, normalisation, shapes), the device to export for, example inputs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gvae.errors import ContractError, DeviceUnavailable
from gvae.export import contract as gc


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
    #: ``paper`` (contract v1, one forward) or ``latent`` (contract v2, entry points)
    decoder: str = "paper"
    #: latent decoder only: the trained GVAE (eager reference), its prior and slot budget
    gvae: torch.nn.Module | None = None
    prior: Any = None
    slots: tuple[int, ...] = ()
    max_batch: int = 4096

    @property
    def schema_version(self) -> int:
        return gc.SCHEMA_VERSION_V2 if self.decoder == "latent" else gc.SCHEMA_VERSION

    def contract(self, *, name: str, fmt: str, device: str,
                 created_utc: str | None = None) -> dict[str, Any]:
        """The validated contract of this model for one artifact format and device (v1 for the
        paper decoder, v2 for the latent decoder)."""
        if self.decoder == "latent":
            from gvae.model.snap import MAX_HIT_ENERGY, thresholds
            return gc.build_contract_v2(
                config=self.config, normalisation=self.normalisation, k=self.k,
                max_nodes=self.max_nodes, clusters=self.clusters, latent_dim=self.latent_dim,
                slots=list(self.slots), prior=self.prior,
                snap={"max_hit_energy": MAX_HIT_ENERGY, "thresholds": thresholds().tolist()},
                state_dict=self.state_dict, batch_range=(1, self.max_batch), name=name, fmt=fmt,
                device=device, created_utc=created_utc)
        return gc.build_contract(
            config=self.config, normalisation=self.normalisation, k=self.k,
            max_nodes=self.max_nodes, clusters=self.clusters, latent_dim=self.latent_dim,
            state_dict=self.state_dict, name=name, fmt=fmt, device=device,
            created_utc=created_utc)


def load_source(checkpoint: str | Path, max_batch: int = 4096) -> ExportSource:
    """Read a training checkpoint (written by ``python -m gvae.train``) into an :class:`ExportSource`.

    Paper decoder: contract v1, the module is :class:`gvae.model.InferenceModel`. Latent decoder:
    contract v2, the module is :class:`gvae.export.entry.LatentEntryPoints` (needs the checkpoint's
    prior); ``max_batch`` is the largest batch the artifacts accept (recorded in the contract).

    Raises :class:`ModelLoadError` for an unreadable checkpoint and :class:`ContractError` when
    its normalisation or (latent decoder) prior is missing or its dataset's ``k``/``max_nodes``
    disagree with the model.
    """
    from gvae.model import InferenceModel, load_model  # the model stage's API

    checkpoint = Path(checkpoint)
    loaded = load_model(checkpoint, map_location="cpu")
    cfg = loaded.model_config
    if cfg.decoder not in ("paper", "latent"):
        raise ContractError(f"checkpoint '{checkpoint}' has model.decoder: {cfg.decoder}; export knows "
                            "paper (contract v1) and latent (contract v2)")
    if cfg.decoder == "latent" and loaded.prior is None:
        raise ContractError(f"checkpoint '{checkpoint}': latent decoder without a prior p(z | type, pT): the "
                            "simulate entry point needs it (fitted at the end of `python -m gvae.train`)")
    if max_batch < 1:
        raise ContractError(f"max_batch must be >= 1, got {max_batch}")
    if not loaded.normalisation:
        raise ContractError(f"checkpoint '{checkpoint}': no normalisation constants: cannot "
                            "write a contract")
    for key, value in (("k", cfg.k), ("max_nodes", cfg.max_nodes)):
        if key in loaded.dataset and int(loaded.dataset[key]) != value:
            raise ContractError(f"checkpoint '{checkpoint}': dataset {key}="
                                f"{loaded.dataset[key]} but model.{key}={value}")
    data_dir = loaded.dataset.get("dir") or (loaded.config.get("data") or {}).get("dir")
    if cfg.decoder == "latent":
        from gvae.export.entry import LatentEntryPoints
        module: torch.nn.Module = LatentEntryPoints(loaded.model.eval(), loaded.prior).eval()
        state_dict = {**loaded.model.state_dict(), **gc.prior_tensors(loaded.prior)}
    else:
        module, state_dict = InferenceModel(loaded.model).eval(), loaded.model.state_dict()
    return ExportSource(
        model=module, state_dict=state_dict, decoder=cfg.decoder,
        gvae=loaded.model.eval(), prior=loaded.prior, slots=tuple(cfg.slot_budget), max_batch=max_batch,
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
                   seed: int = 0, entry: str = "reconstruct") -> tuple[torch.Tensor, ...]:
    """Synthetic inputs of the right shapes (export tracing only, never for verification).

    ``reconstruct`` (and v1 forward): features ``[B,N,6]``, neighbours ``[B,N,k]`` (valid indices),
    mask ``[B,N]`` (a random number of leading real nodes per graph), noise ``[B,C,L]`` (zeros),
    and for v2 count_noise ``[B,3]`` (zeros). ``simulate`` and ``simulate_counts``: conditions ``[B,2]`` f64 (types
    cycled, pT in each type's range), latent_noise ``[B,C*L]``, count_noise ``[B,3]`` (zeros).
    """
    if entry in ("simulate", "simulate_counts"):
        types = sorted(source.prior.chol)
        kind = torch.tensor([types[i % len(types)] for i in range(batch)], dtype=torch.float64)
        pt = torch.tensor([float(source.prior.pt_quantiles[int(t)][100]) for t in kind.tolist()],
                          dtype=torch.float64)
        out = (torch.stack([kind, pt], dim=1), torch.zeros(batch, source.clusters * source.latent_dim),
               torch.zeros(batch, 3))
        return tuple(t.to(device) for t in out)
    g = torch.Generator().manual_seed(seed)
    n, k = source.max_nodes, source.k
    n_real = torch.randint(k + 1, n + 1, (batch,), generator=g)
    mask = torch.arange(n).unsqueeze(0) < n_real.unsqueeze(1)
    features = torch.randn(batch, n, 6, generator=g) * mask.unsqueeze(-1)
    neighbours = torch.randint(0, k + 1, (batch, n, k), generator=g)
    neighbours = torch.where(mask.unsqueeze(-1), neighbours, torch.arange(n).view(1, n, 1))
    noise = torch.zeros(batch, source.clusters, source.latent_dim)
    tensors = (features, neighbours, mask, noise)
    if source.decoder == "latent":
        tensors = (*tensors, torch.zeros(batch, 3))
    return tuple(t.to(device) for t in tensors)


def contract_from_checkpoint(checkpoint: str | Path, *, name: str = "gvae",
                             fmt: str = "torchscript", device: str = "cpu") -> dict[str, Any]:
    """The contract an export of ``checkpoint`` (a ``python -m gvae.train`` checkpoint) carries:
    config, normalisation and dataset shapes from the checkpoint, weights hash of its model."""
    return load_source(checkpoint).contract(name=name, fmt=fmt, device=device)
