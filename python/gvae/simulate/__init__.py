"""Fast simulation from the prior: ``python -m gvae.simulate``.

Jet conditions (type, pT) -> ``z ~ p(z | type, pT)`` (the checkpoint's conditional prior) ->
latent-only decoder -> hits snapped to the detector (:mod:`gvae.model.snap`) -> end-to-end images,
written with :class:`gvae.io.JetWriter` in any format ``gvae.data generate`` writes, with the same
schema (``gvae.data inspect`` and every reader work on the files).

Randomness: one ``torch.Generator`` seeded with ``seed`` draws, per chunk of jets and in this order,
the conditions (type for ``mixed`` is not random: even rows ttbar, odd rows QCD as in ``generate``;
pT uniforms), the latent noise ``[B, C*L]`` and the count noise ``[B, 3]``. The same seed, jets
and chunk size give the same file.

Columns: ``y`` = requested type (1 top, 0 QCD), ``pt`` = requested jet pT, ``m0`` = the mass of the
simulated calorimeter hits (massless hits at the cell centres, jet at eta 0: the generator-level mass
does not exist for a simulated jet), ``eta``/``phi`` NaN (unknown), ``ieta``/``iphi`` -1 unless the
conditions file gives eta and phi.
"""
from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from gvae import geometry
from gvae.errors import ConfigError, DataError, InvalidInput
from gvae.jets import JetBatch
from gvae.model.io import LoadedModel, load_model
from gvae.model.prior import TYPES
from gvae.model.snap import evaluation_hits, images, snap_to_detector
from gvae.graphs.normalisation import Normalisation

log = logging.getLogger(__name__)
PROCESSES = ("ttbar", "qcd", "mixed")


@dataclass
class Conditions:
    """Per-jet conditions: ``label [n]`` (1 top, 0 QCD), ``pt [n]`` GeV, optional ``eta``/``phi`` ``[n]``."""

    label: np.ndarray
    pt: np.ndarray | None
    eta: np.ndarray | None = None
    phi: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)


def process_labels(process: str, n_jets: int) -> np.ndarray:
    """Labels of ``n_jets`` jets of a process (``mixed``: even rows ttbar, odd rows QCD, as ``generate``)."""
    if process not in PROCESSES:
        raise ConfigError(f"unknown process '{process}', expected one of {', '.join(PROCESSES)}")
    if process == "mixed":
        return (np.arange(n_jets) % 2 == 0).astype(np.float32)
    return np.full(n_jets, float(TYPES[process]), np.float32)


def read_conditions(path: str | Path) -> Conditions:
    """CSV with a header: ``type`` (ttbar|qcd|1|0) and ``pt`` (GeV) columns, optional ``eta``, ``phi``.

    Raises :class:`gvae.errors.DataError` naming the file, row and field on bad content.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"cannot read the conditions file: {exc}", file=str(path)) from exc
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip() for f in (reader.fieldnames or [])]
    for need in ("type", "pt"):
        if need not in fields:
            raise DataError(f"missing column '{need}' (columns: {fields})", file=str(path), field=need)
    labels, pts, etas, phis = [], [], [], []
    for row, rec in enumerate(reader):
        rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k is not None}
        t = rec["type"].lower()
        if t in TYPES:
            labels.append(float(TYPES[t]))
        elif t in ("0", "1"):
            labels.append(float(t))
        else:
            raise DataError(f"type {rec['type']!r} must be ttbar, qcd, 1 or 0", file=str(path), row=row, field="type")
        try:
            pt = float(rec["pt"])
        except ValueError:
            pt = float("nan")
        if not (math.isfinite(pt) and pt > 0):
            raise DataError(f"pt {rec['pt']!r} must be a finite number > 0", file=str(path), row=row, field="pt")
        pts.append(pt)
        for name, dest in (("eta", etas), ("phi", phis)):
            if name in rec and rec[name] != "":
                try:
                    dest.append(float(rec[name]))
                except ValueError as exc:
                    raise DataError(f"{name} {rec[name]!r} is not a number", file=str(path), row=row,
                                    field=name) from exc
            else:
                dest.append(float("nan"))
    if not labels:
        raise DataError("the conditions file has no rows", file=str(path))
    return Conditions(np.asarray(labels, np.float32), np.asarray(pts, np.float64),
                      np.asarray(etas, np.float32), np.asarray(phis, np.float32))


def _calo_mass(hits) -> float:
    """Invariant mass (GeV) of massless calorimeter hits (ECAL + HCAL) at eta offsets x, phi offsets y."""
    sel = hits.channel > 0
    e = hits.energy[sel] / np.cosh(hits.x[sel])  # transverse energy at eta = x
    px, py, pz = e * np.cos(hits.y[sel]), e * np.sin(hits.y[sel]), e * np.sinh(hits.x[sel])
    en = e * np.cosh(hits.x[sel])
    m2 = en.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2
    return float(math.sqrt(max(m2, 0.0)))


#: Jets decoded together: a chunk is sorted by its decoded hit counts and decoded in groups of this many
#: jets, because the packed decoding's width follows the largest jet of a batch (a jet's decoding does not
#: depend on the other jets of its batch, ``tests/test_set_decoder_packed.py``, so the jets are the same).
DECODE_GROUP = 64


class Simulator:
    """A loaded latent-decoder checkpoint with its prior, turning conditions into :class:`JetBatch` es."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", decode_group: int = DECODE_GROUP) -> None:
        """``decode_group``: jets decoded together (:data:`DECODE_GROUP`; 0 = the whole chunk in one call,
        unsorted, as before grouping: for benchmarks)."""
        self.decode_group = int(decode_group)
        self.loaded: LoadedModel = load_model(checkpoint, device)
        cfg = self.loaded.model_config
        if cfg.decoder != "latent":
            raise ConfigError(f"checkpoint '{checkpoint}' has model.decoder: {cfg.decoder}; simulation needs the "
                              "latent-only decoder (model.decoder: latent)")
        if self.loaded.prior is None:
            raise ConfigError(f"checkpoint '{checkpoint}' has no prior p(z | type, pT); it is fitted at the end of "
                              "`python -m gvae.train`, or refit with `python -m gvae.train --fit-prior-only --checkpoint "
                              f"{checkpoint} --data DIR`")
        self.prior = self.loaded.prior
        self.norm = Normalisation.from_dict(self.loaded.normalisation)
        self.model = self.loaded.model.eval()
        self.source = f"<gvae.simulate {Path(checkpoint).name}>"

    @torch.no_grad()
    def simulate(self, label: torch.Tensor, pt: torch.Tensor, latent_noise: torch.Tensor, count_noise: torch.Tensor,
                 eta: np.ndarray | None = None, phi: np.ndarray | None = None, first_row: int = 0) -> JetBatch:
        """One chunk: ``label [B]``, ``pt [B]`` GeV, ``latent_noise [B, C*L]``, ``count_noise [B, 3]`` -> jets
        (decoded in groups of similar size, :data:`DECODE_GROUP`; the jets come back in the given order)."""
        z = self.prior.sample(label, pt, latent_noise)
        n = len(label)
        imgs: np.ndarray | None = None
        m0 = np.empty(n, np.float32)
        for index in self._groups(z, count_noise):
            table, _ = snap_to_detector(self.model.decode(z[index], count_noise[index]), self.norm)
            part = images(table)
            if imgs is None:
                imgs = np.empty((n, *part.shape[1:]), part.dtype)
            imgs[index.numpy()] = part
            m0[index.numpy()] = [_calo_mass(h) for h in evaluation_hits(table)]
        assert imgs is not None
        eta_ = np.full(n, np.nan, np.float32) if eta is None else np.asarray(eta, np.float32)
        phi_ = np.full(n, np.nan, np.float32) if phi is None else np.asarray(phi, np.float32)
        ok = np.isfinite(eta_) & np.isfinite(phi_)
        ieta = np.where(ok, np.rint(np.nan_to_num(eta_) / geometry.PIXEL_SIZE), -1).astype(np.int32)
        iphi = np.where(ok, np.rint(np.nan_to_num(phi_) / geometry.PIXEL_SIZE), -1).astype(np.int32)
        return JetBatch(imgs, pt=pt.numpy().astype(np.float32), m0=m0, y=label.numpy().astype(np.float32),
                        eta=eta_, phi=phi_, ieta=ieta, iphi=iphi, source=self.source, first_row=first_row)

    def _groups(self, z: torch.Tensor, count_noise: torch.Tensor) -> list[torch.Tensor]:
        """Indices of the jets of ``z [B, C, L]`` in groups of at most ``decode_group``, by increasing
        decoded hit count (the decoder's count head with ``count_noise``); no group of one jet after the
        first (a single jet takes BLAS's matrix-vector path: its last bits could differ)."""
        if self.decode_group <= 0:
            return [torch.arange(len(z))]
        decoder = self.model.decoder
        mean, logstd, _ = decoder.count_distribution(z, decoder.glob(z.flatten(1)))
        order = torch.argsort(decoder.sample_counts(mean, logstd, count_noise).sum(1), stable=True)
        groups = list(torch.split(order, self.decode_group))
        if len(groups) > 1 and len(groups[-1]) == 1:
            groups[-2:] = [torch.cat(groups[-2:])]
        return groups

    def iter_jets(self, conditions: Conditions, seed: int, chunk_size: int = 256, pt_range: tuple | None = None,
                  progress: bool = True) -> Iterator[JetBatch]:
        """Chunks of simulated jets for ``conditions`` (pT None: drawn uniformly in ``pt_range`` if given, else
        from the training pT distribution of the type)."""
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        gen = torch.Generator().manual_seed(int(seed))
        n = len(conditions)
        with tqdm(total=n, desc="simulate", unit="jet", disable=not progress) as bar:
            for start in range(0, n, chunk_size):
                stop = min(n, start + chunk_size)
                label = torch.from_numpy(conditions.label[start:stop].astype(np.float32))
                if conditions.pt is not None:
                    pt = torch.from_numpy(conditions.pt[start:stop].astype(np.float64))
                else:
                    u = torch.rand(stop - start, generator=gen, dtype=torch.float64)
                    if pt_range is not None:
                        pt = pt_range[0] + u * (pt_range[1] - pt_range[0])
                    else:
                        pt = self.prior.sample_pt(label, u)
                latent_noise = torch.randn(stop - start, self.prior.dim, generator=gen)
                count_noise = torch.randn(stop - start, 3, generator=gen)
                eta = None if conditions.eta is None else conditions.eta[start:stop]
                phi = None if conditions.phi is None else conditions.phi[start:stop]
                yield self.simulate(label, pt, latent_noise, count_noise, eta, phi, first_row=start)
                bar.update(stop - start)


def simulate_to_file(checkpoint: str | Path, out: str | Path, conditions: Conditions, seed: int,
                     chunk_size: int = 256, pt_range: tuple | None = None, progress: bool = True) -> int:
    """Simulate the jets of ``conditions`` into ``out`` (format from the extension). Returns jets written."""
    from gvae.io import JetWriter

    sim = Simulator(checkpoint)
    for k in set(conditions.label.round().astype(int).tolist()):
        if k not in sim.prior.chol:
            raise InvalidInput(f"jet type {k} was not in the training data of '{checkpoint}'", field="type")
    t0 = time.perf_counter()
    written = 0
    with JetWriter(out) as writer:
        for batch in sim.iter_jets(conditions, seed, chunk_size, pt_range, progress):
            writer.write(batch)
            written += len(batch)
    dt = time.perf_counter() - t0
    log.info("simulated %d jets into %s in %.1f s (%.1f jets/s)", written, out, dt, written / dt if dt else float("nan"))
    return written
