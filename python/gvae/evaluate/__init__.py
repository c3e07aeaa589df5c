"""Evaluation of a trained GVAE (``python -m gvae.evaluate``): physical Energy Mover's Distance
(:mod:`~gvae.evaluate.emd`), jet observables (:mod:`~gvae.evaluate.observables`), a PCA baseline
with the same latent size (:mod:`~gvae.evaluate.baseline`), plots (:mod:`~gvae.evaluate.plots`) and
the JSON/markdown report (:mod:`~gvae.evaluate.report`); the pipeline is :mod:`~gvae.evaluate.run`.

Light on purpose (no torch import): the EMD worker processes only need :mod:`~gvae.evaluate.emd`.
"""
from __future__ import annotations

from gvae.evaluate.emd import DEFAULT_R, EMD_CHANNELS, batch_emds, emd, event_emds
from gvae.evaluate.hits import Hits  # the (x, y, energy, channel) constructor of gvae.jets.Hits (kept for other branches)

__all__ = ["DEFAULT_R", "EMD_CHANNELS", "Hits", "batch_emds", "emd", "event_emds"]
