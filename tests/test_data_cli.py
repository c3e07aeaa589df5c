"""``python -m gvae.data`` end to end on small generated files: convert, inspect, copy, --help."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from gvae import io
from gvae.data.__main__ import main
from gvae.graphs.shards import GraphShards


@pytest.mark.parametrize("command", [[], ["generate"], ["convert"], ["inspect"], ["copy"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main(command + ["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: python -m gvae.data" in out
    if command == ["convert"]:
        for flag in ("--k", "--max-nodes", "--split", "--seed", "--shard-size", "--workers", "--builder"):
            assert flag in out


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "gvae.data", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "convert" in result.stdout


def test_convert_deterministic_for_any_workers_and_logs_truncation(generated_file_factory, tmp_path, caplog):
    src = generated_file_factory(".parquet")
    args = ["--max-nodes", "300", "--shard-size", "50", "--block-size", "40", "--seed", "3", "--no-progress"]
    with caplog.at_level(logging.INFO, logger="gvae.data.convert"):
        assert main(["convert", str(src), str(tmp_path / "w1"), "--workers", "1"] + args) == 0
    assert any("truncation at max_nodes=300" in r.getMessage() for r in caplog.records)
    assert main(["convert", str(src), str(tmp_path / "w2"), "--workers", "2", "--builder", "python"] + args) == 0
    meta1 = json.loads((tmp_path / "w1" / "dataset.json").read_text())
    meta2 = json.loads((tmp_path / "w2" / "dataset.json").read_text())
    assert meta1 == meta2
    assert meta1["truncation"]["jets_truncated"] > 0  # 300 nodes is below many generated jets
    assert meta1["truncation"]["dropped_energy_fraction_max"] > 0
    for split in ("train", "val", "test"):
        for name in meta1["splits"][split]["shards"]:
            assert (tmp_path / "w1" / split / name).read_bytes() == (tmp_path / "w2" / split / name).read_bytes()
    # Another seed gives another split of the same jets.
    assert main(["convert", str(src), str(tmp_path / "s"), "--seed", "4", "--no-progress"]) == 0
    rows = {s: GraphShards(tmp_path / "s", s).arrays()["row"] for s in ("val", "test")}
    rows1 = {s: GraphShards(tmp_path / "w1", s).arrays()["row"] for s in ("val", "test")}
    assert not torch.equal(rows["val"], rows1["val"])


def test_convert_same_graphs_from_h5_and_refuses_overwrite(generated_file_factory, graph_dataset, tmp_path, caplog):
    out = tmp_path / "h5"
    argv = ["convert", str(generated_file_factory(".h5")), str(out), "--seed", "7", "--shard-size", "40",
            "--no-progress"]
    assert main(argv) == 0
    for split in ("train", "test"):
        a, b = GraphShards(out, split).arrays(), GraphShards(graph_dataset, split).arrays()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    assert "--overwrite" in caplog.text
    assert main(argv + ["--overwrite"]) == 0
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(["convert", str(generated_file_factory(".h5")), str(tmp_path / "x"), "--split", "0.5,0.6"]) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "ConfigError: --split must be three non-negative fractions summing to 1, got '0.5,0.6'"]
    assert not (tmp_path / "x" / "dataset.json").exists()


def test_inspect_table_and_plots(generated_file_factory, generated_jets, tmp_path, capsys):
    out = tmp_path / "inspect"
    assert main(["inspect", str(generated_file_factory(".parquet")), "--out", str(out), "--events", "1",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    for word in ("120 jets", "track", "ecal", "hcal", "hits/jet"):
        assert word in text
    summary = json.loads((out / "inspect.json").read_text())
    track_hits = np.count_nonzero(generated_jets.images[:, 0], axis=(1, 2))
    assert summary["channels"]["track"]["hits_per_jet"]["mean"] == pytest.approx(track_hits.mean())
    towers = np.count_nonzero(generated_jets.images[:, 2].reshape(120, 25, 5, 25, 5).sum(axis=(2, 4)), axis=(1, 2))
    assert summary["channels"]["hcal"]["hits_per_jet"]["mean"] == pytest.approx(towers.mean())
    assert summary["channels"]["ecal"]["energy_per_jet"]["mean"] == pytest.approx(
        generated_jets.images[:, 1].sum(axis=(1, 2), dtype=np.float64).mean(), rel=1e-9)
    assert sorted(summary["plots"]) == ["average_image.png", "average_image_top.png", "event_00000.png",
                                        "hit_counts.png", "occupancy.png"]
    for name in summary["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["channels"]["track"]["occupancy"] == pytest.approx(track_hits.mean() / 125 ** 2)
    soft = ((generated_jets.images[:, 1] > 0) & (generated_jets.images[:, 1] < 1.0)).sum(axis=(1, 2))
    assert summary["channels"]["ecal"]["soft_hits_per_jet"]["mean"] == pytest.approx(soft.mean())


def test_inspect_compares_with_and_without_pileup(generated_file_factory, generated_jets, tmp_path, capsys):
    """The same seed generated without pile-up (``generate --pileup 0``): ``inspect --compare``
    shows the extra soft hits and energy that pile-up brings, per channel."""
    from fixtures_data import GENERATED_SEED

    n = 8
    clean = tmp_path / "nopu.h5"
    assert main(["generate", "--process", "mixed", "--jets", str(n), "--seed", str(GENERATED_SEED), "--out",
                 str(clean), "--workers", "1", "--pileup", "0", "--no-progress"]) == 0
    np.testing.assert_array_equal(io.read_jets(clean).m0, generated_jets.m0[:n])  # same jets, no pile-up
    out = tmp_path / "cmp"
    assert main(["inspect", str(generated_file_factory(".parquet")), "--stop", str(n), "--compare", str(clean),
                 "--out", str(out), "--events", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "comparison: A = " in text and "soft hits" in text and "occupancy %" in text
    summary = json.loads((out / "inspect.json").read_text())
    diff = summary["compare"]["difference"]
    assert summary["jets"] == summary["compare"]["summary"]["jets"] == n
    assert diff["track"]["hits_per_jet"] > 10 and diff["ecal"]["soft_hits_per_jet"] > 30
    assert diff["ecal"]["energy_per_jet"] > 0 and diff["hcal"]["hits_per_jet"] > 0
    assert "compare_channels.png" in summary["plots"]
    assert (out / "compare_channels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_copy_between_formats(generated_file_factory, generated_jets, tmp_path, caplog):
    src = str(generated_file_factory(".parquet"))
    assert main(["copy", src, str(tmp_path / "part.h5"), "--start", "10", "--stop", "30", "--no-progress"]) == 0
    part = io.read_jets(tmp_path / "part.h5")
    assert len(part) == 20
    np.testing.assert_array_equal(part.images, generated_jets.images[10:30])
    np.testing.assert_array_equal(part.m0, generated_jets.m0[10:30])
    assert main(["copy", src, str(tmp_path / "all.gvh"), "--chunk-size", "32", "--no-progress"]) == 0
    gvh = io.read_jets(tmp_path / "all.gvh")
    assert len(gvh) == 120
    np.testing.assert_array_equal(gvh.images[:, :2], generated_jets.images[:, :2])
    np.testing.assert_allclose(gvh.images[:, 2], generated_jets.images[:, 2], rtol=1e-6)
    before = (tmp_path / "all.gvh").read_bytes()
    with caplog.at_level(logging.ERROR):
        assert main(["copy", src, src]) == 2
        assert main(["copy", str(tmp_path / "all.gvh"), f"{tmp_path}/./all.gvh"]) == 2
        assert main(["copy", str(tmp_path / "missing.parquet"), str(tmp_path / "x.h5")]) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert messages == [f"ConfigError: copy: IN and OUT are the same file '{src}'",
                        f"ConfigError: copy: IN and OUT are the same file '{tmp_path / 'all.gvh'}'",
                        f"FormatError: file '{tmp_path / 'missing.parquet'}': no such file"], messages
    assert (tmp_path / "all.gvh").read_bytes() == before and not (tmp_path / "x.h5").exists()
