"""gvae.io: round trips, chunked/streamed reading and the on-disk layout of every format."""
from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

import gvae.io as gio
from gvae import geometry
from gvae.errors import FormatError, InvalidInput
from gvae.io import gvh
from gvae.io.parquet import to_table
from gvae.data.synthetic import synthetic_jets
from gvae.jets import SCALARS, JetBatch

FORMATS = ["parquet", "h5", "root", "gvh"]
HIT_FORMATS = {"root", "gvh"}
# Hit formats store one HCAL hit per tower; pixels come back as tower energy / 25 (1 ulp of float32).
HCAL_RTOL = 2.5e-7


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    return synthetic_jets(37, seed=11)


def assert_same_jets(read: JetBatch, expected: JetBatch, ext: str) -> None:
    """``read`` equals ``expected`` as far as format ``ext`` stores it."""
    assert len(read) == len(expected)
    np.testing.assert_array_equal(read.images[:, :2], expected.images[:, :2])
    if ext in HIT_FORMATS:
        np.testing.assert_allclose(read.images[:, 2], expected.images[:, 2], rtol=HCAL_RTOL, atol=0)
        towers = lambda im: im[:, 2].reshape(len(im), 25, 5, 25, 5).sum(axis=(2, 4), dtype=np.float64)
        np.testing.assert_allclose(towers(read.images), towers(expected.images), rtol=1e-6)
    else:
        np.testing.assert_array_equal(read.images[:, 2], expected.images[:, 2])
    for name in ("pt", "m0", "y", "eta", "phi"):
        np.testing.assert_array_equal(getattr(read, name), getattr(expected, name), err_msg=name)
    for name in ("ieta", "iphi"):
        if ext == "gvh":  # not stored in .gvh
            assert (getattr(read, name) == -1).all()
        else:
            np.testing.assert_array_equal(getattr(read, name), getattr(expected, name), err_msg=name)


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(tmp_path, jets, ext):
    path = tmp_path / f"jets.{ext}"
    with gio.JetWriter(path) as writer:  # several writes append chunks
        writer.write(jets.slice(0, 10))
        writer.write(jets.slice(10, 10))  # empty chunk is fine
        writer.write(jets.slice(10, 37))
    assert writer.n_written == 37
    assert gio.count_jets(path) == 37
    read = gio.read_jets(path, chunk_size=16)
    assert_same_jets(read, jets, ext)
    assert read.source == str(path) and read.first_row == 0
    info = gio.describe(path)
    assert info.n_jets == 37 and info.format == gio.detect_format(path) and info.size_bytes == path.stat().st_size
    assert info.columns


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_generated(tmp_path, generated_jets, ext):
    """The real generated jets (Pythia + detector) survive every format."""
    path = tmp_path / f"gen.{ext}"
    assert gio.write_jets(path, generated_jets) == len(generated_jets)
    assert_same_jets(gio.read_jets(path), generated_jets, ext)


@pytest.mark.parametrize("ext", FORMATS)
def test_chunks_start_stop(tmp_path, jets, ext):
    path = tmp_path / f"jets.{ext}"
    gio.write_jets(path, (jets.slice(a, min(a + 7, 37)) for a in range(0, 37, 7)))
    chunks = list(gio.iter_jets(path, chunk_size=8, start=5, stop=30))
    assert [len(c) for c in chunks] == [8, 8, 8, 1]
    assert [c.first_row for c in chunks] == [5, 13, 21, 29]
    assert_same_jets(JetBatch.concatenate(chunks), jets.slice(5, 30), ext)
    # chunk boundaries that coincide with write boundaries, and a stop past the end
    chunks = list(gio.iter_jets(path, chunk_size=7, start=7, stop=1000))
    assert [len(c) for c in chunks] == [7, 7, 7, 7, 2]
    assert_same_jets(JetBatch.concatenate(chunks), jets.slice(7, 37), ext)
    assert list(gio.iter_jets(path, start=20, stop=20)) == []
    one = gio.read_jets(path, start=36)
    assert len(one) == 1 and one.first_row == 36
    assert_same_jets(one, jets.slice(36, 37), ext)


@pytest.mark.parametrize("ext", FORMATS)
def test_streaming_keeps_one_chunk_in_memory(tmp_path, ext):
    """A file much larger than a chunk is read chunk by chunk (peak numpy memory ~ a few chunks)."""
    n, chunk = 160, 16
    path = tmp_path / f"big.{ext}"
    with gio.JetWriter(path) as writer:
        for a in range(0, n, 40):
            writer.write(synthetic_jets(40, seed=a))
    image_bytes = 3 * 125 * 125 * 4
    tracemalloc.start()
    try:
        seen = 0
        for batch in gio.iter_jets(path, chunk_size=chunk):
            assert batch.first_row == seen and len(batch) <= chunk
            seen += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == n
    assert peak < 6 * chunk * image_bytes < n * image_bytes / 1.5


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"empty.{ext}"
    assert gio.write_jets(path, []) == 0
    assert gio.count_jets(path) == 0
    batch = gio.read_jets(path)
    assert len(batch) == 0 and batch.images.shape == (0, 3, 125, 125)


def test_parquet_layout(tmp_path, jets):
    """CMS end-to-end schema: one row group per jet, nested float32 lists of shape (3, 125, 125)."""
    path = tmp_path / "jets.parquet"
    gio.write_jets(path, jets.slice(0, 5))
    f = pq.ParquetFile(path)
    assert f.metadata.num_row_groups == 5
    assert all(f.metadata.row_group(i).num_rows == 1 for i in range(5))
    schema = f.schema_arrow
    assert schema.field("X_jets").type == pa.list_(pa.list_(pa.list_(pa.float32())))
    for name in ("pt", "m0", "y"):
        assert schema.field(name).type == pa.float32()
    row = f.read_row_group(3).column("X_jets").to_pylist()[0]
    assert len(row) == 3 and all(len(r) == 125 and all(len(c) == 125 for c in r) for r in row)
    np.testing.assert_array_equal(np.asarray(row, np.float32), jets.images[3])


def test_parquet_cms_variant(tmp_path, jets):
    """Real end-to-end files differ slightly: float64 values, large lists, many rows per row group,
    extra columns, no eta/phi/ieta/iphi. All of that is read."""
    n = 12
    values = pa.array(jets.images[:n].reshape(-1).astype(np.float64))
    lists = values
    for size, per in ((125, n * 375), (125, n * 3), (3, n)):
        lists = pa.LargeListArray.from_arrays(pa.array(np.arange(0, per * size + 1, size, dtype=np.int64)), lists)
    table = pa.table({"X_jets": lists, "pt": jets.pt[:n].astype(np.float64), "m0": jets.m0[:n].astype(np.float64),
                      "y": jets.y[:n].astype(np.int64), "run": np.arange(n), "note": ["x"] * n})
    path = tmp_path / "cms.parquet"
    pq.write_table(table, path, row_group_size=5)
    assert gio.count_jets(path) == n
    chunks = list(gio.iter_jets(path, chunk_size=4, start=1))  # chunk boundaries inside row groups
    read = JetBatch.concatenate(chunks)
    np.testing.assert_array_equal(read.images, jets.images[1:n])
    np.testing.assert_array_equal(read.pt, jets.pt[1:n])
    np.testing.assert_array_equal(read.y, jets.y[1:n])
    assert np.isnan(read.eta).all() and (read.ieta == -1).all()
    assert "run" in gio.describe(path).columns


def test_gvh_layout(tmp_path):
    """Byte layout of DESIGN.md 3.1, checked with struct (what the C++ reader relies on)."""
    images = np.zeros((2, 3, 125, 125), np.float32)
    images[0, 0, 60, 61] = 5.0            # track pixel
    images[0, 1, 10, 20] = 1.5            # ECAL pixel
    images[0, 2, 5:10, 15:20] = 8.0 / 25  # HCAL tower (1, 3) -> centre pixel (7, 17), 8 GeV
    batch = JetBatch(images, pt=[500, 600], m0=[170, 30], y=[1, 0], eta=[0.5, -0.2], phi=[1.0, 2.0])
    path = tmp_path / "two.gvh"
    gio.write_jets(path, batch)
    raw = path.read_bytes()
    assert raw[:8] == b"GVAEHIT1"
    assert struct.unpack_from("<IIQ", raw, 8) == (1, 0, 2)
    event_id, pt, eta, phi, m0, label, n_hits = struct.unpack_from("<Q5fI", raw, 24)
    assert (event_id, pt, m0, label, n_hits) == (0, 500.0, 170.0, 1.0, 3)
    assert (eta, phi) == (np.float32(0.5), np.float32(1.0))
    hits = [struct.unpack_from("<BBHHHf", raw, 56 + 12 * h) for h in range(3)]
    assert hits[0] == (0, 0, 60, 61, 0, 5.0)
    assert hits[1] == (1, 0, 10, 20, 0, 1.5)
    assert hits[2][:5] == (2, 0, 7, 17, 0) and hits[2][5] == pytest.approx(8.0, rel=1e-6)
    second = 56 + 36
    assert struct.unpack_from("<Q5fI", raw, second)[0] == 1
    assert struct.unpack_from("<Q5fI", raw, second)[6] == 0
    assert len(raw) == second + 32
    np.testing.assert_allclose(gio.read_jets(path).images, images, rtol=HCAL_RTOL)
    assert gvh.JET_DTYPE.itemsize == 32 and gvh.HIT_DTYPE.itemsize == 12


def test_root_layout(tmp_path, jets):
    """A TTree (not an RNTuple) with jagged hits per channel; HCAL hits one per tower at its centre."""
    path = tmp_path / "jets.root"
    gio.write_jets(path, jets.slice(0, 4))
    with uproot.open(path) as f:
        tree = f["jets"]
        assert isinstance(tree, uproot.TTree) and tree.num_entries == 4
        for ch in geometry.CHANNELS:
            for field in ("ieta", "iphi", "energy"):
                assert isinstance(tree[f"{ch}_{field}"].interpretation, uproot.AsJagged)
        assert set(SCALARS) <= set(tree.keys())
        hcal_ieta = tree["hcal_ieta"].array(library="np")
        hcal_energy = tree["hcal_energy"].array(library="np")
    assert all(((h % 5) == 2).all() for h in hcal_ieta)
    towers = jets.images[0, 2].reshape(25, 5, 25, 5).sum(axis=(1, 3), dtype=np.float64)
    np.testing.assert_allclose(np.sort(hcal_energy[0]), np.sort(towers[towers > 0]), rtol=1e-6)


def test_writer_is_atomic(tmp_path, jets):
    """An exception inside the writer block leaves no file behind (nor a temporary one)."""
    path = tmp_path / "partial.parquet"
    with pytest.raises(RuntimeError):
        with gio.JetWriter(path) as writer:
            writer.write(jets.slice(0, 3))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_values(tmp_path, jets):
    bad = jets.slice(0, 5)
    bad = JetBatch(bad.images.copy(), bad.pt, bad.m0, bad.y, source="memory-batch", first_row=100)
    bad.images[3, 1, 40, 50] = np.nan
    with pytest.raises(InvalidInput) as err:
        gio.write_jets(tmp_path / "bad.h5", bad)
    assert "row 103" in str(err.value) and "X_jets[ecal]" in str(err.value) and "NaN" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_unknown_extension(tmp_path):
    with pytest.raises(FormatError, match="unknown file extension"):
        gio.JetWriter(tmp_path / "jets.csv")


def test_to_table_has_no_python_rows(jets):
    """The arrow table is built from numpy buffers: its values are the image bytes, in order."""
    table = to_table(jets.slice(0, 3))
    flat = table.column("X_jets").combine_chunks().flatten().flatten().flatten()
    np.testing.assert_array_equal(flat.to_numpy(), jets.images[:3].reshape(-1))
