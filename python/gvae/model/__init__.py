"""GVAE model (DESIGN §7): dense GraphSAGE + MinCut pooling graph variational autoencoder.

One concept per module: :mod:`~gvae.model.config` (architecture numbers),
:mod:`~gvae.model.adjacency` (kNN -> dense adjacency), :mod:`~gvae.model.knn` (the default
sparse encoder on the kNN list, ``model.message_passing: knn``), :mod:`~gvae.model.layers`
(GraphSAGE blocks), :mod:`~gvae.model.pooling` (MinCut pooling), :mod:`~gvae.model.encoder`,
:mod:`~gvae.model.latent`, :mod:`~gvae.model.decoder`, :mod:`~gvae.model.gvae` (the model),
:mod:`~gvae.model.inference` (exported signature), :mod:`~gvae.model.losses`,
:mod:`~gvae.model.pca` (the one PCA fit and the ``model.pca_init`` path),
:mod:`~gvae.model.io` (the one checkpoint reader).
"""
from __future__ import annotations

from gvae.model.config import IN_FEATURES, OUT_FEATURES, ModelConfig
from gvae.model.gvae import GVAE, check_inputs
from gvae.model.inference import InferenceModel
from gvae.model.io import CHECKPOINT_FORMAT, LoadedModel, load_model, read_checkpoint
from gvae.model.losses import LossConfig, gvae_loss

__all__ = ["GVAE", "InferenceModel", "ModelConfig", "LossConfig", "gvae_loss", "load_model",
           "LoadedModel", "read_checkpoint", "CHECKPOINT_FORMAT", "check_inputs", "IN_FEATURES", "OUT_FEATURES"]
