"""Architecture configuration of the GVAE: every number the model is built from.

The training configuration tree (:mod:`gvae.train.config`) embeds this dataclass as its
``model`` section; a checkpoint stores it so that a model can be rebuilt without the YAML file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gvae.errors import ConfigError

#: Number of input node features (DESIGN §5): x', y', u', is_track, is_ecal, is_hcal.
IN_FEATURES = 6
#: Number of reconstructed node features (DESIGN §5): x', y', u'.
OUT_FEATURES = 3
ACTIVATIONS = ("relu", "gelu", "elu", "silu")
#: ``model.decoder`` choices: the latent-only set decoder (default) and the paper's unpooling decoder.
DECODERS = ("latent", "paper")
MESSAGE_PASSING = ("knn", "dense")


@dataclass
class ModelConfig:
    """Architecture of :class:`gvae.model.GVAE`.

    Attributes:
        max_nodes: padded number of nodes N per jet (graph input size).
        k: neighbours per node in the kNN graph.
        hidden: width of every GraphSAGE layer.
        clusters: clusters after each MinCut pooling stage, e.g. ``[100, 50]`` for
            400 nodes -> 100 -> 50 (the last entry is the number of latent clusters C).
        encoder_layers: GraphSAGE layers at each encoder level (``len(clusters) + 1`` entries:
            on the nodes, then after each pooling).
        decoder_layers: GraphSAGE layers at each decoder level, from the coarsest
            (latent clusters) to the nodes (``len(clusters) + 1`` entries).
        latent_dim: latent dimension L per cluster (latent shape ``[C, L]``).
        activation: one of ``relu``, ``gelu``, ``elu``, ``silu``.
        layer_norm: LayerNorm over the features of each node (never over the node index).
        residual: residual connection around GraphSAGE layers of equal width.
        self_loops: add self loops to the kNN adjacency of real nodes (keeps the MinCut
            denominator positive for single-node graphs).
        decoder_channel: give the decoder the input node's channel one-hot at the node level
            (the channel is not reconstructed, DESIGN §5: it is the input node's channel).
        assignment_temperature: softmax temperature of the cluster assignments
            (``softmax(logits / T)``; below 1 sharpens them, which breaks the symmetric
            uniform-assignment saddle at initialisation).
        logvar_min, logvar_max: clamp range of the log-variance head.
        decoder: ``latent`` (default; :mod:`gvae.model.set_decoder`: decodes a variable-size set
            of hits from the latent alone) or ``paper`` (the paper's unpooling with the encoder's
            assignments, which also sees the input's channels, node count and order). A checkpoint
            whose config has no ``decoder`` key predates the choice and is read as ``paper``.
        decoder_hidden, decoder_heads, decoder_blocks: width, attention heads and cross-attention
            blocks of the latent decoder (``decoder_blocks: 0``: no attention; each slot is its query
            MLP + embedding + the global code through the output head, plus the per-slot readout and,
            with ``pca_init``, the PCA path: the cheapest decoder, ``configs/fast.yaml``).
        latent_summary: add a learned function of a per-channel jet summary (hit count, soft
            log-sum of energies, energy-weighted centroid and radius; :class:`gvae.model.latent.JetSummary`)
            to the latent mean (part of the encoder; the decoder still reads only the latent).
        latent_summary_hits: with ``latent_summary``, also feed the ``(x', y', u')`` of this many
            leading (most energetic) hits per channel to the summary MLP (0 = none).
        slots: most hits the latent decoder emits per channel (track, ECAL, HCAL); their sum may not
            exceed ``max_nodes``. Empty (default): 5/32, 22/32 and 5/32 of ``max_nodes``
            (:attr:`slot_budget`; 160, 704, 160 for 1024).
        pca_init: give the latent decoder a linear PCA path (:mod:`gvae.model.pca`): a PCA of the training
            jets' per-channel ordered slot vectors (the decoder's output layout) is fitted before training;
            the encoder adds the jet's own PCA coefficients (unit variance) to the latent mean, the
            decoder adds the PCA reconstruction from ``z`` to every slot and the presence flags' sum to
            the log hit counts; the GNN part of the latent mean, the decoder's output head and the count
            head's last layer start at zero, so the untrained model reconstructs like the PCA.
        pca_trainable: with ``pca_init``, the PCA components and mean are parameters fine-tuned by
            training (separate encoder and decoder copies); otherwise frozen buffers.
        message_passing: ``knn`` (default: node-level GraphSAGE and the first MinCut stage
            on the neighbour list ``[B, N, k]``, no ``N x N`` tensor in the encoder,
            :mod:`gvae.model.knn`) or ``dense`` (the ``[B, N, N]`` adjacency with PyG's dense
            layers, kept for comparison). Both compute the same function with the same
            parameter names, so a checkpoint of one runs in the other.
    """

    max_nodes: int = 400
    k: int = 8
    hidden: int = 64
    clusters: list[int] = field(default_factory=lambda: [100, 50])
    encoder_layers: list[int] = field(default_factory=lambda: [2, 1, 1])
    decoder_layers: list[int] = field(default_factory=lambda: [1, 1, 2])
    latent_dim: int = 16
    activation: str = "gelu"
    layer_norm: bool = True
    residual: bool = True
    self_loops: bool = True
    decoder_channel: bool = True
    assignment_temperature: float = 0.1
    logvar_min: float = -12.0
    logvar_max: float = 8.0
    decoder: str = "latent"
    decoder_hidden: int = 64
    decoder_heads: int = 4
    decoder_blocks: int = 2
    slots: list[int] = field(default_factory=list)
    latent_summary: bool = False
    latent_summary_hits: int = 0
    message_passing: str = "knn"
    pca_init: bool = False
    pca_trainable: bool = False

    def validate(self) -> "ModelConfig":
        """Check ranges and consistency; raise :class:`ConfigError` naming the field."""
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"model.{name} = {getattr(self, name)!r}: {why}")

        for name in ("max_nodes", "k", "hidden", "latent_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        if self.k >= self.max_nodes:
            raise bad("k", f"must be smaller than max_nodes ({self.max_nodes})")
        if not self.clusters or any(not isinstance(c, int) or c < 1 for c in self.clusters):
            raise bad("clusters", "must be a non-empty list of positive integers")
        sizes = [self.max_nodes, *self.clusters]
        if any(b > a for a, b in zip(sizes, sizes[1:])):
            raise bad("clusters", "cluster counts must not grow from one stage to the next")
        for name in ("encoder_layers", "decoder_layers"):
            value = getattr(self, name)
            if len(value) != len(self.clusters) + 1 or any(
                    not isinstance(n, int) or n < 0 for n in value):
                raise bad(name, f"needs {len(self.clusters) + 1} non-negative integers "
                                "(one per level)")
        if self.encoder_layers[0] < 1:
            raise bad("encoder_layers", "the node level needs at least one GraphSAGE layer")
        if self.activation not in ACTIVATIONS:
            raise bad("activation", f"must be one of {ACTIVATIONS}")
        if self.message_passing not in MESSAGE_PASSING:
            raise bad("message_passing", f"must be one of {MESSAGE_PASSING}")
        if not self.assignment_temperature > 0:
            raise bad("assignment_temperature", "must be > 0")
        if not self.logvar_min < self.logvar_max:
            raise bad("logvar_min", "must be smaller than logvar_max")
        if self.decoder not in DECODERS:
            raise bad("decoder", f"must be one of {DECODERS}")
        for name in ("decoder_hidden", "decoder_heads", "decoder_blocks"):
            value = getattr(self, name)
            least = 0 if name == "decoder_blocks" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise bad(name, "must be a non-negative integer" if least == 0 else "must be a positive integer")
        if self.decoder_hidden % self.decoder_heads:
            raise bad("decoder_heads", f"must divide decoder_hidden ({self.decoder_hidden})")
        if self.latent_summary and self.decoder != "latent":
            raise bad("latent_summary", "is implemented for model.decoder: latent only")
        if not isinstance(self.latent_summary_hits, int) or self.latent_summary_hits < 0:
            raise bad("latent_summary_hits", "must be a non-negative integer")
        if self.latent_summary_hits and not self.latent_summary:
            raise bad("latent_summary_hits", "needs model.latent_summary: true")
        if self.pca_init and self.decoder != "latent":
            raise bad("pca_init", "is implemented for model.decoder: latent only")
        if self.pca_trainable and not self.pca_init:
            raise bad("pca_trainable", "needs model.pca_init: true")
        if self.slots and (len(self.slots) != 3 or any(not isinstance(n, int) or n < 1 for n in self.slots)):
            raise bad("slots", "needs 3 positive integers (track, ECAL, HCAL) or [] (automatic)")
        if sum(self.slot_budget) > self.max_nodes or min(self.slot_budget) < 1:
            raise bad("slots", f"per-channel budgets {self.slot_budget} must be >= 1 and sum to at most "
                               f"max_nodes ({self.max_nodes})")
        return self

    @property
    def slot_budget(self) -> list[int]:
        """Most decoded hits per channel (track, ECAL, HCAL) of the latent decoder."""
        if self.slots:
            return [int(n) for n in self.slots]
        side = self.max_nodes * 5 // 32
        return [side, self.max_nodes - 2 * side, side]

    @property
    def latent_clusters(self) -> int:
        """Number of latent clusters C (the last pooling stage)."""
        return self.clusters[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML/JSON/checkpoint)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Build from a plain dict, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model: unknown keys {unknown}; known: {sorted(known)}")
        if "decoder" not in data:  # checkpoints written before the latent decoder existed
            data = {**data, "decoder": "paper"}
        return cls(**data).validate()
