"""gvae: fast detector reconstruction and simulation with a Graph Variational Autoencoder.

Data path, top to bottom: files (:mod:`gvae.io`) -> events (:mod:`gvae.jets`) -> graphs
(:mod:`gvae.graphs`) -> model (:mod:`gvae.model`) -> reconstructed hits. One package per stage
command: ``python -m gvae.data`` (generate, inspect, convert, copy), ``python -m gvae.train``,
``python -m gvae.evaluate``, ``python -m gvae.export``.
"""
from __future__ import annotations

__version__ = "0.1.0"

from gvae.errors import *  # noqa: F401,F403
