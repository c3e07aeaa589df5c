"""``python -m gvae.train``: outputs, checkpoints, resume, early stopping, AMP, config, sampling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from fixtures_model import tiny_config
from gvae.errors import ConfigError, ModelLoadError
from gvae.model import GVAE, InferenceModel, load_model
from gvae.train.__main__ import build_parser, main
from gvae.train.config import Config, load_config
from gvae.train.data import RankBatchSampler, jet_noise
from gvae.train.distributed import detect_backend
from gvae.train.loop import effective_lr, lr_lambda

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    """Train with one intra-op thread (the test machine is shared) and restore afterwards."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def _config_file(tmp_path: Path, **training) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(48, 4, **training)))
    return path


def _train(config: Path, data: Path, out: Path, *extra: str) -> dict:
    rc = main(["--config", str(config), "--data", str(data), "--out", str(out), "--no-progress",
               "--threads", "1", *extra])
    assert rc == 0
    return json.loads((out / "summary.json").read_text())


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--set", "--data", "--out", "--amp", "--backend", "--resume", "--epochs",
                 "--stop-after-epochs", "--threads", "--device", "--batch-size", "--seed", "--no-progress"):
        assert flag in text
    assert "Learning-rate scaling" in text


def test_training_run_writes_checkpoints_and_metrics(tmp_path, synthetic_graphs, one_thread):
    out = tmp_path / "run"
    summary = _train(_config_file(tmp_path), synthetic_graphs, out)
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.csv", "metrics.json", "train.log"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("train_loss", "train_recon", "train_kl", "train_mincut", "train_ortho", "val_loss",
                "val_recon", "val_kl", "val_clusters_eff_2", "val_assign_entropy_1", "val_active_dims",
                "train_graphs_per_s", "train_data_wait_share", "lr"):
        assert key in rows[0], key
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "val_recon" in header and len((out / "metrics.csv").read_text().splitlines()) == 3
    assert summary["epochs_done"] == 2 and summary["world_size"] == 1
    ckpt = torch.load(out / "last.pt", weights_only=False)
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "config", "normalisation"):
        assert key in ckpt, key
    assert ckpt["config"]["model"]["max_nodes"] == 48 and ckpt["epoch"] == 2
    loaded = load_model(out / "best.pt")
    assert isinstance(loaded.model, GVAE) and not loaded.model.training
    assert set(loaded.normalisation) == {"x", "y", "log_energy"}
    assert loaded.dataset["k"] == 4 and loaded.epoch == summary["best_epoch"]
    f = torch.zeros(2, 48, 6)
    f[:, :3, 3] = 1
    nb = torch.arange(48).view(1, 48, 1).repeat(2, 1, 4)
    m = torch.zeros(2, 48, dtype=torch.bool)
    m[:, :3] = True
    out_inf = InferenceModel(loaded.model)(f, nb, m, torch.zeros(2, 6, 4))
    assert out_inf.shape == (2, 48, 3) and torch.isfinite(out_inf).all()


def test_resume_reproduces_the_uninterrupted_run(tmp_path, synthetic_graphs, one_thread):
    config = _config_file(tmp_path, epochs=3)
    full, part = tmp_path / "full", tmp_path / "part"
    _train(config, synthetic_graphs, full)
    first = _train(config, synthetic_graphs, part, "--stop-after-epochs", "1")
    assert first["epochs_done"] == 1
    resumed = _train(config, synthetic_graphs, part, "--resume")
    assert resumed["epochs_done"] == 3
    a = torch.load(full / "last.pt", weights_only=False)
    b = torch.load(part / "last.pt", weights_only=False)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for pid, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][name]), (pid, name)
    assert a["global_step"] == b["global_step"] and a["scheduler"] == b["scheduler"]
    rows = json.loads((part / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in json.loads((full / "metrics.json").read_text())]


def test_early_stopping_and_best_checkpoint(tmp_path, synthetic_graphs, one_thread):
    # min_delta so large that nothing after the first epoch counts as an improvement
    config = _config_file(tmp_path, epochs=5, patience=1, min_delta=1.0e9)
    summary = _train(config, synthetic_graphs, tmp_path / "run")
    assert summary["stopped_early"] and summary["epochs_done"] == 2 and summary["best_epoch"] == 1
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=False)["epoch"] == 1


def test_bf16_autocast_loss_curve_close_to_fp32(tmp_path, synthetic_graphs, one_thread):
    """bf16 on CPU: every epoch's train and val loss within 10 % (relative) of fp32."""
    config = _config_file(tmp_path, epochs=3)
    fp32 = _train(config, synthetic_graphs, tmp_path / "fp32")
    bf16 = _train(config, synthetic_graphs, tmp_path / "bf16", "--amp", "bf16")
    assert bf16["amp"] == "bf16"
    rows32 = json.loads((tmp_path / "fp32" / "metrics.json").read_text())
    rows16 = json.loads((tmp_path / "bf16" / "metrics.json").read_text())
    for r32, r16 in zip(rows32, rows16, strict=True):
        for key in ("train_loss", "val_loss", "val_recon"):
            assert abs(r16[key] - r32[key]) <= 0.10 * abs(r32[key]), (r32["epoch"], key, r32[key], r16[key])


def test_fp16_uses_a_cpu_grad_scaler(tmp_path, synthetic_graphs, one_thread):
    config = _config_file(tmp_path, epochs=1)
    out = tmp_path / "fp16"
    summary = _train(config, synthetic_graphs, out, "--amp", "fp16", "--set", "data.max_train_jets=16")
    assert summary["amp"] == "fp16"
    scaler = torch.load(out / "last.pt", weights_only=False)["scaler"]
    assert scaler and scaler["scale"] > 0  # an enabled GradScaler('cpu') saved its state


def test_config_files_overrides_and_errors(tmp_path):
    for name in ("demo.yaml", "large.yaml", "fast.yaml"):
        cfg = load_config(ROOT / "configs" / name)
        model = GVAE(cfg.model)
        assert model.latent_shape == (50, 16)
    # fast.yaml is demo.yaml with the cheaper decoder, summary and first pooling only (its header's numbers
    # compare them)
    fast = load_config(ROOT / "configs" / "fast.yaml")
    assert fast.model.decoder_blocks == 0 and fast.model.latent_summary_hits == 4 and fast.model.clusters == [50, 50]
    assert load_config(ROOT / "configs" / "demo.yaml", ["model.decoder_blocks=0", "model.latent_summary_hits=4",
                                                        "model.clusters=[50, 50]"]).sha256() == fast.sha256()
    demo = load_config(ROOT / "configs" / "demo.yaml",
                       ["training.lr=1e-3", "model.clusters=[80, 40]", "training.loss.beta=0"])
    assert demo.training.lr == 1e-3 and demo.model.clusters == [80, 40] and demo.training.loss.beta == 0.0
    assert Config.from_dict(demo.to_dict()).sha256() == demo.sha256()
    with pytest.raises(ConfigError, match="unknown keys"):
        load_config(None, ["model.widht=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, ["training.epochs=two"])
    with pytest.raises(ConfigError, match="amp"):
        load_config(None, ["training.amp=fp8"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["training.lr"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_config_must_match_the_dataset(tmp_path, synthetic_graphs, one_thread):
    config = _config_file(tmp_path)
    assert main(["--config", str(config), "--data", str(synthetic_graphs), "--out", str(tmp_path / "r"),
                 "--set", "model.k=5", "--no-progress", "--threads", "1"]) == 2
    log = (tmp_path / "r" / "train.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in log, log
    assert errors[0].endswith(f"ConfigError: model.k = 5 but the dataset '{synthetic_graphs}' was built with k = 4")
    assert not (tmp_path / "r" / "last.pt").exists() and not (tmp_path / "r" / "summary.json").exists()


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="not a gvae checkpoint"):
        load_model(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="cannot be read"):
        load_model(tmp_path / "junk.pt")


def test_rank_batches_union_is_the_single_process_batch():
    n, b, world = 53, 4, 3
    single = list(RankBatchSampler(n, b * world, 0, 1, shuffle=True, seed=5))
    ranks = [list(RankBatchSampler(n, b, r, world, shuffle=True, seed=5)) for r in range(world)]
    assert len(single) == n // (b * world) and all(len(r) == len(single) for r in ranks)
    for i, batch in enumerate(single):
        assert sorted(sum((r[i] for r in ranks), [])) == sorted(batch)
        assert all(len(r[i]) == b for r in ranks)
    # another epoch, another permutation; evaluation covers every jet exactly once
    s = RankBatchSampler(n, b, 0, 1, shuffle=True, seed=5)
    s.set_epoch(1)
    assert list(s) != list(RankBatchSampler(n, b, 0, 1, shuffle=True, seed=5))
    val = [sum(RankBatchSampler(n, b, r, world, shuffle=False), []) for r in range(world)]
    assert sorted(sum(val, [])) == list(range(n))
    with pytest.raises(ConfigError, match="fewer than one global batch"):
        RankBatchSampler(5, 4, 0, 2)


def test_noise_is_a_function_of_seed_epoch_and_jet():
    a = jet_noise(torch.tensor([3, 7]), epoch=2, seed=1, shape=(5, 4))
    b = jet_noise(torch.tensor([7]), epoch=2, seed=1, shape=(5, 4))
    assert torch.equal(a[1], b[0])
    assert not torch.equal(a[0], jet_noise(torch.tensor([3]), epoch=3, seed=1, shape=(5, 4))[0])


def test_learning_rate_scaling_and_schedule():
    cfg = Config.from_dict({"training": {"lr": 1e-3, "batch_size": 8, "lr_reference_batch": 16}})
    assert effective_lr(cfg, 2) == pytest.approx(1e-3)
    assert effective_lr(cfg, 4) == pytest.approx(2e-3)
    cfg.training.lr_scaling = "sqrt"
    assert effective_lr(cfg, 8) == pytest.approx(2e-3)
    assert lr_lambda(0, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_lambda(10, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_lambda(100, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_lambda(50, 10, 100, "constant", 0.1) == 1.0


def test_backend_detection(monkeypatch):
    for var in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert detect_backend("auto") == "none"
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert detect_backend("auto") == "torch"
    monkeypatch.setenv("HOROVOD_RANK", "1")
    assert detect_backend("auto") == "horovod"
    assert detect_backend("none") == "none"
    with pytest.raises(ConfigError):
        detect_backend("mpi")


def test_trained_checkpoint_fixture_on_generated_graphs(trained_checkpoint, graph_dataset):
    """The shared fixture (used by evaluate/export tests): a real checkpoint on real graphs."""
    from gvae.graphs.shards import GraphShards, collate

    loaded = load_model(trained_checkpoint)
    assert loaded.model_config.max_nodes == 400 and loaded.model_config.k == 8
    rows = json.loads((trained_checkpoint.parent / "metrics.json").read_text())
    assert len(rows) == 2 and all(r["val_loss"] == r["val_loss"] for r in rows)  # finite, not NaN
    test = GraphShards(graph_dataset, "test")
    f, nb, m = test.model_inputs(collate([test[i] for i in range(4)]))
    c, l = loaded.model.latent_shape
    with torch.no_grad():
        out = InferenceModel(loaded.model)(f, nb, m, torch.zeros(4, c, l))
    assert out.shape == (4, 400, 3) and torch.isfinite(out).all() and (out[~m] == 0).all()
