"""gvae.io on broken input: typed errors (never a raw pyarrow/h5py/uproot traceback) that name
the file, the row and the field."""
from __future__ import annotations

import struct

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

import gvae.io as gio
from gvae.errors import CorruptFileError, DataError, FormatError, InvalidInput, SchemaError
from gvae.io.parquet import to_table
from gvae.data.synthetic import synthetic_jets
from gvae.jets import JetBatch

N_JETS = 20


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    return synthetic_jets(N_JETS, seed=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory, jets) -> dict:
    """One good file per format."""
    d = tmp_path_factory.mktemp("good")
    out = {}
    for ext in ("parquet", "h5", "root", "gvh"):
        out[ext] = d / f"good.{ext}"
        gio.write_jets(out[ext], jets)
    return out


def read_all(path) -> JetBatch:
    """count_jets + read_jets (every code path that touches the file)."""
    gio.count_jets(path)
    return gio.read_jets(path, chunk_size=8)


def expect(error: type, path, *, row: int | None = None, field: str | None = None, match: str | None = None):
    """Read ``path`` and check the error's type, file, row and field (also in the message)."""
    with pytest.raises(error) as info:
        read_all(path)
    err = info.value
    assert isinstance(err, DataError) and err.file == str(path)
    assert f"file '{path}'" in str(err)
    if row is not None:
        assert err.row == row and f"row {row}" in str(err), str(err)
    if field is not None:
        assert err.field == field and f"field '{field}'" in str(err), str(err)
    if match is not None:
        assert match in str(err), str(err)
    return err


def write_cut(src, dst, n_bytes: int):
    dst.write_bytes(src.read_bytes()[:n_bytes])
    return dst


# ------------------------------------------------------------------------------- detection

def test_unknown_extension(tmp_path, files):
    path = tmp_path / "jets.csv"
    path.write_bytes(files["parquet"].read_bytes())
    expect(FormatError, path, match="unknown file extension '.csv'")


@pytest.mark.parametrize("ext,other", [("h5", "parquet"), ("parquet", "root"), ("root", "gvh"), ("gvh", "h5")])
def test_extension_magic_mismatch(tmp_path, files, ext, other):
    path = tmp_path / f"renamed.{ext}"
    path.write_bytes(files[other].read_bytes())
    expect(FormatError, path, match="starts with the bytes of a")


def test_missing_and_empty_files(tmp_path):
    expect(FormatError, tmp_path / "missing.parquet", match="no such file")
    (tmp_path / "empty.h5").write_bytes(b"")
    expect(FormatError, tmp_path / "empty.h5", match="empty")
    (tmp_path / "text.gvh").write_bytes(b"hello world, not jets")
    expect(FormatError, tmp_path / "text.gvh", match="unknown leading bytes")


# ------------------------------------------------------------------------------- truncation

@pytest.mark.parametrize("ext", ["parquet", "h5", "root", "gvh"])
@pytest.mark.parametrize("fraction", [0.5, 0.97])
def test_truncated(tmp_path, files, ext, fraction):
    good = files[ext]
    path = write_cut(good, tmp_path / f"cut.{ext}", int(good.stat().st_size * fraction))
    expect(CorruptFileError, path)


def test_truncated_gvh_names_the_jet(tmp_path, files, jets):
    raw = files["gvh"].read_bytes()
    # find the start of jet 7 by walking the headers
    pos = 24
    for _ in range(7):
        pos += 32 + 12 * struct.unpack_from("<I", raw, pos + 28)[0]
    path = write_cut(files["gvh"], tmp_path / "mid.gvh", pos + 32 + 12 * 3 + 5)  # inside hit 4 of jet 7
    err = expect(CorruptFileError, path, row=7, field="n_hits", match="truncated")
    assert "ends after 3 of them" in str(err)
    path = write_cut(files["gvh"], tmp_path / "head.gvh", pos + 10)  # inside the header of jet 7
    expect(CorruptFileError, path, row=7, field="jet header")
    # jets before the damage are still readable
    np.testing.assert_array_equal(gio.read_jets(path, stop=7).images[:, 0], jets.images[:7, 0])


def test_gvh_header_checks(tmp_path, files):
    raw = bytearray(files["gvh"].read_bytes())
    unclosed = bytearray(raw)
    struct.pack_into("<Q", unclosed, 16, 0)  # a writer that never closed
    (tmp_path / "unclosed.gvh").write_bytes(unclosed)
    expect(CorruptFileError, tmp_path / "unclosed.gvh", field="n_jets", match="header says 0 jets")
    more = bytearray(raw)
    struct.pack_into("<Q", more, 16, 10**6)
    (tmp_path / "more.gvh").write_bytes(more)
    expect(CorruptFileError, tmp_path / "more.gvh", field="n_jets", match="header says 1000000 jets but only")
    struct.pack_into("<Q", more, 16, N_JETS + 1)
    (tmp_path / "more.gvh").write_bytes(more)
    expect(CorruptFileError, tmp_path / "more.gvh", row=N_JETS, field="n_jets",
           match=f"announces {N_JETS + 1} jets but the file ends after {N_JETS}")
    fewer = bytearray(raw)
    struct.pack_into("<Q", fewer, 16, N_JETS - 1)
    (tmp_path / "fewer.gvh").write_bytes(fewer)
    expect(CorruptFileError, tmp_path / "fewer.gvh", row=N_JETS - 1, field="n_jets", match="unexpected bytes")
    version = bytearray(raw)
    struct.pack_into("<I", version, 8, 2)
    (tmp_path / "v2.gvh").write_bytes(version)
    expect(FormatError, tmp_path / "v2.gvh", field="version", match="unsupported version 2")
    (tmp_path / "short.gvh").write_bytes(raw[:12])
    expect(CorruptFileError, tmp_path / "short.gvh", match="shorter than the 24-byte header")


@pytest.mark.parametrize("offset,fmt,value,field,match", [
    (0, "<B", 7, "channel", "must be 0 (track), 1 (ECAL) or 2 (HCAL)"),
    (2, "<H", 130, "track.ieta", "must be in [0, 125)"),
    (4, "<H", 125, "track.iphi", "must be in [0, 125)"),
    (8, "<f", float("nan"), "track.energy", "must be finite and >= 0"),
    (8, "<f", -1.0, "track.energy", "must be finite and >= 0"),
])
def test_gvh_bad_hits(tmp_path, files, offset, fmt, value, field, match):
    raw = bytearray(files["gvh"].read_bytes())
    pos = 24
    for _ in range(3):
        pos += 32 + 12 * struct.unpack_from("<I", raw, pos + 28)[0]
    struct.pack_into(fmt, raw, pos + 32 + offset, value)  # first hit of jet 3 (a track hit)
    path = tmp_path / "badhit.gvh"
    path.write_bytes(raw)
    expect(InvalidInput, path, row=3, field=field, match=match)


# ------------------------------------------------------------------------------- corrupt bytes

@pytest.mark.parametrize("ext", ["parquet", "h5", "root"])
def test_garbage_after_magic(tmp_path, files, ext):
    raw = files[ext].read_bytes()
    path = tmp_path / f"garbage.{ext}"
    path.write_bytes(raw[:8] + np.random.default_rng(0).bytes(len(raw) - 8))
    expect(CorruptFileError, path)


@pytest.mark.parametrize("ext", ["parquet", "h5", "root"])
def test_damaged_data(tmp_path, files, ext):
    """Random bytes over the image data two thirds into the file."""
    raw = bytearray(files[ext].read_bytes())
    at = 2 * len(raw) // 3
    raw[at:at + 3000] = np.random.default_rng(1).bytes(3000)
    path = tmp_path / f"damaged.{ext}"
    path.write_bytes(raw)
    if ext == "root":  # depending on the basket hit: undecodable bytes or impossible hit values
        expect(DataError, path)
        return
    err = expect(CorruptFileError, path)
    # parquet row groups (one per jet) and HDF5 chunks (4 jets) locate the damaged jet
    assert err.row is not None and N_JETS // 3 < err.row < N_JETS, str(err)


# ------------------------------------------------------------------------------- wrong schema

def _write_table(path, table, **kw):
    pq.write_table(table, path, **kw)
    return path


@pytest.mark.parametrize("column", ["X_jets", "pt", "m0", "y"])
def test_parquet_missing_column(tmp_path, jets, column):
    table = to_table(jets).drop_columns([column])
    path = _write_table(tmp_path / "missing.parquet", table)
    expect(SchemaError, path, field=column, match="required column is missing")


def test_parquet_wrong_inner_length(tmp_path, jets):
    """One X_jets row of 124 values (jet 6, channel 1, ieta 40): named by row, field and position."""
    n = 10
    values = jets.images[:n].reshape(n * 375, 125)
    bad_row = 6 * 375 + 1 * 125 + 40
    lengths = np.full(n * 375, 125)
    lengths[bad_row] = 124
    flat = np.concatenate([values[i, :lengths[i]] for i in range(n * 375)])
    rows = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)),
                                    pa.array(flat))
    chans = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 375 + 1, 125, dtype=np.int32)), rows)
    x = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 3 + 1, 3, dtype=np.int32)), chans)
    table = to_table(jets.slice(0, n)).set_column(0, "X_jets", x)
    path = _write_table(tmp_path / "short.parquet", table, row_group_size=1)
    expect(SchemaError, path, row=6, field="X_jets", match="X_jets[1][40] has 124 values, expected 125")


def test_parquet_wrong_channel_count(tmp_path, jets):
    n = 4
    rows = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 2 * 125 * 125 + 1, 125, dtype=np.int32)),
                                    pa.array(jets.images[:n, :2].reshape(-1)))
    chans = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 250 + 1, 125, dtype=np.int32)), rows)
    x = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 2 + 1, 2, dtype=np.int32)), chans)
    path = _write_table(tmp_path / "two.parquet", to_table(jets.slice(0, n)).set_column(0, "X_jets", x))
    expect(SchemaError, path, row=0, field="X_jets", match="has 2 values, expected 3")


def test_parquet_wrong_types(tmp_path, jets):
    table = to_table(jets.slice(0, 3))
    flat = table.set_column(0, "X_jets", pa.array(np.arange(3, dtype=np.float32)))
    expect(SchemaError, _write_table(tmp_path / "flat.parquet", flat), field="X_jets", match="list<list<list<float32>>>")
    text = table.set_column(table.schema.get_field_index("pt"), "pt", pa.array(["a", "b", "c"]))
    expect(SchemaError, _write_table(tmp_path / "text.parquet", text), field="pt", match="numeric")


def test_parquet_bad_values(tmp_path, jets):
    batch = jets.slice(0, 6)
    images = batch.images.copy()
    images[4, 2, 100, 3] = -0.5
    table = to_table(JetBatch(images, batch.pt, batch.m0, batch.y))
    expect(InvalidInput, _write_table(tmp_path / "neg.parquet", table, row_group_size=1), row=4,
           field="X_jets[hcal]", match="negative energy -0.5 at pixel (ieta=100, iphi=3)")
    pt = batch.pt.copy()
    pt[2] = np.inf
    table = to_table(batch).set_column(1, "pt", pa.array(pt))
    expect(InvalidInput, _write_table(tmp_path / "inf.parquet", table), row=2, field="pt", match="not finite")
    nulls = to_table(batch).set_column(2, "m0", pa.array([1.0, None, 2.0, 3.0, 4.0, 5.0], pa.float32()))
    expect(InvalidInput, _write_table(tmp_path / "null.parquet", nulls), row=1, field="m0", match="null")


def _write_h5(path, jets, drop=(), **replace):
    with h5py.File(path, "w") as f:
        data = {"X_jets": jets.images.transpose(0, 2, 3, 1), **jets.scalars()}
        data.update(replace)
        for name, values in data.items():
            if name not in drop:
                f.create_dataset(name, data=values)
    return path


@pytest.mark.parametrize("dataset", ["X_jets", "pt", "m0", "y"])
def test_h5_missing_dataset(tmp_path, jets, dataset):
    expect(SchemaError, _write_h5(tmp_path / "missing.h5", jets, drop=(dataset,)), field=dataset,
           match="required dataset is missing")


def test_h5_wrong_shapes(tmp_path, jets):
    channel_first = _write_h5(tmp_path / "cf.h5", jets, X_jets=jets.images)
    expect(SchemaError, channel_first, field="X_jets", match="expected shape (N, 125, 125, 3)")
    short = _write_h5(tmp_path / "short.h5", jets, X_jets=jets.images.transpose(0, 2, 3, 1)[:, :124])
    expect(SchemaError, short, field="X_jets", match="(20, 124, 125, 3)")
    scalars = _write_h5(tmp_path / "len.h5", jets, m0=jets.m0[:-1])
    expect(SchemaError, scalars, field="m0", match="expected shape (20,) like X_jets")
    strings = _write_h5(tmp_path / "str.h5", jets, y=np.array([b"top"] * N_JETS))
    expect(SchemaError, strings, field="y", match="numeric")


def test_h5_nan(tmp_path, jets):
    x = jets.images.transpose(0, 2, 3, 1).copy()
    x[13, 7, 8, 0] = np.nan
    expect(InvalidInput, _write_h5(tmp_path / "nan.h5", jets, X_jets=x), row=13, field="X_jets[track]",
           match="NaN energy")


def test_root_missing_tree_and_branches(tmp_path, jets):
    with uproot.recreate(tmp_path / "other.root") as f:
        f.mktree("events", {"pt": np.float32}).extend({"pt": np.ones(3, np.float32)})
    expect(SchemaError, tmp_path / "other.root", field="jets", match="no TTree 'jets'")
    with uproot.recreate(tmp_path / "flat.root") as f:
        f.mktree("jets", {"pt": np.float32, "m0": np.float32, "y": np.float32}).extend(
            {"pt": np.ones(3, np.float32), "m0": np.ones(3, np.float32), "y": np.ones(3, np.float32)})
    expect(SchemaError, tmp_path / "flat.root", field="track_ieta", match="required branch is missing")


def test_root_bad_hits(tmp_path):
    import awkward as ak

    def jagged(values, dtype):
        return ak.Array([np.asarray(v, dtype) for v in values])

    data = {"pt": np.full(3, 500, np.float32), "m0": np.full(3, 100, np.float32), "y": np.ones(3, np.float32)}
    for ch in ("track", "ecal", "hcal"):
        data[f"{ch}_ieta"] = jagged([[1], [2, 3], []], np.int16)
        data[f"{ch}_iphi"] = jagged([[1], [2, 3], []], np.int16)
        data[f"{ch}_energy"] = jagged([[1.0], [2.0, 3.0], []], np.float32)
    data["ecal_iphi"] = jagged([[1], [2, 300], []], np.int16)
    with uproot.recreate(tmp_path / "bad.root") as f:
        f.mktree("jets", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()},
                 counter_name=lambda name: f"n_{name}").extend(data)
    expect(InvalidInput, tmp_path / "bad.root", row=1, field="ecal_iphi", match="300")


def test_no_raw_library_errors(tmp_path, files):
    """Whatever the damage, the reader raises a gvae DataError (checked on many random cuts)."""
    rng = np.random.default_rng(7)
    for ext, good in files.items():
        raw = good.read_bytes()
        for k in rng.integers(9, len(raw), 6):
            path = tmp_path / f"cut{k}.{ext}"
            path.write_bytes(raw[:k])
            with pytest.raises(DataError):
                read_all(path)
