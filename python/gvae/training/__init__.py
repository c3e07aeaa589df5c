"""Training helpers behind ``python -m gvae.train``: configuration tree
(:mod:`~gvae.training.config`), distributed backends (:mod:`~gvae.training.distributed`),
data loading and rank sharding (:mod:`~gvae.training.data`), checkpoints
(:mod:`~gvae.training.checkpoint`), metrics sinks (:mod:`~gvae.training.metrics`) and the
training loop (:mod:`~gvae.training.loop`)."""
