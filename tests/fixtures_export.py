"""pytest fixtures: export stage.

``exported_models`` exports the model stage's ``trained_checkpoint`` once per session to both
formats (AOTInductor compilation takes tens of seconds on 2 cores) and returns a dict::

    {"torchscript": Path(".../gvae_test.pt"), "aoti": Path(".../gvae_test.pt2"),
     "checkpoint": Path(checkpoint), "data": Path(graph shards used for training),
     "dir": Path(export directory), "seconds": {"torchscript": s, "aoti": s},
     "batch_size": training batch size of the checkpoint}

Each model file has its sidecar ``<file>.contract.json`` next to it. Treat the files as
read-only: tests that need to modify an export write their own (see ``tests/test_export.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures_shared import built_once

__all__ = ["exported_models", "exported_torchscript", "export_source", "LATENT_MAX_BATCH", "latent_run",
           "latent_exported"]


def _checkpoint_path(trained_checkpoint: Any) -> Path:
    """The model stage's fixture value as a checkpoint path (a path or an object with ``.path``)."""
    return Path(getattr(trained_checkpoint, "path", trained_checkpoint))


@pytest.fixture(scope="session")
def export_source(trained_checkpoint: Any):
    """:class:`gvae.export.ExportSource` of the session's trained checkpoint (eager, CPU)."""
    from gvae.export import load_source

    return load_source(_checkpoint_path(trained_checkpoint))


@pytest.fixture(scope="session")
def exported_torchscript(export_source, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Only the TorchScript export (seconds): same dict as ``exported_models`` without ``aoti``."""
    from gvae.export import export

    def build(out: Path) -> dict[str, Any]:
        result = export(export_source, out, formats=("torchscript",), device="cpu", name="gvae_test")
        return {**result.artifacts, "checkpoint": export_source.checkpoint,
                "data": export_source.data_dir, "dir": out, "seconds": dict(result.seconds),
                "batch_size": export_source.batch_size}

    return built_once(tmp_path_factory, "exported_models", build)


@pytest.fixture(scope="session")
def exported_models(export_source, exported_torchscript: dict[str, Any],
                    tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """TorchScript + AOTInductor exports of ``trained_checkpoint`` (CPU), once per session."""
    from gvae.export import export

    def build(_: Path) -> dict[str, Any]:   # written beside the TorchScript export
        result = export(export_source, exported_torchscript["dir"], formats=("aoti",), device="cpu",
                        name="gvae_test")
        return {**exported_torchscript, **result.artifacts,
                "seconds": {**exported_torchscript["seconds"], **result.seconds}}

    return built_once(tmp_path_factory, "exported_models_aoti", build)


#: largest batch of the session's latent-decoder exports (small: the tests need 1, 7 and 64)
LATENT_MAX_BATCH = 64


@pytest.fixture(scope="session")
def latent_run(tmp_path_factory: pytest.TempPathFactory, synthetic_graphs: Path) -> Path:
    """``best.pt`` of a tiny latent-decoder GVAE (with its prior, two mixture components per type) trained
    1 epoch on ``synthetic_graphs``."""
    from fixtures_model import train_tiny

    # with the latent summary, as configs/demo.yaml: the summary is exported too
    def build(run: Path) -> Path:
        # a two-component mixture prior per type, so every export of it runs the mixture path of `simulate`
        return train_tiny(run, synthetic_graphs, "latent", "--prior-components", "2",
                          model={"latent_summary": True, "latent_summary_hits": 2})

    return built_once(tmp_path_factory, "latent_export_run", build)


@pytest.fixture(scope="session")
def latent_exported(latent_run: Path, synthetic_graphs: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Contract v2 exports (TorchScript + AOTInductor, CPU, batch 1..LATENT_MAX_BATCH) of ``latent_run``,
    once per session: ``{"torchscript", "aoti", "checkpoint", "data", "dir", "source"}``."""
    from gvae.export import export, load_source

    source = load_source(latent_run, max_batch=LATENT_MAX_BATCH)

    def build(out: Path) -> dict[str, Any]:
        result = export(source, out, formats=("torchscript", "aoti"), device="cpu", name="gvae_latent",
                        max_batch=LATENT_MAX_BATCH)
        return {**result.artifacts, "checkpoint": latent_run, "data": synthetic_graphs, "dir": out}

    return {**built_once(tmp_path_factory, "latent_exported", build), "source": source}
