"""Data-parallel backends behind one interface: none (single process), Horovod, torch DDP.

Launchers: ``horovodrun -np N -H localhost:N python -m gvae.train ...`` (Horovod over Gloo
or MPI) and ``torchrun --nproc_per_node N -m gvae.train ...`` (``torch.distributed`` with the
gloo backend on CPU, nccl on CUDA). ``detect_backend`` picks the backend from the launcher's
environment (``HOROVOD_RANK`` / ``OMPI_COMM_WORLD_RANK`` -> horovod, ``RANK`` + ``WORLD_SIZE``
-> torch) unless ``--backend`` names one.

Gradient averaging: both backends average gradients over processes, and every loss term is a
mean over the jets of the local batch, so with equal local batches the averaged gradient is
the gradient of the mean over the union batch (what one process with ``batch_size * N`` sees).

Teardown (torch backend): the gloo process group must be destroyed, and its worker threads joined,
while the interpreter is alive. A gloo worker that drops the last reference to a Python-owned tensor
during interpreter finalization takes the GIL, is ended by ``pthread_exit`` and aborts the process
("terminate called without an active exception"), at random, after training has finished. Two things
kept the group alive past ``destroy_process_group``: ``import torch._dynamo`` (which DDP's constructor
does) records the objects of ``torch.distributed`` it finds, ``group.WORLD`` included, in module-level
tables, so it must run before the group exists; and the DDP wrapper (its reducer holds the group) sits
in the trainer's reference cycles until a collection, so ``shutdown`` collects first.
"""
from __future__ import annotations

import gc
import logging
import os
from typing import Any, Protocol

import torch
from torch import nn

from gvae.errors import ConfigError

log = logging.getLogger(__name__)
BACKENDS = ("auto", "none", "horovod", "torch")


class Backend(Protocol):
    """What the training loop needs from a data-parallel backend."""

    name: str
    rank: int
    world_size: int
    local_rank: int

    def wrap_model(self, model: nn.Module, device: torch.device) -> nn.Module: ...
    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer: ...
    def broadcast_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None: ...
    def allreduce_sum(self, tensor: torch.Tensor) -> torch.Tensor: ...
    def broadcast_object(self, obj: Any) -> Any: ...
    def barrier(self) -> None: ...
    def synchronize_gradients(self, optimizer: torch.optim.Optimizer) -> bool: ...
    def shutdown(self) -> None: ...


class SingleProcess:
    """No parallelism (``--backend none``)."""

    name = "none"
    rank, world_size, local_rank = 0, 1, 0

    def wrap_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        return model

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
        return optimizer

    def broadcast_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        return None

    def allreduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def broadcast_object(self, obj: Any) -> Any:
        return obj

    def barrier(self) -> None:
        return None

    def synchronize_gradients(self, optimizer: torch.optim.Optimizer) -> bool:
        """Make gradients final before unscaling/clipping; True if the step must then skip
        the optimizer's own synchronisation (Horovod only)."""
        return False

    def shutdown(self) -> None:
        return None


class HorovodBackend(SingleProcess):
    """Horovod: ``hvd.DistributedOptimizer`` (gradient allreduce-average during backward),
    parameter and optimizer-state broadcast from rank 0, metric allreduce."""

    name = "horovod"

    def __init__(self) -> None:
        try:
            import horovod.torch as hvd
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigError(f"--backend horovod: horovod.torch cannot be imported: {exc}") from exc
        self.hvd = hvd
        hvd.init()
        self.rank, self.world_size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
        return self.hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                             op=self.hvd.Average)

    def broadcast_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Rank 0's parameters and (non-empty) optimizer state go to every rank.

        An empty optimizer state (fresh start) is not broadcast: Horovod would initialise it by
        a zero-gradient ``step()``, which advances Adam's step count (and applies weight decay)
        and would make the run differ from a single-process one. Fresh optimizers are identical
        on every rank by construction.
        """
        self.hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        if optimizer.state_dict()["state"]:
            self.hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    def allreduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.hvd.allreduce(tensor, op=self.hvd.Sum, name=None)

    def broadcast_object(self, obj: Any) -> Any:
        return self.hvd.broadcast_object(obj, root_rank=0)

    def barrier(self) -> None:
        self.hvd.barrier() if hasattr(self.hvd, "barrier") else self.hvd.allreduce(torch.zeros(1))

    def synchronize_gradients(self, optimizer: torch.optim.Optimizer) -> bool:
        optimizer.synchronize()  # type: ignore[attr-defined]
        return True

    def shutdown(self) -> None:
        self.hvd.shutdown()


class TorchBackend(SingleProcess):
    """``torch.distributed`` + ``DistributedDataParallel`` (gloo on CPU, nccl on CUDA)."""

    name = "torch"

    def __init__(self, use_cuda: bool = False) -> None:
        import torch.distributed as dist
        self.dist = dist
        import torch._dynamo  # noqa: F401  before the group exists: see the module docstring, "Teardown"
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))

    def wrap_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        # DDP broadcasts rank 0's parameters and buffers when it wraps the model
        return DistributedDataParallel(model, device_ids=ids)

    def broadcast_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Parameters are broadcast by DDP; the optimizer state (resume) goes from rank 0."""
        state = optimizer.state_dict()
        if state["state"]:
            optimizer.load_state_dict(self.broadcast_object(state))

    def allreduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        self.dist.all_reduce(out, op=self.dist.ReduceOp.SUM)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        box = [obj]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        self.dist.barrier()

    def shutdown(self) -> None:
        """Destroy the process group; its last owner goes with it, so gloo joins its worker threads
        here (module docstring, "Teardown")."""
        gc.collect()  # unreachable DDP wrappers in reference cycles still hold the group
        if self.dist.is_initialized():
            self.dist.destroy_process_group()


def detect_backend(requested: str = "auto") -> str:
    """Resolve ``auto`` from the launcher's environment variables."""
    if requested not in BACKENDS:
        raise ConfigError(f"--backend {requested!r}: must be one of {BACKENDS}")
    if requested != "auto":
        return requested
    if "HOROVOD_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ \
            or "PMI_RANK" in os.environ:
        return "horovod"
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return "torch"
    return "none"


def make_backend(requested: str = "auto", use_cuda: bool = False) -> SingleProcess:
    """Create (and initialise) the backend ``requested`` (``auto`` detects it); ``use_cuda``
    selects nccl instead of gloo for torch.distributed."""
    name = detect_backend(requested)
    if name == "torch":
        backend: SingleProcess = TorchBackend(use_cuda)
    else:
        backend = {"none": SingleProcess, "horovod": HorovodBackend}[name]()
    log.debug("backend %s: rank %d of %d", name, backend.rank, backend.world_size)
    return backend
