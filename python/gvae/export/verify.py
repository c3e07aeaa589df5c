"""``--verify``: run exported artifacts on held-out graphs against the eager model and report the
measured differences (:class:`VerifyReport`)."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gvae.errors import ContractError
from gvae.export import contract as gc
from gvae.export.formats import ENTRY_POINTS, call, call_entry, load_exported
from gvae.export.source import ExportSource

log = logging.getLogger(__name__)

#: Tolerances of ``--verify`` (|exported - eager| <= atol + rtol * |eager| on real nodes).
#: fp32 on CPU: the exported graphs reorder and fuse float ops (Inductor C++ kernels,
#: TorchScript freezing), which moves results by a few ulp of the O(1) normalised outputs;
#: measured differences are ~1e-6, so 1e-4 leaves two orders of magnitude of margin while still
#: catching any wrong weight or wrong op.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


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
        cs = [c for c in self.comparisons
              if artifact is None or c.artifact == artifact or c.artifact.startswith(f"{artifact}:")]
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
    from gvae.graphs.loader import model_batch
    from gvae.graphs.shards import GraphShards

    shards = GraphShards(data_dir, "test")
    if len(shards) == 0:
        raise ContractError(f"'{data_dir}': the test split is empty: nothing to verify on")
    if shards.max_nodes != source.max_nodes or shards.k != source.k:
        raise ContractError(f"'{data_dir}': graphs have max_nodes={shards.max_nodes}, "
                            f"k={shards.k} but the model expects max_nodes={source.max_nodes}, "
                            f"k={source.k}")
    features, neighbours, mask = model_batch(shards, [i % len(shards) for i in range(batch)])
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
    if source.decoder == "latent":
        _verify_entry_points(source, artifacts, device, data_dir, report, seed)
        return report
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


def compare_decoded(out: tuple[torch.Tensor, ...], ref, atol: float, rtol: float) -> tuple[float, float, float]:
    """(max abs, max rel, worst excess) between an entry point's outputs ``(xyu [B,S,3], channel,
    hit_mask, counts)`` and the eager :class:`gvae.model.set_decoder.DecodedSet` ``ref``.

    Counts must be equal (else infinite difference: a different number of hits); the hits are
    compared in order (channel, then rank) through the masks of both layouts.
    """
    xyu, channel, hit_mask, counts = (t.detach().cpu() for t in out)
    if not torch.equal(counts, ref.counts.cpu()):
        return float("inf"), float("inf"), float("inf")
    a = xyu[hit_mask].double()
    b = ref.xyu.detach().cpu()[ref.mask.cpu()].double()
    if a.shape != b.shape or not torch.equal(channel[hit_mask], ref.channel.cpu()[ref.mask.cpu()]):
        return float("inf"), float("inf"), float("inf")
    if a.numel() == 0:
        return 0.0, 0.0, 0.0
    d = (a - b).abs()
    d = torch.where(torch.isfinite(d), d, torch.full_like(d, float("inf")))
    return float(d.max()), float((d / b.abs().clamp_min(1e-12)).max()), float((d - atol - rtol * b.abs()).max())


def simulate_conditions(source: ExportSource, batch: int) -> torch.Tensor:
    """Conditions ``[B,2]`` f64 for verification: types cycled, pT spread over each type's training range."""
    types = sorted(source.prior.chol)
    rows = []
    for i in range(batch):
        t = types[i % len(types)]
        q = source.prior.pt_quantiles[t]
        rows.append([float(t), float(q[(37 * i + 10) % (len(q) - 20) + 10])])
    return torch.tensor(rows, dtype=torch.float64)


def _verify_entry_points(source: ExportSource, artifacts: Mapping[str, Path], device: torch.device,
                         data_dir: Path, report: VerifyReport, seed: int) -> None:
    """Contract v2: every entry point of every artifact against the eager GVAE (+ prior)."""
    from gvae.export.entry import eager_reconstruct, eager_simulate

    gvae_model = source.gvae.to(device).eval()
    loaded = {(fmt, e): load_exported(path, device, e) for fmt, path in artifacts.items() for e in ENTRY_POINTS}
    g = torch.Generator().manual_seed(seed)
    c, l = source.clusters, source.latent_dim
    for batch in (1, source.batch_size + 1):
        features, neighbours, mask = held_out_inputs(data_dir, source, batch, device)
        conditions = simulate_conditions(source, batch).to(device)
        fixed = torch.randn(batch, c, l, generator=g).to(device)
        fixed_counts = torch.randn(batch, 3, generator=g).to(device)
        for case, noise, count_noise in (("noise=0", torch.zeros_like(fixed), torch.zeros_like(fixed_counts)),
                                         ("fixed noise", fixed, fixed_counts)):
            inputs = {"reconstruct": (features, neighbours, mask, noise, count_noise),
                      "simulate": (conditions, noise.reshape(batch, c * l), count_noise)}
            inputs["simulate_counts"] = inputs["simulate"]
            with torch.no_grad():
                refs = {"reconstruct": eager_reconstruct(gvae_model, *inputs["reconstruct"]),
                        "simulate": eager_simulate(gvae_model, source.prior, *inputs["simulate"])}
            for (fmt, entry), model in loaded.items():
                t0 = time.perf_counter()
                out = call_entry(model, *inputs[entry])
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                if entry == "simulate_counts":  # the eager simulate's counts, exactly
                    same = torch.equal(out[0].cpu(), refs["simulate"].counts.cpu())
                    max_abs, max_rel, excess = (0.0, 0.0, -1.0) if same else (float("inf"),) * 3
                else:
                    max_abs, max_rel, excess = compare_decoded(out, refs[entry], report.atol, report.rtol)
                comp = Comparison(f"{artifacts[fmt].name}:{entry}", case, batch, max_abs, max_rel, excess, seconds)
                report.comparisons.append(comp)
                log.info("verify %s", comp.line())
