"""Configuration tree of a training run: ``model`` / ``data`` / ``training`` / ``prior`` dataclasses
loaded from YAML with ``--set a.b=c`` overrides. The whole tree is saved in each checkpoint."""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from gvae.errors import ConfigError
from gvae.model.config import ModelConfig
from gvae.model.losses import LossConfig
from gvae.model.prior import COMPONENT_GRID, CRITERIA, DEFAULT_CRITERION, FACTOR_RANKS, covariance_candidates

AMP_MODES = ("off", "bf16", "fp16")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes of ``obj``: sorted keys, no whitespace (separators ``,`` ``:``), ASCII;
    NaN/Inf and non-JSON types raise :class:`ConfigError`."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as err:
        raise ConfigError(f"training config is not canonical JSON: {err}") from err


def config_sha256(config: Mapping[str, Any]) -> str:
    """THE hash of a training config (a :meth:`Config.to_dict` tree): sha256 (hex) of its
    :func:`canonical_json`. :meth:`Config.sha256`, checkpoints and the export contract's
    ``training.config_sha256`` all use this one function."""
    return hashlib.sha256(canonical_json(config)).hexdigest()
SCHEDULERS = ("cosine", "constant")
COMPILE_BACKENDS = ("inductor", "aot_eager")
LR_SCALINGS = ("linear", "sqrt", "none")


@dataclass
class DataConfig:
    """Where the graph shards are and how they are read.

    Attributes:
        dir: graph shard directory written by ``python -m gvae.data convert`` (``--data``
            overrides it).
        num_workers: DataLoader worker processes per rank (0 = load in the training process).
        max_train_jets, max_val_jets: use only the first jets of a split (None = all).
        bucket_batches: 0/1 = plain shuffled batches; B > 1 = within windows of B global batches,
            batch jets of similar node counts together (batch order shuffled). The latent
            decoder's training trims each batch to its largest jet, so this cuts its cost.
    """

    dir: str | None = None
    num_workers: int = 0
    max_train_jets: int | None = None
    max_val_jets: int | None = None
    bucket_batches: int = 0


@dataclass
class TrainingConfig:
    """Optimisation settings.

    Attributes:
        epochs: number of epochs (``--epochs`` overrides).
        batch_size: jets per batch **per process**; the global batch is
            ``batch_size * world_size``.
        lr: learning rate for a global batch of ``lr_reference_batch`` jets. The effective rate
            is ``lr * (global_batch / lr_reference_batch)`` (``lr_scaling: linear``, the
            Goyal et al. rule), its square root (``sqrt``) or ``lr`` (``none``). Because the
            scaling follows the global batch, N processes with batch b and one process with
            batch N*b run the same optimisation.
        lr_reference_batch: global batch size that ``lr`` is tuned for.
        lr_scaling: ``linear | sqrt | none``.
        weight_decay: AdamW weight decay.
        scheduler: ``cosine`` (per-step cosine decay to ``min_lr_ratio * lr`` after a linear
            warm-up of ``warmup_steps``) or ``constant`` (warm-up, then flat).
        grad_clip: clip the global gradient norm (0 = off).
        seed: seed of model initialisation, data order and latent noise.
        patience: early stopping after this many epochs without a validation improvement of
            at least ``min_delta`` (0 = never stop early).
        amp: ``off | bf16 | fp16`` autocast (``--amp`` overrides).
        compile: run the training forward through ``torch.compile`` (``--compile``); the first
            steps pay the compilation (tens of seconds on CPU).
        compile_backend: ``torch.compile`` backend: ``inductor`` (generated C++/Triton
            kernels) or ``aot_eager`` (traced graphs run by eager kernels: checks tracing only).
        flush_denormal: flush denormal floats to zero in the training process while it trains
            (``torch.set_flush_denormal``): the near-hard cluster assignments produce denormals
            that make CPU arithmetic on them many times slower; the values lost are below 1e-38.
        loss: loss weights (:class:`gvae.model.LossConfig`).
    """

    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-3
    lr_reference_batch: int = 16
    lr_scaling: str = "linear"
    weight_decay: float = 1e-5
    scheduler: str = "cosine"
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    seed: int = 1
    patience: int = 5
    min_delta: float = 1e-4
    amp: str = "off"
    compile: bool = False
    compile_backend: str = "inductor"
    flush_denormal: bool = True
    loss: LossConfig = field(default_factory=LossConfig)


#: Every covariance name ``prior.covariance`` accepts besides ``auto`` (whether a factor rank fits a
#: model's latent size and training set is checked when the prior is fitted).
PRIOR_COVARIANCES: tuple[str, ...] = tuple(covariance_candidates(max(FACTOR_RANKS) + 1))


@dataclass
class PriorConfig:
    """How the conditional prior ``p(z | type, pT)`` of a latent-decoder model is fitted on the encoder's
    latents at the end of training (:mod:`gvae.train.prior`; refit an existing checkpoint with
    ``python -m gvae.train --fit-prior-only``).

    Attributes:
        criterion: how each jet type's covariance model is chosen on the validation latents:
            ``loglik`` (highest mean log-likelihood) or ``frechet`` (smallest Frechet distance between
            the model Gaussian and the validation residuals), :data:`gvae.model.prior.CRITERIA`.
        covariance: ``auto`` (choose by ``criterion``) or one candidate for every type
            (:data:`PRIOR_COVARIANCES`: ``shrink_<lam>``, ``factor_<r>``, ``ledoit_wolf``, ``oas``);
            the held-out figures of every candidate are still recorded.
        max_jets: fit on the first N training jets only (None = all); the validation split is used whole.
        components: mixture components per type: ``auto`` or null (the number of
            :data:`gvae.model.prior.COMPONENT_GRID` with the highest validation log-likelihood; 1 when one
            Gaussian wins) or a number for every type (1 = one Gaussian per type, the prior before mixtures).
    """

    criterion: str = DEFAULT_CRITERION
    covariance: str = "auto"
    max_jets: int | None = None
    components: str | int | None = None

    def validate(self) -> "PriorConfig":
        """Raise :class:`ConfigError` naming the field."""
        if self.criterion not in CRITERIA:
            raise ConfigError(f"prior.criterion = {self.criterion!r}: must be one of {CRITERIA}")
        if self.covariance != "auto" and self.covariance not in PRIOR_COVARIANCES:
            raise ConfigError(f"prior.covariance = {self.covariance!r}: must be auto or one of "
                              f"{', '.join(PRIOR_COVARIANCES)}")
        if self.max_jets is not None and (isinstance(self.max_jets, bool) or not isinstance(self.max_jets, int)):
            raise ConfigError(f"prior.max_jets = {self.max_jets!r}: expected an integer or null")
        if self.max_jets is not None and self.max_jets < 3:
            raise ConfigError(f"prior.max_jets = {self.max_jets!r}: must be >= 3 (or null = all)")
        if self.components not in (None, "auto") and (
                isinstance(self.components, bool) or not isinstance(self.components, int)
                or not 1 <= self.components <= max(COMPONENT_GRID)):
            raise ConfigError(f"prior.components = {self.components!r}: expected auto or an integer in "
                              f"1..{max(COMPONENT_GRID)}")
        return self

    @property
    def forced_components(self) -> int | None:
        """``components`` as :meth:`gvae.model.prior.ConditionalPrior.fit` takes it (None = auto)."""
        return None if self.components in (None, "auto") else int(self.components)

    @property
    def forced_covariance(self) -> str | None:
        """``covariance`` as :meth:`gvae.model.prior.ConditionalPrior.fit` takes it (None = auto)."""
        return None if self.covariance == "auto" else self.covariance


@dataclass
class Config:
    """The whole run configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)

    def validate(self) -> "Config":
        """Check every section; raise :class:`ConfigError` naming the field."""
        self.model.validate()
        self.training.loss.validate()
        self.prior.validate()
        t = self.training
        if t.amp not in AMP_MODES:
            raise ConfigError(f"training.amp = {t.amp!r}: must be one of {AMP_MODES}")
        if t.compile_backend not in COMPILE_BACKENDS:
            raise ConfigError(f"training.compile_backend = {t.compile_backend!r}: must be one of "
                              f"{COMPILE_BACKENDS}")
        if t.scheduler not in SCHEDULERS:
            raise ConfigError(f"training.scheduler = {t.scheduler!r}: must be one of {SCHEDULERS}")
        if t.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"training.lr_scaling = {t.lr_scaling!r}: must be one of {LR_SCALINGS}")
        for name in ("epochs", "batch_size", "lr_reference_batch"):
            if int(getattr(t, name)) < 1:
                raise ConfigError(f"training.{name} = {getattr(t, name)!r}: must be >= 1")
        if t.lr <= 0:
            raise ConfigError(f"training.lr = {t.lr!r}: must be > 0")
        if t.warmup_steps < 0 or t.patience < 0 or t.grad_clip < 0:
            raise ConfigError("training.warmup_steps, patience and grad_clip must be >= 0")
        if not 0.0 <= t.min_lr_ratio <= 1.0:
            raise ConfigError("training.min_lr_ratio must lie in [0, 1]")
        if self.data.num_workers < 0:
            raise ConfigError("data.num_workers must be >= 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what is saved in checkpoints and ``config.yaml``)."""
        return asdict(self)

    def sha256(self) -> str:
        """:func:`config_sha256` of :meth:`to_dict` (the hash the export contract carries)."""
        return config_sha256(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Build from a nested dict; unknown keys are a :class:`ConfigError`."""
        return _build(cls, data or {}, "").validate()


_NESTED = {"model": ModelConfig, "data": DataConfig, "training": TrainingConfig,
           "loss": LossConfig, "prior": PriorConfig}


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{prefix or 'config'}: unknown keys {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        if name in _NESTED and isinstance(getattr(cls(), name), _NESTED[name]):
            kwargs[name] = _build(_NESTED[name], value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, getattr(cls(), name), f"{prefix}{name}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, name: str) -> Any:
    """Check a leaf against the type of its default (ints accepted for floats)."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}: expected true/false")
        return value
    if isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {value!r}: expected a number")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} = {value!r}: expected an integer")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{name} = {value!r}: expected a list")
        return [_coerce(v, default[0], f"{name}[{i}]") if default else v
                for i, v in enumerate(value)]
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{name} = {value!r}: expected a string")
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML: ``3``, ``1e-3``, ``[100, 50]``, ``true``)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. training.lr=1e-3")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: empty key component")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {exc}") from exc
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: '{part}' is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (None = defaults) and apply ``--set`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"config file '{path}' does not exist") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from exc
    data = apply_overrides(data, overrides or [])
    try:
        return Config.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path or 'config'}: {exc}") from None


def save_config(config: Config, path: str | Path) -> None:
    """Write the tree as YAML."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
