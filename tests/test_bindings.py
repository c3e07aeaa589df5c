"""gvae._core inference bindings (gvae.native): numpy in/out, error translation, threading setup.

Runs on the seeded random tiny model of ``tests/cpp/make_test_models.py`` exported to
TorchScript only (well under a second); the AOTInductor format and trained models are covered by
``tests/test_inference_parity.py``.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gvae.native as native
from gvae import geometry
from gvae.errors import ContractError, DeviceUnavailable, GvaeError, InvalidInput, ModelLoadError
from gvae.graphs.build import Hits, build_graph
from gvae.graphs.normalisation import Normalisation

_MAKER = Path(__file__).parent / "cpp" / "make_test_models.py"


def _maker():
    spec = importlib.util.spec_from_file_location("gvae_make_test_models", _MAKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny random model: TorchScript path, eager module and contract."""
    maker = _maker()
    out = tmp_path_factory.mktemp("tiny_models")
    maker.export_once(out, "tiny", ["torchscript"], "cpu")
    source = maker.build_source()
    path = out / "tiny.pt"
    return {"path": path, "eager": source.model.eval(),
            "contract": json.loads((out / "tiny.pt.contract.json").read_text())}


def _jets(n: int, seed: int) -> list[Hits]:
    """Seeded random jets with 5..100 hits around the window centre (some exceed max_nodes)."""
    rng = np.random.default_rng(seed)
    jets = []
    for _ in range(n):
        m = int(rng.integers(5, 100))
        jets.append(Hits(rng.integers(0, 3, m), np.clip(rng.normal(62, 6, m).round(), 0, 124).astype(int),
                         np.clip(rng.normal(62, 6, m).round(), 0, 124).astype(int),
                         rng.exponential(5.0, m).astype(np.float32) + 0.01))
    return jets


def test_cmake_prefix_path_points_at_installed_package() -> None:
    prefix = Path(native.cmake_prefix_path())
    assert (prefix / "lib" / "cmake" / "gvae" / "gvaeConfig.cmake").is_file()
    assert (prefix / "lib" / "cmake" / "gvae" / "gvaeConfigVersion.cmake").is_file()
    assert (Path(native.include_dir()) / "gvae" / "Producer.h").is_file()
    assert Path(native.library_path()).exists()


def test_model_properties_and_forward_shapes(tiny: dict) -> None:
    model = native.Model.load(str(tiny["path"]))
    assert (model.format, model.device, model.k, model.max_nodes) == ("torchscript", "cpu", 4, 64)
    assert (model.clusters, model.latent_dim) == (8, 4)
    assert model.contract == tiny["contract"]
    b = 3
    features = np.zeros((b, 64, 6), np.float32)
    neighbours = np.tile(np.arange(64)[None, :, None], (b, 1, 4)).astype(np.int64)
    mask = np.zeros((b, 64), bool)
    mask[:, :5] = True
    features[:, :5, 3] = 1
    out = model.forward(features, neighbours, mask, np.zeros((b, 8, 4), np.float32))
    assert out.shape == (b, 64, 3) and out.dtype == np.float32
    with torch.no_grad():
        ref = tiny["eager"](torch.from_numpy(features), torch.from_numpy(neighbours), torch.from_numpy(mask),
                            torch.zeros(b, 8, 4)).numpy()
    np.testing.assert_allclose(out[mask], ref[mask], atol=1e-5, rtol=1e-5)
    with pytest.raises(InvalidInput, match="'noise'"):
        model.forward(features, neighbours, mask, np.zeros((b, 8, 5), np.float32))


def test_producer_matches_python_graph_normalisation_and_eager_model(tiny: dict) -> None:
    """C++ graphs + normalisation + model + inverse == gvae.graphs.build + gvae.graphs.normalisation + eager."""
    model = native.Model.load(str(tiny["path"]))
    producer = native.Producer(model, batch_size=7)
    norm = Normalisation.from_dict(tiny["contract"]["normalisation"])
    jets = _jets(40, seed=3)
    outputs = native.produce(producer, jets, jet_ids=range(100, 140))
    graphs = [build_graph(h, k=4, max_nodes=64, jet=i) for i, h in enumerate(jets)]
    feats = np.stack([g.features for g in graphs])
    mask = np.stack([g.mask for g in graphs])
    flat = native.flatten_hits(jets)
    prepared = producer.prepare(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"])
    np.testing.assert_array_equal(prepared["mask"], mask)
    np.testing.assert_array_equal(prepared["neighbours"], np.stack([g.neighbours for g in graphs]))
    np.testing.assert_allclose(prepared["features"], norm.apply(feats, mask), rtol=0, atol=1e-6)
    with torch.no_grad():
        ref = tiny["eager"](torch.from_numpy(norm.apply(feats, mask)),
                            torch.from_numpy(np.stack([g.neighbours for g in graphs])),
                            torch.from_numpy(mask), torch.zeros(len(jets), 8, 4)).numpy()
    physical = norm.invert(ref, mask)
    for j, (out, g) in enumerate(zip(outputs, graphs)):
        n = g.n_nodes
        assert out.jet_id == 100 + j
        assert (out.n_nodes, out.n_hits) == (g.n_nodes, g.n_hits)
        assert out.dropped_energy_fraction == pytest.approx(g.dropped_energy_fraction, abs=1e-12)
        np.testing.assert_array_equal(out.channel, g.features[:n, 3].astype(int))
        np.testing.assert_allclose(out.x, physical[j, :n, 0], atol=1e-5)
        np.testing.assert_allclose(out.y, physical[j, :n, 1], atol=1e-5)
        np.testing.assert_allclose(out.energy, physical[j, :n, 2], rtol=1e-4)
        # the one rounding rule, both indices, exactly: gvae.geometry.nearest_pixel and written out
        np.testing.assert_array_equal(out.ieta, geometry.nearest_pixel(out.x))
        np.testing.assert_array_equal(out.iphi, geometry.nearest_pixel(out.y))
        rule = np.clip(np.floor(out.y.astype(np.float64) / 0.0174 + 62 + 0.5), 0, 124)
        np.testing.assert_array_equal(out.iphi, rule.astype(np.int64))


def test_sampling_noise_is_torch_generator_noise(tiny: dict) -> None:
    """Per-jet sampling noise = torch.randn([C, L], generator seeded with jet_seed(seed, jet_id))."""
    model = native.Model.load(str(tiny["path"]))
    producer = native.Producer(model, batch_size=4, mode="sampling", seed=21)
    jets = _jets(6, seed=5)
    flat = native.flatten_hits(jets)
    ids = np.arange(50, 56, dtype=np.uint64)
    prepared = producer.prepare(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"], ids)
    expected = np.stack([torch.randn(8, 4, generator=torch.Generator().manual_seed(native.jet_seed(21, int(i))))
                         .numpy() for i in ids])
    np.testing.assert_array_equal(prepared["noise"], expected)
    rng = native.NoiseGenerator(9)
    assert rng.seed == 9
    np.testing.assert_array_equal(rng.normal([2, 3]),
                                  torch.randn(2, 3, generator=torch.Generator().manual_seed(9)).numpy())
    a = native.produce(producer, jets, rng=native.NoiseGenerator(1))
    b = native.produce(producer, jets, rng=native.NoiseGenerator(1))
    assert all(np.array_equal(p.energy, q.energy) for p, q in zip(a, b))


def test_errors_map_to_gvae_errors(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="nope.pt"):
        native.Model.load(str(tmp_path / "nope.pt"))
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable, match="cuda"):
            native.Model.load(str(tiny["path"]), device="cuda")
        with pytest.raises(DeviceUnavailable, match="cuda"):
            native.Model.load(str(tiny["path"]), device="cuda:1")
    with pytest.raises(GvaeError, match="unknown device"):
        native.Model.load(str(tiny["path"]), device="tpu")
    with pytest.raises(GvaeError, match="unknown device 'cuda:x'"):
        native.Model.load(str(tiny["path"]), device="cuda:x")
    assert native.Model.load(str(tiny["path"]), device="auto").device == "cpu"  # exported for cpu
    doc = dict(tiny["contract"], schema_version=3)
    with pytest.raises(ContractError, match="schema_version"):
        native.parse_contract(json.dumps(doc), "edited.json")
    assert native.parse_contract(json.dumps(tiny["contract"]))["graph"]["k"] == 4

    producer = native.Producer(native.Model.load(str(tiny["path"])))
    jets = _jets(3, seed=1)
    jets[1].energy[2] = np.nan
    with pytest.raises(InvalidInput, match=r"jet 1.*'energy'"):
        native.produce(producer, jets)
    jets = _jets(3, seed=1)
    jets[2].ieta[0] = 125
    with pytest.raises(InvalidInput, match=r"jet 2.*'ieta'"):
        native.produce(producer, jets)
    with pytest.raises(InvalidInput, match="counts"):
        producer.produce(np.zeros(3, np.int32), np.zeros(3, np.int32), np.zeros(3, np.int32),
                         np.ones(3, np.float32), np.array([2], np.int64))
    with pytest.raises(GvaeError, match="unknown mode"):
        native.Producer(native.Model.load(str(tiny["path"])), mode="random")


def test_configure_threads_is_once_per_process() -> None:
    intra, inter = native.configured_threads()
    if intra == 0:  # not configured yet in this process: configure what torch already uses
        native.configure_threads(torch.get_num_threads(), torch.get_num_interop_threads())
        intra, inter = native.configured_threads()
    native.configure_threads(intra, inter)  # same values: no-op
    with pytest.raises(GvaeError, match="already configured"):
        native.configure_threads(intra + 1, inter)
    with pytest.raises(GvaeError, match=">= 1"):
        native.configure_threads(0, 1)


def test_nearest_pixel_rule_at_halves_and_edges() -> None:
    """gvae.geometry.nearest_pixel: halves round up, clamped, NaN -> 0 (the C++ values in test_producer)."""
    got = geometry.nearest_pixel([0.0, 0.0087, -0.0087, -5.0, 5.0, np.nan])
    np.testing.assert_array_equal(got, [62, 63, 62, 0, 124, 0])
    assert got.dtype == np.int64
