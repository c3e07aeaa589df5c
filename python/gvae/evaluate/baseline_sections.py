"""The issue-14 sections of ``python -m gvae.evaluate`` for a checkpoint: the latent-only PCA
reconstruction baseline beside the GVAE and today's PCA (given the true mask and channel), and
the generation figures of the Gaussian-PCA generator against the held-out jets, with floors.

Called from :func:`gvae.evaluate.run.evaluate` with what it already computed (the original test
jets, the EMDs and observable tables of the GVAE and today's PCA).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gvae.evaluate.emd import EMD_CHANNELS, batch_emds
from gvae.evaluate.generation import JetSample, evaluate_generation
from gvae.jets import Hits
from gvae.evaluate.latent_pca import GaussianPCAGenerator, jet_type_names
from gvae.evaluate.observables import OBSERVABLES, compare, observables_table, summary
from gvae.evaluate.reconstruction import fit_latent_only_pca
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import GraphShards

log = logging.getLogger(__name__)

#: Fewest held-out jets of a type for its generation figures (two halves of >= 5 jets: 5 classifier folds).
MIN_GENERATION_JETS = 10


def _arrays(shards: GraphShards, limit: int | None) -> dict[str, np.ndarray]:
    a = shards.arrays()
    n = len(shards) if limit is None else min(limit, len(shards))
    return {k: torch.as_tensor(a[k][:n]).numpy() for k in ("features", "mask", "y", "pt")}


def _model_entry(label: str, emds: np.ndarray, original: dict[str, np.ndarray], reco: dict[str, np.ndarray]
                 ) -> dict[str, Any]:
    return {"label": label, "emd": {c: summary(emds[:, i]) for i, c in enumerate(EMD_CHANNELS)},
            "observables": {o: compare(original[o], reco[o]) for o in OBSERVABLES}}


def sections(data: Path, test: GraphShards, norm: Normalisation, latent_size: int, rec: dict[str, Any],
             emds: dict[str, np.ndarray], tables: dict[str, dict[str, np.ndarray]], *, emd_R: float, workers: int,
             hit_threshold: float, batch_size: int, max_train: int | None, out: Path | None, seed: int,
             generation: bool) -> dict[str, Any]:
    """Returns ``{"reconstruction_baselines", "generation" (or None), "notes", "plots", "timing_s"}``.

    rec: :func:`gvae.evaluate.run.reconstruct` output (``original`` hits of the ``n`` evaluated test
    jets in split order, ``eta``); emds / tables: per model (``gvae``, ``baseline``) ``[n, 4]`` EMDs
    and observable tables, ``tables["original"]`` included.
    """
    timing: dict[str, float] = {}
    notes: list[str] = []
    t = time.perf_counter()
    train = _arrays(GraphShards(data, "train"), max_train)
    pca = fit_latent_only_pca(train["features"], train["mask"], norm, latent_size, batch_size)
    timing["latent_only_pca_fit"] = time.perf_counter() - t
    n = len(rec["original"])
    te = _arrays(test, n)
    t = time.perf_counter()
    recos: list[Hits] = []
    for i in range(0, n, batch_size):
        m = torch.as_tensor(te["mask"][i:i + batch_size])
        recos += pca.reconstruct_hits(norm.apply(torch.as_tensor(te["features"][i:i + batch_size]), m), m, norm)
    lo_emds = batch_emds(rec["original"], recos, emd_R, workers, desc="EMD latent-only PCA")
    lo_table = observables_table(recos, rec["eta"], hit_threshold)
    timing["latent_only_pca_eval"] = time.perf_counter() - t
    recon = {"latent_size": int(latent_size), "n_train": len(train["features"]), "n_test": n,
             "latent_only_pca": pca.summary(),
             "models": {
                 "gvae": _model_entry("GVAE (paper decoder: gets S, mask and channels of the input)", emds["gvae"],
                                      tables["original"], tables["gvae"]),
                 "latent_only_pca": _model_entry("PCA, latent only (no true mask/channel)", lo_emds,
                                                 tables["original"], lo_table),
                 "true_mask_pca": _model_entry("PCA given the true mask and channel", emds["baseline"],
                                               tables["original"], tables["baseline"])}}
    if pca.rank_limited:
        notes.append(f"The latent-only PCA is rank-limited: {pca.n_components} of {latent_size} components "
                     f"({pca.n_samples} training jets).")
    notes.append(f"Latent-only PCA: {pca.n_components} numbers per jet over node vectors [x', y', u', channel "
                 "one-hot, real flag]; a node exists where the decoded real flag > 0.5, its channel is the arg-max; "
                 "decoded hits snapped to detector cells with the detector's readout thresholds.")
    gen_section = None
    if generation:
        t = time.perf_counter()
        z = np.concatenate([pca.encode(norm.apply(torch.as_tensor(train["features"][i:i + batch_size]),
                                                  torch.as_tensor(train["mask"][i:i + batch_size])),
                                       train["mask"][i:i + batch_size])
                            for i in range(0, len(train["features"]), batch_size)])
        generator = GaussianPCAGenerator(pca, norm).fit(z, jet_type_names(train["y"]))
        types = jet_type_names(te["y"])
        real: dict[str, JetSample] = {}
        fake: dict[str, list[Hits]] = {}
        for k, jt in enumerate(sorted(set(types))):
            idx = np.flatnonzero(types == jt)
            if len(idx) < MIN_GENERATION_JETS or jt not in generator.jet_types:
                notes.append(f"Generation figures skipped for '{jt}': {len(idx)} held-out jets "
                             f"(at least {MIN_GENERATION_JETS} needed).")
                continue
            real[jt] = JetSample([rec["original"][int(i)] for i in idx], np.asarray(rec["eta"])[idx])
            fake[jt] = generator.sample(jt, len(idx), seed + 7919 * k)
        if real:
            gen_section = evaluate_generation(real, None, out, seed, baselines={"gaussian_pca": fake}, workers=workers)
            gen_section["notes"] = [
                "Real = the held-out graph nodes (after truncation to max_nodes); 'gaussian_pca' = a full-covariance "
                "Gaussian per jet type over the latent-only PCA coefficients of the training jets, sampled "
                f"(seed {seed}) and decoded like the latent-only PCA. The GVAE (paper decoder) cannot generate: "
                "its decoder needs the input jet's assignments."]
        timing["generation"] = time.perf_counter() - t
    return {"reconstruction_baselines": recon, "generation": gen_section, "notes": notes,
            "plots": list(gen_section["plots"]) if gen_section else [], "timing_s": timing}


__all__ = ["MIN_GENERATION_JETS", "sections"]
