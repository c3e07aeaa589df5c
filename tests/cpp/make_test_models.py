"""Write the small exported gvae models the C++ tests (ctest) and binding tests run on.

A randomly initialised (seeded) :class:`gvae.model.GVAE` with a small architecture, exported
with :func:`gvae.export.export` to ``OUT/tiny.pt`` (TorchScript) and ``OUT/tiny.pt2``
(AOTInductor, CPU), each with its ``.contract.json`` sidecar, the same for a latent-decoder model
with a prior (contract v2: ``OUT/tiny_latent.pt``, ``OUT/tiny_latent.pt2``, batch 1..256), plus ``OUT/stamp.json`` naming the
torch version and configuration. Untrained weights are enough for the library tests: they check
loading, contract handling, shapes, determinism, threading and parity with eager PyTorch, not
physics. Skips the work when ``OUT/stamp.json`` already matches.

    python tests/cpp/make_test_models.py OUT_DIR [--formats torchscript aoti] [--device cpu]
        [--cuda-if-available]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

#: Small but complete architecture: two pooling stages, every layer type of the real model.
TINY_CONFIG = {"max_nodes": 64, "k": 4, "hidden": 16, "clusters": [16, 8],
               "encoder_layers": [1, 1, 1], "decoder_layers": [1, 1, 1], "latent_dim": 4}
#: Plausible normalisation of generated jets (x, y offsets in eta/phi; u = ln(E/GeV)).
TINY_NORMALISATION = {"x": {"mean": 0.0, "std": 0.25}, "y": {"mean": 0.0, "std": 0.25},
                      "log_energy": {"mean": -1.0, "std": 1.5}}
SEED = 1234

log = logging.getLogger("make_test_models")


def build_source(seed: int = SEED):
    """The seeded random model as a :class:`gvae.export.ExportSource`."""
    from gvae.export import ExportSource
    from gvae.model import GVAE, InferenceModel, ModelConfig

    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict(dict(TINY_CONFIG))
    model = GVAE(cfg).eval()
    return ExportSource(model=InferenceModel(model).eval(), state_dict=model.state_dict(),
                        config={"model": cfg.to_dict(), "seed": seed},
                        normalisation=TINY_NORMALISATION, k=cfg.k, max_nodes=cfg.max_nodes,
                        clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim, batch_size=8)


#: The latent-decoder (contract v2) test model: same encoder, a small set decoder.
TINY_LATENT_CONFIG = {**TINY_CONFIG, "decoder": "latent", "decoder_hidden": 16, "decoder_heads": 2,
                      "decoder_blocks": 1, "slots": [10, 30, 10]}


def build_latent_source(seed: int = SEED):
    """The seeded random latent-decoder model with a prior fitted on seeded random latents
    (types 0 and 1, pT 400..1200 GeV) as a contract v2 :class:`gvae.export.ExportSource`."""
    import numpy as np

    from gvae.export import ExportSource
    from gvae.export.contract import prior_tensors
    from gvae.export.entry import LatentEntryPoints
    from gvae.model import GVAE, ModelConfig
    from gvae.model.prior import ConditionalPrior

    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict(dict(TINY_LATENT_CONFIG))
    model = GVAE(cfg).eval()
    rng = np.random.default_rng(seed)

    def latents(n: int):
        label = (np.arange(n) % 2).astype(np.float32)
        pt = rng.uniform(400.0, 1200.0, n)
        mu = rng.normal(0.0, 1.0, (n, cfg.latent_clusters, cfg.latent_dim)) + 0.3 * label[:, None, None]
        mu[:, 0, 0] += np.where(rng.random(n) < 0.4, 4.0, 0.0)          # two clusters in one direction
        return mu, label, pt

    # two mixture components per type: the C++ simulate tests run the component choice of the prior
    prior = ConditionalPrior.fit(*latents(200), *latents(50), components=2)
    return ExportSource(model=LatentEntryPoints(model, prior).eval(),
                        state_dict={**model.state_dict(), **prior_tensors(prior)},
                        config={"model": cfg.to_dict(), "seed": seed}, normalisation=TINY_NORMALISATION,
                        k=cfg.k, max_nodes=cfg.max_nodes, clusters=cfg.latent_clusters,
                        latent_dim=cfg.latent_dim, batch_size=8, decoder="latent", gvae=model, prior=prior,
                        slots=tuple(cfg.slot_budget), max_batch=256)


def code_digest() -> str:
    """SHA-256 over the gvae sources that decide what an export contains (gvae/model, gvae/export,
    gvae/schemas): a cached test model is rebuilt when any of them changes, not only this script."""
    import hashlib

    import gvae

    root = Path(gvae.__file__).parent
    h = hashlib.sha256()
    for sub in ("model", "export", "schemas"):
        for f in sorted((root / sub).rglob("*")):
            if f.is_file() and f.suffix in (".py", ".json"):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def export_once(out: Path, name: str, formats: list[str], device: str, latent: bool = False) -> None:
    """Export the tiny model to ``out/<name>.{pt,pt2}`` unless the stamp says it is up to date."""
    from gvae.export import export

    stamp = {"torch": torch.__version__, "config": TINY_LATENT_CONFIG if latent else TINY_CONFIG, "normalisation": TINY_NORMALISATION,
             "seed": SEED, "formats": sorted(formats), "device": device, "name": name,
             "script": Path(__file__).read_text(), "code": code_digest()}
    stamp_path = out / f"{name}.stamp.json"
    suffix = {"torchscript": ".pt", "aoti": ".pt2"}
    wanted = [out / f"{name}{suffix[f]}" for f in formats]
    if stamp_path.exists() and all(p.exists() for p in wanted):
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                log.info("up to date: %s", ", ".join(str(p) for p in wanted))
                return
        except json.JSONDecodeError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    # Export into a private directory, then rename into place: concurrent runs (two build trees'
    # ctest at once) never see half-written files.
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{name}-") as tmp:
        source = build_latent_source() if latent else build_source()
        result = export(source, Path(tmp), formats=formats, device=device, name=name,
                        max_batch=source.max_batch if latent else 1024)
        for fmt, path in result.artifacts.items():
            for produced in (path, path.with_name(path.name + ".contract.json")):
                os.replace(produced, out / produced.name)
            log.info("%s: %s (%.1f s)", fmt, out / path.name, result.seconds[fmt])
        tmp_stamp = Path(tmp) / stamp_path.name
        tmp_stamp.write_text(json.dumps(stamp))
        os.replace(tmp_stamp, stamp_path)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output directory (created)")
    p.add_argument("--formats", nargs="+", default=["torchscript", "aoti"],
                   choices=["torchscript", "aoti"], help="artifact formats to write")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="device to export for (the AOTI package runs only there)")
    p.add_argument("--name", default="tiny", help="file stem of the artifacts")
    p.add_argument("--cuda-if-available", action="store_true",
                   help="also write <name>_cuda.pt and <name>_cuda.pt2 (TorchScript and AOTInductor exported for CUDA) "
                        "and the same of the latent model (<name>_latent_cuda.pt/.pt2) when torch sees a GPU (for test_cuda)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    export_once(args.out, args.name, args.formats, args.device)
    export_once(args.out, f"{args.name}_latent", args.formats, args.device, latent=True)
    if args.cuda_if_available and torch.cuda.is_available():
        export_once(args.out, f"{args.name}_cuda", ["torchscript", "aoti"], "cuda")
        export_once(args.out, f"{args.name}_latent_cuda", ["torchscript", "aoti"], "cuda", latent=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
