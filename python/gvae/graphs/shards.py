"""Graph shards on disk (docs/DESIGN.md section 6): the training loader's input.

Layout written by ``python -m gvae.data convert IN OUT_DIR``::

    OUT_DIR/dataset.json                       metadata (see :func:`write_metadata`)
    OUT_DIR/{train,val,test}/shard-NNNNN.pt    torch.save'd dict of tensors over S jets

Shard tensors: ``features`` float32 ``[S, N, 4]`` (raw x, y, E, channel), ``neighbours`` int16
``[S, N, k]``, ``mask`` bool ``[S, N]``, ``n_nodes``/``n_hits`` int32 ``[S]``, ``total_energy`` and
``dropped_energy_fraction`` float64 ``[S]``, ``pt``/``m0``/``y`` float32 ``[S]``, ``row`` int64 ``[S]``
(row in the source file).

:class:`GraphShards` is a map-style dataset returning one jet as a dict of tensors; :func:`collate`
stacks jets into a batch; :meth:`GraphShards.model_inputs` / :func:`model_inputs` turn a batch into
the model's ``(features6 f32 [B, N, 6], neighbours i64 [B, N, k], mask bool [B, N])``.
"""
from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from gvae.errors import CorruptFileError, DataError, SchemaError
from gvae.graphs.normalisation import Normalisation

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "dataset.json"
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Tensors of a shard and their dtypes (per jet shape in the comment).
SHARD_DTYPES: dict[str, torch.dtype] = {
    "features": torch.float32,          # [N, 4]
    "neighbours": torch.int16,          # [N, k]
    "mask": torch.bool,                 # [N]
    "n_nodes": torch.int32,
    "n_hits": torch.int32,
    "total_energy": torch.float64,
    "dropped_energy_fraction": torch.float64,
    "pt": torch.float32,
    "m0": torch.float32,
    "y": torch.float32,
    "row": torch.int64,
}


def shard_name(index: int) -> str:
    """File name of shard ``index`` (``shard-00000.pt``)."""
    return f"shard-{index:05d}.pt"


class ShardWriter:
    """Buffers jets of one split and writes ``shard-NNNNN.pt`` files of ``shard_size`` jets.

    ``add(arrays)`` takes a dict of per-jet-stacked numpy arrays with the keys of
    :data:`SHARD_DTYPES` (extra keys are ignored); ``close()`` writes the last partial shard.
    """

    def __init__(self, directory: str | os.PathLike, shard_size: int, k: int, max_nodes: int) -> None:
        if shard_size < 1:
            raise DataError(f"shard_size must be >= 1, got {shard_size}")
        if max_nodes > np.iinfo(np.int16).max:
            raise DataError(f"max_nodes {max_nodes} does not fit the int16 neighbour indices of the shards")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size, self.k, self.max_nodes = shard_size, k, max_nodes
        self._buffer: list[dict[str, np.ndarray]] = []
        self._buffered = 0
        self.shards: list[str] = []
        self.count = 0

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        """Append jets (all arrays share their first dimension)."""
        n = len(arrays["features"])
        start = 0
        while start < n:
            take = min(n - start, self.shard_size - self._buffered)
            self._buffer.append({key: np.asarray(arrays[key][start:start + take]) for key in SHARD_DTYPES})
            self._buffered += take
            start += take
            if self._buffered == self.shard_size:
                self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        data = {key: torch.from_numpy(np.ascontiguousarray(np.concatenate([b[key] for b in self._buffer])))
                .to(dtype) for key, dtype in SHARD_DTYPES.items()}
        name = shard_name(len(self.shards))
        tmp = self.directory / (name + ".tmp")
        torch.save(data, tmp)
        os.replace(tmp, self.directory / name)
        self.shards.append(name)
        self.count += self._buffered
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """Write the remaining jets as a last (smaller) shard."""
        self._flush()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_metadata(out_dir: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write ``OUT_DIR/dataset.json``. Expected keys: ``format_version``, ``source``, ``seed``,
    ``k``, ``max_nodes``, ``splits`` (``{split: {"count", "shards", "shard_counts"}}``),
    ``normalisation`` (:meth:`Normalisation.to_dict`), ``geometry``, ``truncation``, ``builder``."""
    path = Path(out_dir) / METADATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_metadata(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Load and check ``OUT_DIR/dataset.json`` (typed errors naming the file and field)."""
    path = Path(out_dir) / METADATA_FILE
    if not path.is_file():
        raise DataError("no dataset.json: not a directory written by `python -m gvae.data convert`", file=str(path))
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"invalid JSON: {exc}", file=str(path)) from exc
    for key in ("format_version", "k", "max_nodes", "splits", "normalisation"):
        if key not in meta:
            raise SchemaError("missing key", file=str(path), field=key)
    if meta["format_version"] != FORMAT_VERSION:
        raise SchemaError(f"unsupported format_version {meta['format_version']} (expected {FORMAT_VERSION})",
                          file=str(path), field="format_version")
    return meta


def load_normalisation(out_dir: str | os.PathLike) -> Normalisation:
    """The normalisation saved in ``OUT_DIR/dataset.json``."""
    return Normalisation.from_dict(read_metadata(out_dir)["normalisation"])


def load_shard(path: str | os.PathLike, k: int | None = None, max_nodes: int | None = None) -> dict[str, torch.Tensor]:
    """Load one shard and check its keys, dtypes and shapes."""
    path = str(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises several types for bad zip/pickle bytes
        raise CorruptFileError(f"cannot load shard: {exc}", file=path) from exc
    if not isinstance(data, dict):
        raise SchemaError("a shard must be a dict of tensors", file=path)
    n = None
    for key, dtype in SHARD_DTYPES.items():
        t = data.get(key)
        if not isinstance(t, torch.Tensor):
            raise SchemaError("missing tensor", file=path, field=key)
        if t.dtype != dtype:
            raise SchemaError(f"dtype {t.dtype}, expected {dtype}", file=path, field=key)
        n = len(t) if n is None else n
        if len(t) != n:
            raise SchemaError(f"{len(t)} jets, expected {n}", file=path, field=key)
    s, nodes = data["features"].shape[:2]
    expected = {"features": (s, max_nodes or nodes, 4), "neighbours": (s, max_nodes or nodes, k or data["neighbours"].shape[2]),
                "mask": (s, max_nodes or nodes)}
    for key, shape in expected.items():
        if tuple(data[key].shape) != shape:
            raise SchemaError(f"shape {tuple(data[key].shape)}, expected {shape}", file=path, field=key)
    return data


def collate(jets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack jets from :class:`GraphShards` into a batch: every tensor gains a leading ``[B]``."""
    if not jets:
        raise DataError("cannot collate an empty list of jets")
    return {key: torch.stack([jet[key] for jet in jets]) for key in jets[0]}


def model_inputs(batch: dict[str, torch.Tensor], normalisation: Normalisation
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(features6 f32 [B, N, 6], neighbours i64 [B, N, k], mask bool [B, N])`` of a collated batch."""
    mask = batch["mask"].to(torch.bool)
    features6 = normalisation.apply(batch["features"], mask)
    return features6, batch["neighbours"].to(torch.int64), mask


class GraphShards(torch.utils.data.Dataset):
    """Map-style dataset over one split of a converted directory; ``ds[i]`` is one jet as a dict of
    tensors with the keys of :data:`SHARD_DTYPES` (``features [N, 4]``, ``neighbours [N, k]`` int16,
    ``mask [N]``, and 0-d scalars).

    preload: load every shard of the split into memory at construction (fast random access, the
        default); otherwise shards are loaded on demand and the last ``cache_shards`` kept.
    """

    def __init__(self, out_dir: str | os.PathLike, split: str = "train", preload: bool = True,
                 cache_shards: int = 2) -> None:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.out_dir = Path(out_dir)
        self.split = split
        self.metadata = read_metadata(out_dir)
        self.k = int(self.metadata["k"])
        self.max_nodes = int(self.metadata["max_nodes"])
        self.normalisation = Normalisation.from_dict(self.metadata["normalisation"])
        info = self.metadata["splits"].get(split)
        if info is None:
            raise SchemaError(f"no split {split!r}", file=str(self.out_dir / METADATA_FILE), field="splits")
        self.shard_files = [self.out_dir / split / name for name in info["shards"]]
        counts = np.asarray(info["shard_counts"], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._cache: OrderedDict[int, dict[str, torch.Tensor]] = OrderedDict()
        self._cache_shards = max(1, cache_shards)
        self._all: dict[str, torch.Tensor] | None = None
        if preload and self.shard_files:
            shards = [self._load(i) for i in range(len(self.shard_files))]
            self._all = {key: torch.cat([s[key] for s in shards]) for key in SHARD_DTYPES}

    def _load(self, index: int) -> dict[str, torch.Tensor]:
        data = load_shard(self.shard_files[index], self.k, self.max_nodes)
        expected = int(self._starts[index + 1] - self._starts[index])
        if len(data["features"]) != expected:
            raise SchemaError(f"{len(data['features'])} jets, dataset.json says {expected}",
                              file=str(self.shard_files[index]), field="features")
        return data

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"jet {index} out of range for split {self.split!r} with {n} jets")
        if self._all is not None:
            return {key: t[index] for key, t in self._all.items()}
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        data = self._cache.get(shard)
        if data is None:
            data = self._load(shard)
            self._cache[shard] = data
            while len(self._cache) > self._cache_shards:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(shard)
        local = index - int(self._starts[shard])
        return {key: t[local] for key, t in data.items()}

    def arrays(self) -> dict[str, torch.Tensor]:
        """The whole split as stacked tensors (loads every shard)."""
        if self._all is not None:
            return self._all
        if not self.shard_files:
            raise DataError(f"split {self.split!r} is empty", file=str(self.out_dir))
        shards = [self._load(i) for i in range(len(self.shard_files))]
        return {key: torch.cat([s[key] for s in shards]) for key in SHARD_DTYPES}

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features6 f32 [B, N, 6], neighbours i64 [B, N, k], mask bool [B, N])`` using the saved
        normalisation."""
        return model_inputs(batch, self.normalisation)
