"""Write ``OUT/omp_probe.pt2``: an AOTInductor package whose first compiled kernel is an OpenMP region.

test_thread_count counts the threads a forward starts on a fresh thread. In the tiny gvae model an
ATen fallback (a sort) runs before the first compiled ``#pragma omp parallel`` and, as a side
effect, applies LibTorch's intra-op count to the calling thread; a model without such an op would
run its first regions with OpenMP's default team. This probe has no ATen op at all: the same
inputs and output as ``OUT/tiny.pt2`` (whose contract it carries), computed by elementwise kernels
only, so its team size comes from the calling thread's OpenMP setting alone. Skips the work when
``OUT/omp_probe.stamp.json`` matches.

    python tests/cpp/make_omp_probe.py OUT_DIR      (after make_test_models.py OUT_DIR)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import torch


class Probe(torch.nn.Module):
    """(features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N], noise f32 [B,C,L]) -> f32 [B,N,3]."""

    def forward(self, features: torch.Tensor, neighbours: torch.Tensor, mask: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        x = features[..., :3] + features[..., 3:]
        x = torch.tanh(x * 1.5) * torch.exp(-x.abs()) + neighbours[..., :3].float() * 1e-3
        return torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x)) + noise.mean() * 0.0


def main(argv: list[str]) -> int:
    """Entry point; returns the exit status."""
    out = Path(argv[0])
    contract = json.loads((out / "tiny.pt2.contract.json").read_text())
    stamp = {"torch": torch.__version__, "contract": contract, "script": Path(__file__).read_text()}
    target, stamp_path = out / "omp_probe.pt2", out / "omp_probe.stamp.json"
    if target.exists() and stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        return 0
    n, k = contract["graph"]["max_nodes"], contract["graph"]["k"]
    c, d = contract["latent"]["clusters"], contract["latent"]["dim"]
    b = 512  # the size hint Inductor parallelises by: large enough for `#pragma omp parallel`
    args = (torch.randn(b, n, 6), torch.zeros(b, n, k, dtype=torch.long), torch.ones(b, n, dtype=torch.bool),
            torch.zeros(b, c, d))
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(Probe().eval(), args, dynamic_shapes=({0: batch},) * 4)
    with tempfile.TemporaryDirectory(dir=out, prefix=".omp_probe-") as tmp:
        path = Path(tmp) / "omp_probe.pt2"
        torch._inductor.aoti_compile_and_package(
            program, package_path=str(path),
            inductor_configs={"aot_inductor.metadata": {"gvae_contract": json.dumps(contract)},
                              "cpp.dynamic_threads": True})
        os.replace(path, target)
    stamp_path.write_text(json.dumps(stamp))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
