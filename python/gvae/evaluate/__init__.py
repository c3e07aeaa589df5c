"""Evaluation of a trained GVAE (``python -m gvae.evaluate``): physical Energy Mover's Distance
(:mod:`~gvae.evaluate.emd`), jet observables (:mod:`~gvae.evaluate.observables`), a PCA baseline
with the same latent size (:mod:`~gvae.evaluate.baseline`), plots (:mod:`~gvae.evaluate.plots`) and
the JSON/markdown report (:mod:`~gvae.evaluate.report`); the pipeline is :mod:`~gvae.evaluate.run`, which
hands a latent-decoder checkpoint to :mod:`~gvae.evaluate.latent` (both uses: reconstruction through the
latent beside the latent-only PCA, the PCA given the true mask, an optional paper-decoder checkpoint and
the random-other-jet scale; generation from the prior beside the Gaussian-PCA generator and truth floors).

Issue 14 (model-independent, for latent-only decoders and generation): detector snapping
(:mod:`~gvae.evaluate.images`), the latent-only PCA and Gaussian-PCA generator baselines
(:mod:`~gvae.evaluate.latent_pca`, :func:`gvae.evaluate.reconstruction.evaluate_reconstruction_baselines`),
generation figures with truth floors (:func:`gvae.evaluate.generation.evaluate_generation`, with
:mod:`~gvae.evaluate.fpd` and :mod:`~gvae.evaluate.classifier`), their plots
(:mod:`~gvae.evaluate.plots_generation`) and report sections (:mod:`~gvae.evaluate.report_generation`).

Light on purpose (no torch import): the EMD worker processes only need :mod:`~gvae.evaluate.emd`.
"""
from __future__ import annotations

from gvae.evaluate.emd import DEFAULT_R, EMD_CHANNELS, batch_emds, emd, event_emds
from gvae.jets import Hits  # one hit type: points are built with Hits.at(x, y, energy, channel)

__all__ = ["DEFAULT_R", "EMD_CHANNELS", "Hits", "batch_emds", "emd", "event_emds"]
