"""Training helpers behind ``python -m gvae.train``: configuration tree
(:mod:`~gvae.train.config`), distributed backends (:mod:`~gvae.train.distributed`),
data loading and rank sharding (:mod:`~gvae.train.data`), checkpoints
(:mod:`~gvae.train.checkpoint`), metrics sinks (:mod:`~gvae.train.metrics`) and the
training loop (:mod:`~gvae.train.loop`)."""
