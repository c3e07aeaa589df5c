"""``python -m gvae.export``: round trips of both formats, embedded contracts, ``--verify``.

The exports come from the session fixture ``exported_models`` (the model stage's trained
checkpoint exported once; the AOTInductor compile dominates the time of this file).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch

from gvae.export import contract as gc
from gvae import export as gx
from gvae.export import __main__ as gx_cli
from gvae.export import job as gx_job
from gvae.errors import ContractError, DeviceUnavailable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _inputs(exported_models: dict, source: gx.ExportSource, batch: int, seed: int):
    features, neighbours, mask = gx.held_out_inputs(exported_models["data"], source, batch,
                                                    torch.device("cpu"))
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch, source.clusters, source.latent_dim, generator=g)
    return features, neighbours, mask, noise


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "aoti"])
def test_round_trip_matches_eager_for_dynamic_batches(exported_models: dict, export_source,
                                                      fmt: str) -> None:
    path = exported_models[fmt]
    model = gx.load_exported(path, torch.device("cpu"))
    eager = export_source.model.eval()
    for batch in (1, 3, export_source.batch_size + 1):
        features, neighbours, mask, noise = _inputs(exported_models, export_source, batch, batch)
        assert mask.sum() > 0
        for z in (torch.zeros_like(noise), noise):
            with torch.no_grad():
                ref = eager(features, neighbours, mask, z)
            out = gx.call(model, features, neighbours, mask, z)
            assert out.shape == (batch, export_source.max_nodes, 3) and out.dtype == torch.float32
            torch.testing.assert_close(out[mask], ref[mask], atol=gx.DEFAULT_ATOL,
                                       rtol=gx.DEFAULT_RTOL)
        # noise matters (sampling mode differs from the latent mean)
        with torch.no_grad():
            mean = eager(features, neighbours, mask, torch.zeros_like(noise))
        assert not torch.equal(ref[mask], mean[mask])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "aoti"])
def test_embedded_contract_equals_sidecar_and_describes_the_model(exported_models: dict,
                                                                  export_source, fmt: str) -> None:
    path = exported_models[fmt]
    embedded = gc.read_contract(path)
    assert embedded == gc.read_contract(gc.sidecar_path(path))
    assert embedded["model"] == {"name": "gvae_test", "version": "0.1.0", "format": fmt,
                                 "device": "cpu"}
    assert embedded["graph"]["k"] == export_source.k
    assert embedded["graph"]["max_nodes"] == export_source.max_nodes
    assert embedded["latent"] == {"clusters": export_source.clusters,
                                  "dim": export_source.latent_dim}
    assert embedded["training"]["config"] == json.loads(json.dumps(export_source.config))
    data_meta = json.loads((exported_models["data"] / "dataset.json").read_text())
    for f in ("x", "y", "log_energy"):
        assert embedded["normalisation"][f]["mean"] == pytest.approx(
            data_meta["normalisation"][f]["mean"])
        assert embedded["normalisation"][f]["std"] == pytest.approx(
            data_meta["normalisation"][f]["std"])
    gc.check_weights(embedded, export_source.state_dict)
    fresh = gx.contract_from_checkpoint(exported_models["checkpoint"], name="gvae_test", fmt=fmt)
    # one config hash: the checkpoint's (Config.sha256) is the contract's
    from gvae.model.io import read_checkpoint
    assert read_checkpoint(exported_models["checkpoint"])["config_sha256"] == embedded["training"]["config_sha256"]
    assert {k: v for k, v in fresh.items() if k != "created_utc"} == \
        {k: v for k, v in embedded.items() if k != "created_utc"}


@pytest.mark.slow
def test_aoti_metadata_read_from_zip_equals_the_loaded_package(exported_models: dict) -> None:
    from torch._inductor.package import load_package

    path = exported_models["aoti"]
    loaded = load_package(str(path)).get_metadata()
    assert gc.read_aoti_metadata(path)[gc.METADATA_KEY] == loaded[gc.METADATA_KEY]
    assert loaded["AOTI_DEVICE_KEY"] == "cpu"


@pytest.mark.slow
def test_verify_passes_on_the_fresh_exports(exported_models: dict, export_source) -> None:
    artifacts = {f: exported_models[f] for f in ("torchscript", "aoti")}
    report = gx.verify(export_source, artifacts, torch.device("cpu"), exported_models["data"])
    assert report.ok
    cases = {(c.artifact, c.case, c.batch) for c in report.comparisons}
    big = export_source.batch_size + 1
    assert len(cases) == 8 and {b for _, _, b in cases} == {1, big}
    for path in artifacts.values():
        max_abs, max_rel = report.worst(path.name)
        assert 0.0 <= max_abs <= gx.DEFAULT_ATOL * 10
    summary = gx_cli.summary(gx.ExportResult(artifacts, {f: gc.sidecar_path(p) for f, p in
                                                     artifacts.items()},
                                         exported_models["seconds"], report))
    assert summary["verify"]["ok"] and summary["artifacts"]["aoti"]["bytes"] > 0


def _perturbed(source: gx.ExportSource, scale: float = 0.05) -> gx.ExportSource:
    """A copy of ``source`` whose eager model has every floating weight shifted (seeded)."""
    model = copy.deepcopy(source.model)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return dataclasses.replace(source, model=model)


def test_cli_verify_fails_with_measured_differences(exported_torchscript: dict, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A deliberately wrong export (an exporter that perturbs the weights but writes the
    contract of the real model) must fail --verify with the measured differences."""
    real = gx.export_torchscript

    def buggy_export(source, path, device, doc):
        return real(_perturbed(source), path, device, doc)

    monkeypatch.setattr(gx_job, "export_torchscript", buggy_export)  # the name export() calls
    summary = tmp_path / "summary.json"
    with caplog.at_level(logging.INFO, logger="gvae.export"):
        rc = gx_cli.main(["--checkpoint", str(exported_torchscript["checkpoint"]), "--out",
                      str(tmp_path / "out"), "--format", "torchscript", "--verify",
                      "--data", str(exported_torchscript["data"]), "--summary", str(summary)])
    assert rc == 1
    message = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "VerificationError" in message and "max|d|=" in message and "atol=0.0001" in message
    result = json.loads(summary.read_text())
    assert result["verify"]["ok"] is False
    assert result["artifacts"]["torchscript"]["max_abs_diff"] > 1e-2
    cases = result["verify"]["cases"]
    assert len(cases) == 4 and all(c["worst_excess"] > 0 for c in cases)
    assert {c["batch"] for c in cases} == {1, exported_torchscript["batch_size"] + 1}


def test_cli_torchscript_export_and_verify_pass(exported_torchscript: dict, tmp_path: Path) -> None:
    out = tmp_path / "ts"
    rc = gx_cli.main(["--checkpoint", str(exported_torchscript["checkpoint"]), "--out", str(out),
                  "--format", "torchscript", "--name", "cli_model", "--verify",
                  "--data", str(exported_torchscript["data"]), "--summary", str(tmp_path / "s.json")])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["cli_model.pt", "cli_model.pt.contract.json"]
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["verify"]["ok"] and result["artifacts"]["torchscript"]["max_abs_diff"] < 1e-4


def test_changed_weights_are_refused_by_verify(exported_torchscript: dict, export_source) -> None:
    changed = _perturbed(export_source)
    changed = dataclasses.replace(changed, state_dict=changed.model.state_dict())
    with pytest.raises(ContractError, match="weights_sha256.*does not match"):
        gx.verify(changed, {"torchscript": exported_torchscript["torchscript"]},
                  torch.device("cpu"), exported_torchscript["data"])


def test_tampered_sidecar_is_refused_by_verify(exported_torchscript: dict, export_source,
                                               tmp_path: Path) -> None:
    path = tmp_path / exported_torchscript["torchscript"].name
    path.write_bytes(exported_torchscript["torchscript"].read_bytes())
    doc = gc.read_contract(exported_torchscript["torchscript"])
    doc["normalisation"]["x"]["mean"] += 1.0
    gc.write_sidecar(path, doc)
    with pytest.raises(ContractError, match="differs from its sidecar"):
        gx.verify(export_source, {"torchscript": path}, torch.device("cpu"),
                  exported_torchscript["data"])


def test_help_documents_every_flag(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        gx_cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--checkpoint", "--reference", "--config", "--jets", "--heldout-jets", "--epochs",
                 "--seed", "--work", "--out", "--format", "--device", "--verify", "--data", "--name",
                 "--atol", "--rtol", "--max-batch", "--portable", "--summary"):
        assert flag in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_is_device_unavailable(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DeviceUnavailable, match="CUDA is not available"):
        gx.resolve_device("cuda")
    with caplog.at_level(logging.ERROR, logger="gvae.export"):
        rc = gx_cli.main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path),
                      "--device", "cuda"])
    assert rc == 2 and "DeviceUnavailable" in caplog.text  # bad input or config (gvae.cli)


def test_portable_aoti_build_pins_the_instruction_set() -> None:
    import platform

    doc_configs = gx.aoti_inductor_configs({"a": 1}, torch.device("cpu"), portable=True)
    assert json.loads(doc_configs["aot_inductor.metadata"][gc.METADATA_KEY]) == {"a": 1}
    if platform.machine() in ("x86_64", "AMD64"):
        assert doc_configs["cpp.march"] == gx.PORTABLE_MARCH
    native = gx.aoti_inductor_configs({"a": 1}, torch.device("cpu"), portable=False)
    assert "cpp.march" not in native
    # per-thread buffers sized at run time (a fixed export-time size overflows with a larger team)
    assert doc_configs["cpp.dynamic_threads"] is True and native["cpp.dynamic_threads"] is True


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_export_of_both_formats_passes_verify(exported_torchscript: dict, tmp_path: Path
                                                   ) -> None:
    summary = tmp_path / "summary.json"
    rc = gx_cli.main(["--checkpoint", str(exported_torchscript["checkpoint"]), "--out",
                  str(tmp_path / "cuda"), "--device", "cuda", "--verify",
                  "--data", str(exported_torchscript["data"]), "--summary", str(summary)])
    assert rc == 0
    result = json.loads(summary.read_text())
    assert result["verify"]["ok"]
    for fmt in ("torchscript", "aoti"):
        doc = gc.read_contract(result["artifacts"][fmt]["path"])
        assert doc["model"]["device"] == "cuda" and doc["model"]["format"] == fmt


def test_contract_not_describing_the_checkpoint_is_refused_by_verify(
        exported_torchscript: dict, export_source, tmp_path: Path) -> None:
    # a consistent file (embedded == sidecar, right weights) whose normalisation is not the
    # checkpoint's: written by exporting with a wrong contract
    doc = export_source.contract(name="gvae_test", fmt="torchscript", device="cpu")
    doc["normalisation"]["log_energy"]["mean"] += 0.5
    path = gx.export_torchscript(export_source, tmp_path / "m.pt", torch.device("cpu"), doc)
    gc.write_sidecar(path, doc)
    with pytest.raises(ContractError, match="'normalisation' does not describe the checkpoint"):
        gx.verify(export_source, {"torchscript": path}, torch.device("cpu"),
                  exported_torchscript["data"])
